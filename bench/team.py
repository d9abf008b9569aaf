"""7. A shared server: 20 named clients, each with 5 chats at once, over Streamable HTTP.

One lms-mcp with 20 `name:token` pairs. Every client has its own raw HTTP client (its own MCP session and
token). In each repetition all 100 chats start at once, each in a named session `s<j>` (the same five names
for every client), then all 100 again in the same sessions. Checked: no call fails; every answer is the one
the simulator derives from that call's own prompt and turn; and every second turn continues the response
that the same client's first turn got in that session (the simulator's recorded `previous_response_id`).
Latency per call, p50 and p95, sits next to the same 100 streamed chat requests sent at once directly.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from bench.common import Bench, direct_chat_stream, direct_client
from bench.procs import bridge_argv, child_env, cpu_seconds, free_port, http_server
from bench.rawclient import RawHttpClient, RpcError
from bench.sim import LOADED_MODEL
from bench.stats import Figure, Section, Summary, ratio
from lms_mcp.simulator import reply_text

CLIENTS = 20
CHATS_PER_CLIENT = 5


@dataclass
class Tally:
    seconds: list[float] = field(default_factory=lambda: list[float]())
    failures: list[str] = field(default_factory=lambda: list[str]())
    wrong_answers: int = 0
    cross_talk: int = 0


@dataclass(frozen=True)
class Chat:
    client: int
    session: str
    turn: int

    @property
    def prompt(self) -> str:
        return f"client {self.client} asks in {self.session}, turn {self.turn}"


@asynccontextmanager
async def team_clients(bench: Bench) -> AsyncGenerator[tuple[list[RawHttpClient], int]]:
    """lms-mcp over HTTP with CLIENTS named tokens, one initialized raw client per token, and its pid."""
    tokens = [secrets.token_urlsafe(24) for _ in range(CLIENTS)]
    pairs = ",".join(f"client{i}:{token}" for i, token in enumerate(tokens))
    env = child_env(LMSTUDIO_BASE_URL=bench.sim.url, LMS_MCP_HTTP_TOKENS=pairs)
    port = free_port()
    argv = bridge_argv("--transport", "http", "--port", str(port))
    async with AsyncExitStack() as stack:
        url, pid = await stack.enter_async_context(http_server("bridge-team", argv, port, env, bench.logs))
        clients: list[RawHttpClient] = []
        for token in tokens:
            client = await stack.enter_async_context(
                RawHttpClient(url, max_connections=8, headers={"Authorization": f"Bearer {token}"})
            )
            await client.initialize()
            clients.append(client)
        yield clients, pid


async def _one_chat(client: RawHttpClient, chat: Chat, tally: Tally, reply_tokens: int) -> str | None:
    """Run one chat; its response id, or None when it failed."""
    arguments = {"prompt": chat.prompt, "model": LOADED_MODEL, "session": chat.session}
    try:
        reply = await client.call_tool("chat", arguments)
    except RpcError as exc:
        tally.failures.append(str(exc)[:200])
        return None
    tally.seconds.append(reply.seconds)
    result = cast(dict[str, Any], reply.result.get("structuredContent") or {})
    if result.get("answer") != reply_text(LOADED_MODEL, None, chat.prompt, chat.turn, reply_tokens):
        tally.wrong_answers += 1
    return result.get("response_id")


async def _burst(clients: list[RawHttpClient], chats: list[Chat], tally: Tally, reply_tokens: int) -> list[str | None]:
    return await asyncio.gather(*(_one_chat(clients[c.client], c, tally, reply_tokens) for c in chats))


def _continued_from(bench: Bench) -> dict[str, str | None]:
    """The previous_response_id each /api/v1/chat request carried, by its prompt."""
    bodies = [cast(dict[str, Any], r.body) for r in bench.sim.sim.requests if r.path == "/api/v1/chat"]
    return {str(body["input"]): body.get("previous_response_id") for body in bodies}


async def _repetition(bench: Bench, clients: list[RawHttpClient], rep: int, tally: Tally) -> list[dict[str, Any]]:
    """Two turns in every client's five sessions; returns the chat bodies lms-mcp sent (for the direct replay)."""
    reply_tokens = bench.sim.config.reply_tokens
    sessions = [f"s{j}-{rep}" for j in range(CHATS_PER_CLIENT)]
    first = [Chat(c, s, 1) for c in range(CLIENTS) for s in sessions]
    first_ids = await _burst(clients, first, tally, reply_tokens)
    await _burst(clients, [Chat(c.client, c.session, 2) for c in first], tally, reply_tokens)
    continued = _continued_from(bench)
    for chat, response_id in zip(first, first_ids, strict=True):
        second = Chat(chat.client, chat.session, 2).prompt
        if response_id is not None and continued.get(second) != response_id:
            tally.cross_talk += 1
    return [cast(dict[str, Any], r.body) for r in bench.sim.sim.requests if r.path == "/api/v1/chat"]


async def _direct(bench: Bench, bodies: list[dict[str, Any]]) -> list[float]:
    """The same chat requests, sent directly in bursts of the same size as the bridge's."""
    burst = CLIENTS * CHATS_PER_CLIENT
    seconds: list[float] = []
    async with direct_client(bench.sim.url, connections=burst) as http:
        for start in range(0, len(bodies), burst):
            chunk = bodies[start : start + burst]
            seconds += await asyncio.gather(*(direct_chat_stream(http, body) for body in chunk))
    return seconds


async def run(bench: Bench) -> Section:
    section = Section("team", f"7. Shared server: {CLIENTS} clients x {CHATS_PER_CLIENT} chats at once over HTTP")
    sim = bench.sim
    sim.reset()
    tally, direct = Tally(), list[float]()
    reps = bench.scaled(5, 2)
    started = time.perf_counter()
    server_cpu = 0.0
    async with team_clients(bench) as (clients, pid):
        for rep in range(reps):
            sim.forget()
            cpu_before = cpu_seconds(pid)
            bodies = await _repetition(bench, clients, rep, tally)
            server_cpu += cpu_seconds(pid) - cpu_before
            direct += await _direct(bench, bodies)
    wall = time.perf_counter() - started
    _report(section, tally, Summary.of_seconds(tally.seconds), Summary.of_seconds(direct))
    cpu_ms = ratio(server_cpu * 1000, len(tally.seconds) + len(tally.failures))
    section.add(Figure("lms-mcp CPU per chat", cpu_ms, None, "ms"))
    section.notes.append(
        f"{reps} repetitions of 2 x {CLIENTS * CHATS_PER_CLIENT} chats ({len(tally.seconds)} answered) in "
        f"{wall:.1f} s; simulator reply {sim.config.reply_tokens} tokens, unpaced. Direct: the bodies lms-mcp "
        "sent, replayed as streamed POSTs in bursts of the same size. One event loop serves every call, so with "
        "100 in flight a call's latency is mostly the CPU of the calls ahead of it (CPU per chat x 100)."
    )
    if tally.failures:
        section.notes.append(f"first failure: {tally.failures[0]}")
    return section


def _report(section: Section, tally: Tally, bridge: Summary, direct: Summary) -> None:
    for name, ours, theirs in (("p50", bridge.p50, direct.p50), ("p95", bridge.p95, direct.p95)):
        section.add(
            Figure(f"chat latency {name}, 100 at once", ours, theirs, "ms", ratio(ours, theirs), "bridge / direct")
        )
    for name, count in (
        ("failed calls", len(tally.failures)),
        ("answers not from their own prompt", tally.wrong_answers),
        ("second turns not continuing the client's own first", tally.cross_talk),
    ):
        section.add(Figure(name, float(count), None, "", goal="0", met=count == 0))
