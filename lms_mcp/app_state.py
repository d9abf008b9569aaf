"""What every tool call can reach: the settings and the one LM Studio client."""

from __future__ import annotations

from dataclasses import dataclass

from .lmstudio import LMStudioClient
from .settings import Settings


@dataclass
class AppState:
    settings: Settings
    client: LMStudioClient
