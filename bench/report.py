"""The plain-text table and the JSON file."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, cast

from bench.stats import Figure, Section

COLUMNS = ("measurement", "bridge", "floor/direct", "ratio", "goal", "met?")


def _number(value: float | None, unit: str) -> str:
    if value is None or math.isnan(value):
        return "-"
    if unit == "x":
        return f"{value:.2f}x"
    magnitude = abs(value)
    digits = 3 if magnitude < 10 else 2 if magnitude < 100 else 1 if magnitude < 10_000 else 0
    return f"{value:,.{digits}f} {unit}".rstrip()


def _met(figure: Figure) -> str:
    if figure.met is None:
        return "n/a" if figure.goal else ""
    return "yes" if figure.met else "NO"


def _row(figure: Figure) -> tuple[str, ...]:
    return (
        figure.name,
        _number(figure.bridge, figure.unit),
        _number(figure.baseline, figure.unit),
        _number(figure.ratio, "x"),
        figure.goal,
        _met(figure),
    )


def render(machine: dict[str, Any], sections: list[Section], total_seconds: float, json_path: Path) -> str:
    versions = machine["versions"]
    lines = [
        "lms-mcp benchmark",
        f"machine: {machine['cpu']}, {machine['cores']} cores; {machine['platform']}",
        f"python {machine['python']}; lms-mcp {versions['lms-mcp']}, mcp {versions['mcp']}, "
        f"pydantic {versions['pydantic']}, httpx2 {versions['httpx2']}",
        f"load average at start {machine['load_average_at_start']}, at end {machine.get('load_average_at_end')}; "
        f"mode {machine.get('mode')}; run took {total_seconds:.0f} s",
        "",
    ]
    for section in sections:
        rows = [COLUMNS, *(_row(f) for f in section.figures)]
        widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
        lines.append(f"{section.title}  ({section.seconds:.0f} s)")
        if section.error:
            lines.append(f"  FAILED: {section.error}")
        for index, row in enumerate(rows):
            cells = [row[0].ljust(widths[0]), *(cell.rjust(widths[i]) for i, cell in enumerate(row) if i)]
            lines.append("  " + "  ".join(cells).rstrip())
            if index == 0:
                lines.append("  " + "  ".join("-" * w for w in widths))
        lines += [f"  * {note}" for note in section.notes]
        lines.append("")
    missed = [f"{s.key}: {f.name}" for s in sections for f in s.figures if f.met is False]
    lines.append(f"goals missed: {len(missed)}" + (" -> " + "; ".join(missed) if missed else ""))
    lines.append(f"JSON: {json_path}")
    return "\n".join(lines)


def write_json(path: Path, machine: dict[str, Any], settings: dict[str, Any], sections: list[Section]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "machine": machine,
        "settings": settings,
        "sections": {section.key: section.as_dict() for section in sections},
        "goals": [
            {"section": s.key, "figure": f.name, "ratio": f.as_dict()["ratio"], "goal": f.goal, "met": f.met}
            for s in sections
            for f in s.figures
            if f.goal
        ],
    }
    path.write_text(json.dumps(_clean(document), indent=2, default=str) + "\n", encoding="utf-8")


def _clean(value: Any) -> Any:
    """NaN and infinities are not JSON: write them as null."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in cast(dict[Any, Any], value).items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in cast(list[Any], value)]
    return value
