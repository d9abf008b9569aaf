"""The MCP tools. Each module registers its tools on the server it is given."""

from mcp.server.mcpserver import MCPServer

from ..app_state import AppState
from ..tool_names import CORE_TOOLS, TOOL_NAMES
from . import chat, downloads, embed, manage, sessions

__all__ = ["CORE_TOOLS", "TOOL_NAMES", "register_tools"]


def register_tools(server: MCPServer[AppState]) -> None:
    chat.register(server)
    manage.register(server)
    downloads.register(server)
    embed.register(server)
    sessions.register(server)
