"""Attacks on the file sandbox through the real server: a writer racing the reads, swapping what a path names.

A thread exchanges, as fast as it can, a regular file (or directory) inside the allowed directory with a symlink
to something outside it, or with a FIFO, while many `chat` calls read that path. Nothing from outside may ever
reach LM Studio (the simulator records every request body), and every call must end with a coded outcome.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from lms_mcp.server import build_server
from lms_mcp.settings import Settings
from lms_mcp.simulator import Simulator
from tests.support import text_of

pytestmark = pytest.mark.anyio

MODEL = "google/gemma-4-26b-a4b"
INSIDE = "inside-the-allowed-directory"
OUTSIDE = "OUTSIDE-SECRET-7d1e"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
ATTACK_SECONDS = 3.0
CALLERS = 6

RENAME_EXCHANGE = 2
AT_FDCWD = -100


def _renameat2() -> Any:
    """glibc's renameat2, or None where there is none (then the swap is three renames, with gaps)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name, use_errno=True)
    return getattr(libc, "renameat2", None)


@dataclass
class Swapper:
    """Exchanges two directory entries in a thread until stopped: `a` names each of them in turn."""

    a: Path
    b: Path
    swaps: int = 0
    errors: list[str] = field(default_factory=lambda: list[str]())
    stop: threading.Event = field(default_factory=threading.Event)

    def _exchange(self, renameat2: Any) -> None:
        if renameat2 is not None:
            if renameat2(AT_FDCWD, bytes(self.a), AT_FDCWD, bytes(self.b), RENAME_EXCHANGE) != 0:
                raise OSError(ctypes.get_errno(), "renameat2")
            return
        spare = self.a.with_name(self.a.name + ".spare")
        os.rename(self.a, spare)
        os.rename(self.b, self.a)
        os.rename(spare, self.b)

    def run(self) -> None:
        renameat2 = _renameat2()
        while not self.stop.is_set():
            try:
                self._exchange(renameat2)
            except OSError as exc:  # reported by the test: the attack must really run
                self.errors.append(str(exc))
                return
            self.swaps += 1



@contextmanager
def swapping(a: Path, b: Path) -> Iterator[Swapper]:
    swapper = Swapper(a, b)
    thread = threading.Thread(target=swapper.run, name=f"swap {a.name}", daemon=True)
    thread.start()
    try:
        yield swapper
    finally:
        swapper.stop.set()
        thread.join(5)


@dataclass
class Tally:
    calls: int = 0
    outcomes: Counter[str] = field(default_factory=lambda: Counter[str]())
    leaks: int = 0


def outside_of(root: Path) -> Path:
    outside = root.parent / "outside"
    outside.mkdir(exist_ok=True)
    return outside


@pytest.fixture
def root(tmp_path: Path) -> Path:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    return allowed


@pytest.fixture
async def client(root: Path, settings: Settings) -> AsyncIterator[Client]:
    async with Client(build_server(replace(settings, allowed_dirs=(str(root),)))) as connected:
        yield connected


async def hammer(client: Client, sim: Simulator, arguments: dict[str, Any]) -> Tally:
    """Run the same chat call from CALLERS tasks at once for ATTACK_SECONDS; count outcomes and leaks."""
    tally = Tally()
    deadline = time.monotonic() + ATTACK_SECONDS

    async def caller() -> None:
        while time.monotonic() < deadline:
            before = len(sim.requests)
            result = await client.call_tool("chat", {"prompt": "Summarise.", "model": MODEL, **arguments})
            text = text_of(result)
            tally.calls += 1
            tally.outcomes["ok" if not result.is_error else text.split(":", 1)[0]] += 1
            tally.leaks += OUTSIDE in text or OUTSIDE in json.dumps([r.body for r in sim.requests[before:]])

    with anyio.fail_after(ATTACK_SECONDS + 30):
        async with anyio.create_task_group() as group:
            for _ in range(CALLERS):
                group.start_soon(caller)
    # Every request the simulator ever saw, once more, now that no call is in flight.
    tally.leaks += OUTSIDE in json.dumps([r.body for r in sim.requests])
    return tally


def report(name: str, tally: Tally, swapper: Swapper) -> None:
    print(f"{name}: {tally.calls} calls, {swapper.swaps} swaps, {tally.leaks} leaks, {dict(tally.outcomes)}")


async def test_a_file_swapped_with_a_symlink_to_outside_never_leaks(client: Client, sim: Simulator, root: Path) -> None:
    (root / "notes.txt").write_text(INSIDE, encoding="utf-8")
    (outside_of(root) / "secret.txt").write_text(OUTSIDE, encoding="utf-8")
    (root / "decoy").symlink_to(outside_of(root) / "secret.txt")
    with swapping(root / "notes.txt", root / "decoy") as swapper:
        tally = await hammer(client, sim, {"files": ["notes.txt"]})
        report("file <-> symlink", tally, swapper)
        assert not swapper.errors
        assert tally.leaks == 0
        # Both states were seen: the attack raced the reads rather than running beside them.
        assert tally.outcomes["ok"] > 0 and tally.outcomes["FILE_NOT_ALLOWED"] > 0, tally
        assert set(tally.outcomes) <= {"ok", "FILE_NOT_ALLOWED", "FILE_NOT_FOUND"}, tally


async def test_a_directory_swapped_with_a_symlink_to_outside_never_leaks(
    client: Client, sim: Simulator, root: Path
) -> None:
    (root / "src").mkdir()
    (root / "src" / "app.py").write_text(INSIDE, encoding="utf-8")
    (outside_of(root) / "app.py").write_text(OUTSIDE, encoding="utf-8")
    (root / "decoy").symlink_to(outside_of(root))
    with swapping(root / "src", root / "decoy") as swapper:
        tally = await hammer(client, sim, {"files": ["src/app.py"]})
        report("directory <-> symlink", tally, swapper)
        assert not swapper.errors
        assert tally.leaks == 0
        assert tally.outcomes["ok"] > 0 and tally.outcomes["FILE_NOT_ALLOWED"] > 0, tally
        assert set(tally.outcomes) <= {"ok", "FILE_NOT_ALLOWED", "FILE_NOT_FOUND"}, tally


async def test_an_image_swapped_with_a_symlink_to_outside_never_leaks(
    client: Client, sim: Simulator, root: Path
) -> None:
    (root / "logo.png").write_bytes(PNG + INSIDE.encode())
    (outside_of(root) / "secret.png").write_bytes(PNG + OUTSIDE.encode())
    (root / "decoy").symlink_to(outside_of(root) / "secret.png")
    with swapping(root / "logo.png", root / "decoy") as swapper:
        tally = await hammer(client, sim, {"images": ["logo.png"]})
        report("image <-> symlink", tally, swapper)
        assert not swapper.errors
        # An image travels base64-encoded: look for that too.
        sent = json.dumps([r.body for r in sim.requests])
        assert tally.leaks == 0 and "T1VUU0lERS1TRUNSRVQ" not in sent
        assert tally.outcomes["ok"] > 0 and tally.outcomes["FILE_NOT_ALLOWED"] > 0, tally


async def test_a_file_swapped_with_a_fifo_is_refused_without_a_crash(client: Client, sim: Simulator, root: Path) -> None:
    (root / "notes.txt").write_text(INSIDE, encoding="utf-8")
    os.mkfifo(root / "pipe")
    with swapping(root / "notes.txt", root / "pipe") as swapper:
        tally = await hammer(client, sim, {"files": ["notes.txt"]})
        report("file <-> FIFO", tally, swapper)
        assert not swapper.errors
        assert tally.outcomes["ok"] > 0 and tally.outcomes["FILE_UNREADABLE"] > 0, tally
        assert set(tally.outcomes) <= {"ok", "FILE_UNREADABLE", "FILE_NOT_FOUND"}, tally
