"""Hostile HTTP clients against a real lms-mcp server: reading others' results, floods, idle and slow sockets."""

import socket
import sys
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client

from lms_mcp.serving import Limits
from lms_mcp.settings import Settings
from lms_mcp.simulator import Simulator, reply_text
from tests.raw_http import ACCEPT, INITIALIZE, RawSession, SseEvent, connect, http_server_in_thread
from tests.support import QWEN as MODEL
from tests.support import child_env, served_over_network

pytestmark = pytest.mark.anyio


class Served:
    def __init__(self, url: str, stderr: Path) -> None:
        self.url = url
        self.stderr = stderr

    def log_lines(self) -> list[str]:
        return self.stderr.read_text(encoding="utf-8").splitlines()


@contextmanager
def spawn_http(sim_url: str, stderr: Path, open_files: int | None = None) -> Generator[Served]:
    """`lms-mcp --transport http` with its default limits, its stderr in a file, maybe few open files."""

    def limit_open_files() -> None:
        if open_files is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    env = child_env(LMSTUDIO_BASE_URL=sim_url)
    limit = None if open_files is None else limit_open_files
    with (
        stderr.open("wb") as errors,
        served_over_network("http", env, stderr=errors, preexec_fn=limit) as (_process, url),
    ):
        yield Served(url, stderr)


@pytest.fixture(scope="module")
def served(shared_sim_server: tuple[Simulator, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with spawn_http(shared_sim_server[1], tmp_path_factory.mktemp("served") / "stderr.txt") as server:
        yield server


def answer_in(events: list[SseEvent], request_id: int) -> str:
    results = [e.message for e in events if e.message and e.message.get("id") == request_id]
    assert len(results) == 1, events
    return results[0]["result"]["structuredContent"]["answer"]


def progress_in(events: list[SseEvent]) -> list[dict[str, Any]]:
    return [e.message for e in events if e.message and e.message.get("method") == "notifications/progress"]


# --- 1. one client reading another's results ------------------------------------------------------


async def test_no_session_can_replay_another_sessions_events(served: Served, shared_sim: Simulator) -> None:
    shared_sim.config.reply_tokens = 30
    shared_sim.config.tokens_per_second = 100
    async with httpx2.AsyncClient(timeout=20) as http:
        alice, mallory = RawSession(http, served.url), RawSession(http, served.url)
        await alice.open()
        await mallory.open()
        async with alice.call(2, "chat", {"prompt": "alice's secret", "model": MODEL}) as stream:
            seen = [event async for event in stream]
        ids = [event.event_id for event in seen if event.event_id]
        assert answer_in(seen, 2) == reply_text(MODEL, None, "alice's secret", 1, 30)
        assert progress_in(seen) and len(ids) == len(seen)  # every event is resumable
        # Alice's real ids, and the guesses that counting ids from 1 made trivial.
        for guess in [*ids, *map(str, range(1, 60)), ids[0][:-1], ids[0].upper()]:
            assert await mallory.replay(guess) == [], guess
        # Alice herself can still resume her stream, from its very first event.
        resumed = await alice.replay(ids[0], until_id=2)
    assert answer_in(resumed, 2) == reply_text(MODEL, None, "alice's secret", 1, 30)
    assert [event.event_id for event in resumed] == ids[1:]


async def test_sessions_with_the_same_request_ids_each_resume_their_own_call(
    served: Served, shared_sim: Simulator
) -> None:
    shared_sim.config.reply_tokens = 40
    shared_sim.config.tokens_per_second = 80
    async with httpx2.AsyncClient(timeout=20) as http:
        sessions = {name: RawSession(http, served.url) for name in ("alice", "bob")}
        priming: dict[str, str] = {}
        for name, session in sessions.items():
            await session.open()
            # Both use request id 2; each drops its connection right after the priming event, mid-call.
            async with session.call(2, "chat", {"prompt": f"{name}'s question", "model": MODEL}) as stream:
                first = await anext(aiter(stream))
            assert first.event_id and first.message is None
            priming[name] = first.event_id
        for name, session in sessions.items():
            resumed = await session.replay(priming[name], until_id=2)
            assert answer_in(resumed, 2) == reply_text(MODEL, None, f"{name}'s question", 1, 40)
            assert progress_in(resumed), "the progress sent while disconnected was not replayed"


# --- 2. floods --------------------------------------------------------------------------------------


async def test_a_flood_of_abandoned_sessions_does_not_lock_out_a_new_client(served: Served) -> None:
    flood = Limits().max_sessions + 200  # every initialize past the cap must close an abandoned session
    statuses: list[int] = []
    lines_before = len(served.log_lines())

    async def abandon(count: int) -> None:
        statuses.extend(
            [(await http.post(served.url, json=INITIALIZE, headers=ACCEPT)).status_code for _ in range(count)]
        )

    async with httpx2.AsyncClient(timeout=20) as http, anyio.create_task_group() as group:
        for _ in range(10):
            group.start_soon(abandon, flood // 10)
    assert statuses == [200] * flood  # never "503 Too many open sessions"
    async with Client(served.url) as client:
        assert not (await client.call_tool("list_models", {})).is_error
    assert len(served.log_lines()) - lines_before < 60, "the flood flooded the log"


async def test_the_session_idle_the_longest_makes_room_and_a_busy_one_never_does() -> None:
    with http_server_in_thread(Settings(transport="http"), Limits(max_sessions=4)) as url:
        async with httpx2.AsyncClient(timeout=20) as http:
            busy, oldest_idle = RawSession(http, url), RawSession(http, url)
            await busy.open()
            await oldest_idle.open()
            # The busy session's open GET stream is a request in flight, for as long as it stays open.
            async with http.stream("GET", url, headers=busy.headers()) as stream:
                assert stream.status_code == 200
                for _ in range(6):
                    await RawSession(http, url).open()
                assert (await list_tools(http, busy)).status_code == 200
            assert (await list_tools(http, oldest_idle)).status_code == 404


async def list_tools(http: httpx2.AsyncClient, session: RawSession) -> httpx2.Response:
    body = {"jsonrpc": "2.0", "id": 9, "method": "tools/list"}
    return await http.post(session.url, json=body, headers=session.headers())


async def test_a_foreign_origin_is_refused(served: Served) -> None:
    async with httpx2.AsyncClient(timeout=20) as http:
        refused = await http.post(served.url, json=INITIALIZE, headers=ACCEPT | {"Origin": "http://evil.example"})
        allowed = await http.post(served.url, json=INITIALIZE, headers=ACCEPT | {"Origin": "http://localhost:6274"})
    assert refused.status_code == 403 and allowed.status_code == 200


@pytest.mark.skipif(sys.platform == "win32", reason="open-file limits are a POSIX thing")
def test_idle_sockets_past_the_open_file_limit_do_not_lock_out_a_client(
    shared_sim_server: tuple[Simulator, str], tmp_path: Path
) -> None:
    idle: list[socket.socket] = []

    async def use(url: str) -> bool:
        with anyio.fail_after(20):
            async with Client(url) as client:
                return not (await client.call_tool("list_models", {})).is_error

    with spawn_http(shared_sim_server[1], tmp_path / "stderr.txt", open_files=256) as server:
        try:
            idle += [connect(server.url) for _ in range(300)]
            assert anyio.run(use, server.url)
            closed = sum(1 for sock in idle if closed_by_server(sock))
        finally:
            for sock in idle:
                sock.close()
    log = server.stderr.read_text(encoding="utf-8")
    assert closed >= 300 - 64, "the server kept more idle connections than a quarter of its 256 files"
    assert "Traceback" not in log and len(log.splitlines()) < 40, log[-3000:]


def closed_by_server(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


# --- 2. connections that never finish their headers -------------------------------------------------

HEADER_SECONDS = 0.5


@pytest.fixture(scope="module")
def quick_headers() -> Iterator[str]:
    """lms-mcp's HTTP server in this process, with a short header deadline."""
    with http_server_in_thread(Settings(transport="http"), Limits(header_seconds=HEADER_SECONDS)) as url:
        yield url


def seconds_until_closed(sock: socket.socket, trickle: bytes | None, limit: float = 5.0) -> float:
    """Send `trickle` every 0.1 s (or nothing) until the server closes the connection."""
    started = time.monotonic()
    sock.settimeout(0.1)
    while time.monotonic() - started < limit:
        try:
            if sock.recv(4096) == b"":
                return time.monotonic() - started
        except TimeoutError:
            if trickle:
                sock.sendall(trickle)
        except ConnectionResetError:
            return time.monotonic() - started
    raise AssertionError(f"the connection was still open after {limit} s")


def get_status(sock: socket.socket) -> int:
    """One GET on a kept-alive connection; reads the whole response, returns its status."""
    sock.sendall(b"GET /elsewhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(4096)
    head, body = received.split(b"\r\n\r\n", 1)
    length = int(next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))[15:])
    while len(body) < length:
        body += sock.recv(4096)
    return int(head.split(b" ", 2)[1])


@pytest.mark.parametrize("trickle", [None, b"X-Slow: 1\r\n"], ids=["silent", "trickling-headers"])
def test_a_connection_that_never_finishes_its_headers_is_dropped(quick_headers: str, trickle: bytes | None) -> None:
    with connect(quick_headers) as sock:
        sock.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        elapsed = seconds_until_closed(sock, trickle)
    assert HEADER_SECONDS * 0.9 <= elapsed < HEADER_SECONDS + 1.5


def test_a_kept_alive_connection_must_finish_its_next_headers_in_time(quick_headers: str) -> None:
    with connect(quick_headers) as sock:
        assert get_status(sock) == 404
        sock.sendall(b"GET /elsewhere HTTP/1.1\r\n")
        elapsed = seconds_until_closed(sock, b"X-Slow: 1\r\n")
    assert elapsed < HEADER_SECONDS + 1.5


def test_a_client_that_sends_its_headers_promptly_is_served(quick_headers: str) -> None:
    with connect(quick_headers) as sock:
        # Requests on one kept-alive connection, each sent at once, with pauses that add up past the deadline.
        for _ in range(3):
            assert get_status(sock) == 404
            time.sleep(HEADER_SECONDS * 0.6)  # the client thinking, not a wait for the server
