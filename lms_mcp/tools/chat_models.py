"""Which model a chat goes to, and what it can do, checked before any work where the listing says."""

from __future__ import annotations

from ..lmstudio import LMStudioClient
from ..lmstudio.models import ModelInfo
from .errors import BridgeError, ErrorCode, model_not_found


async def resolve_model(client: LMStudioClient, default_model: str | None) -> str:
    """The configured default model, else the only loaded LLM, else an error naming the candidates."""
    if default_model:
        return default_model
    listing = await client.list_models()
    llms = [m for m in listing.models if m.type == "llm"]
    loaded = [m.key for m in llms if m.loaded_instances]
    if len(loaded) == 1:
        return loaded[0]
    if loaded:
        raise BridgeError(
            ErrorCode.INVALID_ARGUMENT,
            f"Several LLMs are loaded ({', '.join(loaded)}): pass `model` to choose one, or set a default "
            "with --default-model / LMS_MCP_DEFAULT_MODEL.",
        )
    downloaded = ", ".join(m.key for m in llms) or "none (download one with download_model)"
    raise BridgeError(
        ErrorCode.NO_MODEL_LOADED,
        f"No model was given and no LLM is loaded. Pass `model` (it is loaded on demand) or call load_model "
        f"first. Downloaded LLMs: {downloaded}.",
    )


async def unknown_model(client: LMStudioClient, key: str) -> BridgeError:
    """LM Studio said it has no such model: the error, with the closest keys it does have."""
    listing = await client.list_models()
    return model_not_found(key, [m.key for m in listing.models])


def find_model(models: list[ModelInfo], name: str) -> ModelInfo | None:
    """The model a chat `model` names: a key, a loaded instance id (`key:2`) or a variant (`key@q4_k_m`)."""
    for info in models:
        if name == info.key or name in (info.variants or []) or any(i.id == name for i in info.loaded_instances):
            return info
    return None


def check_reasoning(info: ModelInfo, models: list[ModelInfo], reasoning: str) -> None:
    """Refuse a level the listing rules out. Builds before 0.4.8 list no levels for any model
    (lmstudio-bug-tracker #1659): then nothing is known, the value is sent and LM Studio's answer relayed."""
    if not any(m.capabilities and m.capabilities.reasoning for m in models):
        return
    caps = info.capabilities
    if caps is None:
        return  # A model listed without capabilities (seen for side-loaded models): LM Studio decides.
    allowed = caps.reasoning.allowed_options if caps.reasoning else []
    if reasoning not in allowed:
        choice = f"Allowed values: {', '.join(allowed)}." if allowed else "Leave `reasoning` out for it."
        raise BridgeError(ErrorCode.INVALID_ARGUMENT, f"{info.key} does not support reasoning={reasoning!r}. {choice}")


def check_vision(info: ModelInfo, models: list[ModelInfo]) -> None:
    if info.capabilities is None or info.capabilities.vision:
        return
    vision = [m.key for m in models if m.capabilities and m.capabilities.vision]
    raise BridgeError(
        ErrorCode.INVALID_ARGUMENT,
        f"{info.key} cannot see images. Vision models: {', '.join(vision) or 'none downloaded'}.",
    )


async def check_capabilities(client: LMStudioClient, model: str, reasoning: str | None, wants_images: bool) -> None:
    """Refuse, before any work, what the listing says the model cannot do: a clearer error than LM Studio's."""
    listing = await client.list_models()
    info = find_model(listing.models, model)
    if info is None:
        raise model_not_found(model, [m.key for m in listing.models])
    if reasoning is not None:
        check_reasoning(info, listing.models, reasoning)
    if wants_images:
        check_vision(info, listing.models)
