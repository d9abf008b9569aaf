"""4. Cold start: process spawn -> `initialize` reply over stdio, lms-mcp versus the bare MCPServer floor.

Each run spawns the server, writes one `initialize` request at once (it waits in the pipe), and stops the
clock when the reply line is read: interpreter start, imports, server construction and the handshake. The
commands are timed in interleaved rounds after one untimed warm-up each (so .pyc files and the page cache are
warm, as for any host that starts the server a second time). `python -X importtime` then shows which imports
the time goes to.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.common import Bench
from bench.procs import REPO, bridge_argv, child_env, cpu_seconds, floor_argv
from bench.stats import Figure, Section, at_most, median, ratio

GOAL = 1.1
INITIALIZE = (
    json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "lms-mcp-bench", "version": "1"},
            },
        }
    ).encode()
    + b"\n"
)
# Imported by a stdio session although only other transports or the tests need them.
NOT_NEEDED_FOR_STDIO = (
    "lms_mcp.simulator",
    "lms_mcp.serving",
    "uvicorn",
    "starlette",
    "sse_starlette",
    "mcp.server.streamable_http",
    "mcp.server.streamable_http_manager",
    "mcp.server.sse",
    "jsonschema",
)
_ROW = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)\s*$")


def spawn_to_initialize(argv: Sequence[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the server process) from spawn to the initialize reply."""
    started = time.perf_counter()
    with subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=REPO
    ) as process:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(INITIALIZE)
        process.stdin.flush()
        line = process.stdout.readline()
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(process.pid) if line else 0.0
        process.stdin.close()
        process.wait(timeout=15)
    if "result" not in json.loads(line or b"{}"):
        raise RuntimeError(f"{argv}: no initialize result: {line[:200]!r}")
    return elapsed, cpu


def run_to_exit(argv: Sequence[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env, cwd=REPO, check=True)
    return time.perf_counter() - started


@dataclass(frozen=True)
class ImportRow:
    name: str
    self_ms: float
    cumulative_ms: float
    depth: int


def import_rows(argv: Sequence[str], env: dict[str, str]) -> list[ImportRow]:
    """`python -X importtime <argv>` with stdin at EOF: every import of a stdio session that starts and ends."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        cwd=REPO,
        check=False,
    )
    rows: list[ImportRow] = []
    for line in done.stderr.decode(errors="replace").splitlines():
        match = _ROW.match(line)
        if match:
            self_us, cumulative_us, indent, name = match.groups()
            rows.append(ImportRow(name, int(self_us) / 1000, int(cumulative_us) / 1000, len(indent) // 2))
    return rows


def _top(rows: list[ImportRow], key: str, count: int = 10) -> list[dict[str, Any]]:
    ordered = sorted(rows, key=lambda row: getattr(row, key), reverse=True)[:count]
    return [
        {"module": r.name, "self_ms": round(r.self_ms, 2), "cumulative_ms": round(r.cumulative_ms, 2)} for r in ordered
    ]


def _measure(bench: Bench) -> dict[str, Any]:
    env = child_env(LMSTUDIO_BASE_URL=bench.sim.url)
    servers = {
        "python -m lms_mcp": bridge_argv(),
        "lms-mcp (console script)": bridge_argv(via_script=True),
        "floor: python -m bench.floor_server": floor_argv(),
    }
    context = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import mcp.server.mcpserver'": [sys.executable, "-c", "import mcp.server.mcpserver"],
    }
    for argv in servers.values():
        spawn_to_initialize(argv, env)
    runs = bench.scaled(10, 3)
    times: dict[str, list[float]] = {name: [] for name in [*servers, *context]}
    cpu: dict[str, list[float]] = {name: [] for name in servers}
    rng = random.Random(11)
    # The goal compares `python -m lms_mcp` with the floor: they run every round. The console script (the same
    # code behind a different launcher) and the context commands run in every other round.
    every_round = {"python -m lms_mcp", "floor: python -m bench.floor_server"}
    for round_index in range(runs):
        order = [name for name in [*servers, *context] if name in every_round or round_index % 2 == 0]
        rng.shuffle(order)
        for name in order:
            if name in servers:
                wall, used = spawn_to_initialize(servers[name], env)
                times[name].append(wall)
                cpu[name].append(used)
            else:
                times[name].append(run_to_exit(context[name], env))
    bridge_rows = import_rows(["-m", "lms_mcp"], env)
    floor_rows = import_rows(["-m", "bench.floor_server"], env)
    return {"times": times, "cpu": cpu, "bridge_rows": bridge_rows, "floor_rows": floor_rows, "runs": runs}


async def run(bench: Bench) -> Section:
    section = Section("coldstart", "4. Cold start: spawn -> initialize reply over stdio (median ms)")
    measured = await asyncio.to_thread(_measure, bench)
    times: dict[str, list[float]] = measured["times"]
    medians = {name: median(samples) * 1000 for name, samples in times.items()}
    floor = medians["floor: python -m bench.floor_server"]
    for name in ("python -m lms_mcp", "lms-mcp (console script)"):
        r = ratio(medians[name], floor)
        section.add(
            Figure(
                name,
                medians[name],
                floor,
                "ms",
                r,
                "bridge median / bare MCPServer median",
                f"<= {GOAL}",
                at_most(r, GOAL),
                {"samples_ms": [round(t * 1000, 1) for t in times[name]]},
            )
        )
    cpu: dict[str, list[float]] = measured["cpu"]
    cpu_medians = {name: median(samples) * 1000 for name, samples in cpu.items()}
    floor_cpu = cpu_medians["floor: python -m bench.floor_server"]
    for name in ("python -m lms_mcp", "lms-mcp (console script)"):
        r = ratio(cpu_medians[name], floor_cpu)
        section.add(
            Figure(
                f"{name}: CPU until the reply",
                cpu_medians[name],
                floor_cpu,
                "ms",
                r,
                "server CPU (user+sys) until the reply, bridge / floor; unaffected by waiting for a core",
                f"<= {GOAL}",
                at_most(r, GOAL),
            )
        )
    for name in ("python -c 'import mcp.server.mcpserver'", "python -c pass"):
        section.add(Figure(f"context: {name}", None, medians[name], "ms"))

    bridge_rows: list[ImportRow] = measured["bridge_rows"]
    floor_rows: list[ImportRow] = measured["floor_rows"]
    floor_names = {row.name for row in floor_rows}
    only_bridge = [row for row in bridge_rows if row.name not in floor_names]
    bridge_total = sum(row.self_ms for row in bridge_rows)
    floor_total = sum(row.self_ms for row in floor_rows)
    only_total = sum(row.self_ms for row in only_bridge)
    section.add(
        Figure(
            "imports, sum of self times (-X importtime)",
            bridge_total,
            floor_total,
            "ms",
            ratio(bridge_total, floor_total),
            "importtime inflates times; use for attribution only",
        )
    )
    section.add(
        Figure(
            f"imports only lms-mcp makes ({len(only_bridge)} modules)",
            only_total,
            None,
            "ms",
            None,
            "top: " + ", ".join(f"{r.name} {r.self_ms:.1f}" for r in sorted(only_bridge, key=lambda r: -r.self_ms)[:5]),
        )
    )
    bridge_names = {row.name for row in bridge_rows}
    heavy_bridge = [m for m in NOT_NEEDED_FOR_STDIO if m in bridge_names]
    heavy_floor = [m for m in NOT_NEEDED_FOR_STDIO if m in floor_names]
    heavy_own = [m for m in heavy_bridge if m not in floor_names]
    section.add(
        Figure(
            "stdio-unneeded modules imported (bridge / floor)",
            float(len(heavy_bridge)),
            float(len(heavy_floor)),
            "",
            None,
            "count of: " + ", ".join(NOT_NEEDED_FOR_STDIO),
            "none beyond floor",
            not heavy_own,
            {"bridge": heavy_bridge, "floor": heavy_floor, "bridge_only": heavy_own},
        )
    )
    cumulative = {row.name: row.cumulative_ms for row in bridge_rows}
    section.notes += [
        f"{measured['runs']} interleaved runs of `python -m lms_mcp` and of the floor after one warm-up each (the "
        "console script and the context commands every other round); .pyc caching on. CPU is read from "
        "/proc/<pid>/stat when the reply arrives (10 ms ticks).",
        "top 10 imports of a lms-mcp stdio session by cumulative ms: "
        + ", ".join(f"{r['module']} {r['cumulative_ms']:.0f}" for r in _top(bridge_rows, "cumulative_ms")),
        "top 10 by self ms: " + ", ".join(f"{r['module']} {r['self_ms']:.1f}" for r in _top(bridge_rows, "self_ms")),
        "stdio-unneeded modules imported by lms-mcp: "
        + (", ".join(f"{m} ({cumulative[m]:.0f} ms cumulative)" for m in heavy_bridge) or "none")
        + "; of these the bare MCPServer imports too: "
        + (", ".join(heavy_floor) or "none")
        + "; lms-mcp's own: "
        + (", ".join(heavy_own) or "none"),
    ]
    section.data = {
        "samples_ms": {name: [round(t * 1000, 2) for t in samples] for name, samples in times.items()},
        "medians_ms": {name: round(value, 2) for name, value in medians.items()},
        "cpu_samples_ms": {name: [round(t * 1000, 1) for t in samples] for name, samples in cpu.items()},
        "top_cumulative": _top(bridge_rows, "cumulative_ms"),
        "top_self": _top(bridge_rows, "self_ms"),
        "bridge_only_imports": _top(only_bridge, "self_ms", 25),
        "bridge_only_self_ms": round(only_total, 2),
        "not_needed_for_stdio": {"bridge": heavy_bridge, "floor": heavy_floor, "bridge_only": heavy_own},
        "floor_top_cumulative": _top(floor_rows, "cumulative_ms"),
    }
    return section
