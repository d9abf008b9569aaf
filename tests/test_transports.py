"""The installed `lms-mcp` over stdio, Streamable HTTP and SSE, against the simulator on a real port."""

import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.types import TextContent

from lms_mcp.server import build_server
from lms_mcp.settings import Settings
from lms_mcp.simulator import Simulator, SimulatorConfig, reply_text, serve_in_thread
from lms_mcp.tools import TOOL_NAMES
from tests.raw_http import RawSession
from tests.support import QWEN as MODEL
from tests.support import (
    LineReader,
    child_env,
    free_port,
    initialize_request,
    lms_mcp_command,
    send_lines,
    served_over_network,
    stdio_server,
    wait_for,
)

pytestmark = pytest.mark.anyio


def test_stdio_writes_nothing_but_json_rpc_on_stdout(sim_url: str, sim: Simulator) -> None:
    messages: list[dict[str, Any]] = [
        initialize_request(),
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "chat", "arguments": {"prompt": "hi", "model": MODEL}, "_meta": {"progressToken": 7}},
        },
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "list_models", "arguments": {}}},
    ]
    received: list[dict[str, Any]] = []
    with stdio_server(child_env(LMSTUDIO_BASE_URL=sim_url, LMS_MCP_LOG_LEVEL="DEBUG")) as process:
        assert process.stdin and process.stdout and process.stderr
        send_lines(process.stdin, messages)
        # Valid JSON that Python reads as infinity: it must be refused, not crash the call.
        call = (
            '"method": "tools/call", "params": {"name": "chat", "arguments": {"prompt": "x", "repeat_penalty": 1e400}}'
        )
        process.stdin.write(f'{{"jsonrpc": "2.0", "id": 5, {call}}}\n'.encode())
        process.stdin.flush()
        reader = LineReader(process.stdout)
        try:
            while not {1, 2, 3, 4, 5} <= {m.get("id") for m in received}:
                message = json.loads(reader.next())  # every byte on stdout must be JSON-RPC
                assert message["jsonrpc"] == "2.0"
                received.append(message)
        finally:
            process.stdin.close()
            process.wait(timeout=10)
        for line in reader.rest().splitlines():
            assert json.loads(line)["jsonrpc"] == "2.0", line
        stderr = process.stderr.read()
    by_id = {m["id"]: m for m in received if "id" in m}
    assert by_id[1]["result"]["protocolVersion"] == "2025-06-18"
    assert {t["name"] for t in by_id[2]["result"]["tools"]} == set(TOOL_NAMES)
    answer = by_id[3]["result"]["structuredContent"]["answer"]
    assert answer == reply_text(MODEL, None, "hi", 1, sim.config.reply_tokens)
    assert any(m.get("method") == "notifications/progress" for m in received)
    assert by_id[4]["result"]["isError"] is False
    assert by_id[5]["result"]["isError"] is True
    assert by_id[5]["result"]["content"][0]["text"].startswith("INVALID_ARGUMENT: chat was called with arguments")
    assert b"serving over stdio" in stderr


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_stdio_with_the_sdk_client_in_both_eras(sim_url: str, mode: str) -> None:
    params = StdioServerParameters(command=lms_mcp_command(), env=child_env(LMSTUDIO_BASE_URL=sim_url))
    async with Client(params, mode=mode) as client:
        result = await client.call_tool("list_models", {"loaded_only": True})
    assert not result.is_error
    assert result.structured_content and result.structured_content["count"] == 1


@pytest.fixture(scope="module", params=["http", "sse"])
def served(request: pytest.FixtureRequest, shared_sim_server: tuple[Simulator, str]) -> Iterator[str]:
    """`lms-mcp --transport http|sse` in a subprocess; yields its endpoint URL."""
    env = child_env(LMSTUDIO_BASE_URL=shared_sim_server[1])
    with served_over_network(request.param, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as (process, url):
        yield url
        # Stopped here, while its stdout can still be read: an HTTP server writes nothing there.
        process.terminate()
        process.wait(timeout=10)
        assert process.stdout and process.stdout.read() == b""


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_round_trip_over_http_and_sse_with_progress(served: str, shared_sim: Simulator, mode: str) -> None:
    sim = shared_sim
    target: Any = sse_client(served) if served.endswith("/sse") else served
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async with Client(target, mode=mode) as client:
        tools = await client.list_tools()
        result = await client.call_tool("chat", {"prompt": "hello", "model": MODEL}, progress_callback=on_progress)
    assert {t.name for t in tools.tools} == set(TOOL_NAMES)
    assert not result.is_error
    assert result.structured_content
    assert result.structured_content["answer"] == reply_text(MODEL, None, "hello", 1, sim.config.reply_tokens)
    assert seen, "no progress notification arrived"


async def test_http_and_sse_refuse_a_foreign_host_header(served: str) -> None:
    async with httpx2.AsyncClient() as http:
        if served.endswith("/sse"):
            response = await http.get(served, headers={"Host": "evil.example"})
        else:
            response = await http.post(
                served,
                headers={"Host": "evil.example", "Accept": "application/json, text/event-stream"},
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            )
    assert response.status_code == 421


async def test_lm_studio_down_at_start_then_up_recovers_without_restart() -> None:
    port = free_port()
    server = build_server(Settings(base_url=f"http://127.0.0.1:{port}", connect_timeout=2))
    async with Client(server) as client:
        down = await client.call_tool("list_models", {})
        assert down.is_error
        block = down.content[0]
        assert isinstance(block, TextContent) and block.text.startswith("LMSTUDIO_UNREACHABLE: ")
        assert f"127.0.0.1:{port}" in block.text
        with serve_in_thread(Simulator(SimulatorConfig()), port=port):
            up = await client.call_tool("list_models", {})
    assert not up.is_error
    assert up.structured_content and up.structured_content["count"] >= 4


def test_stdio_cancellation_aborts_the_upstream_chat(sim_url: str, sim: Simulator) -> None:
    sim.config.reply_tokens = 400
    sim.config.tokens_per_second = 40
    initialize = initialize_request()
    chat = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "chat", "arguments": {"prompt": "x"}}}
    with stdio_server(child_env(LMSTUDIO_BASE_URL=sim_url), stderr=subprocess.DEVNULL) as process:
        assert process.stdin and process.stdout
        reader = LineReader(process.stdout)

        def send(message: dict[str, Any]) -> None:
            assert process.stdin
            send_lines(process.stdin, [message])

        send(initialize)
        assert json.loads(reader.next())["id"] == 1
        send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        send(chat)
        deadline = time.monotonic() + 10
        while not [r for r in sim.requests if r.path == "/api/v1/chat"]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 2}})
        while not any(r.disconnected for r in sim.requests if r.path == "/api/v1/chat"):
            assert time.monotonic() < deadline, "LM Studio's request was not aborted"
            time.sleep(0.02)
        send({"jsonrpc": "2.0", "id": 3, "method": "tools/list"})
        replies = [json.loads(reader.next())]
        while replies[-1].get("id") != 3:
            replies.append(json.loads(reader.next()))
        process.stdin.close()
        process.wait(timeout=10)
    assert all(reply.get("id") != 2 for reply in replies)  # no answer for a cancelled request


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_http_cancellation_aborts_the_upstream_chat(served: str, shared_sim: Simulator, mode: str) -> None:
    sim = shared_sim
    sim.config.reply_tokens = 400
    sim.config.tokens_per_second = 40
    target: Any = sse_client(served) if served.endswith("/sse") else served
    async with Client(target, mode=mode) as client:
        with pytest.raises(MCPError):
            await client.call_tool("chat", {"prompt": "x", "model": MODEL}, read_timeout_seconds=0.5)
        await wait_for(lambda: any(r.disconnected for r in sim.requests if r.path == "/api/v1/chat"))
        assert not (await client.call_tool("list_models", {})).is_error


@pytest.mark.parametrize("served", ["http"], indirect=True)  # resumption is Streamable HTTP's; SSE has none
async def test_http_streams_can_be_resumed(served: str, shared_sim: Simulator) -> None:
    shared_sim.config.reply_tokens = 40
    shared_sim.config.tokens_per_second = 80
    async with httpx2.AsyncClient(timeout=20) as http:
        session = RawSession(http, served)
        await session.open()
        async with session.call(2, "chat", {"prompt": "hello", "model": MODEL}) as stream:
            priming = await anext(aiter(stream))  # then the connection drops, mid-call
        assert priming.event_id and priming.message is None
        resumed = await session.replay(priming.event_id, until_id=2)
    messages = [event.message for event in resumed if event.message]
    assert any(m.get("method") == "notifications/progress" for m in messages)
    result = messages[-1]["result"]["structuredContent"]
    assert result["answer"] == reply_text(MODEL, None, "hello", 1, 40)
