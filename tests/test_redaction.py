"""Credentials in LMSTUDIO_BASE_URL never reach a log line, even at DEBUG."""

import json
from typing import Any

import pytest
from mcp import Client

from lms_mcp.lmstudio import LMStudioClient, LMStudioUnreachableError
from lms_mcp.server import build_server
from lms_mcp.settings import Settings
from lms_mcp.urls import display_url, redact_urls
from tests.support import child_env, free_port, initialize_request, send_lines, stdio_server, text_of


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://alice:s3cret@127.0.0.1:1234", "http://***@127.0.0.1:1234"),
        ("https://alice@lmstudio.lan:1234/x", "https://***@lmstudio.lan:1234/x"),
        ("http://alice:p@ss@[::1]:1234", "http://***@[::1]:1234"),
        ("http://127.0.0.1:1234", "http://127.0.0.1:1234"),
    ],
)
def test_display_url_hides_user_and_password(url: str, shown: str) -> None:
    assert display_url(url) == shown
    assert redact_urls(f"GET {url}/api/v1/models 200") == f"GET {shown}/api/v1/models 200"


def test_redact_urls_leaves_text_without_credentials_alone() -> None:
    text = "write to ann@example.com, see http://host/a@b?x=1"
    assert redact_urls(text) == text


def test_credentials_in_the_address_stay_out_of_the_logs_at_debug(sim_url: str) -> None:
    address = sim_url.replace("http://", "http://alice:s3cret@")
    messages: list[dict[str, Any]] = [
        initialize_request(),
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "list_models", "arguments": {}}},
    ]
    with stdio_server(child_env(LMSTUDIO_BASE_URL=address, LMS_MCP_LOG_LEVEL="DEBUG")) as process:
        assert process.stdin and process.stdout
        send_lines(process.stdin, messages)
        replies = [json.loads(process.stdout.readline()) for _ in range(2)]
        _, stderr = process.communicate(timeout=30)
    assert replies[1]["id"] == 2 and not replies[1]["result"].get("isError")
    logged = stderr.decode()
    assert "s3cret" not in logged and "alice" not in logged
    assert "LM Studio at http://***@127.0.0.1" in logged  # the start-up line
    assert "HTTP Request: GET http://***@127.0.0.1" in logged  # httpx2's own line, at DEBUG


@pytest.mark.anyio
async def test_client_errors_do_not_carry_credentials() -> None:
    port = free_port()
    async with LMStudioClient(f"http://alice:s3cret@127.0.0.1:{port}") as client:
        with pytest.raises(LMStudioUnreachableError) as caught:
            await client.greeting()
    assert caught.value.base_url == f"http://***@127.0.0.1:{port}"
    assert "s3cret" not in str(caught.value)


@pytest.mark.anyio
async def test_tool_errors_do_not_carry_credentials() -> None:
    port = free_port()
    async with Client(build_server(Settings(base_url=f"http://alice:s3cret@127.0.0.1:{port}"))) as client:
        result = await client.call_tool("list_models", {})
    assert result.is_error
    assert text_of(result).startswith(
        f"LMSTUDIO_UNREACHABLE: LM Studio is not reachable at http://***@127.0.0.1:{port}"
    )
    assert "s3cret" not in text_of(result) and "alice" not in text_of(result)
