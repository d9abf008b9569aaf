"""The access log: one JSON line per tool call on stderr, saying who called what and how it went.

Only names, codes and numbers: never a prompt, a file, an answer or a token. The client name is the
one from the token list; the model is the one LM Studio reports (or the one loaded), when there is one.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

from mcp.types import CallToolResult, TextContent

from ..tools.errors import ErrorCode

OK = "ok"
# A failure without a code: an unknown tool, or a bug (whose traceback is logged apart).
UNCODED = "error"
CANCELLED = "cancelled"
_CODES = frozenset(ErrorCode)


def outcome_of(result: Any) -> str:
    """`ok`, or the error code a failed result starts with."""
    if not isinstance(result, CallToolResult) or not result.is_error:
        return OK
    first = result.content[0] if result.content else None
    code = first.text.split(":", 1)[0] if isinstance(first, TextContent) else ""
    return code if code in _CODES else UNCODED


def model_of(result: Any) -> str | None:
    """The model a successful result names: the instance that answered, else the model loaded or used."""
    if not isinstance(result, CallToolResult) or result.is_error or result.structured_content is None:
        return None
    for key in ("model_instance_id", "model"):
        value = result.structured_content.get(key)
        if isinstance(value, str):
            return value
    return None


def access_line(*, client: str | None, tool: str, seconds: float, outcome: str, model: str | None) -> str:
    record = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "client": client,
        "tool": tool,
        "duration_ms": round(seconds * 1000, 1),
        "outcome": outcome,
        "model": model,
    }
    return json.dumps(record, separators=(",", ":"))


def write_access_line(line: str) -> None:
    # sys.stderr looked up per line: whoever replaced it (a test, a host wrapper) gets the line.
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
