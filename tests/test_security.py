"""Who may use the bridge and what agents may do: HTTP token, exposure refusal, read-only, tool lists, secrets."""

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from lms_mcp.server import build_server
from lms_mcp.settings import Settings, SettingsError, load_settings
from lms_mcp.simulator import Simulator, SimulatorConfig, serve_in_thread
from lms_mcp.tools import TOOL_NAMES
from tests.support import (
    LM_TOKEN,
    LineReader,
    child_env,
    free_port,
    initialize_request,
    lms_mcp_command,
    run_captured,
    served_over_network,
    text_of,
)

pytestmark = pytest.mark.anyio

HTTP_TOKEN = "s3cret-http-token-Zq81"
WRONG_LM_TOKEN = "sk-lm-zzzzzzzz:zzzzzzzzzzzzzzzzzzzz"


# --- HTTP and SSE endpoints behind a token --------------------------------------------------------


@pytest.fixture(scope="module")
def guarded(shared_sim_server: tuple[Simulator, str]) -> Iterator[str]:
    env = child_env(LMSTUDIO_BASE_URL=shared_sim_server[1], LMS_MCP_HTTP_TOKEN=HTTP_TOKEN)
    with served_over_network("http", env) as (_process, url):
        yield url


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {HTTP_TOKEN}", f"Bearer {HTTP_TOKEN}x"])
async def test_http_without_the_right_token_gets_401(guarded: str, header: str | None) -> None:
    headers = {"Accept": "application/json, text/event-stream"} | ({"Authorization": header} if header else {})
    async with httpx2.AsyncClient() as http:
        response = await http.post(guarded, headers=headers, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert HTTP_TOKEN not in response.text


async def test_http_with_the_token_works(guarded: str) -> None:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {HTTP_TOKEN}"}) as http:
        async with Client(streamable_http_client(guarded, http_client=http)) as client:
            result = await client.call_tool("list_models", {})
    assert not result.is_error


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::"])
def test_serving_the_network_without_a_token_is_refused(host: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"transport": "http", "host": host}, {})
    assert "LMS_MCP_HTTP_TOKEN" in str(caught.value) and "--allow-unauthenticated" in str(caught.value)
    assert load_settings({"transport": "http", "host": host}, {"LMS_MCP_HTTP_TOKEN": "t"}).http_token == "t"
    assert load_settings({"transport": "http", "host": host, "allow_unauthenticated": True}, {}).host == host
    assert load_settings({"transport": "stdio", "host": host}, {}).host == host  # stdio listens on nothing


def test_the_refusal_happens_at_startup_with_exit_code_2() -> None:
    argv = [lms_mcp_command(), "--transport", "http", "--host", "0.0.0.0", "--port", str(free_port())]
    done = run_captured(argv, env=child_env())
    assert done.returncode == 2 and done.stdout == ""
    assert "would let anyone on the network use LM Studio" in done.stderr


# --- what agents may do ---------------------------------------------------------------------------


async def listed(settings: Settings) -> set[str]:
    async with Client(build_server(settings)) as client:
        return {tool.name for tool in (await client.list_tools()).tools}


async def test_read_only_serves_no_tool_that_changes_models(settings: Settings, sim: Simulator) -> None:
    read_only = replace(settings, read_only=True)
    assert await listed(read_only) == set(TOOL_NAMES) - {"load_model", "unload_model", "download_model"}
    async with Client(build_server(read_only)) as client:
        refused = await client.call_tool("unload_model", {"instance_id": "google/gemma-4-26b-a4b"})
    assert refused.is_error and "Unknown tool" in text_of(refused)
    assert not [r for r in sim.requests if r.path.startswith("/api/v1/models/")]


async def test_tools_setting_serves_only_the_listed_tools(settings: Settings) -> None:
    assert await listed(replace(settings, tools=("chat", "list_models"))) == {"chat", "list_models"}
    both = replace(settings, tools=("chat", "load_model"), read_only=True)
    assert await listed(both) == {"chat"}


def test_tools_setting_rejects_unknown_names() -> None:
    with pytest.raises(SettingsError, match="--tools / LMS_MCP_TOOLS"):
        load_settings({}, {"LMS_MCP_TOOLS": "chat,rm_rf"})
    assert load_settings({}, {"LMS_MCP_TOOLS": " chat , embed "}).tools == ("chat", "embed")


async def test_annotations_stay_true(client: Client) -> None:
    tools = {tool.name: tool.annotations for tool in (await client.list_tools()).tools}
    assert all(a is not None for a in tools.values())
    read_only = {name for name, a in tools.items() if a and a.read_only_hint}
    assert read_only == {"list_models", "download_status", "embed", "list_sessions"}
    destructive = {name for name, a in tools.items() if a and a.destructive_hint}
    assert destructive == {"unload_model", "reset_session"}
    open_world = {name for name, a in tools.items() if a and a.open_world_hint}
    # chat reaches remote MCP servers through `integrations`.
    assert open_world == {"chat", "download_model"}


# --- secrets never leak ---------------------------------------------------------------------------


async def every_failing_call(client: Client) -> list[str]:
    calls: list[tuple[str, dict[str, Any]]] = [
        ("list_models", {}),
        ("chat", {"prompt": "x"}),
        ("chat", {"prompt": "x", "model": "nope"}),
        ("load_model", {"model": "qwen/qwen3-4b"}),
        ("unload_model", {"instance_id": "nope"}),
        ("download_model", {"model": "ibm/granite-4-micro"}),
        ("download_status", {"job_id": "job_0"}),
        ("embed", {"texts": ["x"]}),
    ]
    texts: list[str] = []
    for name, arguments in calls:
        result = await client.call_tool(name, arguments)
        texts.append(text_of(result))
        texts.append(repr(result.structured_content))
    return texts


async def test_tokens_never_appear_in_results_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    captured: list[str] = []
    with serve_in_thread(Simulator(SimulatorConfig(api_tokens=[LM_TOKEN]))) as url:
        for token in (None, WRONG_LM_TOKEN, "not-even-a-token-" + HTTP_TOKEN):
            settings = Settings(base_url=url, api_token=token, http_token=HTTP_TOKEN)
            async with Client(build_server(settings)) as client:
                texts = await every_failing_call(client)
            assert any(t.startswith("AUTH_REQUIRED" if token is None else "AUTH_INVALID") for t in texts)
            captured += texts
            captured.append(repr(settings))
    unreachable = Settings(base_url=f"http://127.0.0.1:{free_port()}", api_token=LM_TOKEN)
    async with Client(build_server(unreachable)) as client:
        captured += await every_failing_call(client)
    everything = "\n".join(captured) + "\n" + caplog.text
    for secret in (LM_TOKEN, WRONG_LM_TOKEN, HTTP_TOKEN, "abcDEF78", "zzzzzzzz"):
        assert secret not in everything


def test_tokens_never_appear_on_the_servers_stderr(sim: Simulator, sim_url: str) -> None:
    """At DEBUG, with real requests to LM Studio that carry the token, and one call that fails."""
    calls: list[tuple[str, dict[str, Any]]] = [
        ("list_models", {}),
        ("chat", {"prompt": "hi", "model": "qwen/qwen3-4b"}),
        ("chat", {"prompt": "x"}),
    ]
    messages: list[dict[str, Any]] = [
        initialize_request(0),
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
    ] + [
        {"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
        for n, (name, arguments) in enumerate(calls, start=1)
    ]
    env = child_env(LMSTUDIO_BASE_URL=sim_url, LM_API_TOKEN=LM_TOKEN, LMS_MCP_HTTP_TOKEN=HTTP_TOKEN)
    with subprocess.Popen(
        [sys.executable, "-m", "lms_mcp", "--log-level", "DEBUG"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    ) as process:
        assert process.stdin and process.stdout and process.stderr
        process.stdin.write(b"".join(json.dumps(m).encode() + b"\n" for m in messages))
        process.stdin.flush()
        reader = LineReader(process.stdout)
        answered = {json.loads(reader.next())["id"] for _ in range(len(calls) + 1)}
        process.stdin.close()
        assert process.wait(timeout=20) == 0
        stderr = process.stderr.read()
    assert answered == {0, 1, 2, 3}
    upstream = [r for r in sim.requests if r.path.startswith("/api/v1/")]
    assert upstream and all(r.headers.get("authorization") == f"Bearer {LM_TOKEN}" for r in upstream)
    assert b"DEBUG" in stderr  # the log really was at its most verbose
    assert LM_TOKEN.encode() not in stderr and HTTP_TOKEN.encode() not in stderr
