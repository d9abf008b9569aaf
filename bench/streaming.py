"""3. Streaming latency: the simulator emits the first message.delta -> the client gets the first progress.

Tokens are paced at 20 per second (50 ms apart), so the first delta stands alone. The simulator stamps the
moment it hands the first `message.delta` frame to uvicorn (`bench.sim.DeltaStamps`); the raw MCP client stamps
the moment it reads the first `notifications/progress` whose message reports generated tokens. Both run in
this process and read `time.perf_counter()`, so no cross-process clock is involved. As a transport floor, the
same stamp is compared with the moment a direct httpx2 stream reads that first delta line.
"""

from __future__ import annotations

import time
from typing import Any

import httpx2

from bench import servers
from bench.common import Bench, direct_client, last_chat_body
from bench.rawclient import JsonObject, McpClient
from bench.sim import DELTA_MARKER, LOADED_MODEL
from bench.stats import Figure, Section, Summary

GOAL_MS = 10.0
CHAT_ARGS = {"prompt": "Stream a short answer.", "model": LOADED_MODEL}


async def _bridge_latency(bench: Bench, client: McpClient) -> float | None:
    first: list[float] = []

    def on_progress(params: JsonObject, received: float) -> None:
        if not first and str(params.get("message", "")).startswith("Generating"):
            first.append(received)

    bench.sim.stamps.stamps.clear()
    await client.call_tool("chat", CHAT_ARGS, on_progress=on_progress)
    stamps = bench.sim.stamps.stamps
    if not first or len(stamps) != 1:
        return None
    return first[0] - stamps[0]


async def _direct_latency(bench: Bench, http: httpx2.AsyncClient, body: dict[str, Any]) -> float | None:
    bench.sim.stamps.stamps.clear()
    seen: float | None = None
    async with http.stream("POST", "/api/v1/chat", json={**body, "stream": True}) as response:
        async for line in response.aiter_lines():
            if seen is None and line.encode() == DELTA_MARKER:
                seen = time.perf_counter()
    stamps = bench.sim.stamps.stamps
    if seen is None or len(stamps) != 1:
        return None
    return seen - stamps[0]


async def run(bench: Bench) -> Section:
    section = Section("streaming", "3. Streaming latency: first message.delta -> first progress notification (ms)")
    sim = bench.sim
    calls = bench.scaled(30, 12)
    for transport in servers.TRANSPORTS:
        sim.reset()
        async with servers.bridge(bench, transport) as bridge, direct_client(sim.url) as http:
            await bridge.client.call_tool("chat", CHAT_ARGS)
            body = last_chat_body(sim)
            sim.reset(tokens_per_second=20.0, reply_tokens=2)
            bridge_samples: list[float] = []
            direct_samples: list[float] = []
            missed = 0
            for _ in range(calls):
                latency = await _bridge_latency(bench, bridge.client)
                direct = await _direct_latency(bench, http, body)
                if latency is None or direct is None:
                    missed += 1
                    continue
                bridge_samples.append(latency)
                direct_samples.append(direct)
            sim.reset()
        b, d = Summary.of_seconds(bridge_samples), Summary.of_seconds(direct_samples)
        section.add(
            Figure(
                f"first delta -> first progress p50 [{transport}]",
                b.p50,
                d.p50,
                "ms",
                None,
                "absolute; floor column = the same delta read by a direct httpx2 stream",
                f"< {GOAL_MS:g} ms",
                None if b.n == 0 else b.p50 < GOAL_MS,
                {"bridge": b.as_dict(), "direct": d.as_dict(), "unmatched_calls": missed},
            )
        )
        section.add(Figure(f"first delta -> first progress p95 [{transport}]", b.p95, d.p95, "ms"))
    section.notes += [
        f"{calls} chats per transport, tokens 50 ms apart; the first generation progress of each chat is timed "
        "(lms-mcp throttles later ones to one per 100 ms by design, but a new phase is always sent at once).",
        "Clock: time.perf_counter() in this process for both stamps (the simulator runs in-process).",
    ]
    return section
