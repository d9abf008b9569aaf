"""Attacks on the file sandbox through the real server: a writer racing the reads, swapping what a path names.

A thread exchanges, as fast as it can, an entry inside the allowed directory with a symlink to something outside
it (a file, a directory, an image) or with a FIFO that has a writer, while many `chat` calls read that path at
once. Nothing from outside may ever reach LM Studio (the simulator records every request body), and every call
must end with a coded outcome. The fallback ways of opening files (the walk, the handle check) are forced too.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import itertools
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from lms_mcp.sandbox import policy
from lms_mcp.sandbox.opening import Method
from lms_mcp.server import build_server
from lms_mcp.settings import Settings
from lms_mcp.simulator import Simulator
from tests.support import GEMMA as MODEL  # loaded and able to see images
from tests.support import PNG, text_of

pytestmark = pytest.mark.anyio

INSIDE = "inside-the-allowed-directory"
OUTSIDE = "OUTSIDE-SECRET-7d1e"
OUTSIDE_PNG = PNG + OUTSIDE.encode()
LEAK_MARKERS = (OUTSIDE, base64.b64encode(OUTSIDE_PNG).decode())
CALLERS = 6
# A run lasts this long, or longer on a busy machine until both states were read, up to MAX_SECONDS.
MAX_SECONDS = 15.0

RENAME_EXCHANGE = 2
AT_FDCWD = -100


def _renameat2() -> Any:
    """glibc's renameat2, or None where there is none (then a swap is three renames, with gaps)."""
    name = ctypes.util.find_library("c")
    return getattr(ctypes.CDLL(name, use_errno=True), "renameat2", None) if name else None


@dataclass
class Swapper:
    """The attacker: a thread exchanging two entries until stopped, so `a` names each of them in turn.

    A thread of the server's own process is the harshest writer: whenever a read releases the GIL for a
    system call, the swap may run, so swaps land between the steps of a lookup.
    """

    a: Path
    b: Path
    swaps: int = 0
    errors: list[str] = field(default_factory=lambda: list[str]())
    stop: threading.Event = field(default_factory=threading.Event)

    def exchange(self, renameat2: Any, a: bytes, b: bytes) -> None:
        if renameat2 is not None:
            if renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0:
                raise OSError(ctypes.get_errno(), "renameat2")
            return
        os.rename(a, a + b".spare")
        os.rename(b, a)
        os.rename(a + b".spare", b)

    def run(self) -> None:
        renameat2, a, b = _renameat2(), bytes(self.a), bytes(self.b)
        while not self.stop.is_set():
            try:
                self.exchange(renameat2, a, b)
            except OSError as exc:  # the test fails on it: the attack must really run
                self.errors.append(str(exc))
                return
            self.swaps += 1


@contextmanager
def swapping(a: Path, b: Path) -> Generator[Swapper]:
    swapper = Swapper(a, b)
    thread = threading.Thread(target=swapper.run, name="swapper", daemon=True)
    thread.start()
    try:
        yield swapper
    finally:
        swapper.stop.set()
        thread.join(5)


@dataclass
class Scenario:
    arguments: dict[str, Any]
    # `a` holds what may be read; the swapper exchanges it with `b`.
    a: Path
    b: Path
    # The refusal the swapped-in entry earns.
    refusal: str
    calls: int = 0
    leaks: int = 0
    outcomes: Counter[str] = field(default_factory=lambda: Counter[str]())

    @property
    def raced(self) -> bool:
        """Both states were read: the swaps raced the reads rather than running beside them."""
        return self.outcomes["ok"] > 0 and self.outcomes[self.refusal] > 0


def build_scenario(name: str, root: Path) -> Scenario:
    outside = root.parent / "outside"
    outside.mkdir()
    match name:
        case "file":
            (root / "notes.txt").write_text(INSIDE, encoding="utf-8")
            (outside / "notes.txt").write_text(OUTSIDE, encoding="utf-8")
            (root / "decoy").symlink_to(outside / "notes.txt")
            return Scenario({"files": ["notes.txt"]}, root / "notes.txt", root / "decoy", "FILE_NOT_ALLOWED")
        case "directory":
            (root / "src").mkdir()
            (root / "src" / "app.py").write_text(INSIDE, encoding="utf-8")
            (outside / "app.py").write_text(OUTSIDE, encoding="utf-8")
            (root / "decoy").symlink_to(outside)
            return Scenario({"files": ["src/app.py"]}, root / "src", root / "decoy", "FILE_NOT_ALLOWED")
        case "image":
            (root / "logo.png").write_bytes(PNG + INSIDE.encode())
            (outside / "logo.png").write_bytes(OUTSIDE_PNG)
            (root / "decoy").symlink_to(outside / "logo.png")
            return Scenario({"images": ["logo.png"]}, root / "logo.png", root / "decoy", "FILE_NOT_ALLOWED")
        case _:
            (root / "notes.txt").write_text(INSIDE, encoding="utf-8")
            os.mkfifo(root / "decoy")
            return Scenario({"files": ["notes.txt"]}, root / "notes.txt", root / "decoy", "FILE_UNREADABLE")


def leaked(bodies: list[Any]) -> bool:
    sent = json.dumps(bodies)
    return any(marker in sent for marker in LEAK_MARKERS)


async def hammer(client: Client, sim: Simulator, scenario: Scenario, seconds: float) -> None:
    """Call chat from CALLERS tasks at once for `seconds` (longer on a busy machine until both states were read,
    up to MAX_SECONDS), tallying outcomes and leaks on the scenario."""
    start = time.monotonic()

    def going() -> bool:
        elapsed = time.monotonic() - start
        return elapsed < seconds or (elapsed < MAX_SECONDS and not scenario.raced)

    async def caller(number: int) -> None:
        for call in itertools.count():
            if not going():
                return
            before = len(sim.requests)
            # A prompt no other call sends picks this call's request out of the simulator's record.
            prompt = f"Summarise (caller {number}, call {call})."
            result = await client.call_tool("chat", {"prompt": prompt, "model": MODEL, **scenario.arguments})
            text = text_of(result)
            scenario.calls += 1
            scenario.outcomes["ok" if not result.is_error else text.split(":", 1)[0]] += 1
            mine = [r.body for r in sim.requests[before:] if prompt in json.dumps(r.body)]
            scenario.leaks += leaked([text, *mine])

    with anyio.fail_after(MAX_SECONDS + 30):
        async with anyio.create_task_group() as group:
            for number in range(CALLERS):
                group.start_soon(caller, number)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    return allowed


# (what is swapped, how files are opened, seconds): the default method (openat2 here) gets the longest run.
# "name" is Windows' way: open by name, then check where the open handle lives. "walk, no /proc" is macOS:
# the walk, with no word from the system on where a descriptor lives.
RUNS = [
    ("file", "openat2", 3.0),
    ("directory", "openat2", 0.5),
    ("image", "openat2", 0.5),
    ("fifo", "openat2", 0.5),
    ("file", "walk", 0.5),
    ("directory", "walk", 0.5),
    ("file", "name", 0.5),
    ("directory", "name", 0.5),
    ("directory", "walk, no /proc", 0.5),
]


@pytest.mark.parametrize(("swapped", "method", "seconds"), RUNS)
async def test_swapping_what_a_path_names_while_chat_reads_it_never_leaks(
    settings: Settings,
    sim: Simulator,
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    swapped: str,
    method: str,
    seconds: float,
) -> None:
    chosen: Method = "name" if method == "name" else "walk" if method.startswith("walk") else "openat2"
    if chosen == "openat2":
        assert policy.default_method() == "openat2", "the attack must run against the kernel's RESOLVE_BENEATH"
    monkeypatch.setattr(policy, "default_method", lambda: chosen)
    if method.endswith("no /proc"):

        def unknown(_fd: int) -> str | None:
            return None

        monkeypatch.setattr(policy, "descriptor_path", unknown)
    scenario = build_scenario(swapped, root)
    # A FIFO with a writer: a non-blocking read then finds it open and empty instead of at its end.
    writer = os.open(scenario.b, os.O_RDWR | os.O_NONBLOCK) if swapped == "fifo" else None
    try:
        async with Client(build_server(replace(settings, allowed_dirs=(str(root),)))) as client:
            with swapping(scenario.a, scenario.b) as swapper:
                await hammer(client, sim, scenario, seconds)
    finally:
        if writer is not None:
            os.close(writer)
    print(f"{swapped} swapped, {method}: {scenario.calls} calls, {swapper.swaps} swaps, {scenario.leaks} leaks, "
          f"{dict(scenario.outcomes)}")  # fmt: skip
    assert not swapper.errors, swapper.errors
    assert scenario.leaks == 0, scenario
    assert not leaked([record.body for record in sim.requests])
    assert scenario.raced, scenario
    assert set(scenario.outcomes) <= {"ok", scenario.refusal, "FILE_NOT_FOUND"}, scenario
