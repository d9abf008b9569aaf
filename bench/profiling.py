"""Where a server spends its time: py-spy samples of a live process, summed by layer.

Optional: it runs only when py-spy is installed (`pip install py-spy`) and passed with `--py-spy PATH` or
found on PATH. Samples are taken with `--gil`, i.e. only while a thread holds the GIL, which approximates
Python CPU time. Each sample is charged to the innermost frame of lms-mcp, the MCP SDK or the HTTP client
(httpx2/httpcore2/h11) in the running task's stack; samples outside any task go to the event loop or to the
worker threads that read and write the stdio pipes. So "lms_mcp" includes the pydantic work lms-mcp's own code
calls, "mcp SDK" the pydantic work of the SDK, and so on.
"""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

RATE = 250
_LOOP_FRAMES = (
    "Handle._run (asyncio/events.py",
    "BaseEventLoop._run_once (asyncio/",
    "BaseEventLoop.run_forever (asyncio/",
)
_WORKER = "WorkerThread.run (anyio/"
LAYERS = (
    ("lms_mcp", ("lms_mcp/",)),
    ("bench floor", ("bench/",)),
    ("mcp SDK", ("mcp/", "mcp_types/")),
    ("httpx2/httpcore2/h11", ("httpx2/", "httpcore2/", "h11/")),
)


def find_py_spy(given: str | None) -> str | None:
    if given:
        return given if Path(given).exists() else shutil.which(given)
    return shutil.which("py-spy")


def _path_of(frame: str) -> str:
    # py-spy raw frames look like "function (path/to/file.py:123)".
    start = frame.rfind("(")
    return frame[start + 1 :] if start >= 0 else frame


def _layer(frame: str) -> str | None:
    path = _path_of(frame)
    for name, prefixes in LAYERS:
        if path.startswith(prefixes):
            return name
    return None


def _leaf_package(frame: str) -> str:
    path = _path_of(frame)
    head = path.split("/", 1)[0] if "/" in path else path.split(".py", 1)[0]
    return head.split(":", 1)[0]


def owner_of(frames: list[str]) -> str:
    """The layer a sample is charged to: the innermost lms-mcp / SDK / HTTP-client frame of the running task.

    Only frames above the event loop (the task's own coroutine stack) count: the frames below it (runpy,
    lms-mcp's main, MCPServer.run) are on every full stack and would otherwise take the blame for the event
    loop's own work. py-spy sometimes returns a stack cut short at the bottom; then all its frames count.
    """
    loop_top = max((i for i, frame in enumerate(frames) if frame.startswith(_LOOP_FRAMES)), default=-1)
    layers = (layer for layer in map(_layer, reversed(frames[loop_top + 1 :])) if layer is not None)
    owner = next(layers, None)
    if owner is not None:
        return owner
    if any(frame.startswith(_WORKER) for frame in frames):
        return "worker threads (stdio pipe reads/writes)"
    return "event loop (asyncio/anyio scheduling)"


def summarize_raw(raw: str, calls: int) -> dict[str, Any]:
    """py-spy `--format raw` (collapsed stacks) -> ms per call by owner layer, by leaf package, top functions."""
    owners: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        owners[owner_of(frames)] += count
        leaves[_leaf_package(frames[-1])] += count
        functions[frames[-1]] += count
    per_call = 1000.0 / RATE / max(calls, 1)
    return {
        "samples": total,
        "calls": calls,
        "gil_ms_per_call": round(total * per_call, 3),
        "by_owner_ms_per_call": {k: round(v * per_call, 3) for k, v in owners.most_common()},
        "by_leaf_package_ms_per_call": {k: round(v * per_call, 3) for k, v in leaves.most_common(8)},
        "top_functions_share": {k: round(v / max(total, 1), 3) for k, v in functions.most_common(10)},
    }


async def profile_calls(
    py_spy: str, pid: int, call: Callable[[], Awaitable[float]], seconds: float, output: Path
) -> dict[str, Any]:
    """Sample `pid` for `seconds` while calling `call` back to back; summarise per call."""
    output.parent.mkdir(parents=True, exist_ok=True)
    spy = await asyncio.create_subprocess_exec(
        py_spy,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        str(RATE),
        "--format",
        "raw",
        "--gil",
        "--nonblocking",
        "--output",
        str(output),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    await asyncio.sleep(0.3)  # let py-spy attach before counting calls
    calls = 0
    while spy.returncode is None:
        # asyncio sets returncode from its child watcher as soon as py-spy exits.
        await call()
        calls += 1
    await spy.wait()
    stderr = await spy.stderr.read() if spy.stderr else b""
    raw = await asyncio.to_thread(_read_if_any, output)
    if spy.returncode != 0 or raw is None:
        return {"error": f"py-spy failed ({spy.returncode}): {stderr.decode(errors='replace')[-300:]}"}
    return summarize_raw(raw, calls)


def _read_if_any(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None
