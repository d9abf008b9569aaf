"""How the client reaches LM Studio: which proxy it takes, and how long it waits to connect."""

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from lms_mcp.lmstudio import LMStudioClient
from lms_mcp.simulator import Simulator
from lms_mcp.urls import LOOPBACK_CONNECT_FLOOR, connect_timeout_for, is_loopback_host

pytestmark = pytest.mark.anyio

PROXY_VARIABLES = [case(f"{name}_proxy") for name in ("http", "https", "all", "no") for case in (str.upper, str.lower)]


class Proxy(BaseHTTPRequestHandler):
    """A forward proxy that answers every request itself, as LM Studio would, and remembers it."""

    seen: list[str] = []

    def do_GET(self) -> None:
        Proxy.seen.append(self.path)
        body = b'{"lmstudio": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    Proxy.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


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
    proxy: str, remote_url: str, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What urllib reports on macOS or Windows when the system settings name a proxy (and no env var does).
    monkeypatch.setattr("httpx2._utils.getproxies", lambda: {"http": proxy, "https": proxy})
    async with LMStudioClient(remote_url) as client:
        assert await client.greeting()
    assert Proxy.seen == [] and greetings(sim) == 1


async def test_proxy_env_vars_are_honoured_for_a_remote_lm_studio(
    proxy: str, remote_url: str, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)
    async with LMStudioClient(remote_url) as client:
        assert await client.greeting()
    assert Proxy.seen == [f"{remote_url}/lmstudio-greeting"] and greetings(sim) == 0


async def test_no_proxy_sends_a_remote_lm_studio_direct(
    proxy: str, remote_url: str, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("NO_PROXY", "127.1")
    async with LMStudioClient(remote_url) as client:
        assert await client.greeting()
    assert Proxy.seen == [] and greetings(sim) == 1


async def test_a_local_lm_studio_never_goes_through_a_proxy(
    proxy: str, sim_url: str, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)
    async with LMStudioClient(sim_url) as client:
        assert await client.greeting()
    assert Proxy.seen == [] and greetings(sim) == 1


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
