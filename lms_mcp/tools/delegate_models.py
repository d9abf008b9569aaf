"""Which model a delegation goes to: one LM Studio's listing says is trained for tool use, when it is up to us."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..lmstudio import LMStudioClient
from ..lmstudio.models import ModelInfo
from .chat_models import check_reasoning, find_model
from .errors import BridgeError, ErrorCode, model_not_found


@dataclass
class ToolModel:
    # The key or instance id the turns name.
    key: str
    # The loaded context in tokens, when the listing says (it bounds what the model can read).
    context_length: int | None
    notes: list[str] = field(default_factory=lambda: list[str]())


def uses_tools(info: ModelInfo) -> bool:
    return info.type == "llm" and info.capabilities is not None and info.capabilities.trained_for_tool_use


async def choose_tool_model(client: LMStudioClient, wanted: str | None, reasoning: str | None) -> ToolModel:
    """The model asked for (or the default), else a loaded tool-use model; a note when it is not one."""
    models = (await client.list_models()).models
    notes: list[str] = []
    if wanted is None:
        wanted, notes = _loaded_tool_model(models)
    info = find_model(models, wanted)
    if info is None:
        raise model_not_found(wanted, [m.key for m in models])
    if info.type != "llm":
        raise BridgeError(
            ErrorCode.INVALID_ARGUMENT,
            f"{info.key} is an embedding model; delegate needs an LLM trained for tool use: {_tool_users(models)}.",
        )
    if reasoning is not None:
        check_reasoning(info, models, reasoning)
    if info.capabilities is not None and not info.capabilities.trained_for_tool_use:
        notes.append(
            f"{info.key} is not trained for tool use (LM Studio's listing says so): it may answer without "
            f"exploring, or call the tools badly. Models that are: {_tool_users(models)}."
        )
    return ToolModel(wanted, _context_length(info, wanted), notes)


def _loaded_tool_model(models: list[ModelInfo]) -> tuple[str, list[str]]:
    loaded = [m.key for m in models if m.loaded_instances and uses_tools(m)]
    if not loaded:
        raise BridgeError(
            ErrorCode.NO_MODEL_LOADED,
            "No model was given, there is no default, and no loaded LLM is trained for tool use. Pass `model` "
            f"(it is loaded on demand) or set --default-model. Models trained for tool use: {_tool_users(models)}.",
        )
    if len(loaded) == 1:
        return loaded[0], []
    return loaded[0], [f"Several loaded models can use tools ({', '.join(loaded)}); {loaded[0]} was used."]


def _tool_users(models: list[ModelInfo]) -> str:
    return ", ".join(m.key for m in models if uses_tools(m)) or "none downloaded (download one with download_model)"


def _context_length(info: ModelInfo, wanted: str) -> int | None:
    instances = [i for i in info.loaded_instances if i.id == wanted] or info.loaded_instances
    return instances[0].config.context_length if instances else None
