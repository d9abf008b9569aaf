"""How much of the caller's context a call saved: what the local model read for it, less what came back."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ..printable import human_bytes

BYTES_PER_TOKEN = 4
RULE = "tokens = (read_bytes - answer_bytes) / 4, at 4 bytes per token; negative when the answer is the longer"


class ContextSaved(BaseModel):
    tokens: int = Field(description="Estimated tokens the caller did not have to read (see `rule`)")
    read_bytes: int = Field(description="What the local model read in the caller's place")
    answer_bytes: int = Field(description="What came back: the answer")
    rule: str = RULE


def context_saved(read_bytes: int, answer: str) -> ContextSaved:
    answer_bytes = len(answer.encode("utf-8"))
    return ContextSaved(
        tokens=(read_bytes - answer_bytes) // BYTES_PER_TOKEN, read_bytes=read_bytes, answer_bytes=answer_bytes
    )


def saved_text(saved: ContextSaved) -> str:
    return (
        f"context saved ~{saved.tokens:,} tokens ({human_bytes(saved.read_bytes)} read, "
        f"{human_bytes(saved.answer_bytes)} returned; 4 bytes per token)"
    )
