"""The arguments of the tools that hand work to a model, with the descriptions the calling model reads."""

from typing import Annotated, Any

from pydantic import Field

from ..lmstudio.models import EphemeralMcpIntegration, PluginIntegration
from ..printable import UNPRINTABLE

# Printable names only: a name is echoed in results, so it must not carry line breaks, escapes or bidi overrides.
SESSION_NAME = f"^[^{UNPRINTABLE}]+$"

PromptArg = Annotated[str, Field(min_length=1, description="The task or question for the local model")]
ModelArg = Annotated[
    str | None,
    Field(
        description="Model key or instance id from list_models (default: the session's model, the "
        "configured default model, else the only loaded LLM). An unloaded model is loaded on demand."
    ),
]
SessionArg = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=200,
        pattern=SESSION_NAME,
        description="Name a conversation to continue it on later calls without resending anything "
        "(e.g. 'review-auth'); the first call starts it",
    ),
]
FilesArg = Annotated[
    list[str] | None,
    Field(
        max_length=100,
        description="Paths of text files the server reads and puts before the prompt, so you do not "
        "have to read them yourself (only inside the server's allowed directories)",
    ),
]
ImagesArg = Annotated[
    list[str] | None,
    Field(max_length=20, description="Image paths or data:image/...;base64 URLs, for vision models"),
]
SystemPromptArg = Annotated[
    str | None, Field(description="System instructions (sent on a conversation's first turn only)")
]
PreviousResponseIdArg = Annotated[
    str | None,
    Field(pattern=r"^resp_", description="Continue the conversation that returned this response_id"),
]
StoreArg = Annotated[
    bool | None,
    Field(
        description="Keep this exchange in LM Studio so previous_response_id can continue it (default: kept "
        "for a session or a continuation, not for a one-shot call)"
    ),
]
TemperatureArg = Annotated[float | None, Field(ge=0, le=1, description="Sampling randomness, 0 to 1")]
TopPArg = Annotated[
    float | None, Field(ge=0, le=1, description="Nucleus sampling: keep the likeliest tokens up to this mass")
]
TopKArg = Annotated[int | None, Field(ge=1, description="Sample only from this many likeliest tokens")]
MinPArg = Annotated[
    float | None, Field(ge=0, le=1, description="Drop tokens less likely than this fraction of the top one")
]
RepeatPenaltyArg = Annotated[float | None, Field(ge=0, allow_inf_nan=False, description="1 = no penalty")]
MaxOutputTokensArg = Annotated[int | None, Field(ge=1, description="Stop after this many tokens")]
ReasoningArg = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=40,
        description="Thinking effort for reasoning models, e.g. off, low, medium, high, on "
        "(list_models shows each model's allowed values)",
    ),
]
IncludeReasoningArg = Annotated[bool, Field(description="Return the model's thinking too (default: only the answer)")]
ContextLengthArg = Annotated[
    int | None, Field(ge=1, description="Context window to load the model with, if it must be loaded")
]
JsonSchemaArg = Annotated[
    dict[str, Any] | None,
    Field(
        description="A JSON Schema the answer must follow; the parsed JSON comes back in `parsed` "
        "(not with session or previous_response_id)"
    ),
]
IntegrationsArg = Annotated[
    list[str | PluginIntegration | EphemeralMcpIntegration] | None,
    Field(
        description="LM Studio-side MCP tools the model may call: plugin ids like 'mcp/playwright', "
        "or ephemeral MCP servers; they must be enabled in LM Studio's server settings"
    ),
]
