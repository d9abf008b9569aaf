"""Around every tool call: who is calling, whether they may call now, and the access log line."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import anyio
from mcp.server.mcpserver import Context

from ..tools.errors import BridgeError, ErrorCode, error_result
from .access_log import CANCELLED, UNCODED, access_line, model_of, outcome_of, write_access_line
from .identity import calling_as, client_of
from .rate import CallRate

# What the access log names a tool the server does not serve: the name itself is the caller's text.
UNKNOWN_TOOL = "(unknown)"


def rate_limited(wait_seconds: float, per_minute: int) -> BridgeError:
    return BridgeError(
        ErrorCode.RATE_LIMITED,
        f"This client made {per_minute} tool calls in the last minute, the most this server allows "
        f"(--max-calls-per-minute / LMS_MCP_MAX_CALLS_PER_MINUTE). Try again in {math.ceil(wait_seconds)} s.",
    )


class CallPolicy:
    def __init__(self, tools: Collection[str], *, per_minute: int, access_log: bool) -> None:
        self._tools = frozenset(tools)
        self.rate = CallRate(per_minute)
        self._access_log = access_log

    async def run(self, tool: str, context: Context[Any, Any] | None, call: Callable[[], Awaitable[Any]]) -> Any:
        """Run `call` as the calling client, unless it is over its rate; log the call if asked to."""
        client = client_of(context)
        started = time.perf_counter()
        outcome, model = UNCODED, None
        try:
            with calling_as(client):
                wait = self.rate.admit(client)
                result = await call() if wait is None else error_result(rate_limited(wait, self.rate.per_minute))
            outcome, model = outcome_of(result), model_of(result)
            return result
        except anyio.get_cancelled_exc_class():
            outcome = CANCELLED
            raise
        finally:
            if self._access_log:
                name = tool if tool in self._tools else UNKNOWN_TOOL
                seconds = time.perf_counter() - started
                write_access_line(access_line(client=client, tool=name, seconds=seconds, outcome=outcome, model=model))
