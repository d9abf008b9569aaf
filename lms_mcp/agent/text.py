"""Text that can go on the wire: JSON and UTF-8 have no room for lone surrogates, which Python strings can hold.

They come from a model's JSON (`"\\ud800"` parses to one) and from file names that are not UTF-8 (decoded with
surrogateescape). Sent on, they would fail the request to LM Studio or the result to the caller.
"""

from __future__ import annotations

import json
from typing import Any


def wire_safe(text: str) -> str:
    """`text` with every lone surrogate replaced by "?"."""
    return text.encode("utf-8", "replace").decode("utf-8")


def wire_safe_json(value: Any) -> Any:
    """A parsed JSON value with every string in it (keys too) made wire-safe."""
    return json.loads(wire_safe(json.dumps(value, ensure_ascii=False)))
