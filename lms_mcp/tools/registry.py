"""How a tool is declared and served: one list of specs, registered through one helper.

Every tool is a plain module-level `async def` whose context parameter is named `ctx`. Its spec adds
the title and one of the annotation presets below; registration wraps it in the error contract, so a
new tool cannot forget either, and only the enabled tools are ever registered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, ToolAnnotations

from ..app_state import AppState
from ..settings import Settings
from .errors import reports_errors

ToolFunction = Callable[..., Awaitable[CallToolResult]]


def _hints(*, read_only: bool, destructive: bool, idempotent: bool, open_world: bool) -> ToolAnnotations:
    return ToolAnnotations(
        read_only_hint=read_only, destructive_hint=destructive, idempotent_hint=idempotent, open_world_hint=open_world
    )


# Reads LM Studio's state, changes nothing: safe to call again and again.
READS = _hints(read_only=True, destructive=False, idempotent=True, open_world=False)
# Does work or adds state (a prediction, a download), each call anew.
ACTS = _hints(read_only=False, destructive=False, idempotent=False, open_world=False)
# Adds state, but calling it twice is the same as once (load returns the loaded instance).
ENSURES = _hints(read_only=False, destructive=False, idempotent=True, open_world=False)
# Takes something away (an instance, a session); again is a no-op.
REMOVES = _hints(read_only=False, destructive=True, idempotent=True, open_world=False)


def never(_settings: Settings) -> bool:
    return False


def always(_settings: Settings) -> bool:
    return True


@dataclass(frozen=True)
class ToolSpec:
    fn: ToolFunction
    title: str
    hints: ToolAnnotations
    # Whether, with these settings, the tool can reach beyond this machine (the open-world hint).
    reaches_out: Callable[[Settings], bool] = never

    @property
    def name(self) -> str:
        return self.fn.__name__

    def annotations(self, settings: Settings) -> ToolAnnotations:
        return self.hints.model_copy(update={"open_world_hint": self.reaches_out(settings)})


def register(
    server: MCPServer[AppState], specs: Iterable[ToolSpec], enabled: Iterable[str], settings: Settings
) -> None:
    """Serve the enabled tools, each with its annotations and the error contract."""
    wanted = set(enabled)
    for spec in specs:
        if spec.name in wanted:
            hints = spec.annotations(settings)
            server.add_tool(reports_errors(spec.fn), name=spec.name, title=spec.title, annotations=hints)
