"""Answers held to a JSON Schema, through LM Studio's OpenAI-compatible /v1/chat/completions.

The native /api/v1/chat has no structured output, so these calls take the other route: no stored
conversation and no token stream, hence heartbeats instead of token progress. An answer that does
not parse or does not validate is an error, never a success the caller would have to re-check.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..app_state import AppState
from ..lmstudio.models import (
    ChatCompletion,
    CompletionMessage,
    CompletionRequest,
    ContentPart,
    ImageInput,
    ImagePart,
    ImageUrl,
    InputItem,
    JsonSchemaFormat,
    ResponseFormat,
    TextPart,
)
from ..waiting import with_heartbeat
from .chat_result import ChatResult, ChatStats
from .errors import BridgeError, ErrorCode
from .schema_guard import check_bounds, metaschema_error, parse_answer

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

# jsonschema is imported where it is used: ~80 ms that a session without json_schema never needs.


def schema_validator(schema: dict[str, Any]) -> type[Validator]:
    """The validator class `$schema` names; an unknown dialect means the latest, without jsonschema's warning."""
    from jsonschema.validators import Draft202012Validator, validator_for

    try:
        return validator_for(schema, default=Draft202012Validator)
    # A `$schema` that is not a string (a number, a list) fails inside jsonschema's registry lookup.
    except (TypeError, AttributeError, ValueError):
        raise BridgeError(ErrorCode.INVALID_ARGUMENT, "json_schema's `$schema` must be a dialect URI string.") from None


def check_schema(schema: dict[str, Any]) -> None:
    check_bounds(schema)
    problem = metaschema_error(schema_validator(schema), schema)
    if problem is not None:
        raise BridgeError(ErrorCode.INVALID_ARGUMENT, f"json_schema is not a valid JSON Schema: {problem}")


def user_content(given: str | list[InputItem]) -> str | list[ContentPart]:
    if isinstance(given, str):
        return given
    return [
        ImagePart(image_url=ImageUrl(url=item.data_url))
        if isinstance(item, ImageInput)
        else TextPart(text=item.content)
        for item in given
    ]


def completion_request(
    model: str, system_prompt: str | None, content: str | list[InputItem], schema: dict[str, Any], **sampling: Any
) -> CompletionRequest:
    messages = [CompletionMessage(role="system", content=system_prompt)] if system_prompt else []
    messages.append(CompletionMessage(role="user", content=user_content(content)))
    return CompletionRequest(
        model=model,
        messages=messages,
        response_format=ResponseFormat(
            type="json_schema", json_schema=JsonSchemaFormat(name="answer", schema=schema, strict=True)
        ),
        **sampling,
    )


async def structured_chat(
    state: AppState, request: CompletionRequest, schema: dict[str, Any], beat: Callable[[float], Awaitable[None]]
) -> ChatResult:
    settings = state.settings
    completion: ChatCompletion = await with_heartbeat(
        lambda: state.client.chat_completions(request, read_timeout=settings.max_call_seconds),
        beat,
        settings.progress_interval,
    )
    choice = completion.choices[0] if completion.choices else None
    text = (choice.message.content if choice else None) or ""
    parsed = await parse_answer(text, schema)
    usage = completion.usage
    truncated = choice is not None and choice.finish_reason == "length"
    return ChatResult(
        answer=text,
        parsed=parsed,
        model_instance_id=completion.model or request.model,
        response_id=None,
        truncated=truncated,
        stats=ChatStats(
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
            reasoning_tokens=0,
        ),
    )
