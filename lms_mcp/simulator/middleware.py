"""ASGI layers in front of the routes: Express quirks, injected faults, and LM Studio's API-token check."""

from __future__ import annotations

import re

import anyio
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lms_mcp.simulator.config import SimulatorConfig
from lms_mcp.simulator.errors import bad_token, missing_token
from lms_mcp.simulator.faults import FaultInjector
from lms_mcp.simulator.responses import JSON_CONTENT_TYPE, LMStudioJSONResponse

TOKEN_PATTERN = re.compile(r"^sk-lm-[A-Za-z0-9]{8}:[A-Za-z0-9]{20}$")
# The CLI's own probe sends no token, so the greeting is taken to be exempt (API.md §1.3, §12).
UNAUTHENTICATED_PATHS = frozenset({"/lmstudio-greeting"})


class ExpressCompatMiddleware:
    """`X-Powered-By: Express` on every response, and Express's non-strict routing (a trailing slash is ignored)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope["path"])
        if len(path) > 1 and path.endswith("/"):
            scope = {**scope, "path": path.rstrip("/") or "/"}

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"x-powered-by", b"Express")]}
            await send(message)

        await self.app(scope, receive, send_with_header)


class FaultMiddleware:
    """Fires request-level faults: slow_headers delays the response start; http_500 and malformed_json replace it."""

    def __init__(self, app: ASGIApp, faults: FaultInjector) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope["path"])
        slow = self.faults.take(path, {"slow_headers"})
        fault = self.faults.take(path, {"http_500", "malformed_json"})
        if slow is not None:
            send = _delay_start(send, slow.delay)
        if fault is None:
            await self.app(scope, receive, send)
            return
        response: Response
        if fault.kind == "http_500":
            response = LMStudioJSONResponse(
                {"error": {"type": "internal_error", "message": fault.message}}, status_code=500
            )
        else:
            response = Response(fault.body, media_type=JSON_CONTENT_TYPE)
        await response(scope, receive, send)


def _delay_start(send: Send, delay: float) -> Send:
    async def delayed(message: Message) -> None:
        if message["type"] == "http.response.start":
            await anyio.sleep(delay)
        await send(message)

    return delayed


class AuthMiddleware:
    """With tokens configured ("Require Authentication" on), every route but the greeting needs a valid Bearer token."""

    def __init__(self, app: ASGIApp, config: SimulatorConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tokens = self.config.api_tokens
        if scope["type"] != "http" or not tokens or scope["path"] in UNAUTHENTICATED_PATHS:
            await self.app(scope, receive, send)
            return
        scheme, _, token = (Headers(scope=scope).get("authorization") or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            error = missing_token()
        elif not TOKEN_PATTERN.match(token):
            error = bad_token(token, well_formed=False)
        elif token not in tokens:
            error = bad_token(token, well_formed=True)
        else:
            await self.app(scope, receive, send)
            return
        await LMStudioJSONResponse(error.body, status_code=error.status)(scope, receive, send)
