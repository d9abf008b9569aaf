"""2. Concurrency: N chat calls at once against a simulator that takes 300 ms before the first token.

With perfect concurrency N calls take as long as one: ideal = 0.3 s + the single-call overhead (one chat at
time_to_first_token 0, measured here, in the same run). The ratio is wall time / ideal. The same N streamed
POSTs sent directly with httpx2 show how far the simulator and this client themselves scale.
"""

from __future__ import annotations

import asyncio
import time

from bench import servers
from bench.common import Bench, direct_chat_stream, direct_client, last_chat_body
from bench.procs import cpu_seconds
from bench.rawclient import McpClient
from bench.sim import LOADED_MODEL
from bench.stats import Figure, Section, at_most, median, ratio

LEVELS = (1, 4, 16, 64)
FIRST_TOKEN_SECONDS = 0.3
GOAL = 1.2
GOAL_LEVEL = 16
CHAT_ARGS = {"prompt": "Say hello in one line.", "model": LOADED_MODEL}


async def _bridge_wall(client: McpClient, n: int) -> float:
    started = time.perf_counter()
    replies = await asyncio.gather(*(client.call_tool("chat", CHAT_ARGS) for _ in range(n)))
    return max(reply.received for reply in replies) - started


async def _single_call_seconds(client: McpClient, calls: int) -> float:
    samples = [(await client.call_tool("chat", CHAT_ARGS)).seconds for _ in range(calls)]
    return median(samples)


async def run(bench: Bench) -> Section:
    section = Section("concurrency", "2. Concurrency: N parallel chat calls, 300 ms to first token (wall ms)")
    sim = bench.sim
    reps = bench.scaled(3, 2)
    for transport in servers.TRANSPORTS:
        sim.reset()
        async with servers.bridge(bench, transport) as bridge, direct_client(sim.url, connections=256) as http:
            client = bridge.client
            await client.call_tool("chat", CHAT_ARGS)
            body = last_chat_body(sim)
            # Single-call overhead at time_to_first_token 0, bridge and direct.
            single = await _single_call_seconds(client, bench.scaled(20, 10))
            direct_single = median([await direct_chat_stream(http, body) for _ in range(bench.scaled(20, 10))])
            sim.reset(time_to_first_token=FIRST_TOKEN_SECONDS)
            ideal = FIRST_TOKEN_SECONDS + single
            direct_ideal = FIRST_TOKEN_SECONDS + direct_single
            direct_walls: dict[int, float] = {}
            burst_cpu: dict[int, float] = {}
            for n in LEVELS:
                walls: list[float] = []
                direct: list[float] = []
                in_flight: list[int] = []
                cpu: list[float] = []
                for _ in range(reps):
                    sim.forget()
                    cpu_before = cpu_seconds(bridge.pid)
                    walls.append(await _bridge_wall(client, n))
                    cpu.append(cpu_seconds(bridge.pid) - cpu_before)
                    in_flight.append(sim.sim.max_in_flight)
                    started = time.perf_counter()
                    await asyncio.gather(*(direct_chat_stream(http, body) for _ in range(n)))
                    direct.append(time.perf_counter() - started)
                wall, direct_wall = median(walls), median(direct)
                direct_walls[n] = direct_wall
                burst_cpu[n] = median(cpu)
                r = ratio(wall, ideal)
                section.add(
                    Figure(
                        f"{n:>2} parallel chats [{transport}]",
                        wall * 1000,
                        ideal * 1000,
                        "ms",
                        r,
                        "bridge wall / ideal (0.3 s + single-call overhead)",
                        f"<= {GOAL}" if n == GOAL_LEVEL else "",
                        at_most(r, GOAL) if n == GOAL_LEVEL else None,
                        {
                            "walls_ms": [round(w * 1000, 2) for w in walls],
                            "direct_walls_ms": [round(w * 1000, 2) for w in direct],
                            "direct_ratio": ratio(direct_wall, direct_ideal),
                            "simulator_max_in_flight": max(in_flight),
                            "bridge_cpu_ms_per_burst": [round(c * 1000, 1) for c in cpu],
                        },
                    )
                )
            sim.reset()
        section.notes.append(
            f"[{transport}] CPU lms-mcp spent per burst (median): "
            + ", ".join(f"{n}: {c * 1000:.0f} ms" for n, c in burst_cpu.items())
            + " - one process, one event loop: this CPU is spent one call after another, so the wall time "
            "cannot be less than 300 ms plus most of it."
        )
        section.notes.append(
            f"[{transport}] ideal = 300 ms + one chat at time_to_first_token 0 ({single * 1000:.1f} ms); direct "
            f"httpx2 ideal {direct_ideal * 1000:.0f} ms, direct walls "
            + ", ".join(f"{n}: {w * 1000:.0f} ms ({w / direct_ideal:.2f}x)" for n, w in direct_walls.items())
        )
    section.notes += [
        f"Each level is the median of {reps} bursts; the raw client sends all N requests at once and the wall "
        "time ends when the last reply is read. simulator_max_in_flight (JSON) shows that lms-mcp sent all N "
        "chats to LM Studio at once (its default --max-concurrent-predictions 0 queues nothing).",
    ]
    return section
