"""chat's streamed turn through LM Studio's native /api/v1/chat: progress on every event, partial answers kept."""

from __future__ import annotations

from contextlib import aclosing
from dataclasses import asdict

import anyio

from ..app_state import AppState
from ..lmstudio.models import ChatRequest, ChatResponse, InputItem
from ..lmstudio.streaming import ChatEnd, ErrorEvent
from ..team.identity import calling_client
from .chat_call import ChatCall
from .chat_result import ChatResult, build_result
from .errors import BridgeError, ErrorCode
from .progress import ChatProgress


def stored(call: ChatCall) -> bool | None:
    """LM Studio keeps every exchange unless told not to: a one-shot call leaves nothing behind."""
    if call.store is not None:
        return call.store
    return None if call.session or call.previous_response_id else False


def native_request(call: ChatCall, model: str, content: str | list[InputItem]) -> ChatRequest:
    return ChatRequest(
        model=model,
        input=content,
        system_prompt=call.system_prompt,
        previous_response_id=call.previous_response_id,
        store=stored(call),
        # Sampling's names are this route's own.
        **asdict(call.sampling),
        reasoning=call.reasoning,
        context_length=call.context_length,
        integrations=call.integrations,
    )


async def stream_chat(
    state: AppState, request: ChatRequest, progress: ChatProgress
) -> tuple[ChatResponse | None, ErrorEvent | None]:
    """Run one streamed chat in a prediction slot, reporting progress: the final response and any mid-stream error."""
    error: ErrorEvent | None = None
    response: ChatResponse | None = None
    async with state.predictions.slot(progress.queued, state.settings.progress_interval, calling_client()):
        async with aclosing(state.client.chat_stream(request)) as events:
            async for event in events:
                if isinstance(event, ErrorEvent):
                    error = event
                elif isinstance(event, ChatEnd):
                    response = event.result
                await progress.on_event(event)
    return response, error


def timed_out(limit: float, partial: str) -> BridgeError:
    message = (
        f"The chat took longer than {limit:g} s in all and was stopped. Ask for less "
        "(max_output_tokens), or raise --max-call-seconds / LMS_MCP_MAX_CALL_SECONDS."
    )
    if partial:
        message += f"\nPartial answer ({len(partial)} characters):\n{partial}"
    return BridgeError(ErrorCode.TIMEOUT, message)


def failed_midway(error: ErrorEvent, partial: str) -> BridgeError:
    return BridgeError(
        ErrorCode.UPSTREAM_ERROR,
        f"LM Studio reported an error mid-answer ({error.error.type}): {error.error.message}\n"
        f"Partial answer ({len(partial)} characters):\n{partial}",
    )


async def native_turn(
    state: AppState, call: ChatCall, model: str, content: str | list[InputItem], progress: ChatProgress
) -> ChatResult:
    limit = state.settings.max_call_seconds
    try:
        with anyio.fail_after(limit):
            response, error = await stream_chat(state, native_request(call, model, content), progress)
    except TimeoutError:
        raise timed_out(limit, progress.partial_text) from None
    if error is not None:
        raise failed_midway(error, response.message_text if response is not None else progress.partial_text)
    assert response is not None  # chat_stream either ends with ChatEnd or raises
    return build_result(response, call.sampling.max_output_tokens, include_reasoning=call.include_reasoning)
