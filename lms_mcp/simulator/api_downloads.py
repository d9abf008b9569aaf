"""`POST /api/v1/models/download` and `GET /api/v1/models/download/status/:job_id`."""

from __future__ import annotations

import copy

from starlette.requests import Request
from starlette.responses import Response

from lms_mcp.simulator.catalog import Downloadable
from lms_mcp.simulator.downloads import DownloadJob
from lms_mcp.simulator.errors import invalid_request, lms_error, model_not_found
from lms_mcp.simulator.responses import LMStudioJSONResponse
from lms_mcp.simulator.schemas import DownloadRequest, parse_json, validate
from lms_mcp.simulator.state import State


class DownloadsApi:
    def __init__(self, state: State) -> None:
        self.state = state

    async def download(self, request: Request) -> Response:
        state = self.state
        state.refresh()
        body = validate(DownloadRequest, parse_json(await request.body()))
        source = self._source(body.model)
        if body.quantization is not None:
            if source is None or not source.is_huggingface:
                raise invalid_request(
                    "quantization can only be specified when downloading from a Hugging Face link.",
                    param="quantization",
                )
            wanted = body.quantization.lower()
            if wanted not in (q.lower() for q in source.quantizations):
                raise lms_error(
                    404,
                    "model_not_found",
                    f"No {body.quantization} file found in {body.model}.",
                    param="quantization",
                )
        key = source.entry.key if source else body.model
        if state.find_model(key) is not None:
            return LMStudioJSONResponse({"status": "already_downloaded"})
        if source is None:
            raise model_not_found(body.model)
        running = next(
            (job for job in state.jobs.values() if job.entry.key == key and job.status() == "downloading"), None
        )
        if running is not None:
            return LMStudioJSONResponse(running.created_json())
        # A copy, so the catalog entry that appears when the job completes is independent of the template.
        entry = copy.deepcopy(source.entry)
        job = DownloadJob.start(entry, duration=state.config.download_duration, fails=state.config.download_fails)
        state.jobs[job.job_id] = job
        return LMStudioJSONResponse(job.created_json())

    async def status(self, request: Request) -> Response:
        self.state.refresh()
        job_id = str(request.path_params["job_id"])
        job = self.state.jobs.get(job_id)
        if job is None:
            raise lms_error(404, "job_not_found", f"Download job '{job_id}' not found.", param="job_id")
        return LMStudioJSONResponse(job.status_json())

    def _source(self, model: str) -> Downloadable | None:
        return next((item for item in self.state.config.downloadable if item.source == model), None)
