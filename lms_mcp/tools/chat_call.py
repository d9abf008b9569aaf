"""One chat call's arguments, and the combinations of them that cannot work, refused before any work."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..lmstudio.models import Integration
from .errors import BridgeError, ErrorCode


@dataclass(frozen=True)
class Sampling:
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    repeat_penalty: float | None = None
    max_output_tokens: int | None = None


@dataclass
class ChatCall:
    prompt: str
    model: str | None = None
    session: str | None = None
    files: list[str] | None = None
    images: list[str] | None = None
    system_prompt: str | None = None
    previous_response_id: str | None = None
    store: bool | None = None
    sampling: Sampling = Sampling()
    reasoning: str | None = None
    include_reasoning: bool = False
    context_length: int | None = None
    json_schema: dict[str, Any] | None = None
    integrations: list[Integration] | None = None


# What the OpenAI-compatible route that answers to a JSON Schema cannot carry, and what to do instead.
NOT_WITH_JSON_SCHEMA = {
    "context_length": "load the model with load_model(context_length=...) first",
    "integrations": "call chat without json_schema to use integrations",
    "store": "structured answers are never stored, so they cannot be continued",
}


def _refuse(message: str) -> BridgeError:
    return BridgeError(ErrorCode.INVALID_ARGUMENT, message)


def check_arguments(call: ChatCall) -> None:
    """Refuse what cannot work together, naming the argument; every other argument is sent."""
    if call.session is not None and call.previous_response_id is not None:
        raise _refuse("Pass `session` or `previous_response_id`, not both: a session tracks its own responses.")
    if call.session is not None and call.store is False:
        raise _refuse("A session needs store=true (the default) to continue.")
    if call.json_schema is not None:
        _check_json_schema_call(call)


def _check_json_schema_call(call: ChatCall) -> None:
    if call.session is not None or call.previous_response_id is not None:
        raise _refuse("json_schema answers cannot continue a conversation: drop `session` / `previous_response_id`.")
    given = {"context_length": call.context_length, "integrations": call.integrations, "store": call.store or None}
    for name, value in given.items():
        if value is not None:
            raise _refuse(f"`{name}` cannot be used with json_schema: {NOT_WITH_JSON_SCHEMA[name]}.")
