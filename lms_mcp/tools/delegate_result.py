"""delegate's result: the answer, how it was reached (steps, files read, why it stopped), and what it saved."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from ..agent import StopReason
from ..printable import human_bytes
from .savings import ContextSaved, context_saved, saved_text

if TYPE_CHECKING:
    from ..agent.loop import Outcome


class StepReport(BaseModel):
    tool: str
    arguments: dict[str, Any] | str = Field(description="As the model wrote them (text when not JSON)")
    result_bytes: int = Field(description="What the model read from this call")
    summary: str
    ok: bool


class FileRead(BaseModel):
    path: str
    bytes: int = Field(description="Bytes of its text the model read (over all its reads)")


class DelegateStats(BaseModel):
    model_turns: int
    input_tokens: int = Field(description="Prompt tokens over all turns (each turn re-reads the conversation)")
    output_tokens: int


class DelegateResult(BaseModel):
    answer: str = Field(description="The local model's answer: unverified, check claims that matter")
    parsed: Any = Field(default=None, description="With json_schema: the answer as JSON, validated")
    model_instance_id: str
    stopped: StopReason = Field(
        description="finished: the model answered when it chose to; max_steps, budget or time: that bound ended "
        "its exploring and it answered with what it had"
    )
    steps: list[StepReport]
    files_read: list[FileRead]
    bytes_read: int = Field(description="Everything the model read: file text, listings, matches")
    context_saved: ContextSaved
    truncated: bool = Field(description="True when the answer stopped at max_output_tokens")
    stats: DelegateStats
    notes: list[str] = Field(default_factory=list[str], description="Things the caller should know or do")


STOPPED_NOTES: dict[StopReason, str] = {
    "finished": "",
    "max_steps": "Exploring stopped at the step limit ({max_steps} tool calls); the answer rests on what the model "
    "had read by then. Raise max_steps, or narrow `paths`, for a fuller search.",
    "budget": "Exploring stopped when the model had read {bytes} (its reading budget); the answer rests on that. "
    "Narrow `paths`, or raise LMS_MCP_MAX_DELEGATE_BYTES.",
    "time": "Exploring stopped when its time was up (two thirds of --max-call-seconds); the answer rests on what "
    "the model had read by then. Raise LMS_MCP_MAX_CALL_SECONDS, or use a faster model.",
}
CONTEXT_NOTE = (
    "Exploring stopped when the model had read {bytes}, about three quarters of its loaded context ({context} "
    "tokens); the answer rests on that. Narrow `paths`, or load the model with a larger context_length."
)
TRUNCATED = "The answer was cut off at max_output_tokens: raise it to get the rest."
EMPTY = "The model gave an empty answer: try again, with a larger model, or give the task more detail."


def context_bytes(context_length: int) -> int:
    """What a model may read with a loaded context of `context_length` tokens: three bytes a token, so at about
    four bytes a token a quarter of the context stays free for the prompt, the tools and the answer."""
    return 3 * context_length


def build_result(
    outcome: Outcome, answer: str, parsed: Any, *, max_steps: int, notes: list[str], context: int | None = None
) -> DelegateResult:
    """`context`: the loaded context, when it (not LMS_MCP_MAX_DELEGATE_BYTES) set the reading budget."""
    template = CONTEXT_NOTE if outcome.stopped == "budget" and context else STOPPED_NOTES[outcome.stopped]
    stop_note = template.format(max_steps=max_steps, bytes=human_bytes(outcome.bytes_read), context=context)
    truncated = outcome.final.finish_reason == "length"
    extra = [stop_note] if stop_note else []
    if truncated:
        extra.append(TRUNCATED)
    elif not answer.strip():
        extra.append(EMPTY)
    return DelegateResult(
        answer=answer,
        parsed=parsed,
        model_instance_id=outcome.model_instance,
        stopped=outcome.stopped,
        steps=[
            StepReport(tool=s.tool, arguments=s.arguments, result_bytes=s.result_bytes, summary=s.summary, ok=s.ok)
            for s in outcome.steps
        ],
        files_read=[FileRead(path=path, bytes=size) for path, size in outcome.files_read.items()],
        bytes_read=outcome.bytes_read,
        context_saved=context_saved(outcome.bytes_read, answer),
        truncated=truncated,
        stats=DelegateStats(
            model_turns=outcome.turns, input_tokens=outcome.input_tokens, output_tokens=outcome.output_tokens
        ),
        notes=[*notes, *extra],
    )


SHOWN_FILES = 5


def render_delegate(result: DelegateResult) -> str:
    files = [f.path for f in result.files_read]
    listed = ", ".join(files[:SHOWN_FILES]) + (
        f" (+{len(files) - SHOWN_FILES} more)" if len(files) > SHOWN_FILES else ""
    )
    facts = [
        f"stopped: {result.stopped}",
        f"{len(result.steps)} steps",
        f"read {len(files)} file{'' if len(files) == 1 else 's'}: {listed}" if files else "read no file",
        f"model {result.model_instance_id}, {result.stats.model_turns} turns",
        saved_text(result.context_saved),
    ]
    parts = [result.answer or "(empty answer)", *(f"[{note}]" for note in result.notes)]
    return "\n\n".join([*parts, f"[{' | '.join(facts)}]"])
