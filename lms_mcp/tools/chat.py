"""The chat tool: hand work to a local model, in four steps.

1. choose the model and the session (`choose_model`, `SessionStore.turn`),
2. build the input: prompt, files read server-side, images (`build_input`),
3. one turn: streamed through LM Studio's native /api/v1/chat (`native_turn`), or, for an answer held
   to a JSON Schema, through /v1/chat/completions (`structured_turn`, in structured.py),
4. the result: structured for programs, a short text for the model (chat_result.py).
"""

from __future__ import annotations

from typing import Annotated

import anyio
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult

from ..app_state import AppState
from ..lmstudio import ModelNotFoundError
from ..lmstudio.models import Integration
from ..sessions import Session
from ..team.identity import calling_client
from .arguments import (
    ContextLengthArg,
    FilesArg,
    ImagesArg,
    IncludeReasoningArg,
    IntegrationsArg,
    JsonSchemaArg,
    MaxOutputTokensArg,
    MinPArg,
    ModelArg,
    PreviousResponseIdArg,
    PromptArg,
    ReasoningArg,
    RepeatPenaltyArg,
    SessionArg,
    StoreArg,
    SystemPromptArg,
    TemperatureArg,
    TopKArg,
    TopPArg,
)
from .chat_call import ChatCall, Sampling, check_arguments
from .chat_inputs import build_input
from .chat_models import check_capabilities, resolve_model, unknown_model
from .chat_result import ChatResult, render_chat
from .integrations import check_integrations
from .native import native_turn
from .progress import ChatProgress
from .results import tool_result
from .savings import context_saved
from .structured import check_schema, structured_turn


async def choose_model(state: AppState, call: ChatCall, current: Session | None) -> str:
    """The model asked for, else the session's, else the default or the only loaded LLM; checked if it must be."""
    chosen = call.model or (current.model if current else None)
    chosen = chosen or await resolve_model(state.client, state.settings.default_model)
    if call.reasoning is not None or call.images:
        await check_capabilities(state.client, chosen, call.reasoning, bool(call.images))
    return chosen


def continue_session(call: ChatCall, current: Session | None) -> list[str]:
    """Point the call at the session's last response; notes for what had to be left out."""
    if current is not None:
        call.previous_response_id = current.response_id
    if call.previous_response_id is None or call.system_prompt is None:
        return []
    # A stored conversation keeps its first system prompt; sending another fails with HTTP 500 on 0.4.20
    # and later ("Only user, assistant and tool roles are supported", lmstudio-bug-tracker #2219).
    call.system_prompt = None
    return ["system_prompt was not sent: a continued conversation keeps the one from its first turn."]


async def take_turn(ctx: Context[AppState], call: ChatCall, current: Session | None) -> ChatResult:
    state = ctx.request_context.lifespan_context
    call.model = model = await choose_model(state, call, current)
    notes = continue_session(call, current)
    content = await build_input(call.prompt, call.files, call.images, state.file_policy)

    async def report(value: float, message: str) -> None:
        await ctx.report_progress(value, None, message)

    progress = ChatProgress(report, model=model)
    try:
        if call.json_schema is not None:
            result = await structured_turn(state, call, model, content, progress)
        else:
            result = await native_turn(state, call, model, content, progress)
    except ModelNotFoundError:
        raise await unknown_model(state.client, model) from None
    result.notes[:0] = notes
    if call.files and isinstance(content, list):
        read = sum(len(item.content.encode("utf-8")) for item in content[: len(call.files)] if item.type == "text")
        result.context_saved = context_saved(read, result.answer)
    return result


async def chat(
    ctx: Context[AppState],
    prompt: PromptArg,
    model: ModelArg = None,
    session: SessionArg = None,
    files: FilesArg = None,
    images: ImagesArg = None,
    system_prompt: SystemPromptArg = None,
    previous_response_id: PreviousResponseIdArg = None,
    store: StoreArg = None,
    temperature: TemperatureArg = None,
    top_p: TopPArg = None,
    top_k: TopKArg = None,
    min_p: MinPArg = None,
    repeat_penalty: RepeatPenaltyArg = None,
    max_output_tokens: MaxOutputTokensArg = None,
    reasoning: ReasoningArg = None,
    include_reasoning: IncludeReasoningArg = False,
    context_length: ContextLengthArg = None,
    json_schema: JsonSchemaArg = None,
    integrations: IntegrationsArg = None,
) -> Annotated[CallToolResult, ChatResult]:
    """Send a prompt to a local model in LM Studio and return its answer.

    Use it to hand off work a local model can do (summaries, drafts, reviews, classification,
    extraction, private data) without spending your own context: pass `files` and the server reads
    them for you. A call is one-shot (nothing is kept); name a `session` to keep a conversation going
    across calls. Progress is reported while the model loads, reads the prompt and writes.
    """
    call = ChatCall(
        prompt=prompt,
        model=model,
        session=session,
        files=files,
        images=images,
        system_prompt=system_prompt,
        previous_response_id=previous_response_id,
        store=store,
        sampling=Sampling(temperature, top_p, top_k, min_p, repeat_penalty, max_output_tokens),
        reasoning=reasoning,
        include_reasoning=include_reasoning,
        context_length=context_length,
        json_schema=json_schema,
        integrations=list[Integration](integrations) if integrations else None,
    )
    check_arguments(call)
    check_integrations(call.integrations, ctx.request_context.lifespan_context.settings)
    if json_schema is not None:
        # Checking against the metaschema is pure Python, up to a few tenths of a second: off the event loop.
        await anyio.to_thread.run_sync(check_schema, json_schema)
    sessions = ctx.request_context.lifespan_context.sessions.of(calling_client())
    async with sessions.turn(session) as current:
        result = await take_turn(ctx, call, current)
        if session is not None and call.model is not None and result.response_id:
            sessions.record(session, call.model, result.response_id)
            result.session = session
    return tool_result(result, render_chat(result))
