"""build_server(settings) -> the MCP server, whose lifespan owns the one LM Studio client."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.types import EmptyResult, SetLevelRequestParams
from pydantic import ValidationError

from . import __version__
from .app_state import AppState
from .lmstudio import LMStudioClient
from .sandbox import Sandbox
from .sessions import SessionStore
from .settings import Settings
from .team.calls import CallPolicy
from .tool_names import MODEL_CHANGING_TOOLS, TOOL_NAMES
from .tools import register_tools
from .tools.errors import argument_error, error_result
from .urls import is_loopback_host
from .waiting import PredictionSlots

INSTRUCTIONS = """\
Tools for a local LM Studio server. Use `chat` to hand work to a local model (summaries, drafts,
extraction, classification, private data) without spending your own context: pass `files` and the
server reads them; name a `session` to continue a conversation on later calls. Use `delegate` to hand
over a task and a set of paths: the local model explores the files itself and only its answer comes
back (treat it as unverified). Use `list_models` to see what is downloaded and loaded, `load_model` /
`unload_model` to manage memory, and `download_model` then `download_status` to fetch new models.
Errors start with a code (e.g. LMSTUDIO_UNREACHABLE) followed by what to do next."""


class BridgeServer(MCPServer[AppState]):
    """MCPServer whose refused arguments follow the error contract too, and whose calls know their client.

    The SDK answers refused arguments with "Error executing tool X: " and pydantic's text with links to
    its docs; a caller needs the code, the argument and what is allowed. Every call runs as the client
    its HTTP token names, within that client's rate, and is written to the access log when asked.
    """

    # Shared by every connection of the process; kept here so its state can be inspected.
    sessions: SessionStore
    policy: CallPolicy

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[AppState, Any] | None = None
    ) -> Any:
        return await self.policy.run(name, context, lambda: self._call_tool(name, arguments, context))

    async def _call_tool(self, name: str, arguments: dict[str, Any], context: Context[AppState, Any] | None) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            if isinstance(exc, UnexpectedToolError) or not isinstance(exc.__cause__, ValidationError):
                raise
            return error_result(argument_error(name, exc.__cause__))


def build_server(settings: Settings, *, transport: httpx2.AsyncBaseTransport | None = None) -> BridgeServer:
    """The lms-mcp server. It never calls LM Studio here: each tool call connects on demand."""
    predictions = PredictionSlots(settings.max_concurrent_predictions)
    sessions = SessionStore()
    file_policy = Sandbox.create(
        settings.allowed_dirs, settings.max_file_bytes, settings.max_total_file_bytes, remote=served_remotely(settings)
    )

    @asynccontextmanager
    async def lifespan(_server: MCPServer[AppState]) -> AsyncGenerator[AppState]:
        client = LMStudioClient(
            settings.base_url,
            api_token=settings.api_token,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            transport=transport,
        )
        try:
            yield AppState(
                settings=settings, client=client, predictions=predictions, sessions=sessions, file_policy=file_policy
            )
        finally:
            await client.aclose()

    server = BridgeServer(
        "lms-mcp",
        title="LM Studio",
        description="Hand work to local LM Studio models and manage them",
        instructions=INSTRUCTIONS,
        version=__version__,
        website_url="https://lmstudio.ai/docs/developer/rest",
        lifespan=lifespan,
        log_level=settings.log_level,
    )
    # MCPServer just set the root logger's level; one INFO line per upstream request is noise.
    for noisy in ("httpx2", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if settings.log_level == "DEBUG" else logging.WARNING)
    server.sessions = sessions
    tools = enabled_tools(settings)
    server.policy = CallPolicy(tools, per_minute=settings.max_calls_per_minute, access_log=settings.access_log)
    register_tools(server, settings, tools)
    accept_log_level(server)
    return server


# MCP's eight syslog levels, folded onto Python's five.
LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "notice": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "alert": logging.CRITICAL,
    "emergency": logging.CRITICAL,
}


def accept_log_level(server: MCPServer[AppState]) -> None:
    """Answer `logging/setLevel`, which hosts send and MCPServer leaves unregistered ("method not found").

    lms-mcp logs to stderr, not as protocol messages (deprecated by SEP-2577), so the level the host
    asks for applies to that log.
    """

    async def set_level(_ctx: ServerRequestContext[AppState], params: SetLevelRequestParams) -> EmptyResult:
        logging.getLogger("lms_mcp").setLevel(LOG_LEVELS[params.level])
        return EmptyResult()

    # The SDK has no public hook for this request; its own example servers register it the same way.
    lowlevel = server._lowlevel_server  # pyright: ignore[reportPrivateUsage]
    lowlevel.add_request_handler("logging/setLevel", SetLevelRequestParams, set_level)


def served_remotely(settings: Settings) -> bool:
    """Served on a network address: a caller's paths there are not paths on this machine."""
    return settings.transport != "stdio" and not is_loopback_host(settings.host)


def enabled_tools(settings: Settings) -> tuple[str, ...]:
    """The tools served: --tools and --read-only leave the others out, so they are not even listed."""
    enabled = set(settings.tools or TOOL_NAMES)
    if settings.read_only:
        enabled -= set(MODEL_CHANGING_TOOLS)
    return tuple(name for name in TOOL_NAMES if name in enabled)
