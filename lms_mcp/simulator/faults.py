"""Scripted misbehaviour. Tests inject faults from their own thread while the server consumes them in its thread."""

from __future__ import annotations

import threading
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal, get_args

FaultKind = Literal["http_500", "malformed_json", "drop_stream", "error_event", "slow_headers", "stall_stream"]
FAULT_KINDS: frozenset[str] = frozenset(get_args(FaultKind))
# These only make sense mid-stream, so only a streaming chat consumes them.
STREAM_FAULTS: frozenset[str] = frozenset({"drop_stream", "error_event", "stall_stream"})

DEFAULT_MALFORMED_BODY = b'{"models":[{"type":"llm","key":"google/gemma-4-26b-a4b",'


@dataclass
class Fault:
    """One injected fault. `remaining` counts down per firing; None fires until `clear_faults()`."""

    kind: FaultKind
    route: str | None
    remaining: int | None
    # slow_headers, stall_stream: seconds to wait.
    delay: float
    # drop_stream, stall_stream: how many SSE events go out before the fault.
    after_events: int
    # error_event: how many message tokens go out before the error.
    after_tokens: int
    # http_500, error_event: the error message.
    message: str
    # malformed_json: the body sent instead of JSON.
    body: bytes
    fired: int = 0


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

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
        """Script a fault for the next `times` matching requests (None: until `clear`).

        http_500 (message), malformed_json (body), slow_headers (delay) apply to any request on `route`
        (None = every route). drop_stream (after_events) and stall_stream (after_events, delay) apply only to
        streaming chats (`/api/v1/chat`, `/v1/chat/completions`); error_event (after_tokens, message) only to
        streaming `/api/v1/chat`.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for 'until cleared')")
        default_message = (
            "Simulated internal server error" if kind == "http_500" else "Simulated failure during generation"
        )
        fault = Fault(
            kind=kind,
            route=route,
            remaining=times,
            delay=delay,
            after_events=after_events,
            after_tokens=after_tokens,
            message=message or default_message,
            body=body,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, path: str, kinds: Collection[str]) -> Fault | None:
        """Fire the oldest matching fault of one of `kinds` for a request to `path`, if any."""
        with self._lock:
            for fault in self._faults:
                if fault.kind in kinds and (fault.route is None or fault.route == path):
                    fault.fired += 1
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining == 0:
                            self._faults.remove(fault)
                    return fault
        return None
