"""Checks one JSON answer against a JSON Schema in a process of its own, so that the server can kill it.

A `pattern` with nested quantifiers can backtrack for minutes inside `re`, which holds the GIL and cannot be
interrupted, and `$ref`s that fan out can repeat work exponentially: no thread of the server may run that.
`schema_guard` runs this file by path (`python -P schema_worker.py CPU_SECONDS`), so it imports nothing from the
package. It reads `{"schema": ..., "answer": "<JSON text>"}` on stdin and writes one verdict object on stdout:
`{"outcome": "valid"}`, `{"outcome": "mismatch", "where": ..., "message": ...}`,
`{"outcome": "unresolvable", "detail": ...}`, or, when the check recursed too deeply, `{"outcome": "too_deep"}`
(the answer nests deeply) or `{"outcome": "endless"}` (it does not: the schema has a `$ref` cycle).
"""

from __future__ import annotations

import json
import sys
from typing import Any, cast

# Nesting that jsonschema follows easily: an answer no deeper than this cannot exhaust the stack by itself.
_SHALLOW = 50


def nesting(value: Any) -> int:
    """How deeply lists and objects nest in `value`, counted without recursion."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        node, depth = pending.pop()
        deepest = max(deepest, depth)
        if isinstance(node, dict | list):
            children = cast(dict[Any, Any], node).values() if isinstance(node, dict) else cast(list[Any], node)
            pending.extend((child, depth + 1) for child in children)
    return deepest


def verdict(schema: Any, answer: Any) -> dict[str, str]:
    from jsonschema.validators import Draft202012Validator, validator_for
    from referencing.exceptions import Unresolvable

    try:
        validator = validator_for(schema, default=Draft202012Validator)(schema)
        error = next(iter(validator.iter_errors(answer)), None)
    except Unresolvable as exc:
        return {"outcome": "unresolvable", "detail": str(exc)}
    except RecursionError:
        # A deep answer can exhaust the stack against a recursive schema; a shallow one only on a `$ref` cycle.
        return {"outcome": "too_deep" if nesting(answer) > _SHALLOW else "endless"}
    if error is None:
        return {"outcome": "valid"}
    where = "/".join(str(part) for part in error.absolute_path) or "(root)"
    return {"outcome": "mismatch", "where": where, "message": error.message}


def limit_cpu(seconds: int) -> None:
    """Let the kernel end this process after `seconds` of CPU time, should the server die before killing it."""
    try:
        import resource
    except ImportError:  # Windows: the server's kill is the only limit.
        return
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds))


def main() -> None:
    limit_cpu(int(sys.argv[1]))
    request = json.loads(sys.stdin.buffer.read())
    result = verdict(request["schema"], json.loads(request["answer"]))
    sys.stdout.buffer.write(json.dumps(result).encode("ascii"))


if __name__ == "__main__":
    main()
