"""The `Simulator` facade: one simulated LM Studio server, its ASGI app, and the handles tests steer it with."""

from __future__ import annotations

from starlette.applications import Starlette

from lms_mcp.simulator.app import build_app
from lms_mcp.simulator.config import SimulatorConfig
from lms_mcp.simulator.faults import FaultInjector
from lms_mcp.simulator.profiles import profile_named
from lms_mcp.simulator.recording import Recorder, RequestRecord
from lms_mcp.simulator.state import State


class Simulator:
    """A stand-in LM Studio server. Serve `app` in-process (ASGI transport) or over a socket (`serve_in_thread`)."""

    def __init__(self, config: SimulatorConfig | None = None, *, profile: str | None = None) -> None:
        """`profile` (one of PROFILE_NAMES) picks the LM Studio build to play; it overrides `config.profile`."""
        self._config = config if config is not None else SimulatorConfig()
        if profile is not None:
            profile_named(profile)
            self._config.profile = profile
        self.state = State(self._config)
        self.faults = FaultInjector()
        # Script a fault: see FaultInjector.inject for the kinds and their knobs.
        self.inject = self.faults.inject
        self.recorder = Recorder()
        self.app: Starlette = build_app(self.state, self.faults, self.recorder)

    @property
    def config(self) -> SimulatorConfig:
        """The live knobs; mutate its fields (the object itself is shared with the running app)."""
        return self._config

    @property
    def requests(self) -> list[RequestRecord]:
        return self.recorder.requests

    @property
    def in_flight(self) -> int:
        return self.recorder.in_flight

    @property
    def max_in_flight(self) -> int:
        return self.recorder.max_in_flight

    def reset_stats(self) -> None:
        """Forget recorded requests and restart the concurrency high-water mark from what is in flight now."""
        self.recorder.reset()

    def clear_faults(self) -> None:
        self.faults.clear()
