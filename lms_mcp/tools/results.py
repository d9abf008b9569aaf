"""Tool results: structured content for programs, a short text rendering for the model."""

from __future__ import annotations

from typing import Any

from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel


def tool_result(data: BaseModel, text: str) -> CallToolResult:
    return json_result(data.model_dump(mode="json"), text)


def json_result(structured: dict[str, Any], text: str) -> CallToolResult:
    """A result whose structured content is already JSON values; the SDK checks it against the tool's output model."""
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)
