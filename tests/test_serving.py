"""The HTTP serving pieces one by one: event store, socket options, Host policy, log filters, start-up."""

import logging
import socket
import sys
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.streamable_http import EventMessage
from mcp.types import JSONRPCNotification

import lms_mcp
from lms_mcp.serving import Limits
from lms_mcp.serving.events import EventBudget, SessionEventStore
from lms_mcp.serving.guards import HostPolicy, host_policy
from lms_mcp.serving.limits import connection_cap
from lms_mcp.serving.listen import listening_socket, socket_options
from lms_mcp.serving.logs import AcceptErrorFilter, RepeatFilter
from lms_mcp.settings import Settings
from tests.raw_http import http_server_in_thread
from tests.support import child_env, lms_mcp_command, run_captured

pytestmark = pytest.mark.anyio

PROGRESS = JSONRPCNotification(jsonrpc="2.0", method="notifications/progress")


# --- the event store ------------------------------------------------------------------------------


def store(budget: EventBudget | None = None, max_events: int = 100, max_chars: int = 1_000_000) -> SessionEventStore:
    return SessionEventStore(budget or EventBudget(10_000, 10_000_000), max_events=max_events, max_chars=max_chars)


async def replayed_ids(events: SessionEventStore, last_event_id: str) -> list[str | None] | None:
    replayed: list[str | None] = []

    async def collect(event: EventMessage) -> None:
        replayed.append(event.event_id)

    stream = await events.replay_events_after(last_event_id, collect)
    return None if stream is None else replayed


async def test_event_ids_are_random_and_replays_stay_in_their_stream() -> None:
    events = store()
    priming = await events.store_event("2", None)
    other = await events.store_event("3", PROGRESS)
    mine = await events.store_event("2", PROGRESS)
    assert len({priming, other, mine}) == 3 and all(len(i) >= 20 for i in (priming, other, mine))
    assert await replayed_ids(events, priming) == [mine]
    assert await replayed_ids(events, "1") is None


async def test_a_session_keeps_only_its_latest_events() -> None:
    events = store(max_events=5)
    ids = [await events.store_event("s", PROGRESS) for _ in range(8)]
    assert events.event_count == 5
    assert await replayed_ids(events, ids[0]) is None  # forgotten
    assert await replayed_ids(events, ids[3]) == ids[4:]
    big = store(max_chars=2_000)
    for _ in range(20):
        await big.store_event("s", PROGRESS)
    assert 0 < big.event_count < 20


async def test_all_sessions_share_one_budget_and_give_it_back_when_they_end() -> None:
    budget = EventBudget(max_events=10, max_chars=10_000_000)
    first, second = store(budget), store(budget)
    first_ids = [await first.store_event("s", PROGRESS) for _ in range(6)]
    second_ids = [await second.store_event("s", PROGRESS) for _ in range(6)]
    assert first.event_count + second.event_count == 10  # the two oldest, both the first session's, went
    assert await replayed_ids(first, first_ids[2]) == first_ids[3:]
    assert await replayed_ids(second, second_ids[0]) == second_ids[1:]
    first.close()
    second.close()
    assert budget.chars == 0


# --- the listening socket -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "host", "expected"),
    [
        ("linux", "127.0.0.1", [("SOL_SOCKET", "SO_REUSEADDR", 1)]),
        ("darwin", "::", [("SOL_SOCKET", "SO_REUSEADDR", 1), ("IPPROTO_IPV6", "IPV6_V6ONLY", 0)]),
        ("win32", "127.0.0.1", [("SOL_SOCKET", "SO_EXCLUSIVEADDRUSE", 1)]),
        ("win32", "::", [("SOL_SOCKET", "SO_EXCLUSIVEADDRUSE", 1), ("IPPROTO_IPV6", "IPV6_V6ONLY", 0)]),
        ("win32", "::1", [("SOL_SOCKET", "SO_EXCLUSIVEADDRUSE", 1)]),
        ("cygwin", "0.0.0.0", []),
    ],
)
def test_socket_options_per_platform(platform: str, host: str, expected: list[tuple[str, str, int]]) -> None:
    assert socket_options(host, platform) == expected
    assert ("SOL_SOCKET", "SO_REUSEADDR", 1) not in socket_options(host, "win32")  # would share a busy port


def test_the_options_for_this_platform_exist_here() -> None:
    for level, name, _ in socket_options("::"):
        assert isinstance(getattr(socket, level), int) and isinstance(getattr(socket, name), int)


def ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_available(), reason="this machine has no IPv6")
async def test_listening_on_all_ipv6_addresses_also_takes_ipv4() -> None:
    with listening_socket("::", 0, 8) as server:
        assert server.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 0
        with socket.create_connection(("127.0.0.1", server.getsockname()[1]), timeout=5):
            accepted, _ = server.accept()
            accepted.close()
    settings = Settings(transport="http", host="::", http_token="t0ken")
    with http_server_in_thread(settings, Limits()) as url:  # the URL names 127.0.0.1
        async with httpx2.AsyncClient(headers={"Authorization": "Bearer t0ken"}) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                assert (await client.list_tools()).tools


@pytest.mark.parametrize("transport", ["http", "sse"])
def test_a_busy_port_is_one_clear_line_and_exit_code_2(transport: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = run_captured([lms_mcp_command(), "--transport", transport, "--port", str(port)], env=child_env())
    assert done.returncode == 2 and done.stdout == ""
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, done.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in errors[0] and "pass --port" in errors[0]


@pytest.mark.skipif(sys.platform == "win32", reason="open-file limits are a POSIX thing")
@pytest.mark.parametrize("hard", [1024, None], ids=["low-hard-limit", "this-machines-hard-limit"])
def test_the_open_file_limit_is_raised_within_the_hard_limit(hard: int | None) -> None:
    import resource

    hard = hard or resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    expected = min(hard, Limits().open_files)

    def low_soft_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    code = (
        "import resource; from lms_mcp.serving.listen import raise_open_file_limit as r; "
        "print(r(8192), resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    )
    done = run_captured([sys.executable, "-c", code], preexec_fn=low_soft_limit)
    assert done.stdout.split() == [str(expected), str(expected)], done.stderr


@pytest.mark.parametrize(("open_files", "cap"), [(None, 500), (100_000, 500), (1024, 256), (256, 64), (20, 16)])
def test_connections_are_capped_by_the_open_file_limit(open_files: int | None, cap: int) -> None:
    assert connection_cap(Limits(), open_files) == cap


# --- Host and Origin ------------------------------------------------------------------------------


def test_loopback_takes_only_loopback_names() -> None:
    policy = host_policy("127.0.0.1", token_required=False)
    assert policy is not None
    for good in ("127.0.0.1:8765", "localhost", "LOCALHOST:1", "[::1]:8765"):
        assert policy.allows(good), good
    for bad in ("evil.example", "evil.example:8765", "127.0.0.1.evil.example", "evil@127.0.0.1", "", "[::1"):
        assert not policy.allows(bad), bad
    assert policy.allows_origin("http://localhost:3000")
    assert not policy.allows_origin("http://evil.example") and not policy.allows_origin("null")


def test_a_named_address_adds_only_itself() -> None:
    assert host_policy("192.0.2.10", token_required=True) == HostPolicy(
        frozenset({"127.0.0.1", "localhost", "::1", "192.0.2.10"})
    )
    named = host_policy("Bridge.LAN", token_required=False)
    assert named is not None and named.allows("bridge.lan:8765") and not named.allows("192.0.2.11")


def test_all_interfaces_need_no_name_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    def stall(*args: object) -> None:
        raise AssertionError("a name lookup, which can stall for seconds (macOS)")

    for lookup in ("getfqdn", "getaddrinfo", "gethostbyname", "gethostbyaddr"):
        monkeypatch.setattr(socket, lookup, stall)
    # With a token the token is the protection: any name reaches the server (DNS, VPN, proxy names).
    assert host_policy("0.0.0.0", token_required=True) is None
    assert host_policy("::", token_required=True) is None
    # Without one (a trusted network) a DNS-rebinding page's name is still refused.
    open_policy = host_policy("0.0.0.0", token_required=False)
    assert open_policy is not None
    hostname = socket.gethostname().lower()
    for good in ("192.168.1.5:8765", "[fe80::1]:8765", hostname, f"{hostname}.local:8765", "localhost"):
        assert open_policy.allows(good), good
    assert not open_policy.allows("evil.example:8765")
    assert not open_policy.allows_origin("http://evil.example:8765")


# --- logs -----------------------------------------------------------------------------------------


def record(message: str, name: str = "uvicorn.error", line: int = 10) -> logging.LogRecord:
    return logging.LogRecord(name, logging.WARNING, "x.py", line, message, None, None)


def test_repeated_log_lines_are_held_back_and_counted() -> None:
    now = [0.0]
    repeats = RepeatFilter(burst=2, interval=10, clock=lambda: now[0])
    assert [repeats.filter(record(f"refused {n}")) for n in range(5)] == [True, True, False, False, False]
    assert repeats.filter(record("another place", line=11))
    assert repeats.filter(logging.LogRecord("asyncio", logging.DEBUG, "x.py", 10, "debug", None, None))
    now[0] = 10.0
    later = record("refused again")
    assert repeats.filter(later) and "[3 more like this were not logged]" in later.getMessage()


def test_a_failed_accept_is_one_line_saying_what_to_do() -> None:
    try:
        raise OSError(24, "Too many open files")
    except OSError:
        failed = logging.LogRecord(
            "asyncio", logging.ERROR, "x.py", 1, "socket.accept() out of system resource", None, sys.exc_info()
        )
    assert AcceptErrorFilter().filter(failed)
    assert failed.exc_info is None and "Too many open files" in failed.getMessage()
    assert "ulimit -n" in failed.getMessage()


# --- start-up ---------------------------------------------------------------------------------------


def test_the_package_runs_as_a_script(tmp_path: Path) -> None:
    """What an MCP bundle runs: `python lms_mcp/__main__.py` puts lms_mcp/ itself first on sys.path."""
    script = Path(lms_mcp.__file__).parent / "__main__.py"
    command = [sys.executable, str(script), "--help"]
    done = run_captured(command, cwd=tmp_path, env=child_env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: lms-mcp")


def test_no_module_of_the_package_shadows_the_standard_library() -> None:
    package = Path(lms_mcp.__file__).parent
    names = {path.stem for path in package.glob("*.py")} | {path.name for path in package.iterdir() if path.is_dir()}
    assert not names & sys.stdlib_module_names
