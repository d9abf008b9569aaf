"""What every tool call can reach: the settings and the one LM Studio client."""

from __future__ import annotations

from dataclasses import dataclass

from .lmstudio import LMStudioClient
from .settings import Settings
from .waiting import PredictionSlots


@dataclass
class AppState:
    settings: Settings
    client: LMStudioClient
    # Shared by every connection of the process, so the limit holds across HTTP/SSE sessions.
    predictions: PredictionSlots
