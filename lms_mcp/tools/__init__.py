"""The MCP tools: every tool is declared here once, with its title and annotation preset."""

from mcp.server.mcpserver import MCPServer

from ..app_state import AppState
from ..settings import Settings
from ..tool_names import CORE_TOOLS, TOOL_NAMES
from . import chat, delegate, downloads, embed, manage, sessions
from .integrations import effective_policy
from .registry import ACTS, ENSURES, READS, REMOVES, ToolSpec, always, register

__all__ = ["CORE_TOOLS", "TOOLS", "TOOL_NAMES", "register_tools"]

TOOLS = (
    # Through `integrations`, chat can browse or reach MCP servers, as far as the operator allows.
    ToolSpec(chat.chat, "Ask a local model", ACTS, lambda settings: effective_policy(settings).reaches_out),
    # delegate runs predictions (so not read-only), but reads files only and never leaves this machine.
    ToolSpec(delegate.delegate, "Delegate a task over files", ACTS),
    ToolSpec(manage.list_models, "List LM Studio models", READS),
    ToolSpec(manage.load_model, "Load a model", ENSURES),
    ToolSpec(manage.unload_model, "Unload a model", REMOVES),
    ToolSpec(downloads.download_model, "Download a model", ACTS, always),
    ToolSpec(downloads.download_status, "Check a model download", READS),
    ToolSpec(embed.embed, "Embed texts", READS),
    ToolSpec(sessions.list_sessions, "List chat sessions", READS),
    ToolSpec(sessions.reset_session, "Reset a chat session", REMOVES),
)


def register_tools(server: MCPServer[AppState], settings: Settings, enabled: tuple[str, ...] = TOOL_NAMES) -> None:
    register(server, TOOLS, enabled, settings)
