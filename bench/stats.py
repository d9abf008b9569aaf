"""Order statistics for latency samples, and the figures the table and the JSON are built from."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) with linear interpolation between order statistics; NaN for no samples."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(samples: Sequence[float]) -> float:
    return percentile(samples, 0.5)


@dataclass(frozen=True)
class Summary:
    """Latency samples in milliseconds, summarised."""

    n: int
    p50: float
    p95: float
    mean: float
    min: float
    max: float

    @classmethod
    def of_seconds(cls, samples: Sequence[float]) -> Summary:
        ms = [s * 1000.0 for s in samples]
        if not ms:
            return cls(0, math.nan, math.nan, math.nan, math.nan, math.nan)
        return cls(
            n=len(ms),
            p50=percentile(ms, 0.5),
            p95=percentile(ms, 0.95),
            mean=sum(ms) / len(ms),
            min=min(ms),
            max=max(ms),
        )

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def ratio(numerator: float, denominator: float) -> float:
    if denominator == 0 or math.isnan(denominator) or math.isnan(numerator):
        return math.nan
    return numerator / denominator


@dataclass
class Figure:
    """One row of the table: the bridge's value, its baseline, their ratio, and the goal it is held to.

    `bridge` and `baseline` are display values (with their unit); `ratio` is what the goal judges. `met` is
    None when the row is for context only (no goal).
    """

    name: str
    bridge: float | None
    baseline: float | None
    unit: str
    ratio: float | None = None
    ratio_meaning: str = ""
    goal: str = ""
    met: bool | None = None
    detail: dict[str, Any] = field(default_factory=lambda: dict[str, Any]())

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("bridge", "baseline", "ratio"):
            value = data[key]
            if isinstance(value, float):
                data[key] = None if math.isnan(value) else round(value, 4)
        return data


def at_most(value: float | None, limit: float) -> bool | None:
    if value is None or math.isnan(value):
        return None
    return value <= limit


@dataclass
class Section:
    key: str
    title: str
    figures: list[Figure] = field(default_factory=lambda: list[Figure]())
    notes: list[str] = field(default_factory=lambda: list[str]())
    data: dict[str, Any] = field(default_factory=lambda: dict[str, Any]())
    seconds: float = 0.0
    error: str | None = None

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "seconds": round(self.seconds, 2),
            "error": self.error,
            "figures": [f.as_dict() for f in self.figures],
            "notes": self.notes,
            "data": self.data,
        }
