"""What every section shares: the run's settings, the simulator, and interleaved sampling."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx2

from bench.procs import CpuMeter, LogFiles
from bench.sim import BenchSim

# One timed call; returns its latency in seconds.
Call = Callable[[], Awaitable[float]]


@dataclass
class Bench:
    sim: BenchSim
    quick: bool
    logs: LogFiles
    tmp: Path
    py_spy: str | None = None
    # Figures one section measures and a later one builds on (e.g. the single-call chat latency).
    shared: dict[str, float] = field(default_factory=lambda: dict[str, float]())

    def scaled(self, full: int, quick: int) -> int:
        return quick if self.quick else full


@dataclass
class Target:
    """A call to time, and the process whose CPU it spends (None: only this process)."""

    call: Call
    pid: int | None = None


@dataclass
class Sampled:
    seconds: list[float]
    server_cpu_ms: float | None
    local_cpu_ms: float


async def interleaved(targets: dict[str, Target], *, warmup: int, rounds: int, per_round: int) -> dict[str, Sampled]:
    """Time every target in rounds, in a fresh random order each round.

    Background load on a shared machine then falls on all targets alike, so their ratios stay fair even
    when absolute times drift. CPU per call is summed over each target's own blocks of calls.
    """
    for target in targets.values():
        for _ in range(warmup):
            await target.call()
    seconds: dict[str, list[float]] = {name: [] for name in targets}
    server_cpu: dict[str, float] = dict.fromkeys(targets, 0.0)
    local_cpu: dict[str, float] = dict.fromkeys(targets, 0.0)
    order = list(targets)
    rng = random.Random(7)
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            target = targets[name]
            meter = CpuMeter(target.pid)
            for _ in range(per_round):
                seconds[name].append(await target.call())
            server_ms, local_ms = meter.per_call_ms(1)
            server_cpu[name] += server_ms or 0.0
            local_cpu[name] += local_ms
    calls = rounds * per_round
    return {
        name: Sampled(
            seconds[name],
            server_cpu[name] / calls if targets[name].pid is not None else None,
            local_cpu[name] / calls,
        )
        for name in targets
    }


def direct_client(base_url: str, *, connections: int = 128) -> httpx2.AsyncClient:
    """httpx2 set up like lms-mcp's own LM Studio client: plain http, no TLS context, no proxy variables."""
    limits = httpx2.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx2.AsyncClient(
        base_url=base_url, verify=False, trust_env=False, limits=limits, timeout=httpx2.Timeout(600.0)
    )


async def direct_get(http: httpx2.AsyncClient, path: str) -> float:
    started = time.perf_counter()
    response = await http.get(path)
    response.raise_for_status()
    response.json()
    return time.perf_counter() - started


async def direct_chat(http: httpx2.AsyncClient, body: dict[str, Any]) -> float:
    """Non-streaming POST /api/v1/chat: the whole answer as one JSON document."""
    started = time.perf_counter()
    response = await http.post("/api/v1/chat", json={k: v for k, v in body.items() if k != "stream"})
    response.raise_for_status()
    response.json()
    return time.perf_counter() - started


async def direct_chat_stream(http: httpx2.AsyncClient, body: dict[str, Any], *, parse: bool = True) -> float:
    """Streaming POST /api/v1/chat read to `chat.end`: every SSE data line parsed (or, parse=False, just drained)."""
    started = time.perf_counter()
    async with http.stream("POST", "/api/v1/chat", json={**body, "stream": True}) as response:
        response.raise_for_status()
        if parse:
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    json.loads(line[5:])
        else:
            async for _chunk in response.aiter_raw():
                pass
    return time.perf_counter() - started


def last_chat_body(sim: BenchSim) -> dict[str, Any]:
    """The exact /api/v1/chat body lms-mcp sent last, to replay it directly."""
    for record in reversed(sim.sim.requests):
        body: Any = record.body
        if record.path == "/api/v1/chat" and isinstance(body, dict):
            return dict(cast(dict[str, Any], body))
    raise RuntimeError("lms-mcp sent no /api/v1/chat request to the simulator")
