"""6. Scale: list_models over 10 -> 1,000 models, chat answers of 100 -> 100,000 tokens, files of 0.1 -> 10 MB.

Each size is timed through lms-mcp (stdio, raw client) and directly (httpx2 -> simulator, same request), and
three sizes are measured so the growth can be judged: the marginal cost per item between the two larger
sizes divided by that between the two smaller ones is 1 for linear growth, above 1 for worse than linear.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx2

from bench import servers
from bench.common import Bench, direct_chat_stream, direct_client, direct_get, last_chat_body
from bench.rawclient import McpClient
from bench.sim import LOADED_MODEL
from bench.stats import Figure, Section, at_most, median, ratio
from lms_mcp.simulator.catalog import synthetic_models

GOAL = 1.5
MEANING = "marginal cost per item, upper pair of sizes / lower pair: 1 = linear"
FILE_LIMIT = "20000000"
WORDS = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore".split()


def growth(sizes: Sequence[float], times: Sequence[float]) -> dict[str, float]:
    """Marginal cost per item over the lower and the upper pair of sizes, and how they compare."""
    low = (times[1] - times[0]) / (sizes[1] - sizes[0])
    high = (times[2] - times[1]) / (sizes[2] - sizes[1])
    return {
        "superlinearity": ratio(high, low),
        "time_ratio": ratio(times[2], times[0]),
        "size_ratio": ratio(sizes[2], sizes[0]),
        "ms_per_item_low": low,
        "ms_per_item_high": high,
    }


async def _timed(call: Callable[[], Awaitable[float]], reps: int) -> float:
    return median([await call() for _ in range(reps)])


def _bridge_chat(bench: Bench, client: McpClient, args: dict[str, Any]) -> Callable[[], Awaitable[float]]:
    async def call() -> float:
        seconds = (await client.call_tool("chat", args)).seconds
        bench.sim.forget()
        return seconds

    return call


def _direct_stream(bench: Bench, http: httpx2.AsyncClient, body: dict[str, Any]) -> Callable[[], Awaitable[float]]:
    async def call() -> float:
        seconds = await direct_chat_stream(http, body, parse=False)
        bench.sim.forget()
        return seconds

    return call


def write_text_file(path: Path, size: int) -> None:
    rng = random.Random(size)
    block = "\n".join(" ".join(rng.choice(WORDS) for _ in range(12)) for _ in range(2000)) + "\n"
    data = (block * (size // len(block) + 1))[:size]
    path.write_text(data, encoding="utf-8")


async def _list_models(bench: Bench, client: McpClient, http: httpx2.AsyncClient, section: Section) -> None:
    """Sizes interleaved round by round (the catalog list is swapped, which costs nothing), so load bursts on a
    shared machine fall on every size alike."""
    sim = bench.sim
    rounds = bench.scaled(15, 5)
    original = sim.config.catalog
    # The middle size sits halfway, so both marginal costs are measured over large differences.
    catalogs = {n: [*original, *synthetic_models(n)] for n in (10, 500, 1000)}
    bridge_s: dict[int, list[float]] = {n: [] for n in catalogs}
    direct_s: dict[int, list[float]] = {n: [] for n in catalogs}
    counts: dict[int, float] = {}
    sim.reset()
    try:
        for n, catalog in catalogs.items():
            sim.config.catalog = catalog
            listed = await client.call_tool("list_models", {})
            counts[n] = float(listed.result["structuredContent"]["count"])
        order = list(catalogs)
        rng = random.Random(5)
        for _ in range(rounds):
            rng.shuffle(order)
            for n in order:
                sim.config.catalog = catalogs[n]
                bridge_s[n].append((await client.call_tool("list_models", {})).seconds)
                direct_s[n].append(await direct_get(http, "/api/v1/models"))
    finally:
        sim.config.catalog = original
        sim.reset()
    _add(
        section,
        "list_models",
        "models",
        [counts[n] for n in catalogs],
        [median(bridge_s[n]) * 1000 for n in catalogs],
        [median(direct_s[n]) * 1000 for n in catalogs],
    )


async def _chat_tokens(bench: Bench, client: McpClient, http: httpx2.AsyncClient, section: Section) -> None:
    sim = bench.sim
    sizes = (100, 10_000, 100_000) if not bench.quick else (100, 3_000, 30_000)
    reps = (5, 3, 1) if not bench.quick else (3, 1, 1)
    args = {"prompt": "Write a long answer.", "model": LOADED_MODEL}
    bridge_ms: list[float] = []
    direct_ms: list[float] = []
    answer_chars: list[int] = []
    for size, rep in zip(sizes, reps, strict=True):
        sim.reset(reply_tokens=size)
        # The first call is timed too: at 100,000 tokens one call takes seconds.
        first = await client.call_tool("chat", args)
        answer_chars.append(len(first.result["structuredContent"]["answer"]))
        body = last_chat_body(sim)
        sim.forget()
        samples = [first.seconds] + [await _bridge_chat(bench, client, args)() for _ in range(rep - 1)]
        bridge_ms.append(median(samples) * 1000)
        direct_ms.append(await _timed(_direct_stream(bench, http, body), rep) * 1000)
    sim.reset()
    _add(section, "chat answer", "tokens", [float(s) for s in sizes], bridge_ms, direct_ms)
    section.data["chat_answer_chars"] = answer_chars


async def _files(bench: Bench, client: McpClient, http: httpx2.AsyncClient, section: Section) -> None:
    sim = bench.sim
    sizes = (100_000, 1_000_000, 10_000_000) if not bench.quick else (100_000, 1_000_000, 3_000_000)
    rounds = bench.scaled(3, 1)
    calls: dict[int, tuple[Callable[[], Awaitable[float]], Callable[[], Awaitable[float]]]] = {}
    for size in sizes:
        path = bench.tmp / f"input-{size}.txt"
        write_text_file(path, size)
        args: dict[str, Any] = {"prompt": "Summarize the file.", "model": LOADED_MODEL, "files": [str(path)]}
        sim.reset()
        await client.call_tool("chat", args)
        calls[size] = (_bridge_chat(bench, client, args), _direct_stream(bench, http, last_chat_body(sim)))
        sim.forget()
    bridge_s: dict[int, list[float]] = {size: [] for size in sizes}
    direct_s: dict[int, list[float]] = {size: [] for size in sizes}
    order = list(sizes)
    rng = random.Random(6)
    for _ in range(rounds):
        rng.shuffle(order)
        for size in order:
            bridge_call, direct_call = calls[size]
            bridge_s[size].append(await bridge_call())
            direct_s[size].append(await direct_call())
    for size in sizes:
        (bench.tmp / f"input-{size}.txt").unlink()
    _add(
        section,
        "chat with a file",
        "MB",
        [s / 1_000_000 for s in sizes],
        [median(bridge_s[s]) * 1000 for s in sizes],
        [median(direct_s[s]) * 1000 for s in sizes],
    )


def _add(
    section: Section,
    what: str,
    unit: str,
    sizes: Sequence[float],
    bridge_ms: Sequence[float],
    direct_ms: Sequence[float],
) -> None:
    b, d = growth(sizes, bridge_ms), growth(sizes, direct_ms)
    label = f"{sizes[0]:g} -> {sizes[2]:g} {unit}"
    section.add(
        Figure(
            f"{what}: {label}, growth",
            bridge_ms[2],
            direct_ms[2],
            "ms",
            b["superlinearity"],
            MEANING,
            f"<= {GOAL}",
            at_most(b["superlinearity"], GOAL),
            {
                "sizes": list(sizes),
                "bridge_ms": list(bridge_ms),
                "direct_ms": list(direct_ms),
                "bridge": b,
                "direct": d,
            },
        )
    )
    section.add(
        Figure(
            f"{what}: time ratio {sizes[2]:g} / {sizes[0]:g} {unit}",
            b["time_ratio"],
            d["time_ratio"],
            "x",
            ratio(b["time_ratio"], b["size_ratio"]),
            f"bridge time ratio / size ratio ({b['size_ratio']:.0f}x); below 1 = fixed costs dominate the small size",
        )
    )
    section.add(
        Figure(
            f"{what}: marginal ms per {unit.rstrip('s')} (upper pair)",
            b["ms_per_item_high"],
            d["ms_per_item_high"],
            "ms",
            ratio(b["ms_per_item_high"], d["ms_per_item_high"]),
            "bridge / direct marginal cost per item",
        )
    )
    section.notes.append(
        f"{what} at {', '.join(f'{s:g}' for s in sizes)} {unit}: bridge "
        + ", ".join(f"{t:.1f}" for t in bridge_ms)
        + " ms; direct "
        + ", ".join(f"{t:.1f}" for t in direct_ms)
        + " ms"
    )


async def run(bench: Bench) -> Section:
    section = Section("scale", "6. Scale: growth with the size of the work (stdio; median ms)")
    flags = ("--max-file-bytes", FILE_LIMIT, "--max-total-file-bytes", FILE_LIMIT, "--allow-dir", str(bench.tmp))
    started = time.perf_counter()
    async with servers.bridge(bench, "stdio", *flags) as bridge, direct_client(bench.sim.url) as http:
        await _list_models(bench, bridge.client, http, section)
        await _chat_tokens(bench, bridge.client, http, section)
        await _files(bench, bridge.client, http, section)
    section.notes += [
        "list_models counts include the simulator's 4 catalog models. chat answers are unpaced "
        "(tokens_per_second None): the direct baseline drains the SSE bytes without parsing, i.e. the time the "
        "simulator needs to produce the stream. Files are UTF-8 text read by lms-mcp (--allow-dir, "
        "--max-file-bytes 20000000); the direct baseline replays the exact request lms-mcp sent.",
        f"section time {time.perf_counter() - started:.0f} s",
    ]
    return section
