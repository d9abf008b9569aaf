"""One lms-mcp for a team, over real HTTP: named clients kept apart, served fairly, limited and logged."""

import json
import subprocess
import threading
from collections.abc import AsyncGenerator, Generator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx2
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from starlette.types import ASGIApp, Receive, Scope, Send

from lms_mcp.serving import Limits
from lms_mcp.settings import Settings
from lms_mcp.simulator import Simulator, reply_text, serve_in_thread
from lms_mcp.team.tokens import ClientToken
from tests.raw_http import ACCEPT, INITIALIZE, http_server_in_thread
from tests.support import child_env, free_port, lms_mcp_command, text_of, wait_for, wait_listening

pytestmark = pytest.mark.anyio

MODEL = "google/gemma-4-26b-a4b"
TOKENS = {"alice": "alice-token-7Hq2", "bob": "bob-token-Kp93", "carol": "carol:token:with:colons"}
CLIENTS = tuple(ClientToken(name, token) for name, token in TOKENS.items())
ENV_TOKENS = ",".join(f"{name}:{token}" for name, token in TOKENS.items())
Mode = str


@asynccontextmanager
async def connect_as(url: str, name: str, mode: Mode = "legacy") -> AsyncGenerator[Client]:
    """An SDK client sending `name`'s token, over Streamable HTTP (or SSE, for a /sse URL)."""
    headers = {"Authorization": f"Bearer {TOKENS[name]}"}
    if url.endswith("/sse"):
        async with Client(sse_client(url, headers=headers), mode=mode) as client:
            yield client
        return
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        yield client


@contextmanager
def team_server(sim_url: str, **changes: Any) -> Generator[str]:
    settings = Settings(base_url=sim_url, transport="http", http_tokens=CLIENTS)
    with http_server_in_thread(replace(settings, **changes), Limits()) as url:
        yield url


def chat_bodies(sim: Simulator) -> dict[str, dict[str, Any]]:
    """The /api/v1/chat bodies lms-mcp sent, by their prompt."""
    bodies: list[dict[str, Any]] = [r.body for r in sim.requests if r.path == "/api/v1/chat"]
    return {body["input"]: body for body in bodies}


async def chat(client: Client, prompt: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool("chat", {"prompt": prompt, "model": MODEL, **arguments})
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return result.structured_content


async def session_names(client: Client) -> list[str]:
    result = await client.call_tool("list_sessions", {})
    assert result.structured_content is not None
    return [s["session"] for s in result.structured_content["sessions"]]


# --- isolation --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_same_session_name_is_two_conversations_for_two_clients(
    sim: Simulator, sim_url: str, mode: Mode
) -> None:
    firsts: dict[str, str] = {}

    async def converse(name: str) -> None:
        async with connect_as(url, name, mode) as client:
            first = await chat(client, f"{name} 1", session="review")
            firsts[name] = first["response_id"]
            second = await chat(client, f"{name} 2", session="review")
            assert second["answer"] == reply_text(MODEL, None, f"{name} 2", 2, sim.config.reply_tokens)

    with team_server(sim_url) as url:
        async with anyio.create_task_group() as group:
            group.start_soon(converse, "alice")
            group.start_soon(converse, "bob")
    bodies = chat_bodies(sim)
    assert firsts["alice"] != firsts["bob"]
    for name in ("alice", "bob"):
        assert bodies[f"{name} 1"].get("previous_response_id") is None
        assert bodies[f"{name} 2"]["previous_response_id"] == firsts[name]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_list_and_reset_see_only_the_callers_sessions(sim: Simulator, sim_url: str, mode: Mode) -> None:
    with team_server(sim_url) as url:
        async with connect_as(url, "alice", mode) as alice, connect_as(url, "bob", mode) as bob:
            async with connect_as(url, "carol", mode) as carol:
                kept = await chat(alice, "alice's draft", session="review")
                await chat(alice, "alice's notes", session="notes")
                await chat(bob, "bob's draft", session="review")
                assert sorted(await session_names(alice)) == ["notes", "review"]
                assert await session_names(bob) == ["review"]
                assert await session_names(carol) == []
                # Carol cannot reset what she does not have, nor learn that others have it.
                refused = await carol.call_tool("reset_session", {"session": "notes"})
                assert refused.is_error and text_of(refused).startswith("INVALID_ARGUMENT")
                assert "Closest" not in text_of(refused)
                assert not (await bob.call_tool("reset_session", {"session": "review"})).is_error
                assert await session_names(bob) == []
                await chat(alice, "alice again", session="review")
    assert chat_bodies(sim)["alice again"]["previous_response_id"] == kept["response_id"]


async def test_sessions_are_kept_apart_over_sse_too(sim: Simulator, sim_url: str) -> None:
    with team_server(sim_url, transport="sse") as url:
        async with connect_as(url, "alice") as alice, connect_as(url, "bob") as bob:
            first = await chat(alice, "alice 1", session="s")
            assert await session_names(bob) == []
            await chat(bob, "bob 1", session="s")
            await chat(alice, "alice 2", session="s")
    bodies = chat_bodies(sim)
    assert bodies["bob 1"].get("previous_response_id") is None
    assert bodies["alice 2"]["previous_response_id"] == first["response_id"]


async def test_a_missing_or_wrong_token_is_refused_and_no_client_can_use_anothers_session(sim_url: str) -> None:
    with team_server(sim_url) as url:
        async with httpx2.AsyncClient(timeout=20) as http:
            for header in ({}, {"Authorization": "Bearer nobody"}, {"Authorization": f"Bearer {TOKENS['bob']}x"}):
                refused = await http.post(url, json=INITIALIZE, headers=ACCEPT | header)
                assert refused.status_code == 401
                assert all(token not in refused.text for token in TOKENS.values())
            alice = ACCEPT | {"Authorization": f"Bearer {TOKENS['alice']}"}
            opened = await http.post(url, json=INITIALIZE, headers=alice)
            session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
            listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
            as_bob = ACCEPT | session | {"Authorization": f"Bearer {TOKENS['bob']}"}
            assert (await http.post(url, json=listing, headers=as_bob)).status_code == 404
            assert (await http.post(url, json=listing, headers=alice | session)).status_code == 200


async def test_no_client_can_post_into_anothers_sse_session(sim_url: str) -> None:
    with team_server(sim_url, transport="sse") as url:
        async with httpx2.AsyncClient(base_url=url.removesuffix("/sse"), timeout=20) as http:
            alice = {"Authorization": f"Bearer {TOKENS['alice']}"}
            async with http.stream("GET", "/sse", headers=alice) as stream:
                # Kept in a name: a line iterator dropped mid-stream would close the stream, and the session.
                lines = stream.aiter_lines()
                endpoint = ""
                async for line in lines:
                    if line.startswith("data:"):
                        endpoint = line[5:].strip()
                        break
                as_bob = {"Authorization": f"Bearer {TOKENS['bob']}"}
                assert (await http.post(endpoint, json=INITIALIZE, headers=as_bob)).status_code == 404
                assert (await http.post(endpoint, json=INITIALIZE, headers=alice)).status_code == 202


async def test_the_single_token_still_works_as_one_client(sim: Simulator, sim_url: str) -> None:
    with team_server(sim_url, http_tokens=(), http_token=TOKENS["alice"]) as url:
        async with connect_as(url, "alice") as first, connect_as(url, "alice", "auto") as second:
            await chat(first, "one", session="shared")
            # One token is one client: its sessions are the same from every connection and era.
            assert await session_names(second) == ["shared"]


# --- fairness ---------------------------------------------------------------------------------------


class ChatGate:
    """The simulator behind a gate: chats are held until it opens, so a queue can build up behind them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.opened = threading.Event()
        self.arrived = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/api/v1/chat":
            self.arrived += 1
            await anyio.to_thread.run_sync(self.opened.wait)
        await self.app(scope, receive, send)


@pytest.fixture
def gated(sim: Simulator) -> Iterator[tuple[ChatGate, str]]:
    gate = ChatGate(sim.app)
    try:
        with serve_in_thread(gate) as url:
            yield gate, url
    finally:
        gate.opened.set()


class Queued:
    """Queue positions reported in progress, per prompt; `reached(n)` is set once n prompts reported one."""

    def __init__(self) -> None:
        self.positions: dict[str, list[int]] = {}
        self._waits: dict[int, anyio.Event] = {}

    def recorder(self, prompt: str) -> Any:
        async def on_progress(_value: float, _total: float | None, message: str | None) -> None:
            if message and message.startswith("Queued for a free LM Studio slot: position "):
                self.positions.setdefault(prompt, []).append(int(message.rsplit(" ", 1)[1]))
                for count, event in self._waits.items():
                    if len(self.positions) >= count:
                        event.set()

        return on_progress

    async def reached(self, count: int) -> None:
        event = self._waits.setdefault(count, anyio.Event())
        if len(self.positions) < count:
            with anyio.fail_after(10):
                await event.wait()


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_one_clients_flood_does_not_delay_anothers_chat(
    sim: Simulator, gated: tuple[ChatGate, str], mode: Mode
) -> None:
    gate, sim_url = gated
    queued = Queued()

    async def send(client: Client, prompt: str) -> None:
        result = await client.call_tool(
            "chat", {"prompt": prompt, "model": MODEL}, progress_callback=queued.recorder(prompt)
        )
        assert not result.is_error, text_of(result)

    # Heartbeats would repeat positions; only the report made on joining the queue matters here.
    with team_server(sim_url, max_concurrent_predictions=1, progress_interval=600) as url:
        async with connect_as(url, "alice", mode) as alice, connect_as(url, "bob", mode) as bob:
            async with anyio.create_task_group() as group:
                for index in range(6):
                    group.start_soon(send, alice, f"alice {index}")
                await queued.reached(5)  # one chat at the gate, five waiting
                await wait_for(lambda: gate.arrived == 1)
                group.start_soon(send, bob, "bob")
                await queued.reached(6)
                gate.opened.set()
    started = [r.body["input"] for r in sim.requests if r.path == "/api/v1/chat"]
    assert started[0].startswith("alice") and started[1] == "bob", started
    assert queued.positions["bob"] == [1]
    assert sorted(p[0] for prompt, p in queued.positions.items() if prompt != "bob") == [1, 2, 3, 4, 5]


# --- rate limits and the access log, on a spawned server ------------------------------------------

PER_MINUTE = 4
SECRET_PROMPT = "the quarterly numbers are Zx-PROMPT-4417"
SECRET_FILE = "salary table Zx-FILE-9921"


class Spawned:
    def __init__(self, url: str, stderr: Path) -> None:
        self.url = url
        self.stderr = stderr

    def log(self) -> str:
        return self.stderr.read_text(encoding="utf-8")

    def access_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log().splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def spawned(shared_sim_server: tuple[Simulator, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Spawned]:
    workdir = tmp_path_factory.mktemp("team")
    (workdir / "notes.txt").write_text(SECRET_FILE, encoding="utf-8")
    port = free_port()
    stderr = workdir / "stderr.txt"
    argv = [lms_mcp_command(), "--transport", "http", "--port", str(port), "--access-log"]
    env = child_env(
        LMSTUDIO_BASE_URL=shared_sim_server[1],
        LMS_MCP_HTTP_TOKENS=ENV_TOKENS,
        LMS_MCP_MAX_CALLS_PER_MINUTE=str(PER_MINUTE),
    )
    with (
        stderr.open("wb") as errors,
        subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errors, env=env, cwd=workdir) as process,
    ):
        try:
            wait_listening(process, port)
            yield Spawned(f"http://127.0.0.1:{port}/mcp", stderr)
        finally:
            process.terminate()
            process.wait(timeout=10)


async def test_a_client_over_its_rate_is_told_how_long_to_wait_and_others_are_unaffected(spawned: Spawned) -> None:
    async with connect_as(spawned.url, "carol") as carol, connect_as(spawned.url, "bob", "auto") as bob:
        for _ in range(PER_MINUTE):
            assert not (await carol.call_tool("list_models", {})).is_error
        limited = await carol.call_tool("list_models", {})
        assert not (await bob.call_tool("list_models", {})).is_error
    assert limited.is_error and text_of(limited).startswith("RATE_LIMITED: ")
    seconds = int(text_of(limited).rsplit("Try again in ", 1)[1].split(" ", 1)[0])
    assert 1 <= seconds <= 60
    assert "carol" not in text_of(limited) and TOKENS["carol"] not in text_of(limited)
    outcomes = [(line["client"], line["outcome"]) for line in spawned.access_lines() if line["tool"] == "list_models"]
    assert outcomes.count(("carol", "RATE_LIMITED")) == 1 and ("bob", "ok") in outcomes


async def test_the_access_log_has_one_line_per_call_and_no_content(spawned: Spawned) -> None:
    async with connect_as(spawned.url, "alice") as alice:
        answered = await chat(alice, SECRET_PROMPT, files=["notes.txt"], session="Zx-SESSION")
        missing = await alice.call_tool("chat", {"prompt": SECRET_PROMPT, "model": "no/such-model"})
        assert missing.is_error
    lines = [line for line in spawned.access_lines() if line["client"] == "alice"]
    assert [(line["tool"], line["outcome"]) for line in lines] == [("chat", "ok"), ("chat", "MODEL_NOT_FOUND")]
    assert lines[0]["model"] == answered["model_instance_id"] and lines[1]["model"] is None
    for line in lines:
        assert set(line) == {"time", "client", "tool", "duration_ms", "outcome", "model"}
        assert line["time"].endswith("Z") and datetime.fromisoformat(line["time"]).utcoffset() is not None
        assert isinstance(line["duration_ms"], float | int) and line["duration_ms"] >= 0
    log = spawned.log()
    for secret in [SECRET_PROMPT, "Zx-PROMPT", "Zx-FILE", "Zx-SESSION", answered["answer"], *TOKENS.values()]:
        assert secret not in log, secret
