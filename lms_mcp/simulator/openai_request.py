"""The body of `POST /v1/chat/completions`, read the OpenAI-compatible way: unknown keys are ignored (unlike the
strict native v1 API), the known ones must have the right type, and failures use OpenAI's error shape (API.md §3.4).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any, Literal, cast

from lms_mcp.simulator.errors import ApiError, openai_error
from lms_mcp.simulator.generation import user_text_of
from lms_mcp.simulator.openai_tools import (
    FunctionTool,
    ToolChoice,
    check_pairing,
    parse_tool_calls,
    parse_tool_choice,
    parse_tools,
    tool_call_id,
)
from lms_mcp.simulator.state import Message

# Observed verbatim, as a bare string rather than an error object (API.md §3.4).
RESPONSE_FORMAT_ERROR = "'response_format.type' must be 'json_schema' or 'text'"
# Observed verbatim for every image URL LM Studio will not take: remote URLs, and WebP data URLs on the builds that
# refuse them (lmstudio-bug-tracker#1027, #1752, #1839; cline/cline#9902 shows the HTTP 400).
IMAGE_URL_ERROR = "'url' field must be a base64 encoded image."
_ROLES: dict[object, Literal["system", "user", "assistant", "tool"]] = {
    "system": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
}
_DATA_URL = re.compile(r"^data:image/(?P<format>[A-Za-z0-9.+-]+);base64,(?P<data>[A-Za-z0-9+/]+={0,2})$")
# Documented or commonly sent sampling and server options: accepted and type-checked, but they do not change
# the deterministic answer.
_NUMBER_FIELDS = ("temperature", "top_p", "min_p", "repeat_penalty", "presence_penalty", "frequency_penalty")
_INTEGER_FIELDS = ("top_k", "seed", "ttl")
_STRING_FIELDS = ("draft_model",)


@dataclass(frozen=True)
class CompletionRequest:
    model: str
    messages: list[Message]
    # None: no limit (absent, null or -1).
    max_tokens: int | None
    stream: bool
    include_usage: bool
    # The JSON Schema the answer must follow; None for plain text.
    json_schema: object | None
    # LM Studio's thinking switch on this route ("none" turns it off); None when not sent.
    reasoning_effort: str | None = None
    # Function tools the model may call, and whether it must or must not.
    tools: list[FunctionTool] | None = None
    tool_choice: ToolChoice = ToolChoice()


def parse_completion_request(raw: object, *, refuse_webp: bool = False) -> CompletionRequest:
    """The request, checked like LM Studio checks it; `refuse_webp` plays the builds that refuse WebP images."""
    if not isinstance(raw, dict):
        raise openai_error(400, "Request body must be a JSON object.")
    body = cast(dict[str, object], raw)
    model = body.get("model")
    if model is None:
        raise openai_error(400, "'model' is required.", param="model", code="missing_required_parameter")
    if not isinstance(model, str) or not model:
        raise openai_error(400, "'model' must be a non-empty string.", param="model")
    _check_options(body)
    stream_options = _optional(body, "stream_options", dict, "an object")
    include_usage = _optional(_object(stream_options), "include_usage", bool, "a boolean")
    tools = parse_tools(body.get("tools"))
    return CompletionRequest(
        model=model,
        messages=_messages(body.get("messages"), refuse_webp),
        max_tokens=_max_tokens(body.get("max_tokens")),
        stream=bool(_optional(body, "stream", bool, "a boolean")),
        include_usage=bool(include_usage),
        json_schema=_json_schema(body.get("response_format")),
        reasoning_effort=_optional(body, "reasoning_effort", str, "a string"),
        tools=tools,
        tool_choice=parse_tool_choice(body.get("tool_choice"), tools),
    )


def _messages(value: object, refuse_webp: bool) -> list[Message]:
    if value is None:
        raise openai_error(400, "'messages' is required.", param="messages", code="missing_required_parameter")
    if not isinstance(value, list) or not value:
        raise openai_error(400, "'messages' must be a non-empty array.", param="messages")
    messages: list[Message] = []
    for index, item in enumerate(cast(list[object], value)):
        where = f"messages[{index}]"
        if not isinstance(item, dict):
            raise openai_error(400, f"'{where}' must be an object.", param="messages")
        fields = cast(dict[str, object], item)
        role = _ROLES.get(fields.get("role"))
        if role is None:
            raise openai_error(
                400, f"'{where}.role' must be 'system', 'user', 'assistant' or 'tool'.", param="messages"
            )
        messages.append(_message(fields, where, role, refuse_webp))
    if not any(message.role == "user" for message in messages):
        raise openai_error(400, "'messages' must contain a user message.", param="messages")
    check_pairing(messages)
    return messages


def _message(
    fields: dict[str, object], where: str, role: Literal["system", "user", "assistant", "tool"], refuse_webp: bool
) -> Message:
    calls = parse_tool_calls(fields["tool_calls"], where) if role == "assistant" and "tool_calls" in fields else ()
    if role != "assistant" and "tool_calls" in fields:
        raise openai_error(400, f"'{where}.tool_calls' is only allowed on assistant messages.", param="messages")
    if role != "tool" and "tool_call_id" in fields:
        raise openai_error(400, f"'{where}.tool_call_id' is only allowed on tool messages.", param="messages")
    answered = tool_call_id(fields.get("tool_call_id"), where) if role == "tool" else None
    text, images = _content(fields.get("content"), where, role, refuse_webp)
    return Message(role, text, images, tool_calls=calls, tool_call_id=answered)


def _content(value: object, where: str, role: str, refuse_webp: bool) -> tuple[str, int]:
    """The message text (text parts joined like native `input` items) and its number of images."""
    if isinstance(value, str):
        return value, 0
    if value is None and role == "assistant":  # an assistant turn that only called tools
        return "", 0
    if not isinstance(value, list):
        raise openai_error(400, f"'{where}.content' must be a string or an array of content parts.", param="messages")
    texts: list[str] = []
    images = 0
    for index, part in enumerate(cast(list[object], value)):
        fields = _object(part)
        kind = fields.get("type")
        if kind == "text" and isinstance(fields.get("text"), str):
            texts.append(cast(str, fields["text"]))
        elif kind == "image_url":
            _check_image(_object(fields.get("image_url")).get("url"), refuse_webp)
            images += 1
        else:
            raise openai_error(
                400,
                f"'{where}.content[{index}]' must be a text part {{type: 'text', text}} or an image part "
                "{type: 'image_url', image_url: {url}}.",
                param="messages",
            )
    return user_text_of(texts), images


def _check_image(url: object, refuse_webp: bool) -> None:
    match = _DATA_URL.match(url) if isinstance(url, str) else None
    try:
        ok = match is not None and bool(base64.b64decode(match["data"], validate=True))
    except binascii.Error:
        ok = False
    if not ok or (refuse_webp and match is not None and match["format"].lower() == "webp"):
        raise ApiError(400, {"error": IMAGE_URL_ERROR})


def _max_tokens(value: object) -> int | None:
    if value is None or value == -1 and isinstance(value, int):
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise openai_error(400, "'max_tokens' must be a non-negative integer, or -1 for no limit.", param="max_tokens")
    return value


def _json_schema(value: object) -> object | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise openai_error(400, "'response_format' must be an object.", param="response_format")
    fields = cast(dict[str, object], value)
    kind = fields.get("type")
    if kind == "text":
        return None
    if kind != "json_schema":
        raise ApiError(400, {"error": RESPONSE_FORMAT_ERROR})
    spec = _object(fields.get("json_schema"))
    schema = spec.get("schema")
    if not isinstance(schema, dict | bool):
        raise openai_error(
            400, "'response_format.json_schema.schema' must be a JSON Schema object.", param="response_format"
        )
    # `name` and `strict` are accepted as sent (the documented example even sends "strict": "true").
    return cast(object, schema)


def _check_options(body: dict[str, object]) -> None:
    for key in _NUMBER_FIELDS:
        value = body.get(key)
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
            raise openai_error(400, f"'{key}' must be a number.", param=key)
    for key in _INTEGER_FIELDS:
        _optional(body, key, int, "an integer")
    for key in _STRING_FIELDS:
        _optional(body, key, str, "a string")
    stop = body.get("stop")
    if stop is not None and not (
        isinstance(stop, str) or (isinstance(stop, list) and all(isinstance(s, str) for s in cast(list[object], stop)))
    ):
        raise openai_error(400, "'stop' must be a string or an array of strings.", param="stop")


def _optional(body: dict[str, object], key: str, kind: type, described: str) -> Any:
    value = body.get(key)
    wrong_bool = kind is int and isinstance(value, bool)
    if value is not None and (not isinstance(value, kind) or wrong_bool):
        raise openai_error(400, f"'{key}' must be {described}.", param=key)
    return value


def _object(value: object) -> dict[str, object]:
    return cast(dict[str, object], value) if isinstance(value, dict) else {}
