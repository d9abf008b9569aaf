"""What one delegation may spend: tool calls and bytes read; and why it stopped."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

StopReason = Literal["finished", "max_steps", "budget", "time"]

BUDGET_SETTING = "LMS_MCP_MAX_DELEGATE_BYTES"


@dataclass
class Budget:
    """Tool calls left, and bytes the model may still read (every tool result counts: file text, listings, matches)."""

    max_steps: int
    max_bytes: int
    steps: int = 0
    bytes_read: int = 0

    @property
    def steps_left(self) -> int:
        return self.max_steps - self.steps

    @property
    def bytes_left(self) -> int:
        return max(self.max_bytes - self.bytes_read, 0)

    def take(self, text: str) -> str:
        """`text` as the model may read it: whole, or cut where the budget ends (then the budget is spent)."""
        data = text.encode("utf-8")
        if len(data) <= self.bytes_left:
            self.bytes_read += len(data)
            return text
        kept = data[: self.bytes_left].decode("utf-8", "ignore")
        self.bytes_read = self.max_bytes
        return f"{kept}\n[cut here: the {self.max_bytes}-byte reading budget of this task is used up]"

    def exhausted(self) -> StopReason | None:
        if self.steps >= self.max_steps:
            return "max_steps"
        if self.bytes_left == 0:
            return "budget"
        return None
