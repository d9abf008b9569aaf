"""Errors raised by the LM Studio client.

```
LMStudioError
├── LMStudioUnreachableError      connection refused, DNS failure: no server at the address
├── LMStudioTimeoutError          connect, read or stream-idle timeout
├── ConnectionLostError           LM Studio closed the connection mid-response or mid-stream (with its last
│                                 `error` event's text, if it sent one)
├── NotLMStudioError              another kind of server answers at the address (an HTML page, plain text, a
│                                 404 that is not LM Studio's): the address is wrong
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

`check_response` / `error_from_response` are the one place where a response becomes an exception. Whatever the
body (JSON, HTML, plain text, an unexpected shape), LM Studio's own words reach the exception's message, cut short
and stripped of markup: raw HTML never does.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any, Final, cast

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
    def __init__(self, message: str, *, detail: ErrorDetail | None = None) -> None:
        super().__init__(message)
        # The error LM Studio reported in the stream before it broke off, if any.
        self.detail = detail


class NotLMStudioError(LMStudioError):
    """Something else answers at the address: a web page, another API, a proxy's 404."""

    def __init__(self, message: str, *, status_code: int, excerpt: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        # A short, markup-free sample of what the server said.
        self.excerpt = excerpt


class NotLMStudioV1Error(LMStudioError):
    """The server answered like LM Studio 0.3.x: it has no native v1 API."""


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
# Errors LM Studio itself answers with HTTP 404; any other 404 (and every 405) comes from another server, since
# LM Studio answers unknown routes and methods with HTTP 200.
_LMSTUDIO_404: Final = frozenset({"model_not_found", "job_not_found", "invalid_request"})
_EXCERPT_CHARS = 160


class _NotJson:
    def __repr__(self) -> str:
        return "<not JSON>"


NOT_JSON: Final = _NotJson()


def decode_json(response: httpx2.Response) -> Any:
    """The response's JSON body, or NOT_JSON (never an exception)."""
    try:
        return response.json()
    except ValueError:
        return NOT_JSON


def check_response(response: httpx2.Response, *, token_sent: bool) -> Any:
    """The JSON body of a normal answer; otherwise raises the error that explains the response."""
    body = decode_json(response)
    if response.status_code >= 400 or body is NOT_JSON or is_unexpected_endpoint(body):
        raise error_from_response(response, body, token_sent=token_sent)
    return body


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
    """Map a failed response (status >= 400, a body that is not JSON, or an error body with 200) to its exception.

    `body` is the decoded JSON, or NOT_JSON.
    """
    status = response.status_code
    if body is NOT_JSON:
        return _non_json_error(response)
    if status < 400 and is_unexpected_endpoint(body):
        return NotLMStudioV1Error(
            f"The server at {_origin(response)} does not serve LM Studio's v1 API ({body['error']})"
        )
    detail = error_detail(body)
    if status >= 500:
        return ServerError(status, detail or ErrorDetail(message=_json_excerpt(body)))
    if detail is None or status == 405 or (status == 404 and not _LMSTUDIO_404 & {detail.type, detail.code}):
        return _not_lmstudio(response, "JSON that is not an LM Studio error", _json_excerpt(body))
    if status == 401:
        return (AuthInvalidError if token_sent else AuthRequiredError)(status, detail)
    # The OpenAI-compatible routes put it in `code` (type "invalid_request_error").
    if "model_not_found" in (detail.type, detail.code):
        return ModelNotFoundError(status, detail)
    if detail.type == "job_not_found":
        return JobNotFoundError(status, detail)
    return BadRequestError(status, detail)


def _non_json_error(response: httpx2.Response) -> LMStudioError:
    status = response.status_code
    content_type = response.headers.get("content-type", "")
    excerpt = text_excerpt(response.text)
    if status >= 500:
        # LM Studio's web server (Express) answers an internal failure with an HTML page; a proxy in front of it
        # with its own. Either way the text is the only explanation there is.
        return ServerError(status, ErrorDetail(message=excerpt or f"HTTP {status}"))
    if status < 400 and "json" in content_type:
        return MalformedResponseError(
            f"LM Studio answered {response.request.method} {response.request.url.path} with JSON it could not "
            f"parse: {excerpt!r}"
        )
    kind = "an HTML page" if _looks_like_html(response) else "a body that is not JSON"
    return _not_lmstudio(response, kind, excerpt)


def _not_lmstudio(response: httpx2.Response, kind: str, excerpt: str) -> NotLMStudioError:
    request = response.request
    said = f": {excerpt!r}" if excerpt else ""
    return NotLMStudioError(
        f"The server at {_origin(response)} is not LM Studio: it answered {request.method} {request.url.path} with "
        f"HTTP {response.status_code} and {kind}{said}. Check the address and port (LM Studio's server listens on "
        "port 1234 unless changed).",
        status_code=response.status_code,
        excerpt=excerpt,
    )


def _origin(response: httpx2.Response) -> str:
    url = response.request.url
    return f"{url.scheme}://{url.netloc.decode()}"


def _looks_like_html(response: httpx2.Response) -> bool:
    return "html" in response.headers.get("content-type", "") or response.text.lstrip()[:1] == "<"


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_PRE = re.compile(r"<pre[^>]*>(.*?)</pre>", re.IGNORECASE | re.DOTALL)
_HIDDEN = re.compile(r"<(script|style|head)[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def text_excerpt(text: str, limit: int = _EXCERPT_CHARS) -> str:
    """A short, single-line, markup-free sample of a body: an HTML page's <pre> or <title>, else its text."""
    if "<" in text:
        found = _PRE.search(text) or _TITLE.search(text)
        text = found.group(1) if found else _HIDDEN.sub(" ", text)
        text = html.unescape(_TAG.sub(" ", text))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _json_excerpt(body: Any) -> str:
    return text_excerpt(json.dumps(body, ensure_ascii=False))
