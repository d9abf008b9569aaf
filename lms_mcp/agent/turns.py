"""One model turn of a delegation: a completion in a prediction slot, with heartbeats while the model thinks."""

from __future__ import annotations

import time

from ..app_state import AppState
from ..lmstudio.models import ChatCompletion, CompletionRequest
from ..team.identity import calling_client
from ..waiting import with_heartbeat
from .progress import DelegateProgress


async def ask(
    state: AppState, request: CompletionRequest, progress: DelegateProgress, deadline: float
) -> ChatCompletion:
    """The model's next message. The caller's cancel scope ends the turn at `deadline`; the read timeout is a
    second later, so a turn that runs out of time is cancelled (and the upstream request aborted), not failed."""
    settings = state.settings

    async def beat(elapsed: float) -> None:
        await progress.thinking(elapsed)

    async with state.predictions.slot(progress.queued, settings.progress_interval, calling_client()):
        read_timeout = max(deadline - time.monotonic(), 0.0) + 1.0
        return await with_heartbeat(
            lambda: state.client.chat_completions(request, read_timeout=read_timeout), beat, settings.progress_interval
        )
