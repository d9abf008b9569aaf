"""Small helpers shared by the tests."""

import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Generator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
from mcp.types import CallToolResult, TextContent


async def wait_for(condition: Callable[[], bool], seconds: float = 5.0, step: float = 0.01) -> None:
    """Poll until `condition()` holds (for state another process or thread changes); fail after `seconds`."""
    with anyio.fail_after(seconds):
        for _ in range(int(seconds / step) + 1):
            if condition():
                return
            await anyio.sleep(step)


def text_of(result: CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


def lms_mcp_command() -> str:
    """The console script installed beside this interpreter (what a host would run)."""
    # shutil.which finds lms-mcp.exe on Windows.
    found = shutil.which("lms-mcp", path=str(Path(sys.executable).parent)) or shutil.which("lms-mcp")
    assert found, "lms-mcp is not installed: pip install -e '.[dev]'"
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LMS_MCP_", "LMSTUDIO_", "LM_API"))}
    return env | extra


class LineReader:
    """Reads a pipe line by line in a thread, so a test can wait with a timeout."""

    def __init__(self, stream: Any) -> None:
        self.lines: queue.Queue[bytes] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: Any) -> None:
        for line in iter(stream.readline, b""):
            self.lines.put(line)

    def next(self, timeout: float = 20) -> bytes:
        return self.lines.get(timeout=timeout)

    def rest(self, timeout: float = 10) -> bytes:
        """Whatever else the process wrote before it exited (call after it has exited): the pipe is read to its end."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the pipe stayed open after the process exited"
        return b"".join(self.lines.queue)


def wait_listening(process: subprocess.Popen[bytes], port: int, seconds: float = 20) -> None:
    """Block until the server process accepts connections on `port` (or fail if it exits first)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            assert process.poll() is None, process.stderr.read() if process.stderr else "the server exited"
            assert time.monotonic() < deadline, "the server did not start listening"
            time.sleep(0.05)


def initialize_request(request_id: int = 1, version: str = "2025-06-18") -> dict[str, Any]:
    """The JSON-RPC `initialize` a host sends first, as raw protocol tests write it."""
    params = {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "raw-host", "version": "1"}}
    return {"jsonrpc": "2.0", "id": request_id, "method": "initialize", "params": params}


@contextmanager
def fixed_json_server(body: bytes) -> Generator[tuple[str, list[str]]]:
    """A loopback HTTP server (not LM Studio) that answers every GET with the JSON `body`.

    Yields its URL and the request targets it received (absolute URLs when it is used as a proxy).
    """
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
