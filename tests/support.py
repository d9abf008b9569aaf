"""Small helpers shared by the tests."""

import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import anyio
import httpx2
from mcp.types import CallToolResult, TextContent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from lms_mcp.simulator import Simulator

# Models of the simulator's default catalog, by what the tests rely on.
GEMMA = "google/gemma-4-26b-a4b"  # its only loaded LLM; sees images; reasoning off|on
QWEN = "qwen/qwen3-4b"  # not loaded; text only; no reasoning settings
DEEPSEEK = "deepseek-r1"  # reasoning on only
XHIGH = "qwen/qwen3.8-27b"  # reasoning off|low|medium|xhigh|on
EMBED = "text-embedding-nomic-embed-text-v1.5"
# Shaped like an LM Studio API token.
LM_TOKEN = "sk-lm-abcDEF78:abcDEF7890abcDEF7890"
# Enough of a PNG for type sniffing, as a file's bytes and as the smallest data URL the simulator takes.
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
PNG_DATA_URL = "data:image/png;base64,iVBORw0KGgo="
OBJECT_SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
LMSTUDIO_FIXTURES = Path(__file__).parent / "fixtures" / "lmstudio"


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


def structured_of(result: CallToolResult) -> dict[str, Any]:
    """The structured content of a tool result that must not be an error."""
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return result.structured_content


def bodies_sent(sim: Simulator, path: str) -> list[dict[str, Any]]:
    """The JSON bodies the simulator received on `path`, in order."""
    return [r.body for r in sim.requests if r.path == path and r.body is not None]


def chat_bodies(sim: Simulator) -> list[dict[str, Any]]:
    return bodies_sent(sim, "/api/v1/chat")


def completion_bodies(sim: Simulator) -> list[dict[str, Any]]:
    return bodies_sent(sim, "/v1/chat/completions")


def lmstudio_fixture(relative: str) -> Any:
    """A recorded LM Studio payload from tests/fixtures/lmstudio."""
    return json.loads((LMSTUDIO_FIXTURES / relative).read_text(encoding="utf-8"))


def loopback_http(url: str) -> httpx2.AsyncClient:
    """A raw HTTP client for a server on loopback."""
    # Plain HTTP on loopback: skipping the default SSL context saves ~60 ms per client.
    return httpx2.AsyncClient(base_url=url, timeout=5.0, verify=False, trust_env=False)


def another_web_server() -> Starlette:
    """What answers on a port where some other web app runs: an HTML 404 page."""

    async def not_found(_request: Request) -> HTMLResponse:
        page = "<!DOCTYPE HTML><html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"
        return HTMLResponse(page, status_code=404)

    return Starlette(routes=[Route("/{path:path}", not_found, methods=["GET", "POST"])])


def lm_studio_0_3() -> Starlette:
    """LM Studio before 0.4 answers every unknown route with HTTP 200 and an error string."""

    async def unexpected(request: Request) -> JSONResponse:
        return JSONResponse({"error": f"Unexpected endpoint or method. ({request.method} {request.url.path})"})

    return Starlette(routes=[Route("/{path:path}", unexpected, methods=["GET", "POST"])])


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


def run_captured(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    check: bool = False,
    cwd: Path | None = None,
    preexec_fn: Callable[[], object] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run a command to its end, its stdout and stderr captured as UTF-8 text."""
    return subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        env=env,
        check=check,
        cwd=cwd,
        preexec_fn=preexec_fn,
    )


def stdio_server(env: dict[str, str], *, stderr: int = subprocess.PIPE) -> subprocess.Popen[bytes]:
    """The installed lms-mcp over stdio, with pipes to talk to it (use it in a `with` block)."""
    return subprocess.Popen([lms_mcp_command()], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env)


def send_lines(stdin: IO[bytes], messages: Iterable[dict[str, Any]]) -> None:
    """Write JSON-RPC messages as the stdio transport frames them, one a line."""
    stdin.write(b"".join(json.dumps(message).encode() + b"\n" for message in messages))
    stdin.flush()


@contextmanager
def served_over_network(
    transport: str,
    env: dict[str, str],
    *,
    stdout: int | IO[bytes] = subprocess.DEVNULL,
    stderr: int | IO[bytes] = subprocess.DEVNULL,
    preexec_fn: Callable[[], object] | None = None,
) -> Generator[tuple[subprocess.Popen[bytes], str]]:
    """`lms-mcp --transport http|sse` on a free loopback port: the process and its endpoint URL once it listens."""
    port = free_port()
    with subprocess.Popen(
        [lms_mcp_command(), "--transport", transport, "--port", str(port)],
        stdout=stdout,
        stderr=stderr,
        env=env,
        preexec_fn=preexec_fn,
    ) as process:
        try:
            wait_listening(process, port)
            yield process, f"http://127.0.0.1:{port}/{'sse' if transport == 'sse' else 'mcp'}"
        finally:
            process.terminate()
            process.wait(timeout=10)


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
