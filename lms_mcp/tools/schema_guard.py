"""json_schema calls that cannot stall the server: bounded schemas, and answers checked in a killable process.

Everything here runs on the event loop that serves every client, so nothing may take long. A schema is
measured without recursion before jsonschema sees it (its own checks recurse, and cost up to ~0.7 ms
per subschema). The answer is checked by `schema_worker` in a child process under a time limit: a `pattern`
like `^(a+)+$` backtracks exponentially inside `re`, which holds the GIL, so only killing a process stops it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

import anyio
from anyio.lowlevel import RunVar

from .errors import BridgeError, ErrorCode

if TYPE_CHECKING:
    from jsonschema import FormatChecker
    from jsonschema.protocols import Validator

# Limits on a json_schema, each far beyond what a model can follow; check_schema stays near 0.2 s at worst with them.
# Depth counts nested JSON objects and arrays (a property's schema is two levels down): jsonschema's checks
# recurse ~10 frames per level.
MAX_DEPTH = 64
# Checking one subschema (an object or a boolean schema) against the metaschema costs up to ~0.7 ms on the loop.
# Objects and booleans are counted wherever they are, in `enum` and `default` too: it is cheap and safe.
MAX_SUBSCHEMAS = 200
MAX_VALUES = 10_000
# `re.compile` runs on the loop for every `pattern` and `patternProperties` key.
MAX_PATTERN_CHARS = 5_000
# Checking a fair answer takes ~0.1 s, nearly all of it starting the process.
CHECK_SECONDS = 5.0
# At most this many checks run at once, each able to burn CHECK_SECONDS of CPU: a flood of hostile schemas
# waits its turn instead of taking every core from the event loop.
MAX_WORKERS = max(2, os.cpu_count() or 2)

_WORKER = Path(__file__).parent.parent / "schema_worker.py"
_running: set[int] = set()
_peak = 0
# One limiter per event loop (a server has one; each test has its own).
_slots: RunVar[anyio.CapacityLimiter] = RunVar("lms_mcp_schema_check_slots")
_MESSAGE_CHARS = 500
_ADVICE = "Try again, simplify the schema, or use a larger model."


def running_workers() -> frozenset[int]:
    """Process ids of the answer checks running now."""
    return frozenset(_running)


def peak_workers() -> int:
    """The most answer checks that have run at once in this process."""
    return _peak


def _worker_slots() -> anyio.CapacityLimiter:
    try:
        return _slots.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(MAX_WORKERS)
        _slots.set(limiter)
        return limiter


@dataclass
class _Tally:
    subschemas: int = 0
    values: int = 0
    pattern_chars: int = 0

    def enforce(self, depth: int) -> None:
        if depth > MAX_DEPTH:
            _too_big(f"nests objects and arrays more than {MAX_DEPTH} levels deep; flatten it")
        if self.subschemas > MAX_SUBSCHEMAS:
            _too_big(
                f"has more than {MAX_SUBSCHEMAS} subschemas (objects and true/false values); "
                "split the task into smaller schemas"
            )
        if self.values > MAX_VALUES:
            _too_big(f"has more than {MAX_VALUES} values in all (each `enum` entry counts); shorten it")
        if self.pattern_chars > MAX_PATTERN_CHARS:
            _too_big(f"has more than {MAX_PATTERN_CHARS} characters of `pattern`s; shorten them")


def _too_big(what: str) -> NoReturn:
    raise BridgeError(ErrorCode.INVALID_ARGUMENT, f"json_schema {what}.")


def check_bounds(schema: object) -> None:
    """INVALID_ARGUMENT naming the limit when `schema` is too deep or too large to check quickly."""
    tally = _Tally()
    # (node, depth of the container it is in or is, the key it is under); a stack, as a schema may be deep.
    pending: list[tuple[object, int, str | None]] = [(schema, 1, None)]
    while pending:
        node, depth, key = pending.pop()
        tally.values += 1
        tally.subschemas += isinstance(node, dict | bool)
        if isinstance(node, dict):
            fields = cast(dict[Any, Any], node)
            if key == "patternProperties":
                tally.pattern_chars += sum(len(str(name)) for name in fields)
            pending.extend((value, depth + 1, str(name)) for name, value in fields.items())
        elif isinstance(node, list):
            pending.extend((item, depth + 1, None) for item in cast(list[Any], node))
        elif key == "pattern" and isinstance(node, str):
            tally.pattern_chars += len(node)
        tally.enforce(depth if isinstance(node, dict | list) else 0)


def _compiles(pattern: object) -> bool:
    return not isinstance(pattern, str) or bool(re.compile(pattern))


def format_checker(validator: type[Validator]) -> FormatChecker:
    """`validator`'s format checks, where a regex that breaks `re.compile` is invalid rather than a crash."""
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())
    checker.checkers = dict(validator.FORMAT_CHECKER.checkers)
    # `a{99999999999}` raises OverflowError and deeply nested groups RecursionError, not re.error.
    checker.checks("regex", raises=(re.error, OverflowError, RecursionError))(_compiles)
    return checker


def metaschema_error(validator: type[Validator], schema: dict[str, Any]) -> str | None:
    """The first reason `schema` is not a valid schema of its dialect, with its regexes checked safely."""
    meta = validator(validator.META_SCHEMA, format_checker=format_checker(validator))
    error = next(iter(meta.iter_errors(schema)), None)
    if error is None:
        return None
    # A message quotes the offending value, which may be a long pattern or a large subschema.
    return error.message if len(error.message) <= _MESSAGE_CHARS else error.message[:_MESSAGE_CHARS] + "..."


async def parse_answer(text: str, schema: dict[str, Any]) -> Any:
    """The answer as JSON that validates against `schema`, or an error result that quotes it."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise BridgeError(
            ErrorCode.INVALID_ANSWER, f"The model's answer is not valid JSON ({exc}). {_ADVICE}\nAnswer:\n{text}"
        ) from None
    verdict = await _judge(schema, text)
    match verdict.get("outcome"):
        case "valid":
            return value
        case "mismatch":
            raise BridgeError(
                ErrorCode.INVALID_ANSWER,
                f"The model's answer does not match json_schema at {verdict['where']}: {verdict['message']}. "
                f"{_ADVICE}\nAnswer:\n{text}",
            )
        case "unresolvable":
            raise BridgeError(
                ErrorCode.INVALID_ARGUMENT,
                f"json_schema has a reference that cannot be resolved ({verdict['detail']}); make it self-contained.",
            )
        case "endless":
            raise BridgeError(
                ErrorCode.INVALID_ARGUMENT,
                "json_schema could not be checked: a `$ref` leads back to itself without going into a property "
                f"or an item. Remove the cycle.\nAnswer:\n{text}",
            )
        case "too_deep":
            raise _unchecked("it nests too deeply to check against json_schema", text)
        case _:
            raise _unchecked(f"the checking process failed ({verdict.get('detail', 'no verdict')})", text)


def _unchecked(why: str, text: str, advice: str = _ADVICE) -> BridgeError:
    return BridgeError(
        ErrorCode.INVALID_ANSWER, f"The model's answer could not be checked: {why}. {advice}\nAnswer:\n{text}"
    )


async def _judge(schema: dict[str, Any], text: str) -> dict[str, str]:
    """The worker's verdict, once a worker slot is free; it is killed when the time limit passes or the call is
    cancelled."""
    async with _worker_slots():
        output, code = await _run_worker(json.dumps({"schema": schema, "answer": text}).encode("utf-8"), text)
    try:
        return json.loads(output) if code == 0 else {"detail": f"exit code {code}"}
    except ValueError:
        return {"detail": "unreadable verdict"}


async def _run_worker(request: bytes, text: str) -> tuple[bytes, int | None]:
    global _peak
    output, code = b"", None
    # -P: nothing in the worker's folder may shadow the standard library.
    command = [sys.executable, "-P", str(_WORKER), str(math.ceil(CHECK_SECONDS) + 1)]
    process = await anyio.open_process(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None)
    _running.add(process.pid)
    _peak = max(_peak, len(_running))
    try:
        assert process.stdin is not None and process.stdout is not None
        with anyio.move_on_after(CHECK_SECONDS) as limit:
            # A worker that died at start closes its stdin: its exit code tells why.
            with contextlib.suppress(anyio.BrokenResourceError):
                await process.stdin.send(request)
                await process.stdin.aclose()
            output = b"".join([chunk async for chunk in process.stdout])
            code = await process.wait()
        if limit.cancelled_caught:
            raise _timed_out(text)
    finally:
        if process.returncode is None:
            process.kill()
        with anyio.CancelScope(shield=True):
            await process.aclose()
        _running.discard(process.pid)
    return output, code


def _timed_out(text: str) -> BridgeError:
    return _unchecked(
        f"checking it against json_schema took longer than {CHECK_SECONDS:g} s and was stopped (a `pattern` "
        "with nested quantifiers such as (a+)+ can take exponential time, and so can `$ref`s that fan out)",
        text,
        "Simplify the schema's patterns and references, then try again; the unchecked answer is below.",
    )
