"""lms-mcp: an MCP server that hands work to local LM Studio models and manages them."""

__version__ = "0.1.0"
