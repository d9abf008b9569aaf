"""The one place where failures become error results a model can act on.

Every error result's text starts with a stable code, then says what happened, then what to do next.
A bug (any other exception) is not translated: the SDK logs its traceback and hides its text.

Why `CallToolResult(is_error=True)` and not the SDK's `ToolError`: the SDK puts "Error executing tool
NAME: " in front of a ToolError's text, and the contract is that the text starts with the code, so
that a model (or a program) can branch on it without parsing prose.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable
from enum import StrEnum
from typing import ParamSpec, cast

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent
from pydantic import ValidationError

from ..app_state import AppState
from ..lmstudio import (
    AuthInvalidError,
    AuthRequiredError,
    BadRequestError,
    ConnectionLostError,
    InvalidRequestError,
    JobNotFoundError,
    LMStudioAPIError,
    LMStudioError,
    LMStudioTimeoutError,
    LMStudioUnreachableError,
    MalformedResponseError,
    ModelNotFoundError,
    NotLMStudioError,
    NotLMStudioV1Error,
)
from ..settings import Settings
from ..urls import display_url


class ErrorCode(StrEnum):
    LMSTUDIO_UNREACHABLE = "LMSTUDIO_UNREACHABLE"
    LMSTUDIO_TOO_OLD = "LMSTUDIO_TOO_OLD"
    NOT_LMSTUDIO = "NOT_LMSTUDIO"
    AUTH_REQUIRED = "AUTH_REQUIRED"
    AUTH_INVALID = "AUTH_INVALID"
    MODEL_NOT_FOUND = "MODEL_NOT_FOUND"
    NO_MODEL_LOADED = "NO_MODEL_LOADED"
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    JOB_NOT_FOUND = "JOB_NOT_FOUND"
    FILE_NOT_FOUND = "FILE_NOT_FOUND"
    FILE_NOT_ALLOWED = "FILE_NOT_ALLOWED"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    FILE_UNREADABLE = "FILE_UNREADABLE"
    TIMEOUT = "TIMEOUT"
    INVALID_ANSWER = "INVALID_ANSWER"
    UPSTREAM_ERROR = "UPSTREAM_ERROR"
    RATE_LIMITED = "RATE_LIMITED"


class BridgeError(Exception):
    """A failure the caller can act on, raised anywhere in a tool and reported as an error result.

    `message` says what happened and what to do next; `str()` is the model-facing text, "CODE: message".
    """

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def closest(name: str, candidates: Iterable[str], limit: int = 3) -> list[str]:
    pool = list(dict.fromkeys(candidates))
    lowered = {c.lower(): c for c in pool}
    matches = difflib.get_close_matches(name.lower(), list(lowered), n=limit, cutoff=0.4)
    by_substring = [c for c in pool if name.lower() in c.lower() and c.lower() not in matches]
    return [lowered[m] for m in matches] + by_substring[: max(0, limit - len(matches))]


def model_not_found(key: str, known: Iterable[str], what: str = "model") -> BridgeError:
    suggestions = closest(key, known)
    hint = f" Closest: {', '.join(suggestions)}." if suggestions else ""
    return BridgeError(
        ErrorCode.MODEL_NOT_FOUND, f"LM Studio has no {what} {key!r}.{hint} Call list_models for the exact keys."
    )


def translate(exc: LMStudioError, settings: Settings) -> BridgeError:
    """Turn an LM Studio client error into the error contract's code and advice."""
    return setup_error(exc, settings) or answer_error(exc)


def setup_error(exc: LMStudioError, settings: Settings) -> BridgeError | None:
    """Failures of the setup (address, server, version, token), each with the fix; None for anything else."""
    url = display_url(settings.base_url)
    match exc:
        case LMStudioUnreachableError():
            return BridgeError(
                ErrorCode.LMSTUDIO_UNREACHABLE,
                f"LM Studio is not reachable at {url} ({exc.reason}). Start its server (LM Studio > Developer > "
                "Start Server, or `lms server start`), or set LMSTUDIO_BASE_URL to the address it serves on.",
            )
        case LMStudioTimeoutError(phase="connect"):
            return BridgeError(
                ErrorCode.TIMEOUT,
                f"Connecting to LM Studio at {url} took longer than {settings.connect_timeout:g} s. Check that "
                "LM Studio is running and reachable, or raise --connect-timeout / LMS_MCP_CONNECT_TIMEOUT.",
            )
        case LMStudioTimeoutError(phase="write" | "pool"):
            return BridgeError(
                ErrorCode.TIMEOUT,
                f"Sending the request to LM Studio at {url} timed out ({exc}). LM Studio is busy or stuck: "
                "try again in a moment, and check LM Studio's server log if it keeps happening.",
            )
        case LMStudioTimeoutError():
            return BridgeError(
                ErrorCode.TIMEOUT,
                f"LM Studio sent nothing for {settings.read_timeout:g} s. The model may be stuck or very slow: "
                "try again, use a smaller model, or raise --read-timeout / LMS_MCP_READ_TIMEOUT.",
            )
        case NotLMStudioError():
            return BridgeError(
                ErrorCode.NOT_LMSTUDIO,
                f"Something other than LM Studio answers at {url} (HTTP {exc.status_code}: {exc.excerpt}). "
                "Check the address and port of LM Studio's server (Developer > Server Settings; default "
                "http://127.0.0.1:1234) and set LMSTUDIO_BASE_URL to it.",
            )
        case NotLMStudioV1Error():
            return BridgeError(
                ErrorCode.LMSTUDIO_TOO_OLD,
                f"The server at {url} does not serve LM Studio's native v1 API. lms-mcp needs LM Studio 0.4 or "
                "newer: update LM Studio, or point LMSTUDIO_BASE_URL at LM Studio's server.",
            )
        # LM Studio's own 401 text can quote the start of the token: it is never passed on.
        case AuthRequiredError():
            return BridgeError(
                ErrorCode.AUTH_REQUIRED,
                "LM Studio requires an API token ('Require Authentication' is on). Create one in LM Studio "
                "(Developer > Server Settings > Manage Tokens) and set LM_API_TOKEN in this server's environment.",
            )
        case AuthInvalidError():
            return BridgeError(
                ErrorCode.AUTH_INVALID,
                "LM Studio refused the API token in LM_API_TOKEN (malformed, revoked or unknown). Create a new "
                "token in LM Studio (Developer > Server Settings > Manage Tokens) and update LM_API_TOKEN.",
            )
        case _:
            return None


def answer_error(exc: LMStudioError) -> BridgeError:
    """What LM Studio said about the request itself, its own words kept."""
    match exc:
        case ModelNotFoundError():
            return BridgeError(ErrorCode.MODEL_NOT_FOUND, f"{exc.detail.message} Call list_models for the exact keys.")
        case JobNotFoundError():
            return BridgeError(
                ErrorCode.JOB_NOT_FOUND,
                f"{exc.detail.message or 'No such download job.'} Job ids come from download_model; "
                "LM Studio forgets them when it restarts.",
            )
        case InvalidRequestError():
            return BridgeError(ErrorCode.INVALID_ARGUMENT, f"{exc} Shorten or correct the argument.")
        case BadRequestError():
            where = f" (parameter `{exc.param}`)" if exc.param else ""
            return BridgeError(
                ErrorCode.INVALID_ARGUMENT, f"LM Studio rejected the request{where}: {exc.detail.message}"
            )
        case LMStudioAPIError():
            return BridgeError(
                ErrorCode.UPSTREAM_ERROR,
                f"LM Studio failed ({exc.type}, HTTP {exc.status_code}): {exc.detail.message} "
                "Try again; if it keeps failing, check LM Studio's server log.",
            )
        case ConnectionLostError() | MalformedResponseError():
            return BridgeError(
                ErrorCode.UPSTREAM_ERROR, f"{exc} Try again; if it keeps failing, check LM Studio's server log."
            )
        case _:
            return BridgeError(ErrorCode.UPSTREAM_ERROR, str(exc))


def argument_error(tool: str, exc: ValidationError) -> BridgeError:
    """Arguments the tool's input schema rejects, said plainly: which argument, what is wrong, what was given."""
    problems: list[str] = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "(arguments)"
        if error["type"] == "missing":
            problems.append(f"`{where}` is required.")
            continue
        given = repr(error.get("input"))
        given = given if len(given) <= 60 else given[:57] + "..."
        problems.append(f"`{where}`: {error['msg']} (got {given}).")
    return BridgeError(
        ErrorCode.INVALID_ARGUMENT,
        f"{tool} was called with arguments it cannot take: " + " ".join(problems) + " Correct them and call again.",
    )


def error_result(error: BridgeError) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=str(error))], is_error=True)


P = ParamSpec("P")


def reports_errors(tool: Callable[P, Awaitable[CallToolResult]]) -> Callable[P, Awaitable[CallToolResult]]:
    """Wrap a tool (whose context parameter is named `ctx`) so failures come back as coded error results."""

    @functools.wraps(tool)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> CallToolResult:
        try:
            return await tool(*args, **kwargs)
        except BridgeError as exc:
            return error_result(exc)
        except LMStudioError as exc:
            ctx = cast(Context[AppState], kwargs["ctx"])
            state = ctx.request_context.lifespan_context
            return error_result(translate(exc, state.settings))

    # The docstring is the tool's description: without the source indentation a model would read.
    wrapper.__doc__ = inspect.cleandoc(tool.__doc__ or "")
    return wrapper
