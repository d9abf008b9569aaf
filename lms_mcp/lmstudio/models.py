"""Pydantic models of LM Studio's native REST API v1 wire format.

Responses ignore unknown fields, so a newer LM Studio that adds keys keeps working. Requests forbid
unknown fields and serialise without unset values: LM Studio validates strictly and answers 400 to any
key it does not document, so the client must never send one.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

DownloadStatusName = Literal["downloading", "paused", "completed", "failed", "already_downloaded"]


class WireModel(BaseModel):
    """A response body: tolerant of fields LM Studio may add."""

    model_config = ConfigDict(extra="ignore", defer_build=True)


class RequestModel(BaseModel):
    """A request body: only documented fields, never an unset one."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)


# --- GET /api/v1/models -------------------------------------------------------------------------


class Quantization(WireModel):
    name: str | None = None
    bits_per_weight: float | None = None


class ReasoningCapability(WireModel):
    allowed_options: list[str] = Field(default_factory=list[str])
    default: str | None = None


class Capabilities(WireModel):
    vision: bool = False
    trained_for_tool_use: bool = False
    reasoning: ReasoningCapability | None = None


class LoadSettings(BaseModel):
    """The settings a model is loaded with: asked for in a load, echoed back, shown per instance."""

    model_config = ConfigDict(defer_build=True)

    context_length: int | None = None
    eval_batch_size: int | None = None
    flash_attention: bool | None = None
    num_experts: int | None = None
    offload_kv_cache_to_gpu: bool | None = None


class InstanceConfig(LoadSettings, WireModel):
    parallel: int | None = None


class LoadedInstance(WireModel):
    id: str
    config: InstanceConfig = Field(default_factory=InstanceConfig)


class ModelInfo(WireModel):
    type: str
    key: str
    publisher: str | None = None
    display_name: str | None = None
    architecture: str | None = None
    quantization: Quantization | None = None
    size_bytes: int | None = None
    params_string: str | None = None
    loaded_instances: list[LoadedInstance] = Field(default_factory=list[LoadedInstance])
    max_context_length: int | None = None
    format: str | None = None
    capabilities: Capabilities | None = None
    description: str | None = None
    variants: list[str] | None = None
    selected_variant: str | None = None


class ModelList(WireModel):
    models: list[ModelInfo]


# --- POST /api/v1/models/load, /unload ------------------------------------------------------------


class LoadRequest(LoadSettings, RequestModel):
    model: str
    echo_load_config: bool | None = None


class LoadConfig(LoadSettings, WireModel):
    pass


class LoadResponse(WireModel):
    type: str
    instance_id: str
    load_time_seconds: float | None = None
    status: str = "loaded"
    load_config: LoadConfig | None = None


class UnloadRequest(RequestModel):
    instance_id: str


class UnloadResponse(WireModel):
    instance_id: str


# --- POST /api/v1/models/download, GET .../status/:job_id -----------------------------------------


class DownloadRequest(RequestModel):
    model: str
    quantization: str | None = None


class DownloadJob(WireModel):
    status: str
    job_id: str | None = None
    total_size_bytes: int | None = None
    downloaded_bytes: int | None = None
    bytes_per_second: float | None = None
    estimated_completion: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    # Undocumented; some LM Studio builds explain a failed job here.
    error: str | None = None


# --- POST /api/v1/chat ----------------------------------------------------------------------------


class TextInput(RequestModel):
    type: Literal["text"] = "text"
    content: str


class ImageInput(RequestModel):
    type: Literal["image"] = "image"
    data_url: str


InputItem = Annotated[TextInput | ImageInput, Field(discriminator="type")]


class PluginIntegration(RequestModel):
    type: Literal["plugin"] = "plugin"
    id: str
    allowed_tools: list[str] | None = None


class EphemeralMcpIntegration(RequestModel):
    type: Literal["ephemeral_mcp"] = "ephemeral_mcp"
    server_label: str
    server_url: str
    allowed_tools: list[str] | None = None
    headers: dict[str, str] | None = None


Integration = str | Annotated[PluginIntegration | EphemeralMcpIntegration, Field(discriminator="type")]


class ChatRequest(RequestModel):
    model: str
    input: str | list[InputItem]
    system_prompt: str | None = None
    integrations: list[Integration] | None = None
    stream: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    repeat_penalty: float | None = None
    max_output_tokens: int | None = None
    # Per model: the listing names the allowed values (off, low, medium, high, xhigh, on, ...).
    reasoning: str | None = None
    context_length: int | None = None
    store: bool | None = None
    previous_response_id: str | None = None


class ProviderInfo(WireModel):
    type: str
    plugin_id: str | None = None
    server_label: str | None = None


class MessageItem(WireModel):
    type: Literal["message"] = "message"
    content: str


class ReasoningItem(WireModel):
    type: Literal["reasoning"] = "reasoning"
    content: str


class ToolCallItem(WireModel):
    type: Literal["tool_call"] = "tool_call"
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict[str, Any])
    output: str | None = None
    provider_info: ProviderInfo | None = None


class InvalidToolCallMetadata(WireModel):
    type: str
    tool_name: str | None = None
    arguments: dict[str, Any] | None = None
    provider_info: ProviderInfo | None = None


class InvalidToolCallItem(WireModel):
    type: Literal["invalid_tool_call"] = "invalid_tool_call"
    reason: str
    metadata: InvalidToolCallMetadata | None = None


class UnknownOutputItem(WireModel):
    """An output item of a type this client does not know yet; kept, not rejected."""

    model_config = ConfigDict(extra="allow")
    type: str


_KNOWN_OUTPUT_TYPES = frozenset({"message", "reasoning", "tool_call", "invalid_tool_call"})


def _output_item_tag(item: Any) -> str:
    kind: Any = cast(dict[str, Any], item).get("type") if isinstance(item, dict) else getattr(item, "type", None)
    return kind if isinstance(kind, str) and kind in _KNOWN_OUTPUT_TYPES else "unknown"


OutputItem = Annotated[
    Annotated[MessageItem, Tag("message")]
    | Annotated[ReasoningItem, Tag("reasoning")]
    | Annotated[ToolCallItem, Tag("tool_call")]
    | Annotated[InvalidToolCallItem, Tag("invalid_tool_call")]
    | Annotated[UnknownOutputItem, Tag("unknown")],
    Discriminator(_output_item_tag),
]


class ChatStats(WireModel):
    input_tokens: int = 0
    total_output_tokens: int = 0
    reasoning_output_tokens: int = 0
    tokens_per_second: float | None = None
    time_to_first_token_seconds: float | None = None
    model_load_time_seconds: float | None = None


class ChatResponse(WireModel):
    model_instance_id: str
    output: list[OutputItem] = Field(default_factory=list[OutputItem])
    stats: ChatStats = Field(default_factory=ChatStats)
    response_id: str | None = None

    @property
    def message_text(self) -> str:
        """The assistant's answer: every message item, in order."""
        return "".join(item.content for item in self.output if isinstance(item, MessageItem))

    @property
    def reasoning_text(self) -> str:
        return "".join(item.content for item in self.output if isinstance(item, ReasoningItem))


class ErrorDetail(WireModel):
    """LM Studio's native error object: `{"type", "message", "code"?, "param"?}`.

    Tolerant of other shapes (a numeric `code`, a null `type`): an error's text must never be lost to validation.
    """

    type: str = "unknown"
    message: str = ""
    code: str | None = None
    param: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        fields = cast(dict[str, Any], value)
        text = {key: str(fields[key]) for key in ("type", "message", "code", "param") if fields.get(key) is not None}
        return {**fields, **text}


# --- POST /v1/chat/completions (OpenAI-compatible; the only route with JSON-schema answers) -------


class TextPart(RequestModel):
    type: Literal["text"] = "text"
    text: str


class ImageUrl(RequestModel):
    url: str


class ImagePart(RequestModel):
    type: Literal["image_url"] = "image_url"
    image_url: ImageUrl


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class FunctionSpec(RequestModel):
    name: str
    description: str | None = None
    # A JSON Schema object for the arguments.
    parameters: dict[str, Any] | None = None


class FunctionTool(RequestModel):
    """A function the model may call; the client runs it and sends the result back as a `tool` message."""

    type: Literal["function"] = "function"
    function: FunctionSpec


class CalledFunction(RequestModel):
    name: str
    # JSON text, exactly as the model wrote it.
    arguments: str


class RequestToolCall(RequestModel):
    """A call of an earlier assistant turn, sent back with the conversation."""

    id: str
    type: Literal["function"] = "function"
    function: CalledFunction


class CompletionMessage(RequestModel):
    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[ContentPart]
    # An assistant turn's calls, and the call a `tool` message answers.
    tool_calls: list[RequestToolCall] | None = None
    tool_call_id: str | None = None


class JsonSchemaFormat(RequestModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str
    # "schema" would shadow a BaseModel attribute, hence the alias.
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None


class ResponseFormat(RequestModel):
    type: Literal["json_schema", "text"]
    json_schema: JsonSchemaFormat | None = None


class CompletionRequest(RequestModel):
    model: str
    messages: list[CompletionMessage]
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    repeat_penalty: float | None = None
    max_tokens: int | None = None
    # LM Studio's switch for thinking on this route: "none" turns it off; a level the model lacks is not an error.
    reasoning_effort: str | None = None
    response_format: ResponseFormat | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: Literal["none", "auto", "required"] | None = None


class CompletionFunction(WireModel):
    name: str = ""
    arguments: str = ""

    @field_validator("arguments", mode="before")
    @classmethod
    def _as_json_text(cls, value: Any) -> Any:
        # OpenAI sends a JSON string; a server that sends the object itself still means the same call.
        return json.dumps(value) if isinstance(value, dict | list) else value


class CompletionToolCall(WireModel):
    id: str = ""
    type: str = "function"
    function: CompletionFunction = Field(default_factory=CompletionFunction)


class CompletionChoiceMessage(WireModel):
    role: str = "assistant"
    content: str | None = None
    # Thinking text: `reasoning` (gpt-oss, LM Studio 0.3.23+) or `reasoning_content` (when LM Studio's developer
    # setting separates it). Some builds put a json_schema answer here and leave `content` empty.
    reasoning_content: str | None = None
    reasoning: str | None = None
    tool_calls: list[CompletionToolCall] | None = None


class CompletionChoice(WireModel):
    index: int = 0
    finish_reason: str | None = None
    message: CompletionChoiceMessage


class CompletionUsage(WireModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ChatCompletion(WireModel):
    id: str | None = None
    model: str | None = None
    choices: list[CompletionChoice]
    usage: CompletionUsage | None = None


# --- POST /v1/embeddings (OpenAI-compatible; v1 has no native embeddings route) ------------------


class EmbeddingsRequest(RequestModel):
    model: str
    input: str | list[str]


class Embedding(WireModel):
    embedding: list[float]
    index: int = 0


class EmbeddingsUsage(WireModel):
    prompt_tokens: int = 0
    total_tokens: int = 0


class EmbeddingsResponse(WireModel):
    data: list[Embedding]
    model: str | None = None
    usage: EmbeddingsUsage | None = None


class Greeting(WireModel):
    lmstudio: bool = False
