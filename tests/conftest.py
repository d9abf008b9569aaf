"""Shared fixtures: the LM Studio simulator on a real loopback port, and lms-mcp in front of it.

Markers for tests of things some systems do not have at all (a test needing anything else must pass
everywhere): `posix_only` (a pseudo-terminal, os.mkfifo, /dev/zero), `linux_only` (/proc).
"""

import os
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import fields

import pytest
from mcp import Client

from lms_mcp.server import build_server
from lms_mcp.settings import OPTIONS, Settings
from lms_mcp.simulator import PROFILE_NAMES, Simulator, SimulatorConfig, serve_in_thread

PLATFORM_MARKERS = {
    "posix_only": (os.name == "posix", "needs a POSIX system"),
    "linux_only": (sys.platform.startswith("linux"), "needs Linux"),
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "posix_only(what): uses something Windows does not have (a pty, a FIFO)")
    config.addinivalue_line("markers", "linux_only(what): uses something only Linux has (/proc)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for name, (available, reason) in PLATFORM_MARKERS.items():
            marker = item.get_closest_marker(name)
            if marker is not None and not available:
                item.add_marker(pytest.mark.skip(reason=f"{reason}: {', '.join(map(str, marker.args))}"))


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


@pytest.fixture(scope="session")
def shared_sim_server() -> Iterator[tuple[Simulator, str]]:
    """One simulator for the tests that start lms-mcp processes once per module (spawning costs ~1-2 s)."""
    sim = Simulator(SimulatorConfig())
    with serve_in_thread(sim) as url:
        yield sim, url


@pytest.fixture
def shared_sim(shared_sim_server: tuple[Simulator, str]) -> Simulator:
    """The shared simulator with default knobs, no faults and no recorded requests (its models keep state)."""
    sim, _url = shared_sim_server
    defaults = SimulatorConfig()
    for field in fields(SimulatorConfig):
        if field.name not in ("catalog", "downloadable"):
            setattr(sim.config, field.name, getattr(defaults, field.name))
    sim.clear_faults()
    sim.reset_stats()
    return sim


@pytest.fixture(params=PROFILE_NAMES)
def profile(request: pytest.FixtureRequest) -> str:
    """Each LM Studio build the simulator plays, in turn."""
    return request.param


@pytest.fixture
def settings(sim_url: str) -> Settings:
    return Settings(base_url=sim_url)


@pytest.fixture(params=["auto", "legacy"])
async def client(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Client]:
    """An MCP client in both protocol eras: 2026-07-28 and the legacy initialize handshake."""
    mode = request.param
    async with Client(build_server(settings), mode=mode, raise_exceptions=mode == "auto") as connected:
        yield connected
