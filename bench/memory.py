"""5. Memory: resident set size of lms-mcp and of the bare MCPServer, idle and after 1,000 calls (stdio).

RSS is VmRSS from /proc/<pid>/status: idle is read just after `initialize` (plus a short settle), "after" once
1,000 sequential calls have been answered (list_models for lms-mcp, the trivial tool for the floor). The
simulator is in this process, so it is not counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bench import servers
from bench.common import Bench
from bench.procs import peak_rss_bytes, rss_bytes
from bench.stats import Figure, Section, ratio

MB = 1024 * 1024


async def _rss_curve(pid: int, call: Callable[[], Awaitable[None]], calls: int) -> tuple[float, float, float, float]:
    """(idle, after half the calls, after all of them, peak) in MB."""
    await asyncio.sleep(0.3)
    idle = rss_bytes(pid) / MB
    for _ in range(calls // 2):
        await call()
    half = rss_bytes(pid) / MB
    for _ in range(calls - calls // 2):
        await call()
    await asyncio.sleep(0.3)
    return idle, half, rss_bytes(pid) / MB, peak_rss_bytes(pid) / MB


async def run(bench: Bench) -> Section:
    section = Section("memory", "5. Memory: RSS over stdio (MB)")
    calls = bench.scaled(1000, 300)
    sim = bench.sim
    sim.reset()
    async with servers.bridge(bench, "stdio") as bridge, servers.floor(bench, "stdio") as floor:

        async def bridge_call() -> None:
            await bridge.client.call_tool("list_models", {})

        async def floor_call() -> None:
            await floor.client.call_tool("ping", {})

        b_idle, b_half, b_after, b_peak = await _rss_curve(bridge.pid, bridge_call, calls)
        f_idle, f_half, f_after, f_peak = await _rss_curve(floor.pid, floor_call, calls)
    sim.forget()
    section.add(Figure("idle RSS after initialize", b_idle, f_idle, "MB", ratio(b_idle, f_idle), "bridge / floor"))
    section.add(
        Figure(
            f"RSS after {calls} calls",
            b_after,
            f_after,
            "MB",
            ratio(b_after, f_after),
            "bridge (list_models) / floor (trivial tool)",
            detail={"bridge_peak_mb": b_peak, "floor_peak_mb": f_peak},
        )
    )
    section.add(
        Figure(
            f"growth over {calls} calls",
            b_after - b_idle,
            f_after - f_idle,
            "MB",
            None,
            "after - idle",
            detail={"bridge_kb_per_call": (b_after - b_idle) * 1024 / calls},
        )
    )
    section.add(
        Figure(
            f"growth over the last {calls - calls // 2} calls",
            b_after - b_half,
            f_after - f_half,
            "MB",
            None,
            "after - halfway: caches warm up in the first half; a leak keeps growing in the second",
        )
    )
    section.notes.append(
        "No goal is set for memory; the floor is the bare MCPServer with one tool. Peak RSS (VmHWM) is in the JSON."
    )
    return section
