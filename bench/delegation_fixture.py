"""The delegation benchmark's fixture: a tree written deterministically in code, and three tasks over it.

Each task says what a calling agent asks for, what a competent local model does (the simulator's script:
which tools, on which files), the answer it gives, and what the calling agent would have to read to do the
task itself (the baseline). Line numbers in the answers and scripts are computed from the generated files.
"""

from __future__ import annotations

import difflib
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lms_mcp.agent.workspace_tools import READ_BYTES
from lms_mcp.simulator import AgentScript, ScriptedCall

WORDS = (
    "account cache client config cursor deadline event fetch handler index job ledger limit metric order "
    "payload queue record request retry route session shard signal stream task token user window worker"
).split()


@dataclass(frozen=True)
class SelfRead:
    """One call the calling agent would make itself: a search (pattern over `paths`) or a whole-file read."""

    tool: str
    arguments: dict[str, Any]


@dataclass
class BenchTask:
    key: str
    title: str
    arguments: dict[str, Any]
    script: AgentScript
    baseline: list[SelfRead] = field(default_factory=lambda: list[SelfRead]())


def _rng(name: str) -> random.Random:
    return random.Random(f"lms-mcp-bench-{name}")


def _function(rng: random.Random, index: int) -> list[str]:
    a, b, c = rng.sample(WORDS, 3)
    return [
        f"def {a}_{b}_{index}({c}, limit=None):",
        f'    """Return the {b} of a {c}, at most `limit` of them."""',
        f"    found = [item for item in {c}.{a}s if item.{b} is not None]",
        "    if limit is not None:",
        "        found = found[:limit]",
        f"    return {{'{a}': found, 'count': len(found)}}",
        "",
        "",
    ]


def filler_module(name: str, functions: int) -> list[str]:
    rng = _rng(name)
    lines = [f'"""{name}: helpers for the {rng.choice(WORDS)} service."""', "", "import logging", "", ""]
    for index in range(functions):
        lines += _function(rng, index)
    return lines


def write(root: Path, relative: str, lines: list[str]) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# --- task 1: where a setting is defined and used, across ~40 files ---------------------------------------------

USES = {
    "app/http/client.py": "        timeout = settings.REQUEST_TIMEOUT",
    "app/http/retry.py": "    deadline = time.monotonic() + settings.REQUEST_TIMEOUT * attempts",
    "app/workers/fetcher.py": "        response = session.get(url, timeout=settings.REQUEST_TIMEOUT)",
    "app/api/handlers.py": "    budget = min(request.timeout or settings.REQUEST_TIMEOUT, 120)",
    "app/cli.py": "    settings.REQUEST_TIMEOUT = args.timeout or settings.REQUEST_TIMEOUT",
    "tests/test_client.py": "    assert client.timeout == settings.REQUEST_TIMEOUT",
}


def settings_tree(root: Path) -> dict[str, int]:
    """Writes the project; returns the line of each mention of REQUEST_TIMEOUT by file."""
    lines: dict[str, int] = {}
    config = filler_module("app/config/settings.py", 4)
    definition = 'REQUEST_TIMEOUT = float(os.environ.get("APP_REQUEST_TIMEOUT", "30"))'
    config[3:3] = ["import os", "", definition, 'RETRIES = int(os.environ.get("APP_RETRIES", "3"))']
    write(root, "app/config/settings.py", config)
    lines["app/config/settings.py"] = config.index(definition) + 1
    for index, (relative, use) in enumerate(USES.items()):
        module = filler_module(relative, 6 + 2 * index)
        at = len(module) // 2
        module[at:at] = [f"def uses_timeout_{at}(settings, args=None, request=None, session=None, url=None):", use, ""]
        write(root, relative, module)
        lines[relative] = at + 2
    for index in range(32):
        area = ("app/models", "app/services", "app/storage", "app/util")[index % 4]
        write(root, f"{area}/{_rng(str(index)).choice(WORDS)}_{index}.py", filler_module(f"{area}{index}", 8))
    docs = ["# Configuration", "", "| Variable | Default | Meaning |", "| --- | --- | --- |"]
    docs += ["| APP_REQUEST_TIMEOUT | 30 | seconds an outgoing request may take |", "| APP_RETRIES | 3 | retries |"]
    write(root, "docs/configuration.md", docs)
    return lines


def settings_task(root: Path) -> BenchTask:
    at = settings_tree(root / "project")
    definition = at["app/config/settings.py"]
    uses = list(USES)
    answer = (
        f"REQUEST_TIMEOUT is defined in app/config/settings.py:{definition} as "
        'float(os.environ.get("APP_REQUEST_TIMEOUT", "30")): the environment variable wins, 30 s is the default '
        "(docs/configuration.md agrees). It is read in "
        + ", ".join(f"{p}:{at[p]}" for p in uses)
        + f". app/cli.py:{at['app/cli.py']} overwrites it with --timeout when given, so on the command line the flag "
        f"wins over the environment; app/api/handlers.py:{at['app/api/handlers.py']} caps a request's own timeout "
        "at 120 s and falls back to the setting."
    )
    reads = [("app/config/settings.py", 1, definition + 5)]
    reads += [(p, at[p] - 3, at[p] + 3) for p in ("app/http/client.py", "app/cli.py", "app/api/handlers.py")]
    script = AgentScript.one_by_one(
        ScriptedCall("search_files", {"pattern": r"REQUEST_TIMEOUT", "path": "project"}),
        *(ScriptedCall("read_file", {"path": f"project/{p}", "start_line": s, "end_line": e}) for p, s, e in reads),
        ScriptedCall("read_file", {"path": "project/docs/configuration.md"}),
        answer=answer,
    )
    baseline = [SelfRead("search", {"pattern": "REQUEST_TIMEOUT", "path": "project"})]
    baseline += [SelfRead("read", {"path": f"project/{p}"}) for p in ["app/config/settings.py", *uses]]
    baseline.append(SelfRead("read", {"path": "project/docs/configuration.md"}))
    task = "Where is REQUEST_TIMEOUT defined, where is it read, and which value wins? Cite files and lines."
    return BenchTask(
        "settings", "find a setting across 40 files", {"task": task, "paths": ["project"]}, script, baseline
    )


# --- task 2: summarise a ~200 kB log ---------------------------------------------------------------------------

LEVELS = ["INFO"] * 40 + ["WARN"] * 3 + ["ERROR"] * 2


def log_lines() -> list[str]:
    rng = _rng("log")
    lines: list[str] = []
    for index in range(2300):
        level = rng.choice(LEVELS) if index != 2080 else "FATAL"
        seconds = index * 7
        stamp = f"2025-03-14T{10 + seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}Z"
        path = f"/api/{rng.choice(WORDS)}/{rng.randint(1, 999)}"
        detail = {
            "INFO": f"status=200 ms={rng.randint(3, 90)}",
            "WARN": f"slow upstream {rng.choice(WORDS)} ms={rng.randint(900, 4000)}",
            "ERROR": f"upstream {rng.choice(['timeout', 'reset', 'refused'])} after {rng.randint(1, 30)} s",
            "FATAL": "worker pool exhausted: 64 of 64 busy, shutting down",
        }[level]
        lines.append(f"{stamp} {level:<5} [worker-{rng.randint(1, 8)}] id={rng.getrandbits(40):010x} {path} {detail}")
    return lines


def chunks(lines: list[str], limit: int) -> list[tuple[int, int]]:
    """Line ranges that each fit one read_file result (numbered as read_file numbers them)."""
    ranges: list[tuple[int, int]] = []
    start, size = 1, 0
    for number, line in enumerate(lines, start=1):
        entry = len(f"{number}| {line}\n".encode())
        if size + entry > limit and number > start:
            ranges.append((start, number - 1))
            start, size = number, 0
        size += entry
    ranges.append((start, len(lines)))
    return ranges


def log_task(root: Path) -> BenchTask:
    lines = log_lines()
    write(root, "logs/app.log", lines)
    counts = {level: sum(f" {level:<5} " in line for line in lines) for level in ("WARN", "ERROR", "FATAL")}
    fatal = next(n for n, line in enumerate(lines, start=1) if " FATAL " in line)
    answer = (
        f"logs/app.log covers 2025-03-14 10:00 to {lines[-1][11:16]} UTC, {len(lines)} requests on 8 workers. "
        f"Errors: {counts['ERROR']} ERROR lines (upstream timeouts, resets and refusals, spread over the whole day), "
        f"{counts['WARN']} WARN lines (slow upstreams, 0.9-4 s). One FATAL at line {fatal}: the worker pool was "
        "exhausted (64 of 64 busy) and the service shut down; in the minutes before it, errors and slow upstreams "
        "were no more frequent than earlier, so the pool size, not an upstream, looks like the cause. Everything "
        "after it is a restart with normal traffic."
    )
    reads = [
        ScriptedCall("read_file", {"path": "logs/app.log", "start_line": s, "end_line": e})
        for s, e in chunks(lines, READ_BYTES)
    ]
    script = AgentScript.one_by_one(
        ScriptedCall("search_files", {"pattern": "FATAL|ERROR", "path": "logs/app.log"}), *reads, answer=answer
    )
    task = "Summarise logs/app.log: errors by kind with counts, when they happen, and what led to the FATAL."
    arguments = {"task": task, "paths": ["logs/app.log"], "max_steps": len(reads) + 2}
    return BenchTask(
        "log",
        f"summarise a {len(chr(10).join(lines)) // 1000} kB log",
        arguments,
        script,
        [SelfRead("read", {"path": "logs/app.log"})],
    )


# --- task 3: review a diff of ~10 files ------------------------------------------------------------------------


def _changed(lines: list[str], rng: random.Random) -> list[str]:
    after = list(lines)
    for _ in range(3):
        at = rng.randrange(5, len(after) - 5)
        if after[at].startswith("    found = "):
            after[at] = after[at].replace("is not None", "")
        else:
            after.insert(at, f"    # {rng.choice(WORDS)}: checked by the caller")
    return after


def diff_task(root: Path) -> BenchTask:
    rng = _rng("diff")
    diff: list[str] = []
    names = [f"review/src/{rng.choice(WORDS)}_{index}.py" for index in range(10)]
    for name in names:
        before = filler_module(name, 10)
        after = _changed(before, rng)
        write(root, name, after)
        diff += difflib.unified_diff(before, after, f"a/{name}", f"b/{name}", lineterm="", n=3)
    write(root, "review/change.diff", diff)
    answer = (
        "The change drops `is not None` from the filters in "
        + ", ".join(names[:3])
        + " and others: those comprehensions now read `if item.x` and keep falsy values out too (0, '', empty "
        "lists), a behaviour change no test covers. The added comments claim the caller checks its input; "
        "nothing in the touched files shows it. Suggest restoring the explicit None checks or adding tests "
        "for falsy values; the rest is comments only."
    )
    touched = [ScriptedCall("read_file", {"path": name, "start_line": 1, "end_line": 40}) for name in names[:3]]
    script = AgentScript.one_by_one(ScriptedCall("read_file", {"path": "review/change.diff"}), *touched, answer=answer)
    baseline = [SelfRead("read", {"path": "review/change.diff"}), *(SelfRead("read", {"path": n}) for n in names)]
    task = "Review review/change.diff against the files it touches under review/src: bugs, risky edits, missing tests."
    return BenchTask("diff", "review a diff of 10 files", {"task": task, "paths": ["review"]}, script, baseline)


def build_tasks(root: Path) -> list[BenchTask]:
    return [settings_task(root), log_task(root), diff_task(root)]
