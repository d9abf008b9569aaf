"""The regular-expression child process: correct matches, catastrophic patterns killed, the event loop never held."""

from __future__ import annotations

import os
import time
from pathlib import Path

import anyio
import pytest

from lms_mcp.agent.matcher import Match, SearchFailed, search

pytestmark = pytest.mark.anyio

EVIL = [("evil.txt", "a" * 40 + "!")]


async def test_matches_come_with_path_and_line_and_a_total_beyond_the_limit() -> None:
    found = await search(r"\bb", [("x.py", "a\nb1\nc\nb2"), ("y.py", "b3")], limit=2, width=10, seconds=10)
    assert found.found == [Match("x.py", 2, "b1"), Match("x.py", 4, "b2")]
    assert found.total == 3


async def test_a_pattern_that_does_not_compile_is_reported_by_the_child() -> None:
    with pytest.raises(SearchFailed, match="not a valid regular expression: missing"):
        await search("(", [("x", "y")], limit=1, width=10, seconds=10)


async def test_a_catastrophic_pattern_is_killed_on_time_while_the_event_loop_keeps_running() -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.05)
            ticks += 1

    started = time.monotonic()
    failures: list[SearchFailed] = []
    async with anyio.create_task_group() as group:
        group.start_soon(tick)
        try:
            await search(r"(a+)+$", EVIL, limit=1, width=10, seconds=1.0)
        except SearchFailed as exc:
            failures.append(exc)
        group.cancel_scope.cancel()
    elapsed = time.monotonic() - started
    assert [f.timed_out for f in failures] == [True] and 1.0 <= elapsed < 3.0
    # In this process the pattern would have held the GIL for the whole second: no tick at all.
    assert ticks >= 10


def children_of(pid: int) -> list[int]:
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="counting child processes needs /proc")
async def test_a_cancelled_search_leaves_no_child_behind() -> None:
    with anyio.move_on_after(0.3):
        await search(r"(a+)+$", EVIL, limit=1, width=10, seconds=30)
    assert children_of(os.getpid()) == []
