"""The LM Studio simulator in this process, with a stopwatch on the first `message.delta` of each chat.

The simulator records requests but not when it emits events. `DeltaStamps` wraps its ASGI app and notes
`time.perf_counter()` when the first SSE frame containing `event: message.delta` of a response is handed to
the server (uvicorn writes it to the socket straight away). The MCP client that receives the matching
progress notification runs in this same process, so both timestamps come from one clock.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lms_mcp.simulator import Simulator, SimulatorConfig, serve_in_thread

DELTA_MARKER = b"event: message.delta"
# The simulator's default catalog loads this model, so a chat naming it needs no JIT load.
LOADED_MODEL = "google/gemma-4-26b-a4b"


class DeltaStamps:
    """ASGI middleware: one perf_counter() stamp per response, at its first message.delta frame.

    It also notes the client address of every request, so a run can count the TCP connections a client
    opened (a client that reuses its connection shows one address for many requests).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.stamps: list[float] = []
        self.clients: list[tuple[str, int]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("client"):
            host, port = scope["client"]
            self.clients.append((str(host), int(port)))
        if scope["type"] != "http" or scope.get("path") != "/api/v1/chat":
            await self.app(scope, receive, send)
            return
        seen = False

        async def stamped(message: Message) -> None:
            nonlocal seen
            if not seen and message["type"] == "http.response.body" and DELTA_MARKER in message.get("body", b""):
                seen = True
                self.stamps.append(time.perf_counter())
            await send(message)

        await self.app(scope, receive, stamped)


@dataclass
class BenchSim:
    sim: Simulator
    url: str
    stamps: DeltaStamps

    @property
    def config(self) -> SimulatorConfig:
        return self.sim.config

    def forget(self) -> None:
        """Drop recorded requests and stored conversations, so long runs do not grow the simulator."""
        self.sim.reset_stats()
        self.sim.state.threads.clear()
        self.stamps.stamps.clear()

    def reset(self, **knobs: object) -> None:
        """Back to the bench's defaults (fast, no reasoning), then apply `knobs`."""
        defaults = bench_config()
        for name in ("reply_tokens", "reasoning_tokens", "time_to_first_token", "tokens_per_second"):
            setattr(self.sim.config, name, getattr(defaults, name))
        self.sim.config.synthetic_models = 0
        for name, value in knobs.items():
            setattr(self.sim.config, name, value)
        self.forget()


def bench_config() -> SimulatorConfig:
    # No reasoning tokens: every chat streams only message deltas, so progress maps one-to-one onto them.
    return SimulatorConfig(reasoning_tokens=0, reply_tokens=12, time_to_first_token=0.0, tokens_per_second=None)


@contextmanager
def running_simulator() -> Generator[BenchSim]:
    sim = Simulator(bench_config())
    stamps = DeltaStamps(sim.app)
    with serve_in_thread(stamps) as url:
        yield BenchSim(sim, url, stamps)
