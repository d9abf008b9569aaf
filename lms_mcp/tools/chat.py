"""The chat tool: hand a prompt to a local model through LM Studio's /api/v1/chat, streaming progress."""

from contextlib import aclosing
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from ..app_state import AppState
from ..lmstudio import LMStudioClient, ModelNotFoundError
from ..lmstudio.models import ChatRequest, ChatResponse, InvalidToolCallItem, ToolCallItem
from ..lmstudio.streaming import ChatEnd, ErrorEvent, MessageDelta
from .errors import BridgeError, ErrorCode, model_not_found, reports_errors
from .progress import ChatProgress
from .results import tool_result


class ChatStats(BaseModel):
    input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    tokens_per_second: float | None = None
    time_to_first_token_seconds: float | None = None
    model_load_time_seconds: float | None = Field(default=None, description="Set when this call loaded the model")


class ToolCallReport(BaseModel):
    tool: str | None
    arguments: dict[str, Any] | None = None
    output: str | None = None
    provider: str | None = None
    error: str | None = Field(default=None, description="Why LM Studio could not run the call")


class ChatResult(BaseModel):
    answer: str = Field(description="The model's answer")
    model_instance_id: str = Field(description="The loaded instance that answered")
    response_id: str | None = Field(description="Pass as previous_response_id to continue this conversation")
    truncated: bool = Field(description="True when the answer stopped at max_output_tokens")
    stats: ChatStats
    tool_calls: list[ToolCallReport] = Field(default_factory=list[ToolCallReport])


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


def _provider(info: Any) -> str | None:
    if info is None:
        return None
    return info.plugin_id or info.server_label or info.type


def build_result(response: ChatResponse, max_output_tokens: int | None) -> ChatResult:
    stats = response.stats
    calls: list[ToolCallReport] = []
    for item in response.output:
        if isinstance(item, ToolCallItem):
            calls.append(
                ToolCallReport(
                    tool=item.tool, arguments=item.arguments, output=item.output, provider=_provider(item.provider_info)
                )
            )
        elif isinstance(item, InvalidToolCallItem):
            meta = item.metadata
            calls.append(ToolCallReport(tool=meta.tool_name if meta else None, error=item.reason))
    return ChatResult(
        answer=response.message_text,
        model_instance_id=response.model_instance_id,
        response_id=response.response_id,
        truncated=max_output_tokens is not None and stats.total_output_tokens >= max_output_tokens,
        stats=ChatStats(
            input_tokens=stats.input_tokens,
            output_tokens=stats.total_output_tokens,
            reasoning_tokens=stats.reasoning_output_tokens,
            tokens_per_second=stats.tokens_per_second,
            time_to_first_token_seconds=stats.time_to_first_token_seconds,
            model_load_time_seconds=stats.model_load_time_seconds,
        ),
        tool_calls=calls,
    )


def render_chat(result: ChatResult) -> str:
    notes = [f"model {result.model_instance_id}"]
    if result.response_id:
        notes.append(f"response_id {result.response_id}")
    notes.append(f"{result.stats.output_tokens} tokens")
    if result.stats.tokens_per_second:
        notes.append(f"{result.stats.tokens_per_second:.1f} tok/s")
    if result.tool_calls:
        notes.append(f"{len(result.tool_calls)} tool call(s)")
    answer = result.answer or "(empty answer)"
    if result.truncated:
        answer += "\n[cut off at max_output_tokens: raise it for the rest]"
        if not result.answer and result.stats.reasoning_tokens:
            answer += " [reasoning used the whole budget: raise max_output_tokens or lower `reasoning`]"
    return f"{answer}\n\n[{' | '.join(notes)}]"


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
                description="Model key or instance id from list_models (default: the configured default "
                "model, else the only loaded LLM). An unloaded model is loaded on demand."
            ),
        ] = None,
        system_prompt: Annotated[
            str | None, Field(description="System instructions (only for a new conversation)")
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
        repeat_penalty: Annotated[float | None, Field(ge=0, description="1 = no penalty")] = None,
        max_output_tokens: Annotated[int | None, Field(ge=1, description="Stop after this many tokens")] = None,
        reasoning: Annotated[
            Literal["off", "low", "medium", "high", "on"] | None,
            Field(description="Thinking effort, for reasoning models (list_models shows the allowed values)"),
        ] = None,
        context_length: Annotated[
            int | None, Field(ge=1, description="Context window to load the model with, if it must be loaded")
        ] = None,
    ) -> Annotated[CallToolResult, ChatResult]:
        """Send a prompt to a local model in LM Studio and return its answer.

        Use it to hand off work a local model can do (summaries, drafts, classification, extraction,
        private data) without spending your own context. The answer comes with a response_id: pass it
        as previous_response_id to ask a follow-up without resending anything. Progress is reported
        while the model loads, reads the prompt and writes.
        """
        state = ctx.request_context.lifespan_context
        client = state.client
        chosen = model or await resolve_model(client, state.settings.default_model)
        request = ChatRequest(
            model=chosen,
            input=prompt,
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
        )

        async def report(value: float, message: str) -> None:
            await ctx.report_progress(value, None, message)

        progress = ChatProgress(report, model=chosen)
        partial: list[str] = []
        error: ErrorEvent | None = None
        response: ChatResponse | None = None
        limit = state.settings.max_call_seconds
        try:
            with anyio.fail_after(limit):
                async with state.predictions.slot(progress.queued, state.settings.progress_interval):
                    async with aclosing(client.chat_stream(request)) as events:
                        async for event in events:
                            if isinstance(event, MessageDelta):
                                partial.append(event.content)
                            elif isinstance(event, ErrorEvent):
                                error = event
                            elif isinstance(event, ChatEnd):
                                response = event.result
                            await progress.on_event(event)
        except ModelNotFoundError:
            listing = await client.list_models()
            raise model_not_found(chosen, [m.key for m in listing.models]) from None
        except TimeoutError:
            text = "".join(partial)
            raise BridgeError(
                ErrorCode.TIMEOUT,
                f"The chat took longer than {limit:g} s in all and was stopped. Ask for less (max_output_tokens), "
                f"or raise --max-call-seconds / LMS_MCP_MAX_CALL_SECONDS.\n"
                f"Partial answer ({len(text)} characters):\n{text}",
            ) from None
        if error is not None:
            text = response.message_text if response is not None else "".join(partial)
            raise BridgeError(
                ErrorCode.UPSTREAM_ERROR,
                f"LM Studio reported an error mid-answer ({error.error.type}): {error.error.message}\n"
                f"Partial answer ({len(text)} characters):\n{text}",
            )
        assert response is not None  # chat_stream either ends with ChatEnd or raises
        result = build_result(response, max_output_tokens)
        return tool_result(result, render_chat(result))
