"""Download jobs: a wall-clock state machine, downloading -> completed | failed, evaluated lazily when observed."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from lms_mcp.simulator.catalog import ModelEntry

JobStatus = Literal["downloading", "completed", "failed"]

# A failing job gets this far before it breaks, so a client sees some progress first.
_FAIL_AT_FRACTION = 0.5


def iso(moment: datetime) -> str:
    """`new Date().toISOString()` style: milliseconds and a `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class DownloadJob:
    entry: ModelEntry
    duration: float
    fails: bool
    job_id: str
    started_at: datetime
    started_monotonic: float
    # Set once the finished model has been added to the catalog, so it is added only once.
    delivered: bool = False

    @classmethod
    def start(cls, entry: ModelEntry, *, duration: float, fails: bool) -> DownloadJob:
        return cls(
            entry=entry,
            duration=max(duration, 0.0),
            fails=fails,
            job_id="job_" + secrets.token_hex(5),
            started_at=datetime.now(UTC),
            started_monotonic=time.monotonic(),
        )

    @property
    def total_size_bytes(self) -> int:
        return self.entry.size_bytes

    def fraction(self, now: float | None = None) -> float:
        elapsed = (time.monotonic() if now is None else now) - self.started_monotonic
        return 1.0 if self.duration == 0 else min(elapsed / self.duration, 1.0)

    def status(self, now: float | None = None) -> JobStatus:
        fraction = self.fraction(now)
        if self.fails and fraction >= _FAIL_AT_FRACTION:
            return "failed"
        return "completed" if fraction >= 1.0 else "downloading"

    def created_json(self) -> dict[str, Any]:
        """The body `POST /api/v1/models/download` returns (fixtures/api-v1-models-download)."""
        return {
            "job_id": self.job_id,
            "status": "downloading",
            "total_size_bytes": self.total_size_bytes,
            "started_at": iso(self.started_at),
        }

    def status_json(self, now: float | None = None) -> dict[str, Any]:
        """The body of `GET /api/v1/models/download/status/:job_id`, shaped by the current status."""
        status = self.status(now)
        fraction = min(self.fraction(now), _FAIL_AT_FRACTION) if status == "failed" else self.fraction(now)
        body: dict[str, Any] = {
            "job_id": self.job_id,
            "status": status,
            "total_size_bytes": self.total_size_bytes,
            "downloaded_bytes": int(self.total_size_bytes * fraction),
            "started_at": iso(self.started_at),
        }
        if status == "downloading":
            body["bytes_per_second"] = self.total_size_bytes / self.duration
            body["estimated_completion"] = iso(self.started_at + timedelta(seconds=self.duration))
        elif status == "completed":
            body["completed_at"] = iso(self.started_at + timedelta(seconds=self.duration))
        else:
            body["error"] = "Download failed: the connection to the model host was reset (simulated failure)."
        return body
