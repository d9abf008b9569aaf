"""Strict request schemas for the native v1 API, and translation of failures into LM Studio's zod-style errors.

LM Studio validates with zod in strict mode: unknown keys, wrong types and explicit `null` for an optional field
are all rejected with HTTP 400. Pydantic accepts `null` for `X | None` fields, so before validating, every JSON
null is swapped for a sentinel that no field type accepts; the translator then reports "received null".
Written from API.md alone, independently of the client under test (`lms_mcp.lmstudio`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Annotated, Any, Literal, LiteralString, TypeVar, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from lms_mcp.simulator.errors import invalid_request

# Which of these a model accepts is per model (`capabilities.reasoning.allowed_options`); "xhigh" exists on some.
ReasoningOption = Literal["off", "low", "medium", "high", "xhigh", "on"]


class _Null:
    def __repr__(self) -> str:
        return "null"


_NULL = _Null()

# Codes our own validators raise; they pass through the translator unchanged.
_ZOD_CODES = {
    "invalid_type",
    "invalid_union",
    "invalid_string",
    "invalid_enum_value",
    "too_small",
    "too_big",
    "unrecognized_keys",
    "missing_required_parameter",
}
_DATA_URL = re.compile(r"^data:image/[A-Za-z0-9.+-]+;base64,(?P<data>[A-Za-z0-9+/]+={0,2})$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _data_url(value: str) -> str:
    match = _DATA_URL.match(value)
    try:
        ok = match is not None and bool(base64.b64decode(match["data"], validate=True))
    except binascii.Error:
        ok = False
    if not ok:
        raise _custom("invalid_string", "Invalid image: data_url must be a base64 data URL (data:image/...;base64,...)")
    return value


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+", value):
        raise _custom("invalid_string", "Invalid url")
    return value


def _resp_prefix(value: str) -> str:
    if not value.startswith("resp_"):
        raise _custom("invalid_string", 'Invalid input: must start with "resp_"')
    return value


class TextItem(_Strict):
    type: Literal["text"]
    content: str


class ImageItem(_Strict):
    type: Literal["image"]
    data_url: Annotated[str, AfterValidator(_data_url)]


class PluginIntegration(_Strict):
    type: Literal["plugin"]
    id: str
    allowed_tools: list[str] | None = None


class EphemeralMcpIntegration(_Strict):
    type: Literal["ephemeral_mcp"]
    server_label: str
    server_url: Annotated[str, AfterValidator(_http_url)]
    allowed_tools: list[str] | None = None
    headers: dict[str, str] | None = None


InputItem = TextItem | ImageItem
Integration = str | PluginIntegration | EphemeralMcpIntegration

_INPUT_ITEMS: TypeAdapter[list[InputItem]] = TypeAdapter(
    Annotated[list[Annotated[InputItem, Field(discriminator="type")]], Field(min_length=1)]
)
_INTEGRATION_OBJECT: TypeAdapter[PluginIntegration | EphemeralMcpIntegration] = TypeAdapter(
    Annotated[PluginIntegration | EphemeralMcpIntegration, Field(discriminator="type")]
)


def _chat_input(value: object) -> str | list[InputItem]:
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise _custom("invalid_type", f"Expected string | array, received {_received(value)}")
    items = cast(list[object], value)
    for item in items:
        _check_tag(item, ("text", "image"))
    return _nested(_INPUT_ITEMS, items)


def _integration(value: object) -> Integration:
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        raise _custom("invalid_union", "Invalid input")
    item = cast(dict[str, object], value)
    _check_tag(item, ("plugin", "ephemeral_mcp"))
    return _nested(_INTEGRATION_OBJECT, item)


_T = TypeVar("_T")


def _nested(adapter: TypeAdapter[_T], value: object) -> _T:
    # A ValidationError raised inside a validator would be flattened into a generic "value_error";
    # re-raising the first nested issue keeps its zod code and message, under the top-level field.
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        code, message, _ = _issue(exc.errors())
        raise _custom(code, message) from None


def _check_tag(item: object, tags: tuple[str, ...]) -> None:
    if isinstance(item, dict) and cast(dict[str, object], item).get("type") not in tags:
        expected = " | ".join(f"'{tag}'" for tag in tags)
        raise _custom("invalid_union", f"Invalid discriminator value. Expected {expected}")


def _custom(code: str, message: str) -> PydanticCustomError:
    # The message goes in through the context so braces in user-supplied text are never treated as a template.
    return PydanticCustomError(cast(LiteralString, code), "{message}", {"message": message})


Probability = Annotated[float, Field(ge=0, le=1)]
PositiveInt = Annotated[int, Field(ge=1)]


class ChatRequest(_Strict):
    model: str
    input: Annotated[str | list[InputItem], PlainValidator(_chat_input)]
    system_prompt: str | None = None
    integrations: list[Annotated[Integration, PlainValidator(_integration)]] | None = None
    stream: bool = False
    temperature: Probability | None = None
    top_p: Probability | None = None
    top_k: Annotated[int, Field(ge=0)] | None = None
    min_p: Probability | None = None
    repeat_penalty: Annotated[float, Field(gt=0)] | None = None
    max_output_tokens: PositiveInt | None = None
    reasoning: ReasoningOption | None = None
    context_length: PositiveInt | None = None
    store: bool = True
    previous_response_id: Annotated[str, AfterValidator(_resp_prefix)] | None = None


class LoadRequest(_Strict):
    model: str
    context_length: PositiveInt | None = None
    eval_batch_size: PositiveInt | None = None
    flash_attention: bool | None = None
    num_experts: PositiveInt | None = None
    offload_kv_cache_to_gpu: bool | None = None
    echo_load_config: bool = False


class UnloadRequest(_Strict):
    instance_id: str


class DownloadRequest(_Strict):
    model: str
    quantization: str | None = None


_M = TypeVar("_M", bound=BaseModel)


def parse_json(raw: bytes) -> Any:
    """Parse a request body like Express's JSON parser: empty means `{}`, bad JSON is a 400 with the parser message."""
    if not raw.strip():
        return {}
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        raise invalid_request(str(exc)) from None


def _reject_constant(name: str) -> Any:
    # Python accepts NaN and Infinity; JSON.parse does not.
    raise ValueError(f"Unexpected token '{name}' is not valid JSON")


def validate(schema: type[_M], data: Any) -> _M:
    """Validate a parsed body against a strict schema; failures become LM Studio's 400 invalid_request."""
    try:
        return schema.model_validate(_mark_nulls(data))
    except ValidationError as exc:
        code, message, param = _issue(exc.errors())
        raise invalid_request(message, code=code, param=param) from None


def _mark_nulls(value: Any) -> Any:
    if value is None:
        return _NULL
    if isinstance(value, dict):
        return {key: _mark_nulls(item) for key, item in cast(dict[str, Any], value).items()}
    if isinstance(value, list):
        return [_mark_nulls(item) for item in cast(list[Any], value)]
    return value


def _issue(errors: list[ErrorDetails]) -> tuple[str, str, str | None]:
    """The first problem, as (zod code, message, top-level param), the way LM Studio reports a single issue."""
    first = errors[0]
    loc = first["loc"]
    param = str(loc[0]) if loc else None
    kind = first["type"]
    if kind == "extra_forbidden":
        parent = loc[:-1]
        keys = [str(e["loc"][-1]) for e in errors if e["type"] == "extra_forbidden" and e["loc"][:-1] == parent]
        listed = ", ".join(f"'{key}'" for key in keys)
        return "unrecognized_keys", f"Unrecognized key(s) in object: {listed}", param
    if kind == "missing":
        return "missing_required_parameter", f'"{loc[-1]}" is required', param
    code, message = _translate(first)
    return code, message, param


def _translate(error: ErrorDetails) -> tuple[str, str]:
    kind, value, ctx = error["type"], error["input"], error.get("ctx") or {}
    received = _received(value)
    if kind in _ZOD_CODES:
        return kind, error["msg"]
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace(" or ", " | ").replace(", ", " | ")
        if isinstance(value, str):
            return "invalid_enum_value", f"Invalid enum value. Expected {expected}, received '{value}'"
        return "invalid_type", f"Expected {expected}, received {received}"
    bounds = {
        "greater_than_equal": ("too_small", "greater than or equal to", "ge"),
        "greater_than": ("too_small", "greater than", "gt"),
        "less_than_equal": ("too_big", "less than or equal to", "le"),
        "less_than": ("too_big", "less than", "lt"),
    }
    if kind in bounds:
        code, relation, key = bounds[kind]
        return code, f"Number must be {relation} {_js_number(ctx.get(key))}"
    if kind == "too_short":
        return "too_small", f"Array must contain at least {ctx.get('min_length')} element(s)"
    if kind == "int_type" and isinstance(value, float):
        return "invalid_type", "Expected integer, received float"
    expected_names = {
        "string_type": "string",
        "int_type": "number",
        "float_type": "number",
        "bool_type": "boolean",
        "list_type": "array",
        "dict_type": "object",
        "model_type": "object",
        "model_attributes_type": "object",
    }
    if kind in expected_names:
        return "invalid_type", f"Expected {expected_names[kind]}, received {received}"
    return "custom", error["msg"]


def _received(value: object) -> str:
    if value is None or isinstance(value, _Null):
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _js_number(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
