"""Errors raised by the LM Studio client.

```
LMStudioError
├── LMStudioUnreachableError      connection refused, DNS failure: no server at the address
├── LMStudioTimeoutError          connect, read or stream-idle timeout
├── ConnectionLostError           LM Studio closed the connection mid-response or mid-stream
├── NotLMStudioV1Error            HTTP 200 "Unexpected endpoint or method": LM Studio before 0.4
├── MalformedResponseError        a body that is not the JSON LM Studio documents
├── InvalidRequestError           a request that cannot even be sent (e.g. a URL over the length limit)
└── LMStudioAPIError              an error body from LM Studio: status, type, code, param, message
    ├── AuthenticationError       401
    │   ├── AuthRequiredError     ... and no token was sent
    │   └── AuthInvalidError      ... and the token sent was refused
    ├── ModelNotFoundError        type model_not_found (unknown key or instance id)
    ├── JobNotFoundError          type job_not_found (unknown download job)
    ├── BadRequestError           other 4xx (validation; LM Studio's `param` says which field)
    └── ServerError               5xx
```

`error_from_response` is the one place where a response becomes an exception.
"""

from __future__ import annotations

from typing import Any, cast

import httpx2

from .models import ErrorDetail


class LMStudioError(Exception):
    """Base of every error the LM Studio client raises."""


class LMStudioUnreachableError(LMStudioError):
    def __init__(self, base_url: str, reason: str) -> None:
        super().__init__(f"LM Studio is not reachable at {base_url} ({reason})")
        self.base_url = base_url
        self.reason = reason


class LMStudioTimeoutError(LMStudioError):
    def __init__(self, message: str, *, phase: str) -> None:
        super().__init__(message)
        # "connect", "read", "write", "pool" or "stream": which setting to raise.
        self.phase = phase


class ConnectionLostError(LMStudioError):
    pass


class NotLMStudioV1Error(LMStudioError):
    """The server answered like LM Studio 0.3.x (or not LM Studio at all): no native v1 API."""


class MalformedResponseError(LMStudioError):
    pass


class InvalidRequestError(LMStudioError):
    pass


class LMStudioAPIError(LMStudioError):
    def __init__(self, status_code: int, detail: ErrorDetail) -> None:
        super().__init__(detail.message or f"LM Studio answered HTTP {status_code}")
        self.status_code = status_code
        self.detail = detail

    @property
    def type(self) -> str:
        return self.detail.type

    @property
    def code(self) -> str | None:
        return self.detail.code

    @property
    def param(self) -> str | None:
        return self.detail.param


class AuthenticationError(LMStudioAPIError):
    pass


class AuthRequiredError(AuthenticationError):
    pass


class AuthInvalidError(AuthenticationError):
    pass


class ModelNotFoundError(LMStudioAPIError):
    pass


class JobNotFoundError(LMStudioAPIError):
    pass


class BadRequestError(LMStudioAPIError):
    pass


class ServerError(LMStudioAPIError):
    pass


UNEXPECTED_ENDPOINT = "Unexpected endpoint or method"


def _error_field(body: Any) -> Any:
    return cast(dict[str, Any], body).get("error") if isinstance(body, dict) else None


def error_detail(body: Any) -> ErrorDetail | None:
    """LM Studio's `{"error": {...}}` object, or None when the body is not an error body."""
    error = _error_field(body)
    if isinstance(error, dict):
        return ErrorDetail.model_validate(error)
    if isinstance(error, str):
        # OpenAI-compatible routes sometimes send a bare string.
        return ErrorDetail(message=error)
    return None


def is_unexpected_endpoint(body: Any) -> bool:
    error = _error_field(body)
    return isinstance(error, str) and error.startswith(UNEXPECTED_ENDPOINT)


def error_from_response(response: httpx2.Response, body: Any, *, token_sent: bool) -> LMStudioError:
    """Map a failed response (status >= 400, or an error body with 200) to its exception."""
    status = response.status_code
    if status < 400 and is_unexpected_endpoint(body):
        return NotLMStudioV1Error(
            f"The server at {response.request.url.scheme}://{response.request.url.netloc.decode()} "
            f"does not serve LM Studio's v1 API ({body['error']})"
        )
    detail = error_detail(body) or ErrorDetail(type="unknown", message=_short_text(response))
    if status == 401:
        return (AuthInvalidError if token_sent else AuthRequiredError)(status, detail)
    # The OpenAI-compatible routes put it in `code` (type "invalid_request_error").
    if "model_not_found" in (detail.type, detail.code):
        return ModelNotFoundError(status, detail)
    if detail.type == "job_not_found":
        return JobNotFoundError(status, detail)
    if status >= 500:
        return ServerError(status, detail)
    return BadRequestError(status, detail)


def _short_text(response: httpx2.Response) -> str:
    text = response.text.strip()
    return f"HTTP {response.status_code}: {text[:200]}" if text else f"HTTP {response.status_code}"
