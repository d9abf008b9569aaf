"""Failures on the wire, through a tool: each becomes its code and its advice, and the server goes on."""

from collections.abc import AsyncIterator

import httpx2
import pytest
from mcp import Client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from lms_mcp.server import build_server
from lms_mcp.settings import Settings
from lms_mcp.simulator import Simulator, serve_in_thread
from tests.support import QWEN as MODEL
from tests.support import another_web_server, lm_studio_0_3, text_of

pytestmark = pytest.mark.anyio


async def test_a_200_answer_of_the_wrong_shape_is_an_upstream_error(client: Client, sim: Simulator) -> None:
    sim.faults.inject("malformed_json", route="/api/v1/models", body=b'{"models": 5}')
    result = await client.call_tool("list_models", {})
    assert result.is_error
    assert text_of(result).startswith("UPSTREAM_ERROR: LM Studio's response does not match its documented shape")
    assert not (await client.call_tool("list_models", {})).is_error


def stream_without_end() -> Starlette:
    """An upstream that streams a chat's start and a delta, then ends the stream cleanly, with no chat.end."""

    async def events() -> AsyncIterator[bytes]:
        yield b'event: chat.start\ndata: {"type":"chat.start","model_instance_id":"qwen/qwen3-4b"}\n\n'
        yield b'event: message.delta\ndata: {"type":"message.delta","content":"Half an ans"}\n\n'

    async def chat(_request: Request) -> StreamingResponse:
        return StreamingResponse(events(), media_type="text/event-stream")

    return Starlette(routes=[Route("/api/v1/chat", chat, methods=["POST"])])


async def test_a_stream_that_ends_without_chat_end_is_an_upstream_error() -> None:
    with serve_in_thread(stream_without_end()) as url:
        async with Client(build_server(Settings(base_url=url))) as client:
            result = await client.call_tool("chat", {"prompt": "x", "model": MODEL})
    assert result.is_error
    assert text_of(result).startswith("UPSTREAM_ERROR: LM Studio closed the chat stream before it finished")


@pytest.mark.parametrize(("tool", "arguments"), [("list_models", {}), ("chat", {"prompt": "x", "model": MODEL})])
async def test_an_lm_studio_before_0_4_is_too_old_through_every_tool(tool: str, arguments: dict[str, str]) -> None:
    with serve_in_thread(lm_studio_0_3()) as url:
        async with Client(build_server(Settings(base_url=url))) as client:
            result = await client.call_tool(tool, arguments)
    assert result.is_error
    assert text_of(result).startswith("LMSTUDIO_TOO_OLD: "), text_of(result)
    assert "LM Studio 0.4 or newer" in text_of(result)


@pytest.mark.parametrize(("tool", "arguments"), [("list_models", {}), ("chat", {"prompt": "x", "model": MODEL})])
async def test_another_web_server_is_not_lm_studio_through_every_tool(tool: str, arguments: dict[str, str]) -> None:
    with serve_in_thread(another_web_server()) as url:
        async with Client(build_server(Settings(base_url=url))) as client:
            result = await client.call_tool(tool, arguments)
    text = text_of(result)
    assert result.is_error
    assert text.startswith(f"NOT_LMSTUDIO: Something other than LM Studio answers at {url} (HTTP 404"), text
    assert "LMSTUDIO_BASE_URL" in text
    assert "<" not in text  # no markup reaches the caller


# A timeout in connecting, sending or waiting for a pooled connection cannot be staged on loopback on
# demand: these three single faults come from a transport that raises them.
@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (httpx2.ConnectTimeout("timed out"), "TIMEOUT: Connecting to LM Studio at http://127.0.0.1:1234 took longer"),
        (httpx2.WriteTimeout("timed out"), "TIMEOUT: Sending the request to LM Studio at http://127.0.0.1:1234 timed"),
        (httpx2.PoolTimeout("timed out"), "TIMEOUT: Sending the request to LM Studio at http://127.0.0.1:1234 timed"),
    ],
)
async def test_connect_write_and_pool_timeouts_get_their_own_advice(fault: Exception, expected: str) -> None:
    def fail(_request: httpx2.Request) -> httpx2.Response:
        raise fault

    server = build_server(Settings(), transport=httpx2.MockTransport(fail))
    async with Client(server) as client:
        result = await client.call_tool("list_models", {})
    assert result.is_error
    assert text_of(result).startswith(expected), text_of(result)
