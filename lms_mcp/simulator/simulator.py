"""The `Simulator` facade: one simulated LM Studio server, its ASGI app, and the handles tests steer it with."""

from __future__ import annotations

from starlette.applications import Starlette

from lms_mcp.simulator.app import build_app
from lms_mcp.simulator.config import SimulatorConfig
from lms_mcp.simulator.faults import DEFAULT_MALFORMED_BODY, Fault, FaultInjector, FaultKind
from lms_mcp.simulator.recording import Recorder, RequestRecord
from lms_mcp.simulator.state import State


class Simulator:
    """A stand-in LM Studio server. Serve `app` in-process (ASGI transport) or over a socket (`serve_in_thread`)."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self._config = config if config is not None else SimulatorConfig()
        self.state = State(self._config)
        self.faults = FaultInjector()
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

    def inject(
        self,
        kind: FaultKind,
        *,
        route: str | None = None,
        times: int | None = 1,
        delay: float = 1.0,
        after_events: int = 1,
        after_tokens: int = 1,
        message: str | None = None,
        body: bytes = DEFAULT_MALFORMED_BODY,
    ) -> Fault:
        """Script a fault for the next `times` matching requests (None: until `clear_faults`).

        http_500 (message), malformed_json (body), slow_headers (delay) apply to any request on `route`
        (None = every route). drop_stream (after_events) and stall_stream (after_events, delay) apply only to
        streaming chats (`/api/v1/chat`, `/v1/chat/completions`); error_event (after_tokens, message) only to
        streaming `/api/v1/chat`.
        """
        return self.faults.inject(
            kind,
            route=route,
            times=times,
            delay=delay,
            after_events=after_events,
            after_tokens=after_tokens,
            message=message,
            body=body,
        )

    def clear_faults(self) -> None:
        self.faults.clear()
