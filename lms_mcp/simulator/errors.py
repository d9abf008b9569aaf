"""LM Studio's error bodies, and the exception handlers raise to send one."""

from __future__ import annotations

from typing import Any

# Verbatim from observed-third-party/errors-and-misc.json (auth-missing-token).
MISSING_TOKEN_MESSAGE = (
    "An LM Studio API token is required to make requests to this server, but none was provided using the "
    "Authorization header using the 'Bearer' scheme (i.e., 'Authorization: Bearer $LM_API_TOKEN'). "
    "Learn more at: https://lmstudio.ai/docs/developer/core/authentication."
)


class ApiError(Exception):
    """Raised by a handler to answer with `status` and the JSON `body` instead of a normal result."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


def error_object(error_type: str, message: str, *, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    """The native v1 error object; optional members are left out rather than sent as null."""
    error: dict[str, Any] = {"type": error_type, "message": message}
    if code is not None:
        error["code"] = code
    if param is not None:
        error["param"] = param
    return error


def lms_error(
    status: int, error_type: str, message: str, *, code: str | None = None, param: str | None = None
) -> ApiError:
    return ApiError(status, {"error": error_object(error_type, message, code=code, param=param)})


def invalid_request(message: str, *, code: str | None = None, param: str | None = None, status: int = 400) -> ApiError:
    return lms_error(status, "invalid_request", message, code=code, param=param)


def model_not_found(model: str, *, param: str = "model") -> ApiError:
    return lms_error(
        404,
        "model_not_found",
        f"Model '{model}' not found. Use GET /api/v1/models to list the available models.",
        param=param,
    )


def openai_error(status: int, message: str, *, param: str | None = None, code: str | None = None) -> ApiError:
    """The OpenAI-compatible routes (`/v1/*`) answer in OpenAI's shape, with explicit nulls."""
    return ApiError(
        status, {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}
    )


def openai_model_not_found(model: str, listed: list[str]) -> ApiError:
    """Unknown model on a `/v1/*` route: 404, with the models the server would accept listed in the message."""
    names = "\n".join(listed)
    return openai_error(
        404,
        f'Model "{model}" not found. Please specify a valid model.\n\nYour models:\n\n{names}',
        param="model",
        code="model_not_found",
    )


def missing_token() -> ApiError:
    return ApiError(
        401, {"error": {"type": "invalid_request", "code": "invalid_api_key", "message": MISSING_TOKEN_MESSAGE}}
    )


def bad_token(token: str, *, well_formed: bool) -> ApiError:
    problem = "Invalid" if well_formed else "Malformed"
    message = f"{problem} LM Studio API token provided: {token[:10]}... Ensure you are using a valid token."
    return ApiError(401, {"error": {"type": "invalid_request", "code": "invalid_api_key", "message": message}})
