"""How the client reaches LM Studio: which proxy it takes, and how long it waits to connect."""

from collections.abc import Iterator

import pytest

from lms_mcp.lmstudio import LMStudioClient
from lms_mcp.simulator import Simulator
from lms_mcp.urls import LOOPBACK_CONNECT_FLOOR, connect_timeout_for, is_loopback_host
from tests.support import fixed_json_server

pytestmark = pytest.mark.anyio

PROXY_VARIABLES = [case(f"{name}_proxy") for name in ("http", "https", "all", "no") for case in (str.upper, str.lower)]


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[str]]]:
    """A forward proxy that answers every request itself, as LM Studio would; and what it was asked."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with fixed_json_server(b'{"lmstudio": true}') as served:
        yield served


@pytest.fixture
def remote_url(sim_url: str) -> str:
    """The simulator under a name the client does not count as loopback (`127.1`, which the OS resolves
    to 127.0.0.1), so the remote-LM-Studio path runs while the traffic stays on this machine."""
    url = sim_url.replace("127.0.0.1", "127.1")
    assert not is_loopback_host("127.1")
    return url


def greetings(sim: Simulator) -> int:
    return sum(record.path == "/lmstudio-greeting" for record in sim.requests)


async def test_a_system_proxy_without_env_vars_is_not_used(
    proxy: tuple[str, list[str]], remote_url: str, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy_url, proxied = proxy
    # What urllib reports on macOS or Windows when the system settings name a proxy (and no env var does).
    monkeypatch.setattr("httpx2._utils.getproxies", lambda: {"http": proxy_url, "https": proxy_url})
    async with LMStudioClient(remote_url) as client:
        assert await client.greeting()
    assert proxied == [] and greetings(sim) == 1


@pytest.mark.parametrize("no_proxy", [None, "127.1"])
async def test_proxy_env_vars_are_honoured_for_a_remote_lm_studio(
    proxy: tuple[str, list[str]],
    remote_url: str,
    sim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    no_proxy: str | None,
) -> None:
    proxy_url, proxied = proxy
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    if no_proxy:
        monkeypatch.setenv("NO_PROXY", no_proxy)
    async with LMStudioClient(remote_url) as client:
        assert await client.greeting()
    if no_proxy:
        assert proxied == [] and greetings(sim) == 1
    else:
        assert proxied == [f"{remote_url}/lmstudio-greeting"] and greetings(sim) == 0


async def test_a_local_lm_studio_never_goes_through_a_proxy(
    proxy: tuple[str, list[str]], sim_url: str, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy_url, proxied = proxy
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    async with LMStudioClient(sim_url) as client:
        assert await client.greeting()
    assert proxied == [] and greetings(sim) == 1


@pytest.mark.parametrize(
    ("url", "given", "used"),
    [
        ("http://127.0.0.1:1234", 0.5, LOOPBACK_CONNECT_FLOOR),
        ("http://localhost:1234", 1.0, LOOPBACK_CONNECT_FLOOR),
        ("http://[::1]:1234", 2.9, LOOPBACK_CONNECT_FLOOR),
        ("http://127.0.0.1:1234", 10.0, 10.0),
        ("http://192.168.1.20:1234", 0.5, 0.5),
        ("https://lmstudio.lan", 1.0, 1.0),
    ],
)
def test_a_loopback_connect_timeout_is_long_enough_to_hear_a_refusal(url: str, given: float, used: float) -> None:
    """Windows takes about 2 s to report a refused loopback connection: shorter would read as a timeout."""
    assert LOOPBACK_CONNECT_FLOOR >= 3
    assert connect_timeout_for(url, given) == used
