"""Answers held to a JSON Schema, through LM Studio's OpenAI-compatible /v1/chat/completions.

The native /api/v1/chat has no structured output, so these calls take the other route: no stored
conversation and no token stream, hence heartbeats instead of token progress. An answer that does
not parse or does not validate is an error, never a success the caller would have to re-check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio

from ..app_state import AppState
from ..lmstudio import LMStudioTimeoutError
from ..lmstudio.models import (
    ChatCompletion,
    CompletionChoiceMessage,
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
from ..team.identity import calling_client
from ..waiting import with_heartbeat
from .chat_call import ChatCall
from .chat_result import ChatResult, ChatStats
from .errors import BridgeError, ErrorCode
from .native import timed_out
from .progress import ChatProgress
from .schema_guard import check_bounds, metaschema_error, parse_answer

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

# This route's name for "no thinking" is "none" (lmstudio-bug-tracker #2057).
REASONING_EFFORT = {"off": "none"}


def reasoning_effort(reasoning: str | None) -> str | None:
    """chat's `reasoning` level as /v1/chat/completions takes it."""
    return REASONING_EFFORT.get(reasoning, reasoning) if reasoning else None


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


def completion_request(call: ChatCall, model: str, content: str | list[InputItem]) -> CompletionRequest:
    """The same call on the OpenAI-compatible route: every sampling setting sent, reasoning as reasoning_effort."""
    messages = [CompletionMessage(role="system", content=call.system_prompt)] if call.system_prompt else []
    messages.append(CompletionMessage(role="user", content=user_content(content)))
    sampling = call.sampling
    return CompletionRequest(
        model=model,
        messages=messages,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        top_k=sampling.top_k,
        min_p=sampling.min_p,
        repeat_penalty=sampling.repeat_penalty,
        max_tokens=sampling.max_output_tokens,
        reasoning_effort=reasoning_effort(call.reasoning),
        response_format=ResponseFormat(
            type="json_schema",
            json_schema=JsonSchemaFormat(name="answer", schema=call.json_schema or {}, strict=True),
        ),
    )


async def request_completion(state: AppState, request: CompletionRequest, progress: ChatProgress) -> ChatCompletion:
    """One completion in a prediction slot, with heartbeats (this route streams nothing), within --max-call-seconds."""
    settings = state.settings
    limit = settings.max_call_seconds

    async def beat(elapsed: float) -> None:
        await progress.waiting(elapsed, f"Waiting for {request.model}'s JSON answer: {elapsed:.0f} s")

    try:
        with anyio.fail_after(limit):
            async with state.predictions.slot(progress.queued, settings.progress_interval, calling_client()):
                return await with_heartbeat(
                    lambda: state.client.chat_completions(request, read_timeout=limit), beat, settings.progress_interval
                )
    except (TimeoutError, LMStudioTimeoutError) as exc:
        if isinstance(exc, LMStudioTimeoutError) and exc.phase != "read":
            raise
        raise timed_out(limit, "") from None


def refuse_webp(content: str | list[InputItem]) -> None:
    """This route refuses WebP images with a bare 400 (lmstudio-bug-tracker #1027, #1752, #1839): say so first."""
    if isinstance(content, list) and any(
        isinstance(item, ImageInput) and item.data_url.startswith("data:image/webp") for item in content
    ):
        raise BridgeError(
            ErrorCode.INVALID_ARGUMENT,
            "LM Studio's OpenAI-compatible route, which json_schema answers use, refuses WebP images. "
            "Convert the image to PNG or JPEG, or leave out json_schema.",
        )


def answer_text(message: CompletionChoiceMessage) -> tuple[str, str | None, list[str]]:
    """The answer, the thinking, and notes. Builds 0.4.7-0.4.12 put a thinking model's structured answer in
    `reasoning_content` and leave `content` empty (lmstudio-bug-tracker #1698, #1773): take it from there."""
    thinking = message.reasoning_content or message.reasoning
    if message.content or not thinking:
        return message.content or "", thinking, []
    return thinking, None, ["LM Studio returned the answer as the model's reasoning; it was taken from there."]


async def structured_turn(
    state: AppState, call: ChatCall, model: str, content: str | list[InputItem], progress: ChatProgress
) -> ChatResult:
    refuse_webp(content)
    request = completion_request(call, model, content)
    completion = await request_completion(state, request, progress)
    choice = completion.choices[0] if completion.choices else None
    text, thinking, notes = answer_text(choice.message) if choice else ("", None, [])
    parsed = await parse_answer(text, call.json_schema or {})
    usage = completion.usage
    return ChatResult(
        answer=text,
        parsed=parsed,
        model_instance_id=completion.model or request.model,
        response_id=None,
        truncated=choice is not None and choice.finish_reason == "length",
        reasoning=thinking if call.include_reasoning else None,
        notes=notes,
        stats=ChatStats(
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
            reasoning_tokens=0,
        ),
    )
