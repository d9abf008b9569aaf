"""Tools for chat's named sessions: list_sessions and reset_session."""

from datetime import UTC, datetime
from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import BaseModel, Field

from ..app_state import AppState
from ..team.identity import calling_client
from .errors import BridgeError, ErrorCode, closest
from .results import tool_result


class SessionInfo(BaseModel):
    session: str
    model: str
    turns: int
    last_response_id: str | None
    updated_at: str


class SessionList(BaseModel):
    sessions: list[SessionInfo]


class SessionReset(BaseModel):
    session: str
    reset: bool


async def list_sessions(ctx: Context[AppState]) -> Annotated[CallToolResult, SessionList]:
    """List your named chat sessions on this server, most recent first."""
    sessions = [
        SessionInfo(
            session=s.name,
            model=s.model,
            turns=s.turns,
            last_response_id=s.response_id,
            updated_at=datetime.fromtimestamp(s.updated_at, UTC).isoformat(timespec="seconds"),
        )
        for s in ctx.request_context.lifespan_context.sessions.of(calling_client()).all()
    ]
    lines = [f"- {s.session}: {s.turns} turn(s) with {s.model}, last at {s.updated_at}" for s in sessions]
    text = "\n".join([f"{len(sessions)} session(s):", *lines]) if sessions else "No chat sessions yet."
    return tool_result(SessionList(sessions=sessions), text)


async def reset_session(
    ctx: Context[AppState],
    session: Annotated[str, Field(min_length=1, max_length=200, description="The session name to forget")],
) -> Annotated[CallToolResult, SessionReset]:
    """Forget a named chat session, so the next chat with that name starts a new conversation."""
    store = ctx.request_context.lifespan_context.sessions.of(calling_client())
    if not store.reset(session):
        nearby = closest(session, [s.name for s in store.all()])
        hint = f" Closest: {', '.join(nearby)}." if nearby else ""
        raise BridgeError(ErrorCode.INVALID_ARGUMENT, f"There is no session {session!r}.{hint} See list_sessions.")
    return tool_result(SessionReset(session=session, reset=True), f"Session {session!r} reset.")
