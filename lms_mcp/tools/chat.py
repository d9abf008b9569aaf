"""The chat tool: hand work to a local model through LM Studio's /api/v1/chat, streaming progress."""

from contextlib import AsyncExitStack, aclosing
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from ..app_state import AppState
from ..lmstudio import LMStudioClient, ModelNotFoundError
from ..lmstudio.models import (
    ChatRequest,
    ChatResponse,
    EphemeralMcpIntegration,
    Integration,
    ModelInfo,
    PluginIntegration,
)
from ..lmstudio.streaming import ChatEnd, ErrorEvent
from .chat_inputs import build_input
from .chat_result import ChatResult, build_result, render_chat
from .errors import BridgeError, ErrorCode, model_not_found, reports_errors
from .progress import ChatProgress
from .results import tool_result
from .structured import check_schema, completion_request, structured_chat


async def resolve_model(client: LMStudioClient, default_model: str | None) -> str:
    """The configured default model, else the only loaded LLM, else an error naming the candidates."""
    if default_model:
        return default_model
    listing = await client.list_models()
    llms = [m for m in listing.models if m.type == "llm"]
    loaded = [m.key for m in llms if m.loaded_instances]
    if len(loaded) == 1:
        return loaded[0]
    if loaded:
        raise BridgeError(
            ErrorCode.INVALID_ARGUMENT,
            f"Several LLMs are loaded ({', '.join(loaded)}): pass `model` to choose one, or set a default "
            "with --default-model / LMS_MCP_DEFAULT_MODEL.",
        )
    downloaded = ", ".join(m.key for m in llms) or "none (download one with download_model)"
    raise BridgeError(
        ErrorCode.NO_MODEL_LOADED,
        f"No model was given and no LLM is loaded. Pass `model` (it is loaded on demand) or call load_model "
        f"first. Downloaded LLMs: {downloaded}.",
    )


def find_model(models: list[ModelInfo], name: str) -> ModelInfo | None:
    """The model a chat `model` names: a key, a loaded instance id (`key:2`) or a variant (`key@q4_k_m`)."""
    for info in models:
        if name == info.key or name in (info.variants or []) or any(i.id == name for i in info.loaded_instances):
            return info
    return None


async def check_capabilities(client: LMStudioClient, model: str, reasoning: str | None, wants_images: bool) -> None:
    """Refuse, before any work, what the model cannot do: a clearer error than LM Studio's own."""
    listing = await client.list_models()
    info = find_model(listing.models, model)
    if info is None:
        raise model_not_found(model, [m.key for m in listing.models])
    caps = info.capabilities
    if reasoning is not None:
        allowed = caps.reasoning.allowed_options if caps and caps.reasoning else []
        if reasoning not in allowed:
            choice = f"Allowed values: {', '.join(allowed)}." if allowed else "Leave `reasoning` out for it."
            raise BridgeError(
                ErrorCode.INVALID_ARGUMENT,
                f"{info.key} does not support reasoning={reasoning!r}. {choice}",
            )
    if wants_images and not (caps and caps.vision):
        vision = [m.key for m in listing.models if m.capabilities and m.capabilities.vision]
        raise BridgeError(
            ErrorCode.INVALID_ARGUMENT,
            f"{info.key} cannot see images. Vision models: {', '.join(vision) or 'none downloaded'}.",
        )


async def stream_chat(
    state: AppState, request: ChatRequest, progress: ChatProgress
) -> tuple[ChatResponse | None, ErrorEvent | None]:
    """Run one streamed chat, reporting progress: the final response and any mid-stream error."""
    error: ErrorEvent | None = None
    response: ChatResponse | None = None
    async with state.predictions.slot(progress.queued, state.settings.progress_interval):
        async with aclosing(state.client.chat_stream(request)) as events:
            async for event in events:
                if isinstance(event, ErrorEvent):
                    error = event
                elif isinstance(event, ChatEnd):
                    response = event.result
                await progress.on_event(event)
    return response, error


def register(server: MCPServer[AppState]) -> None:
    @server.tool(
        title="Ask a local model",
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
        ),
    )
    @reports_errors
    async def chat(
        ctx: Context[AppState],
        prompt: Annotated[str, Field(min_length=1, description="The task or question for the local model")],
        model: Annotated[
            str | None,
            Field(
                description="Model key or instance id from list_models (default: the session's model, the "
                "configured default model, else the only loaded LLM). An unloaded model is loaded on demand."
            ),
        ] = None,
        session: Annotated[
            str | None,
            Field(
                min_length=1,
                max_length=200,
                description="Name a conversation to continue it on later calls without resending anything "
                "(e.g. 'review-auth'); the first call starts it",
            ),
        ] = None,
        files: Annotated[
            list[str] | None,
            Field(
                max_length=100,
                description="Paths of text files the server reads and puts before the prompt, so you do not "
                "have to read them yourself (only inside the server's allowed directories)",
            ),
        ] = None,
        images: Annotated[
            list[str] | None,
            Field(max_length=20, description="Image paths or data:image/...;base64 URLs, for vision models"),
        ] = None,
        system_prompt: Annotated[
            str | None, Field(description="System instructions (sent on a conversation's first turn only)")
        ] = None,
        previous_response_id: Annotated[
            str | None,
            Field(pattern=r"^resp_", description="Continue the conversation that returned this response_id"),
        ] = None,
        store: Annotated[
            bool | None, Field(description="Keep this exchange so it can be continued (LM Studio default: true)")
        ] = None,
        temperature: Annotated[float | None, Field(ge=0, le=1, description="Sampling randomness, 0 to 1")] = None,
        top_p: Annotated[float | None, Field(ge=0, le=1)] = None,
        top_k: Annotated[int | None, Field(ge=1)] = None,
        min_p: Annotated[float | None, Field(ge=0, le=1)] = None,
        repeat_penalty: Annotated[float | None, Field(ge=0, allow_inf_nan=False, description="1 = no penalty")] = None,
        max_output_tokens: Annotated[int | None, Field(ge=1, description="Stop after this many tokens")] = None,
        reasoning: Annotated[
            Literal["off", "low", "medium", "high", "on"] | None,
            Field(description="Thinking effort, for reasoning models (list_models shows the allowed values)"),
        ] = None,
        include_reasoning: Annotated[
            bool, Field(description="Return the model's thinking too (default: only the answer)")
        ] = False,
        context_length: Annotated[
            int | None, Field(ge=1, description="Context window to load the model with, if it must be loaded")
        ] = None,
        json_schema: Annotated[
            dict[str, Any] | None,
            Field(
                description="A JSON Schema the answer must follow; the parsed JSON comes back in `parsed` "
                "(not with session or previous_response_id)"
            ),
        ] = None,
        integrations: Annotated[
            list[str | PluginIntegration | EphemeralMcpIntegration] | None,
            Field(
                description="LM Studio-side MCP tools the model may call: plugin ids like 'mcp/playwright', "
                "or ephemeral MCP servers; they must be enabled in LM Studio's server settings"
            ),
        ] = None,
    ) -> Annotated[CallToolResult, ChatResult]:
        """Send a prompt to a local model in LM Studio and return its answer.

        Use it to hand off work a local model can do (summaries, drafts, reviews, classification,
        extraction, private data) without spending your own context: pass `files` and the server reads
        them for you. Name a `session` to keep a conversation going across calls. Progress is reported
        while the model loads, reads the prompt and writes.
        """
        state = ctx.request_context.lifespan_context
        client = state.client
        if session is not None and previous_response_id is not None:
            raise BridgeError(
                ErrorCode.INVALID_ARGUMENT,
                "Pass `session` or `previous_response_id`, not both: a session tracks its own responses.",
            )
        if json_schema is not None:
            if session is not None or previous_response_id is not None:
                raise BridgeError(
                    ErrorCode.INVALID_ARGUMENT,
                    "json_schema answers cannot continue a conversation: drop `session` / `previous_response_id`.",
                )
            check_schema(json_schema)
        if session is not None and store is False:
            raise BridgeError(ErrorCode.INVALID_ARGUMENT, "A session needs store=true (the default) to continue.")
        async with AsyncExitStack() as stack:
            if session is not None:
                await stack.enter_async_context(state.sessions.turn(session))
            current = state.sessions.get(session) if session is not None else None
            chosen = model or (current.model if current else None)
            chosen = chosen or await resolve_model(client, state.settings.default_model)
            if reasoning is not None or images:
                await check_capabilities(client, chosen, reasoning, bool(images))
            notes: list[str] = []
            if current is not None:
                previous_response_id = current.response_id
                if system_prompt is not None:
                    # LM Studio fails (HTTP 500) when a stored conversation gets a system prompt again.
                    system_prompt = None
                    notes.append("system_prompt was not sent: a session keeps the one from its first turn.")
            content = await build_input(prompt, files, images, state.file_policy)

            async def report(value: float, message: str) -> None:
                await ctx.report_progress(value, None, message)

            progress = ChatProgress(report, model=chosen)
            if json_schema is not None:
                request = completion_request(
                    chosen,
                    system_prompt,
                    content,
                    json_schema,
                    temperature=temperature,
                    top_p=top_p,
                    top_k=top_k,
                    repeat_penalty=repeat_penalty,
                    max_tokens=max_output_tokens,
                )

                async def beat(elapsed: float) -> None:
                    await report(elapsed, f"Waiting for {chosen}'s JSON answer: {elapsed:.0f} s")

                async with state.predictions.slot(progress.queued, state.settings.progress_interval):
                    result = await structured_chat(state, request, json_schema, beat)
                return tool_result(result, render_chat(result))
            request = ChatRequest(
                model=chosen,
                input=content,
                system_prompt=system_prompt,
                previous_response_id=previous_response_id,
                store=store,
                temperature=temperature,
                top_p=top_p,
                top_k=top_k,
                min_p=min_p,
                repeat_penalty=repeat_penalty,
                max_output_tokens=max_output_tokens,
                reasoning=reasoning,
                context_length=context_length,
                integrations=list[Integration](integrations) if integrations else None,
            )

            limit = state.settings.max_call_seconds
            try:
                with anyio.fail_after(limit):
                    response, error = await stream_chat(state, request, progress)
            except ModelNotFoundError:
                listing = await client.list_models()
                raise model_not_found(chosen, [m.key for m in listing.models]) from None
            except TimeoutError:
                raise BridgeError(
                    ErrorCode.TIMEOUT,
                    f"The chat took longer than {limit:g} s in all and was stopped. Ask for less "
                    "(max_output_tokens), or raise --max-call-seconds / LMS_MCP_MAX_CALL_SECONDS.\n"
                    f"Partial answer ({len(progress.partial_text)} characters):\n{progress.partial_text}",
                ) from None
            if error is not None:
                text = response.message_text if response is not None else progress.partial_text
                raise BridgeError(
                    ErrorCode.UPSTREAM_ERROR,
                    f"LM Studio reported an error mid-answer ({error.error.type}): {error.error.message}\n"
                    f"Partial answer ({len(text)} characters):\n{text}",
                )
            assert response is not None  # chat_stream either ends with ChatEnd or raises
            result = build_result(response, max_output_tokens, include_reasoning=include_reasoning)
            result.notes[:0] = notes
            if session is not None and response.response_id:
                state.sessions.record(session, chosen, response.response_id)
                result.session = session
        return tool_result(result, render_chat(result))
