"""Function tools on `POST /v1/chat/completions`: `tools`, `tool_choice`, and the messages of a tool loop.

The route ignores unknown top-level keys (API.md §3.4), but a tool definition is checked to the letter: a key
misspelt there (`parameter`, `args`) would silently leave a real model without its tools, so the simulator
refuses it. Messages follow OpenAI's pairing rule: an assistant message with `tool_calls` is followed by one
`tool` message per call id, and a `tool` message answers a call of the assistant message before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, cast, get_args

from lms_mcp.simulator.errors import openai_error
from lms_mcp.simulator.state import Message, ToolCall

ToolMode = Literal["none", "auto", "required"]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TOOL_KEYS = frozenset({"type", "function"})
_FUNCTION_KEYS = frozenset({"name", "description", "parameters", "strict"})
_CALL_KEYS = frozenset({"id", "type", "function"})
_CALLED_KEYS = frozenset({"name", "arguments"})


@dataclass(frozen=True)
class FunctionTool:
    name: str
    description: str | None
    parameters: dict[str, object] | None


@dataclass(frozen=True)
class ToolChoice:
    """`tool_choice`: none, auto or required; or one function the model must call (`forced`)."""

    mode: ToolMode = "auto"
    forced: str | None = None


def _refuse(message: str, param: str = "tools") -> Exception:
    return openai_error(400, message, param=param)


def _fields(value: object, where: str, allowed: frozenset[str], param: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise _refuse(f"'{where}' must be an object.", param)
    fields = cast(dict[str, object], value)
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise _refuse(f"'{where}' has unrecognized keys: {', '.join(unknown)}.", param)
    return fields


def _name(value: object, where: str, param: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise _refuse(f"'{where}' must be 1-64 letters, digits, '_' or '-'.", param)
    return value


def parse_tools(value: object) -> list[FunctionTool] | None:
    """`tools`: function definitions only, each with a valid name and an object schema for its parameters."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise _refuse("'tools' must be an array.")
    tools: list[FunctionTool] = []
    for index, item in enumerate(cast(list[object], value)):
        where = f"tools[{index}]"
        fields = _fields(item, where, _TOOL_KEYS, "tools")
        if fields.get("type") != "function":
            raise _refuse(f"'{where}.type' must be 'function'.")
        function = _fields(fields.get("function"), f"{where}.function", _FUNCTION_KEYS, "tools")
        name = _name(function.get("name"), f"{where}.function.name", "tools")
        description = function.get("description")
        if description is not None and not isinstance(description, str):
            raise _refuse(f"'{where}.function.description' must be a string.")
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise _refuse(f"'{where}.function.parameters' must be a JSON Schema object.")
        if any(tool.name == name for tool in tools):
            raise _refuse(f"'{where}.function.name' repeats the tool name '{name}'.")
        tools.append(FunctionTool(name, description, cast(dict[str, object] | None, parameters)))
    return tools


def parse_tool_choice(value: object, tools: list[FunctionTool] | None) -> ToolChoice:
    if value is None:
        return ToolChoice()
    for mode in get_args(ToolMode):
        if value == mode:
            return ToolChoice(mode=mode)
    if isinstance(value, dict):
        fields = cast(dict[str, object], value)
        function = fields.get("function")
        name = cast(dict[str, object], function).get("name") if isinstance(function, dict) else None
        if fields.get("type") == "function" and isinstance(name, str):
            if not any(tool.name == name for tool in tools or []):
                raise _refuse(f"'tool_choice' names the function '{name}', which is not in 'tools'.", "tool_choice")
            return ToolChoice(mode="required", forced=name)
    raise _refuse(
        "'tool_choice' must be 'none', 'auto', 'required' or {type: 'function', function: {name}}.", "tool_choice"
    )


def parse_tool_calls(value: object, where: str) -> tuple[ToolCall, ...]:
    """An assistant message's `tool_calls`, as a client sends them back: ids, names and JSON argument strings."""
    if not isinstance(value, list) or not value:
        raise _refuse(f"'{where}.tool_calls' must be a non-empty array.", "messages")
    calls: list[ToolCall] = []
    for index, item in enumerate(cast(list[object], value)):
        at = f"{where}.tool_calls[{index}]"
        fields = _fields(item, at, _CALL_KEYS, "messages")
        call_id = fields.get("id")
        if not isinstance(call_id, str) or not call_id:
            raise _refuse(f"'{at}.id' must be a non-empty string.", "messages")
        if fields.get("type") != "function":
            raise _refuse(f"'{at}.type' must be 'function'.", "messages")
        function = _fields(fields.get("function"), f"{at}.function", _CALLED_KEYS, "messages")
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            raise _refuse(f"'{at}.function.arguments' must be a string of JSON.", "messages")
        calls.append(ToolCall(call_id, _name(function.get("name"), f"{at}.function.name", "messages"), arguments))
    return tuple(calls)


def tool_call_id(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise _refuse(f"'{where}.tool_call_id' is required for a tool message.", "messages")
    return value


def check_pairing(messages: list[Message]) -> None:
    """Every call answered by one tool message right after its assistant turn; no tool message without its call."""
    open_ids: list[str] = []
    for index, message in enumerate(messages):
        if message.role == "tool":
            if message.tool_call_id not in open_ids:
                raise _refuse(
                    f"'messages[{index}]' with role 'tool' must answer a tool call of the assistant message before "
                    "it (unknown or repeated tool_call_id).",
                    "messages",
                )
            open_ids.remove(message.tool_call_id)
            continue
        if open_ids:
            raise _refuse(
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                f"'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(open_ids)}",
                "messages",
            )
        open_ids = [call.id for call in message.tool_calls]
    if open_ids:
        raise _refuse(
            f"The last assistant message's tool calls have no tool messages: {', '.join(open_ids)}", "messages"
        )
