"""Starting the servers under test the way a host does, and reading what the kernel knows about them."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TextIO

from bench.rawclient import RawStdioClient

REPO = Path(__file__).resolve().parent.parent
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def lms_mcp_script() -> str:
    """The console script installed beside this interpreter (what a host runs), else `lms-mcp` on PATH."""
    script = Path(sys.executable).parent / "lms-mcp"
    if script.exists():
        return str(script)
    found = shutil.which("lms-mcp")
    if found is None:
        raise RuntimeError("lms-mcp is not installed: pip install -e '.[dev]'")
    return found


def bridge_argv(*flags: str, via_script: bool = False) -> list[str]:
    head = [lms_mcp_script()] if via_script else [sys.executable, "-m", "lms_mcp"]
    return [*head, *flags]


def floor_argv(*flags: str) -> list[str]:
    return [sys.executable, "-m", "bench.floor_server", *flags]


def child_env(**extra: str) -> dict[str, str]:
    """This environment minus lms-mcp's own settings, with bytecode caching on.

    PYTHONDONTWRITEBYTECODE is dropped so every server starts from cached .pyc files, as an installed
    package does (pip compiles on install); otherwise cold starts would include recompiling stale sources.
    """
    drop = ("LMS_MCP_", "LMSTUDIO_", "LM_API", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return env | extra


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_bytes(pid: int) -> int:
    """Resident set size (VmRSS) of a live process, from /proc."""
    return _status_kb(pid, "VmRSS") * 1024


def peak_rss_bytes(pid: int) -> int:
    return _status_kb(pid, "VmHWM") * 1024


def _status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (clock-tick resolution, usually 10 ms)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


class CpuMeter:
    """CPU used by a process over a stretch of calls, per call (noise-robust where wall time is not)."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self._start_child = cpu_seconds(pid) if pid else 0.0
        self._start_self = time.process_time()

    def per_call_ms(self, calls: int) -> tuple[float | None, float]:
        """(server CPU ms per call or None, this process's CPU ms per call: client and in-process simulator)."""
        own = (time.process_time() - self._start_self) / calls * 1000
        if self.pid is None:
            return None, own
        return (cpu_seconds(self.pid) - self._start_child) / calls * 1000, own


@dataclass
class LogFiles:
    directory: Path

    def open(self, name: str) -> IO[bytes]:
        self.directory.mkdir(parents=True, exist_ok=True)
        return open(self.directory / f"{name}.log", "wb")  # closed by the caller

    def open_text(self, name: str) -> TextIO:
        self.directory.mkdir(parents=True, exist_ok=True)
        return open(self.directory / f"{name}.log", "w", encoding="utf-8")  # closed by the caller


@asynccontextmanager
async def stdio_server(
    name: str, argv: Sequence[str], env: Mapping[str, str], logs: LogFiles
) -> AsyncGenerator[RawStdioClient]:
    """A server over stdio with the raw client attached and initialized; stopped (stdin closed) on exit."""
    with logs.open(name) as stderr:
        client = await RawStdioClient.spawn(argv, env=env, stderr=stderr, cwd=REPO)
        try:
            await client.initialize()
            yield client
        finally:
            await client.aclose()


async def wait_listening(process: asyncio.subprocess.Process, port: int, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        except OSError:
            if process.returncode is not None:
                raise RuntimeError(f"the server on port {port} exited with {process.returncode}") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listened on port {port} after {seconds:.0f} s") from None
            await asyncio.sleep(0.05)


@asynccontextmanager
async def http_server(
    name: str, argv: Sequence[str], port: int, env: Mapping[str, str], logs: LogFiles
) -> AsyncGenerator[tuple[str, int]]:
    """A Streamable HTTP server process; yields (its /mcp URL, its pid) and terminates it on exit."""
    with logs.open(name) as output:
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=output, env=dict(env), cwd=REPO
        )
        try:
            await wait_listening(process, port)
            yield f"http://127.0.0.1:{port}/mcp", process.pid
        finally:
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), 10)
                except TimeoutError:
                    process.kill()
                    await process.wait()
