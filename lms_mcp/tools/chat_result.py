"""chat's result: what the caller gets back, structured and as a short text."""

from typing import Any

from pydantic import BaseModel, Field

from ..lmstudio.models import ChatResponse, InvalidToolCallItem, ToolCallItem
from .savings import ContextSaved, saved_text


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
    session: str | None = Field(default=None, description="The named session this turn belongs to")
    truncated: bool = Field(description="True when the answer stopped at max_output_tokens")
    stats: ChatStats
    tool_calls: list[ToolCallReport] = Field(default_factory=list[ToolCallReport])
    parsed: Any = Field(default=None, description="With json_schema: the answer as JSON, validated")
    reasoning: str | None = Field(default=None, description="The model's thinking, with include_reasoning=true")
    notes: list[str] = Field(default_factory=list[str], description="Things the caller should know or do")
    context_saved: ContextSaved | None = Field(default=None, description="With files: the caller's context saved")


def _provider(info: Any) -> str | None:
    if info is None:
        return None
    return info.plugin_id or info.server_label or info.type


EMPTY_FROM_REASONING = (
    "The answer is empty because reasoning used the whole max_output_tokens budget: raise max_output_tokens, "
    "or lower `reasoning` (e.g. 'low' or 'off' where the model allows it)."
)
TRUNCATED = "The answer was cut off at max_output_tokens: raise it to get the rest."


def build_result(
    response: ChatResponse, max_output_tokens: int | None, *, include_reasoning: bool = False
) -> ChatResult:
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
    answer = response.message_text
    truncated = max_output_tokens is not None and stats.total_output_tokens >= max_output_tokens
    notes: list[str] = []
    if truncated:
        notes.append(EMPTY_FROM_REASONING if not answer.strip() and stats.reasoning_output_tokens else TRUNCATED)
    return ChatResult(
        answer=answer,
        model_instance_id=response.model_instance_id,
        response_id=response.response_id,
        truncated=truncated,
        reasoning=response.reasoning_text if include_reasoning else None,
        notes=notes,
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
    facts = [f"model {result.model_instance_id}"]
    if result.session:
        facts.append(f"session {result.session}")
    elif result.response_id:
        facts.append(f"response_id {result.response_id}")
    facts.append(f"{result.stats.output_tokens} tokens")
    if result.stats.tokens_per_second:
        facts.append(f"{result.stats.tokens_per_second:.1f} tok/s")
    facts += [f"tool {call.tool}: {'failed' if call.error else 'ok'}" for call in result.tool_calls]
    if result.context_saved is not None:
        facts.append(saved_text(result.context_saved))
    parts = [result.answer or "(empty answer)"]
    if result.reasoning:
        parts.insert(0, f"<reasoning>\n{result.reasoning}\n</reasoning>")
    parts += [f"[{note}]" for note in result.notes]
    return "\n\n".join([*parts, f"[{' | '.join(facts)}]"])
