"""Tools that download models: download_model starts a job, download_status reports on it."""

import time
from datetime import UTC, datetime
from typing import Annotated

import anyio
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import BaseModel, Field

from ..app_state import AppState
from ..lmstudio.models import DownloadJob, DownloadRequest
from ..printable import human_bytes
from .results import tool_result


class DownloadResult(BaseModel):
    job_id: str | None = Field(description="Pass it to download_status; absent when already downloaded")
    status: str = Field(description="downloading, paused, completed, failed or already_downloaded")
    total_size_bytes: int | None = None
    downloaded_bytes: int | None = None
    fraction: float | None = Field(default=None, description="0.0 to 1.0")
    bytes_per_second: float | None = None
    eta_seconds: float | None = None
    started_at: str | None = None
    completed_at: str | None = None
    error: str | None = None


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def describe_job(job: DownloadJob, now: datetime | None = None) -> DownloadResult:
    total, done = job.total_size_bytes, job.downloaded_bytes
    if job.status == "completed" and total is not None and done is None:
        done = total
    fraction = min(1.0, done / total) if total and done is not None else None
    eta: float | None = None
    finish = _parse_time(job.estimated_completion)
    if job.status == "downloading":
        if finish is not None:
            eta = max(0.0, (finish - (now or datetime.now(UTC))).total_seconds())
        elif job.bytes_per_second and total is not None and done is not None:
            eta = (total - done) / job.bytes_per_second
    return DownloadResult(
        job_id=job.job_id,
        status=job.status,
        total_size_bytes=total,
        downloaded_bytes=done,
        fraction=fraction,
        bytes_per_second=job.bytes_per_second,
        eta_seconds=round(eta, 1) if eta is not None else None,
        started_at=job.started_at,
        completed_at=job.completed_at,
        error=job.error,
    )


def render_job(result: DownloadResult, *, advice: bool = True) -> str:
    if result.status == "already_downloaded":
        return "Already downloaded: nothing to do. It is in list_models."
    parts = [f"Download {result.job_id}: {result.status}"]
    if result.fraction is not None:
        parts.append(
            f"{result.fraction:.0%} ({human_bytes(result.downloaded_bytes)} of {human_bytes(result.total_size_bytes)})"
        )
    elif result.total_size_bytes is not None:
        parts.append(f"size {human_bytes(result.total_size_bytes)}")
    if result.bytes_per_second:
        parts.append(f"{human_bytes(int(result.bytes_per_second))}/s")
    if result.eta_seconds is not None:
        parts.append(f"about {result.eta_seconds:.0f} s left")
    if result.error:
        parts.append(f"error: {result.error}")
    text = ", ".join(parts) + "."
    if advice and result.status in ("downloading", "paused"):
        text += " Check again with download_status."
    return text


WaitSeconds = Annotated[
    float,
    Field(
        ge=0,
        le=600,
        description="Wait up to this many seconds for the download to finish, reporting progress meanwhile "
        "(keep it under 50 in Claude Desktop, which drops calls after about 60 s)",
    ),
]


async def follow(ctx: Context[AppState], job: DownloadJob, wait_seconds: float) -> DownloadJob:
    """Poll the job until it leaves `downloading` or the wait ends, reporting bytes as progress."""
    state = ctx.request_context.lifespan_context
    deadline = time.monotonic() + wait_seconds
    reported = -1.0
    while job.status == "downloading" and job.job_id is not None:
        result = describe_job(job)
        done = float(result.downloaded_bytes or 0)
        if done > reported:
            reported = done
            total = float(result.total_size_bytes) if result.total_size_bytes else None
            await ctx.report_progress(done, total, render_job(result, advice=False))
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        await anyio.sleep(min(state.settings.progress_interval, remaining))
        job = await state.client.download_status(job.job_id)
    return job


async def download_model(
    ctx: Context[AppState],
    model: Annotated[
        str,
        Field(
            min_length=1,
            description="LM Studio catalog id (e.g. 'ibm/granite-4-micro') or an exact Hugging Face URL "
            "(e.g. 'https://huggingface.co/lmstudio-community/gpt-oss-20b-GGUF')",
        ),
    ],
    quantization: Annotated[
        str | None, Field(min_length=1, description="Quantization such as 'Q4_K_M' (Hugging Face URLs only)")
    ] = None,
    wait_seconds: WaitSeconds = 0,
) -> Annotated[CallToolResult, DownloadResult]:
    """Start downloading a model into LM Studio from its catalog or Hugging Face.

    Returns a job id (or status already_downloaded) at once, or after up to wait_seconds of
    following it. The download goes on in the background either way: check it with
    download_status; when it completes, the model shows in list_models.
    """
    client = ctx.request_context.lifespan_context.client
    job = await client.download_model(DownloadRequest(model=model, quantization=quantization))
    result = describe_job(await follow(ctx, job, wait_seconds))
    return tool_result(result, render_job(result))


async def download_status(
    ctx: Context[AppState],
    job_id: Annotated[
        str,
        # Job ids are like job_493c7c9ded; anything else could reshape the URL path ('..', '/').
        Field(pattern=r"^[A-Za-z0-9_-]{1,200}$", description="Job id returned by download_model"),
    ],
    wait_seconds: WaitSeconds = 0,
) -> Annotated[CallToolResult, DownloadResult]:
    """Report a download job's progress: status, bytes done and total, fraction, speed and time left.

    With wait_seconds, follows the job (reporting progress) until it finishes or the wait ends.
    """
    client = ctx.request_context.lifespan_context.client
    result = describe_job(await follow(ctx, await client.download_status(job_id), wait_seconds))
    return tool_result(result, render_job(result))
