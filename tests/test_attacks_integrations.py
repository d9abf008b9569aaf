"""`integrations` can make LM Studio connect anywhere: only as far as the operator allows, and said so."""

from dataclasses import replace
from typing import Any

import pytest
from mcp import Client

from lms_mcp.integration_policy import IntegrationPolicy
from lms_mcp.server import build_server
from lms_mcp.settings import Settings, SettingsError, load_settings
from lms_mcp.simulator import Simulator
from tests.support import QWEN as MODEL
from tests.support import chat_bodies, text_of

pytestmark = pytest.mark.anyio


def server_at(url: str) -> dict[str, Any]:
    return {"type": "ephemeral_mcp", "server_label": "x", "server_url": url}


async def chat_with(settings: Settings, integrations: list[Any]) -> tuple[bool, str]:
    async with Client(build_server(settings)) as client:
        result = await client.call_tool("chat", {"prompt": "x", "model": MODEL, "integrations": integrations})
    return bool(result.is_error), text_of(result)


HOSTILE = [
    "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
    "http://127.0.0.1:8080/admin",
    "http://localhost:6379/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:25/",
]


@pytest.mark.parametrize("url", HOSTILE)
async def test_by_default_no_mcp_server_may_be_named_per_call(settings: Settings, sim: Simulator, url: str) -> None:
    failed, text = await chat_with(settings, [server_at(url)])
    assert failed
    assert text.startswith("INVALID_ARGUMENT: This server does not let chat name MCP servers per call")
    assert "--integrations / LMS_MCP_INTEGRATIONS" in text
    assert chat_bodies(sim) == []


async def test_by_default_installed_plugins_pass(settings: Settings, sim: Simulator) -> None:
    sim.config.allow_mcp_json = True
    await chat_with(settings, ["mcp/playwright"])
    assert chat_bodies(sim)[0]["integrations"] == ["mcp/playwright"]


@pytest.mark.parametrize("url", HOSTILE)
async def test_an_allow_list_admits_only_its_hosts(settings: Settings, sim: Simulator, url: str) -> None:
    allowing = replace(settings, integrations=IntegrationPolicy.parse("mcp.example.com"))
    failed, text = await chat_with(allowing, [server_at(url)])
    assert failed and text.startswith("INVALID_ARGUMENT: ")
    assert chat_bodies(sim) == []
    sim.config.allow_ephemeral_mcp = True
    failed, text = await chat_with(allowing, [server_at("https://MCP.example.com/mcp")])
    assert not failed, text
    assert len(chat_bodies(sim)) == 1


async def test_any_host_still_means_http_only(settings: Settings, sim: Simulator) -> None:
    anything = replace(settings, integrations=IntegrationPolicy.parse("any"))
    failed, text = await chat_with(anything, [server_at("file:///etc/passwd")])
    assert failed and "must be an http:// or https:// URL" in text
    assert chat_bodies(sim) == []


async def test_read_only_drops_per_call_servers_whatever_the_policy(settings: Settings, sim: Simulator) -> None:
    locked = replace(settings, integrations=IntegrationPolicy.parse("any"), read_only=True)
    failed, text = await chat_with(locked, [server_at("https://mcp.example.com/mcp")])
    assert failed and "does not let chat name MCP servers per call" in text
    assert chat_bodies(sim) == []


async def test_off_refuses_every_integration_and_chat_is_no_longer_open_world(settings: Settings) -> None:
    off = replace(settings, integrations=IntegrationPolicy.parse("off"))
    failed, text = await chat_with(off, ["mcp/playwright"])
    assert failed and text.startswith("INVALID_ARGUMENT: Integrations are turned off on this server")
    async with Client(build_server(off)) as client:
        hints = {t.name: t.annotations for t in (await client.list_tools()).tools}
    assert hints["chat"] is not None and hints["chat"].open_world_hint is False
    assert hints["download_model"] is not None and hints["download_model"].open_world_hint is True


@pytest.mark.parametrize("value", ["", "a b", "http://x", "host/path", ","])
def test_a_policy_that_is_not_one_is_refused_at_startup(value: str) -> None:
    with pytest.raises(SettingsError, match="LMS_MCP_INTEGRATIONS"):
        load_settings({}, {"LMS_MCP_INTEGRATIONS": value})
