"""Section 7, delegation: the calling agent's context with `delegate` versus doing the task itself.

For each task of delegation_fixture.py, lms-mcp (in memory, SDK Client) runs `delegate` against the simulator,
which plays a local model following the task's script. Counted, at 4 bytes per token:

- with delegate: the call as the host sends it plus the result's text (and, for hosts that also show it, the
  structured content);
- reading itself: each call the agent would make (a grep-style search, whole-file reads numbered like an
  agent's read tool, `     1<TAB>line`) with its output.

Also the steps, the model turns and the wall time per call. The simulator answers at once, so the time is
lms-mcp's own: tool calls, file reads and the HTTP turns; a real model adds its thinking to every turn.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.types import TextContent

from bench.common import Bench
from bench.delegation_fixture import BenchTask, SelfRead, build_tasks
from bench.stats import Figure, Section, Summary
from lms_mcp.server import build_server
from lms_mcp.settings import Settings

# A model with a long context, loaded with 128k tokens: the log task needs about 60k.
MODEL = "qwen/qwen3.8-27b"
CONTEXT_LENGTH = 131072
BYTES_PER_TOKEN = 4


def call_bytes(tool: str, arguments: dict[str, Any]) -> int:
    return len(json.dumps({"name": tool, "arguments": arguments}).encode())


def numbered(path: Path) -> str:
    lines = path.read_text(encoding="utf-8").splitlines()
    return "".join(f"{number:>6}\t{line}\n" for number, line in enumerate(lines, start=1))


def grep(root: Path, where: str, pattern: str) -> str:
    rx = re.compile(pattern)
    found: list[str] = []
    for path in sorted((root / where).rglob("*")):
        if path.is_file():
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if rx.search(line):
                    found.append(f"{path.relative_to(root)}:{number}:{line}\n")
    return "".join(found)


def self_bytes(root: Path, reads: list[SelfRead]) -> tuple[int, int]:
    """Bytes entering the agent's context when it does the work itself, and the number of calls."""
    total = 0
    for read in reads:
        tool = "Grep" if read.tool == "search" else "Read"
        total += call_bytes(tool, read.arguments)
        if read.tool == "search":
            total += len(grep(root, read.arguments["path"], read.arguments["pattern"]).encode())
        else:
            total += len(numbered(root / read.arguments["path"]).encode())
    return total, len(reads)


async def run_task(client: Client, bench: Bench, task: BenchTask, rounds: int) -> tuple[dict[str, Any], list[float]]:
    bench.sim.reset()
    bench.sim.config.agent = task.script
    arguments = {**task.arguments, "model": MODEL}
    seconds: list[float] = []
    structured: dict[str, Any] = {}
    text = ""
    for _ in range(rounds + 1):  # the first call is a warm-up (it also loads the model in the simulator)
        started = time.perf_counter()
        result = await client.call_tool("delegate", arguments)
        seconds.append(time.perf_counter() - started)
        block = result.content[0]
        if result.is_error or not isinstance(block, TextContent) or result.structured_content is None:
            raise RuntimeError(f"delegate failed on {task.key}: {result.content}")
        text, structured = block.text, result.structured_content
        bench.sim.forget()
    with_delegate = call_bytes("delegate", arguments) + len(text.encode())
    figures = {
        "with_delegate_bytes": with_delegate,
        "with_structured_bytes": with_delegate + len(json.dumps(structured).encode()),
        "steps": len(structured["steps"]),
        "model_turns": structured["stats"]["model_turns"],
        "local_model_read_bytes": structured["bytes_read"],
        "files_read": len(structured["files_read"]),
        "context_saved_estimate_tokens": structured["context_saved"]["tokens"],
        "stopped": structured["stopped"],
    }
    return figures, seconds[1:]


def add_figures(section: Section, task: BenchTask, figures: dict[str, Any], seconds: list[float]) -> None:
    delegate_tokens = figures["with_delegate_bytes"] / BYTES_PER_TOKEN
    self_tokens = figures["self_bytes"] / BYTES_PER_TOKEN
    section.add(
        Figure(
            f"{task.title}: caller tokens, delegate / reading itself",
            delegate_tokens,
            self_tokens,
            "tok",
            ratio=delegate_tokens / self_tokens,
            ratio_meaning="share of the context that reading the files itself costs",
            detail=figures,
        )
    )
    section.add(
        Figure(
            f"{task.title}: steps (model turns {figures['model_turns']})",
            figures["steps"],
            figures["self_calls"],
            "calls",
        )
    )
    timing = Summary.of_seconds(seconds)
    section.add(Figure(f"{task.title}: wall time vs simulator, p50", timing.p50, None, "ms", detail=timing.as_dict()))


async def run(bench: Bench) -> Section:
    section = Section("delegation", "8. Delegation")
    root = bench.tmp / "delegation"
    tasks = build_tasks(root)
    rounds = bench.scaled(5, 2)
    settings = Settings(base_url=bench.sim.url, allowed_dirs=(str(root),))
    try:
        async with Client(build_server(settings)) as client:
            loaded = await client.call_tool("load_model", {"model": MODEL, "context_length": CONTEXT_LENGTH})
            if loaded.is_error:
                raise RuntimeError(f"could not load {MODEL}: {loaded.content}")
            for task in tasks:
                figures, seconds = await run_task(client, bench, task, rounds)
                figures["self_bytes"], figures["self_calls"] = self_bytes(root, task.baseline)
                section.data[task.key] = figures
                add_figures(section, task, figures, seconds)
    finally:
        bench.sim.config.agent = None
    section.notes += [
        "Tokens are bytes / 4. 'delegate' counts the call and the result's text; with the structured content "
        "as well (for hosts that show it): "
        + ", ".join(f"{t.key} {section.data[t.key]['with_structured_bytes'] // BYTES_PER_TOKEN:,} tok" for t in tasks)
        + ".",
        "'reading itself' counts a grep-style search and whole-file reads numbered like an agent's read tool; a "
        "careful agent reading only parts of files would spend less, an agent that explores more would spend more.",
        f"The model is {MODEL}, loaded with a {CONTEXT_LENGTH:,}-token context (delegate lets a model read about "
        "three quarters of its context). The simulated model follows a script: the steps are what a competent "
        "model would do, the answers are written to be right. Answer quality and a real model's turns need a "
        "real model.",
    ]
    return section
