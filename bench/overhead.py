"""1. Per-call overhead: the bridge versus the same LM Studio request made directly, and versus the SDK's floor.

Over each transport (stdio, Streamable HTTP) these run side by side, interleaved:
  direct       httpx2 in this process -> simulator (GET /api/v1/models; POST /api/v1/chat, plain and streamed)
  floor ping   raw MCP client -> bare MCPServer, trivial tool          (what any mcp 2.3 tool call costs)
  floor fetch  raw MCP client -> bare MCPServer tool doing the same GET (the least any bridge can cost)
  bridge       raw MCP client -> lms-mcp -> simulator (list_models; chat with a model named, no progress)
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from bench import servers
from bench.common import (
    Bench,
    Sampled,
    Target,
    direct_chat,
    direct_chat_stream,
    direct_client,
    direct_get,
    interleaved,
    last_chat_body,
)
from bench.procs import REPO, child_env
from bench.profiling import profile_calls
from bench.rawclient import McpClient
from bench.sim import LOADED_MODEL
from bench.stats import Figure, Section, Summary, at_most, ratio

GOAL = 1.2
CHAT_ARGS: dict[str, Any] = {"prompt": "Say hello in one line.", "model": LOADED_MODEL}
MEANING_A = "(bridge - direct) / floor: what the bridge adds to the LM Studio request, in bare MCP calls"
MEANING_B = "bridge / (floor + direct): the bridge against an ideal bridge that costs nothing of its own"


@dataclass
class Endpoints:
    transport: str
    floor: McpClient
    floor_pid: int
    bridge: McpClient
    bridge_pid: int


@asynccontextmanager
async def endpoints(bench: Bench, transport: str) -> AsyncGenerator[Endpoints]:
    async with servers.floor(bench, transport) as floor, servers.bridge(bench, transport) as bridge:
        yield Endpoints(transport, floor.client, floor.pid, bridge.client, bridge.pid)


async def _connections_per_call(bench: Bench, target: Target, calls: int = 10) -> float:
    """New client addresses the simulator sees per call: 0 when one kept-alive connection serves them all."""
    await target.call()
    bench.sim.forget()
    await target.call()
    known = set(bench.sim.stamps.clients)
    bench.sim.forget()
    for _ in range(calls):
        await target.call()
    return len(set(bench.sim.stamps.clients) - known) / calls


def _timed(client: McpClient, tool: str, args: dict[str, Any]) -> Target:
    async def call() -> float:
        return (await client.call_tool(tool, args)).seconds

    return Target(call)


async def run(bench: Bench) -> Section:
    section = Section("overhead", "1. Per-call overhead (raw JSON-RPC client; ms)")
    for transport in ("stdio", "http"):
        await _transport(bench, section, transport)
    await _sdk_client(bench, section)
    section.notes += [
        f"ratio A = {MEANING_A}. ratio B = {MEANING_B}. Goal: both <= {GOAL}.",
        "direct = httpx2 from the bench process to the simulator; the simulator runs in the bench process.",
        "chat: lms-mcp always streams from LM Studio, so its baseline is the streamed POST (every SSE line parsed); "
        "the non-streaming POST is shown for context. The chat names its model, so lms-mcp sends one request.",
        "floor fetch = the bare MCPServer tool doing the same GET /api/v1/models with httpx2 and returning only its "
        "size: the least any bridge can cost. bridge/fetch near 1 means lms-mcp's own code is not the overhead.",
        "server CPU/call is read from /proc (user+sys) over the same calls: unlike wall time it ignores "
        "scheduling delays, so it is the steadier measure of work done per call on a loaded machine.",
    ]
    return section


async def _transport(bench: Bench, section: Section, transport: str) -> None:
    sim = bench.sim
    sim.reset()
    async with endpoints(bench, transport) as ends, direct_client(sim.url) as http:
        await ends.bridge.call_tool("chat", CHAT_ARGS)
        body = last_chat_body(sim)
        models_url = sim.url + "/api/v1/models"

        async def direct_models() -> float:
            return await direct_get(http, "/api/v1/models")

        async def direct_plain_chat() -> float:
            return await direct_chat(http, body)

        async def direct_streamed_chat() -> float:
            return await direct_chat_stream(http, body)

        targets = {
            "direct list": Target(direct_models),
            "direct chat": Target(direct_plain_chat),
            "direct chat stream": Target(direct_streamed_chat),
            "floor ping": _timed(ends.floor, "ping", {}),
            "floor fetch": _timed(ends.floor, "fetch", {"url": models_url}),
            "bridge list_models": _timed(ends.bridge, "list_models", {}),
            "bridge chat": _timed(ends.bridge, "chat", CHAT_ARGS),
        }
        targets["floor ping"].pid = targets["floor fetch"].pid = ends.floor_pid
        targets["bridge list_models"].pid = targets["bridge chat"].pid = ends.bridge_pid
        started = time.perf_counter()
        sampled = await interleaved(
            targets, warmup=bench.scaled(20, 10), rounds=bench.scaled(16, 8), per_round=bench.scaled(10, 8)
        )
        seconds = time.perf_counter() - started
        connections = {
            "bridge chat": await _connections_per_call(bench, targets["bridge chat"]),
            "bridge list_models": await _connections_per_call(bench, targets["bridge list_models"]),
            "direct chat stream": await _connections_per_call(bench, targets["direct chat stream"]),
        }
        sim.forget()
        profiles: dict[str, Any] = {}
        if bench.py_spy and transport == "stdio":
            for tool, args in (("list_models", {}), ("chat", CHAT_ARGS)):
                target = _timed(ends.bridge, tool, args)
                profiles[f"bridge {tool}"] = await profile_calls(
                    bench.py_spy, ends.bridge_pid, target.call, 4, bench.logs.directory / f"profile-{tool}.raw"
                )
            floor = _timed(ends.floor, "fetch", {"url": models_url})
            profiles["floor fetch"] = await profile_calls(
                bench.py_spy, ends.floor_pid, floor.call, 4, bench.logs.directory / "profile-floor-fetch.raw"
            )
            sim.forget()
    _figures(bench, section, transport, sampled, profiles)
    section.add(
        Figure(
            f"upstream connections opened per chat call [{transport}]",
            connections["bridge chat"],
            connections["direct chat stream"],
            "",
            None,
            f"new TCP connections to LM Studio per call (list_models: {connections['bridge list_models']:.2f}); "
            "0 = kept-alive connection reused",
        )
    )
    section.data[transport] = {
        "seconds": round(seconds, 2),
        "summaries_ms": {name: Summary.of_seconds(s.seconds).as_dict() for name, s in sampled.items()},
        "server_cpu_ms_per_call": {
            name: None if s.server_cpu_ms is None else round(s.server_cpu_ms, 3) for name, s in sampled.items()
        },
        "bench_process_cpu_ms_per_call": {name: round(s.local_cpu_ms, 3) for name, s in sampled.items()},
        "chat_request_body": body,
        "profiles": profiles,
    }


def _figures(
    bench: Bench, section: Section, transport: str, sampled: dict[str, Sampled], profiles: dict[str, Any]
) -> None:
    s = {name: Summary.of_seconds(v.seconds) for name, v in sampled.items()}
    floor = s["floor ping"]
    tag = f"[{transport}]"
    for tool, direct_name, label in (
        ("bridge list_models", "direct list", "list_models"),
        ("bridge chat", "direct chat stream", "chat"),
    ):
        bridge, direct = s[tool], s[direct_name]
        for stat in ("p50", "p95"):
            b, d, f = getattr(bridge, stat), getattr(direct, stat), getattr(floor, stat)
            a = ratio(b - d, f)
            section.add(
                Figure(
                    f"{label} {stat} {tag}: A",
                    b,
                    d,
                    "ms",
                    a,
                    MEANING_A,
                    f"<= {GOAL}",
                    at_most(a, GOAL),
                    {"floor_ms": f, "added_ms": b - d},
                )
            )
            if stat == "p50":
                r = ratio(b, f + d)
                section.add(
                    Figure(f"{label} p50 {tag}: B", b, f + d, "ms", r, MEANING_B, f"<= {GOAL}", at_most(r, GOAL))
                )
    fetch_a = ratio(s["floor fetch"].p50 - s["direct list"].p50, floor.p50)
    section.add(
        Figure(
            f"floor fetch p50 {tag}: A",
            s["floor fetch"].p50,
            s["direct list"].p50,
            "ms",
            fetch_a,
            "ratio A of the bare server doing the same GET: the least ratio A any bridge on mcp 2.3 + httpx2 can get",
        )
    )
    chat, plain = s["bridge chat"], s["direct chat"]
    section.add(
        Figure(
            f"chat p50 vs non-streaming POST {tag}",
            chat.p50,
            plain.p50,
            "ms",
            ratio(chat.p50 - plain.p50, floor.p50),
            "(bridge chat - direct non-streaming chat) / floor; context",
        )
    )
    section.add(Figure(f"floor ping p50 / p95 {tag}", floor.p95, floor.p50, "ms", None, "bridge column holds p95"))
    fetch = s["floor fetch"]
    section.add(
        Figure(
            f"list_models vs floor fetch p50 {tag}",
            s["bridge list_models"].p50,
            fetch.p50,
            "ms",
            ratio(s["bridge list_models"].p50, fetch.p50),
            "bridge list_models / bare server doing the same GET; context",
        )
    )
    lm_cpu, fetch_cpu, ping_cpu = (
        sampled["bridge list_models"].server_cpu_ms,
        sampled["floor fetch"].server_cpu_ms,
        sampled["floor ping"].server_cpu_ms,
    )
    if lm_cpu is not None and fetch_cpu is not None and ping_cpu is not None:
        section.add(
            Figure(
                f"server CPU/call list_models vs fetch {tag}",
                lm_cpu,
                fetch_cpu,
                "ms",
                ratio(lm_cpu, fetch_cpu),
                f"server CPU per call, bridge / floor fetch (floor ping: {ping_cpu:.2f} ms); context",
            )
        )
    bench.shared[f"chat_p50_ms_{transport}"] = chat.p50
    bench.shared[f"floor_p50_ms_{transport}"] = floor.p50
    for name, profile in profiles.items():
        owners = profile.get("by_owner_ms_per_call")
        if isinstance(owners, dict):
            parts = ", ".join(f"{k} {v:.2f}" for k, v in owners.items())  # pyright: ignore[reportUnknownVariableType, reportUnknownMemberType]
            section.notes.append(f"py-spy {name} {tag}: GIL-held ms per call by layer: {parts}")


async def _sdk_sampled(bench: Bench, bridge: Client, floor: Client, http: httpx2.AsyncClient) -> dict[str, Sampled]:
    async def bridge_list() -> float:
        started = time.perf_counter()
        result = await bridge.call_tool("list_models", {})
        assert not result.is_error
        return time.perf_counter() - started

    async def floor_ping() -> float:
        started = time.perf_counter()
        await floor.call_tool("ping", {})
        return time.perf_counter() - started

    async def direct_models() -> float:
        return await direct_get(http, "/api/v1/models")

    return await interleaved(
        {
            "sdk bridge list_models": Target(bridge_list),
            "sdk floor ping": Target(floor_ping),
            "direct list": Target(direct_models),
        },
        warmup=bench.scaled(10, 5),
        rounds=bench.scaled(12, 5),
        per_round=10,
    )


async def _sdk_client(bench: Bench, section: Section) -> None:
    """The SDK `Client` as load generator: the same calls, with its client-side costs included."""
    from jsonschema.validators import validator_for

    sim = bench.sim
    sim.reset()
    env = child_env(LMSTUDIO_BASE_URL=sim.url)
    bridge_params = StdioServerParameters(command=sys.executable, args=["-m", "lms_mcp"], env=env, cwd=REPO)
    floor_params = StdioServerParameters(command=sys.executable, args=["-m", "bench.floor_server"], env=env, cwd=REPO)
    with bench.logs.open_text("sdk-bridge-stdio") as bridge_log, bench.logs.open_text("sdk-floor-stdio") as floor_log:
        async with (
            Client(stdio_client(bridge_params, errlog=bridge_log), mode="legacy") as bridge,
            Client(stdio_client(floor_params, errlog=floor_log), mode="legacy") as floor,
            direct_client(sim.url) as http,
        ):
            sampled = await _sdk_sampled(bench, bridge, floor, http)
            listed = await bridge.list_tools()
            schema = next(t.output_schema for t in listed.tools if t.name == "list_models")
            structured = (await bridge.call_tool("list_models", {})).structured_content
    validation_ms = math.nan
    if schema is not None and structured is not None:
        validator: Any = validator_for(schema)(schema)
        runs = 200
        started = time.perf_counter()
        for _ in range(runs):
            for _error in validator.iter_errors(structured):
                pass
        validation_ms = (time.perf_counter() - started) / runs * 1000
    sim.forget()
    s = {name: Summary.of_seconds(v.seconds) for name, v in sampled.items()}
    bridge_s, floor_s, direct_s = s["sdk bridge list_models"], s["sdk floor ping"], s["direct list"]
    a = ratio(bridge_s.p50 - direct_s.p50, floor_s.p50)
    section.add(
        Figure(
            "list_models p50 [stdio, SDK Client]: A",
            bridge_s.p50,
            direct_s.p50,
            "ms",
            a,
            MEANING_A + " (SDK Client as the load generator)",
            f"<= {GOAL}",
            at_most(a, GOAL),
            {"floor_ms": floor_s.p50},
        )
    )
    section.add(
        Figure("SDK floor ping p50 / p95 [stdio]", floor_s.p95, floor_s.p50, "ms", None, "bridge column holds p95")
    )
    sdk_client_cpu = sampled["sdk bridge list_models"].local_cpu_ms
    section.add(
        Figure(
            "client-side jsonschema check of one list_models result",
            validation_ms,
            None,
            "ms",
            None,
            f"what the SDK Client spends validating structuredContent (bench-process CPU per SDK call, client "
            f"and simulator together: {sdk_client_cpu:.2f} ms); context",
        )
    )
    section.data["sdk_client"] = {
        "summaries_ms": {name: v.as_dict() for name, v in s.items()},
        "bench_process_cpu_ms_per_call": {name: round(v.local_cpu_ms, 3) for name, v in sampled.items()},
        "jsonschema_validation_ms": None if math.isnan(validation_ms) else round(validation_ms, 4),
    }
