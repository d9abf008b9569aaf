"""Typed async client for LM Studio's native REST API v1. Knows nothing about MCP."""

from .client import DEFAULT_BASE_URL, LMStudioClient, normalize_base_url
from .errors import (
    AuthenticationError,
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
    ServerError,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "AuthInvalidError",
    "AuthRequiredError",
    "AuthenticationError",
    "BadRequestError",
    "ConnectionLostError",
    "InvalidRequestError",
    "JobNotFoundError",
    "LMStudioAPIError",
    "LMStudioClient",
    "LMStudioError",
    "LMStudioTimeoutError",
    "LMStudioUnreachableError",
    "MalformedResponseError",
    "ModelNotFoundError",
    "NotLMStudioError",
    "NotLMStudioV1Error",
    "ServerError",
    "normalize_base_url",
]
