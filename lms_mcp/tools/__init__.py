"""The MCP tools. Each module registers its tools on the server it is given."""

from mcp.server.mcpserver import MCPServer

from ..app_state import AppState
from . import chat, downloads, manage

TOOL_NAMES = ("chat", "list_models", "load_model", "unload_model", "download_model", "download_status")


def register_tools(server: MCPServer[AppState]) -> None:
    chat.register(server)
    manage.register(server)
    downloads.register(server)
