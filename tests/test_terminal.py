"""lms-mcp started by hand in a terminal: it says what it is, and Ctrl-C ends it at once in every transport.

The server runs in a real pseudo-terminal that is its controlling terminal, so Ctrl-C goes through the
terminal's line discipline exactly as when a person presses it.
"""

import json
import os
import re
import select
import subprocess
import sys
import time

import pytest

from tests.support import child_env, free_port, lms_mcp_command, wait_listening

NOTE = b"lms-mcp is an MCP server"
CTRL_C = b"\x03"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "a person", "version": "1"}},
}


# Run in the child, a session leader (start_new_session): the pty on stdin becomes its controlling terminal,
# so Ctrl-C typed there signals it; then it turns into the command given.
IN_TERMINAL = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); os.execv(sys.argv[1], sys.argv[1:])"
)


def in_terminal(*argv: str) -> list[str]:
    return [sys.executable, "-c", IN_TERMINAL, *argv]


def read_until(master: int, needle: bytes, seconds: float = 30) -> bytes:
    """What the terminal shows until `needle` appears (fails after `seconds`)."""
    seen = b""
    deadline = time.monotonic() + seconds
    while needle not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"{needle!r} did not appear; the terminal shows {seen!r}"
        if select.select([master], [], [], remaining)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: every process let go of the terminal
                chunk = b""
            assert chunk, f"the terminal closed before {needle!r}; it showed {seen!r}"
            seen += chunk
    return seen


def drain(master: int) -> bytes:
    """Whatever is left on the terminal once the process has exited."""
    rest = b""
    while select.select([master], [], [], 0)[0]:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        rest += chunk
    return rest


@pytest.mark.posix_only("a pseudo-terminal")
@pytest.mark.parametrize("transport", ["stdio", "http", "sse"])
def test_ctrl_c_in_a_terminal_ends_the_server_at_once_with_130(transport: str) -> None:
    port = free_port()
    master, slave = os.openpty()
    process = subprocess.Popen(
        in_terminal(lms_mcp_command(), "--transport", transport, "--port", str(port)),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=child_env(LMSTUDIO_BASE_URL=f"http://127.0.0.1:{free_port()}"),
        start_new_session=True,
    )
    os.close(slave)
    try:
        shown = read_until(master, b"serving over " + transport.encode())
        if transport == "stdio":
            assert NOTE in shown and b"lms-mcp doctor" in shown and b"lms-mcp demo" in shown
            # An answered request: the SDK's reader now blocks on the terminal, where Ctrl-C used to hang.
            os.write(master, json.dumps(INITIALIZE).encode() + b"\n")
            shown += read_until(master, b'"id":1,"result"')
        else:
            assert NOTE not in shown
            wait_listening(process, port)  # uvicorn has taken over Ctrl-C by now
        started = time.monotonic()
        os.write(master, CTRL_C)
        assert process.wait(timeout=10) == 130
        assert time.monotonic() - started < 5
        shown += drain(master)
    finally:
        process.kill()
        process.wait()
        os.close(master)
    assert b"Traceback" not in shown and b"KeyboardInterrupt" not in shown, shown.decode(errors="replace")


def test_no_terminal_note_when_a_host_starts_the_server() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lms_mcp"], input=b"", capture_output=True, timeout=60, env=child_env()
    )
    assert done.returncode == 0
    assert b"serving over stdio" in done.stderr and NOTE not in done.stderr
    assert done.stdout == b""


@pytest.mark.posix_only("a pseudo-terminal")
def test_demo_in_a_terminal_rewrites_its_progress_line_in_place() -> None:
    master, slave = os.openpty()
    process = subprocess.Popen(
        in_terminal(lms_mcp_command(), "demo"),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=child_env(),
        start_new_session=True,
    )
    os.close(slave)
    try:
        shown = read_until(master, b"Next: `lms-mcp doctor`", seconds=120)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        process.wait()
        os.close(master)
    # Each update returns to the start of the line (the terminal shows \n as \r\n, so look for a bare \r).
    assert re.search(rb"\rGenerating: \d+ tokens", shown.replace(b"\r\n", b"\n")), shown
