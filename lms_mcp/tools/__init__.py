"""The MCP tools. Each module registers its tools on the server it is given."""

from mcp.server.mcpserver import MCPServer

from ..app_state import AppState
from . import chat, downloads, embed, manage, sessions

CORE_TOOLS = ("chat", "list_models", "load_model", "unload_model", "download_model", "download_status")
TOOL_NAMES = (*CORE_TOOLS, "embed", "list_sessions", "reset_session")


def register_tools(server: MCPServer[AppState]) -> None:
    chat.register(server)
    manage.register(server)
    downloads.register(server)
    embed.register(server)
    sessions.register(server)
