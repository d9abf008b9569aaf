"""Regular-expression search in a child process that is killed when it runs too long.

Python's `re` holds the GIL for a whole match: a catastrophic pattern such as `(a+)+b` on a long line of
`a`s would freeze every thread of the server, so a time limit checked between lines cannot work. The
patterns a model writes run in a separate interpreter (`-I -S`: no site packages, no environment), which
gets the pattern and the texts on stdin and answers with the matches on stdout. It reads no file itself:
the texts were read through the sandbox.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, cast

import anyio

# Lines are searched up to this many characters, so even a slow pattern pays per line, not per megabyte.
SCANNED_CHARS = 4000

_CHILD = """
import json, re, sys
job = json.loads(sys.stdin.buffer.read())
try:
    rx = re.compile(job["pattern"])
except (re.error, RecursionError, OverflowError, ValueError) as exc:
    sys.stdout.buffer.write(json.dumps({"error": str(exc)}).encode())
    raise SystemExit(0)
found, total = [], 0
for name, text in job["files"]:
    for number, line in enumerate(text.splitlines(), 1):
        if rx.search(line, 0, job["scanned"]):
            total += 1
            if len(found) < job["limit"]:
                found.append([name, number, line[: job["width"]]])
sys.stdout.buffer.write(json.dumps({"matches": found, "total": total}).encode())
"""


@dataclass(frozen=True)
class Match:
    path: str
    line: int
    text: str


@dataclass(frozen=True)
class Matches:
    found: list[Match]
    # Every matching line, also those beyond the limit.
    total: int


class SearchFailed(Exception):
    """The pattern does not compile, or the search ran out of time (then `timed_out`)."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


async def search(pattern: str, files: list[tuple[str, str]], *, limit: int, width: int, seconds: float) -> Matches:
    """Lines of `files` (name, text) that `pattern` matches: the first `limit`, each cut to `width` characters."""
    job = {"pattern": pattern, "files": files, "limit": limit, "width": width, "scanned": SCANNED_CHARS}
    command = [sys.executable, "-I", "-S", "-c", _CHILD]
    with anyio.move_on_after(seconds):
        # Cancelled or timed out, anyio kills the child before leaving.
        done = await anyio.run_process(command, input=json.dumps(job).encode("utf-8"), check=False)
        return _parse(done)
    raise SearchFailed(f"the search took longer than {seconds:g} s and was stopped", timed_out=True)


def _parse(done: subprocess.CompletedProcess[bytes]) -> Matches:
    try:
        answer = cast(dict[str, Any], json.loads(done.stdout))
    except ValueError:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        raise SearchFailed(f"the search failed ({detail[0]})") from None
    if "error" in answer:
        raise SearchFailed(f"not a valid regular expression: {answer['error']}")  # the parent checked it first
    found = [Match(str(path), int(line), str(text)) for path, line, text in answer["matches"]]
    return Matches(found, int(answer["total"]))
