"""What every tool call can reach: the settings and the one LM Studio client."""

from __future__ import annotations

from dataclasses import dataclass

from .lmstudio import LMStudioClient
from .sandbox import Sandbox
from .sessions import SessionStore
from .settings import Settings
from .waiting import PredictionSlots


@dataclass
class AppState:
    settings: Settings
    client: LMStudioClient
    # The rest is shared by every connection of the process (HTTP and SSE sessions alike).
    predictions: PredictionSlots
    sessions: SessionStore
    file_policy: Sandbox
