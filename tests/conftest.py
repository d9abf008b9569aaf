"""Shared fixtures: the LM Studio simulator on a real loopback port, and lms-mcp in front of it."""

from collections.abc import AsyncIterator, Iterator

import pytest
from mcp import Client

from lms_mcp.server import build_server
from lms_mcp.settings import OPTIONS, Settings
from lms_mcp.simulator import Simulator, SimulatorConfig, serve_in_thread


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own LM Studio settings must not leak into tests."""
    for option in OPTIONS:
        monkeypatch.delenv(option.env, raising=False)


@pytest.fixture
def sim() -> Simulator:
    return Simulator(SimulatorConfig())


@pytest.fixture
def sim_url(sim: Simulator) -> Iterator[str]:
    with serve_in_thread(sim) as url:
        yield url


@pytest.fixture
def settings(sim_url: str) -> Settings:
    return Settings(base_url=sim_url)


@pytest.fixture(params=["auto", "legacy"])
async def client(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Client]:
    """An MCP client in both protocol eras: 2026-07-28 and the legacy initialize handshake."""
    mode = request.param
    async with Client(build_server(settings), mode=mode, raise_exceptions=mode == "auto") as connected:
        yield connected
