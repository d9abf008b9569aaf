"""`python -m bench [--quick] [--json PATH] [--only SECTION ...] [--py-spy PATH]`.

`python -m bench team` and `python -m bench delegation` run that section alone.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from bench import coldstart, concurrency, delegation, memory, overhead, scale, streaming, team
from bench.common import Bench
from bench.machine import load_average, machine_info
from bench.procs import LogFiles
from bench.profiling import find_py_spy
from bench.report import render, write_json
from bench.sim import running_simulator
from bench.stats import Section

RESULTS = Path(__file__).resolve().parent / "results"
SectionRunner = Callable[[Bench], Awaitable[Section]]
# Cold start first, while nothing else of the bench has warmed or loaded the machine.
SECTIONS: dict[str, tuple[str, SectionRunner]] = {
    "coldstart": ("4. Cold start", coldstart.run),
    "overhead": ("1. Per-call overhead", overhead.run),
    "concurrency": ("2. Concurrency", concurrency.run),
    "streaming": ("3. Streaming latency", streaming.run),
    "memory": ("5. Memory", memory.run),
    "scale": ("6. Scale", scale.run),
    "team": ("7. Shared server", team.run),
    "delegation": ("8. Delegation", delegation.run),
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark lms-mcp (stdio and Streamable HTTP) against the LM Studio simulator.",
    )
    parser.add_argument("--quick", action="store_true", help="fewer samples and smaller sizes (about a minute)")
    parser.add_argument(
        "--json", type=Path, default=RESULTS / "latest.json", help="where to write the results (default: %(default)s)"
    )
    parser.add_argument("--only", nargs="+", choices=list(SECTIONS), help="run only these sections")
    parser.add_argument(
        "--py-spy",
        metavar="PATH",
        help="py-spy executable for the profile of section 1 (default: py-spy on PATH, if any)",
    )
    return parser.parse_args(argv)


async def run_sections(bench: Bench, keys: list[str]) -> list[Section]:
    sections: list[Section] = []
    for key in keys:
        title, runner = SECTIONS[key]
        started = time.perf_counter()
        print(f"[bench] {title} ...", flush=True)
        try:
            section = await runner(bench)
        except Exception as exc:  # noqa: BLE001 - one failed section must not lose the others' figures
            section = Section(key, title, error=f"{type(exc).__name__}: {exc}")
            section.notes.append(traceback.format_exc(limit=6).strip().replace("\n", " | "))
        section.seconds = time.perf_counter() - started
        print(f"[bench] {title} done in {section.seconds:.1f} s", flush=True)
        sections.append(section)
    return sections


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    # `python -m bench team` (or `delegation`): that section alone, as `--only team`.
    alone = given[:1] == ["team"] or given[:1] == ["delegation"]
    args = parse_args(["--only", given[0], *given[1:]] if alone else given)
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    machine = machine_info()
    machine["mode"] = "quick" if args.quick else "full"
    keys = [key for key in SECTIONS if not args.only or key in args.only]
    py_spy = find_py_spy(args.py_spy)
    with tempfile.TemporaryDirectory(prefix="lms-mcp-bench-") as tmp, running_simulator() as sim:
        bench = Bench(sim=sim, quick=args.quick, logs=LogFiles(RESULTS / "logs"), tmp=Path(tmp), py_spy=py_spy)
        sections = asyncio.run(run_sections(bench, keys))
    total = time.perf_counter() - started
    machine["load_average_at_end"] = load_average()
    machine["py_spy"] = py_spy
    settings = {"quick": args.quick, "sections": keys, "total_seconds": round(total, 1)}
    write_json(args.json, machine, settings, sections)
    print(render(machine, sections, total, args.json), flush=True)
    return 1 if any(section.error for section in sections) else 0
