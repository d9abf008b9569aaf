"""Tools that manage models: list_models, load_model, unload_model."""

from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import BaseModel, Field

from ..app_state import AppState
from ..lmstudio import LMStudioClient
from ..lmstudio.models import LoadRequest, LoadSettings, ModelInfo
from ..printable import human_bytes
from ..waiting import with_heartbeat
from .errors import BridgeError, ErrorCode, model_not_found
from .results import json_result, tool_result


class InstanceSummary(BaseModel):
    id: str = Field(description="Instance id: pass it to chat's `model` or to unload_model")
    context_length: int | None = None


class ModelSummary(BaseModel):
    key: str = Field(description="Model key: pass it to chat, load_model or unload_model")
    display_name: str | None = None
    type: str = Field(description="llm or embedding")
    publisher: str | None = None
    architecture: str | None = None
    quantization: str | None = None
    bits_per_weight: float | None = None
    size_bytes: int | None = None
    params: str | None = None
    format: str | None = None
    max_context_length: int | None = None
    vision: bool = False
    tool_use: bool = False
    reasoning_options: list[str] | None = Field(default=None, description="Values chat's `reasoning` accepts")
    reasoning_default: str | None = None
    variants: list[str] | None = None
    selected_variant: str | None = None
    loaded_instances: list[InstanceSummary] = Field(default_factory=list[InstanceSummary])


class ModelListResult(BaseModel):
    models: list[ModelSummary]
    count: int


def summarize(model: ModelInfo) -> dict[str, Any]:
    """One model as list_models reports it: ModelSummary's fields in order, as JSON values.

    A dict, not a ModelSummary: the values come validated from LM Studio's answer, and building models only
    to dump them again doubled the work per model (the SDK still checks the result against ModelListResult).
    """
    caps = model.capabilities
    reasoning = caps.reasoning if caps else None
    quant = model.quantization
    return {
        "key": model.key,
        "display_name": model.display_name,
        "type": model.type,
        "publisher": model.publisher,
        "architecture": model.architecture,
        "quantization": quant.name if quant else None,
        "bits_per_weight": quant.bits_per_weight if quant else None,
        "size_bytes": model.size_bytes,
        "params": model.params_string,
        "format": model.format,
        "max_context_length": model.max_context_length,
        "vision": bool(caps and caps.vision),
        "tool_use": bool(caps and caps.trained_for_tool_use),
        "reasoning_options": list(reasoning.allowed_options) if reasoning else None,
        "reasoning_default": reasoning.default if reasoning else None,
        "variants": model.variants,
        "selected_variant": model.selected_variant,
        "loaded_instances": [
            {"id": inst.id, "context_length": inst.config.context_length} for inst in model.loaded_instances
        ],
    }


def render_model(model: dict[str, Any]) -> str:
    traits = [model["type"]]
    if model["params"]:
        traits.append(model["params"])
    if model["quantization"]:
        traits.append(model["quantization"])
    traits.append(human_bytes(model["size_bytes"]))
    if model["max_context_length"]:
        traits.append(f"max ctx {model['max_context_length']}")
    if model["vision"]:
        traits.append("vision")
    if model["tool_use"]:
        traits.append("tool use")
    if model["reasoning_options"]:
        traits.append(f"reasoning {'|'.join(model['reasoning_options'])}")
    line = f"- {model['key']} ({', '.join(traits)})"
    if model["loaded_instances"]:
        loaded = ", ".join(f"{i['id']} ctx {i['context_length']}" for i in model["loaded_instances"])
        line += f" LOADED: {loaded}"
    return line


def render_model_list(models: list[dict[str, Any]]) -> str:
    if not models:
        return "No models match. Download one with download_model."
    loaded = sum(1 for m in models if m["loaded_instances"])
    header = f"{len(models)} model(s), {loaded} loaded:"
    return "\n".join([header, *(render_model(m) for m in models)])


class LoadResult(LoadSettings):
    instance_id: str = Field(description="Pass it to chat's `model` or to unload_model")
    model: str
    type: str | None = None
    already_loaded: bool = Field(description="True when an existing instance was returned instead of a new load")
    load_time_seconds: float | None = None


class UnloadResult(BaseModel):
    unloaded: list[str] = Field(description="Instance ids that were unloaded")


def load_settings(config: LoadSettings | None) -> dict[str, Any]:
    """The effective load settings, from a loaded instance's config or a load's echoed config."""
    return config.model_dump(include=set(LoadSettings.model_fields)) if config else {}


def _find_model(models: list[ModelInfo], key: str) -> ModelInfo | None:
    return next((m for m in models if m.key == key), None)


async def list_models(
    ctx: Context[AppState],
    type: Annotated[
        Literal["llm", "embedding"] | None, Field(description="Only models of this type (default: all)")
    ] = None,
    loaded_only: Annotated[bool, Field(description="Only models that are loaded in memory now")] = False,
) -> Annotated[CallToolResult, ModelListResult]:
    """List the models downloaded in LM Studio, with which are loaded and what each can do.

    Use it to pick a `model` key for chat or load_model, to see loaded instance ids for
    unload_model, and to read capabilities (vision, tool use, allowed `reasoning` values).
    """
    listing = await ctx.request_context.lifespan_context.client.list_models()
    models = [
        summarize(m)
        for m in listing.models
        if (type is None or m.type == type) and (not loaded_only or m.loaded_instances)
    ]
    return json_result({"models": models, "count": len(models)}, render_model_list(models))


async def existing_instance(client: LMStudioClient, model: str, context_length: int | None) -> LoadResult | None:
    """The model's first loaded instance, if it has one that fits the asked context length."""
    listing = await client.list_models()
    info = _find_model(listing.models, model)
    if info is None:
        raise model_not_found(model, [m.key for m in listing.models])
    if not info.loaded_instances:
        return None
    instance = info.loaded_instances[0]
    loaded_ctx = instance.config.context_length
    if context_length is not None and loaded_ctx is not None and loaded_ctx != context_length:
        raise BridgeError(
            ErrorCode.INVALID_ARGUMENT,
            f"{model!r} is already loaded as {instance.id!r} with context_length {loaded_ctx}, not "
            f"{context_length}. Use that instance, unload it first (unload_model), or pass "
            "new_instance=true to load a second copy.",
        )
    return LoadResult(
        instance_id=instance.id, model=model, type=info.type, already_loaded=True, **load_settings(instance.config)
    )


async def load_new(ctx: Context[AppState], request: LoadRequest) -> LoadResult:
    """Load a new instance, with heartbeats while LM Studio is silent, within --max-call-seconds."""
    state = ctx.request_context.lifespan_context
    limit = state.settings.max_call_seconds

    async def heartbeat(elapsed: float) -> None:
        await ctx.report_progress(elapsed, None, f"Loading {request.model}: {elapsed:.1f} s")

    try:
        with anyio.fail_after(limit):
            loaded = await with_heartbeat(
                lambda: state.client.load_model(request, read_timeout=limit),
                heartbeat,
                state.settings.progress_interval,
            )
    except TimeoutError:
        raise BridgeError(
            ErrorCode.TIMEOUT,
            f"Loading {request.model} took longer than {limit:g} s. LM Studio may still finish "
            "it: check list_models, or raise --max-call-seconds / LMS_MCP_MAX_CALL_SECONDS.",
        ) from None
    return LoadResult(
        instance_id=loaded.instance_id,
        model=request.model,
        type=loaded.type,
        already_loaded=False,
        load_time_seconds=loaded.load_time_seconds,
        **load_settings(loaded.load_config),
    )


def render_load(result: LoadResult) -> str:
    if result.already_loaded:
        return f"{result.model} is already loaded as {result.instance_id} (context {result.context_length})."
    took = f" in {result.load_time_seconds:.1f} s" if result.load_time_seconds is not None else ""
    return f"Loaded {result.model} as {result.instance_id}{took} (context {result.context_length})."


async def load_model(
    ctx: Context[AppState],
    model: Annotated[str, Field(min_length=1, description="Model key from list_models")],
    context_length: Annotated[int | None, Field(ge=1, description="Context window in tokens")] = None,
    eval_batch_size: Annotated[int | None, Field(ge=1, description="Prompt batch size (llama.cpp only)")] = None,
    flash_attention: Annotated[bool | None, Field(description="Flash attention (llama.cpp only)")] = None,
    num_experts: Annotated[int | None, Field(ge=1, description="Active experts for MoE models")] = None,
    offload_kv_cache_to_gpu: Annotated[bool | None, Field(description="Keep the KV cache on the GPU")] = None,
    new_instance: Annotated[
        bool, Field(description="Load another copy even if the model is already loaded (default false)")
    ] = False,
) -> Annotated[CallToolResult, LoadResult]:
    """Load a downloaded model into memory and return its instance id.

    If the model is already loaded, the existing instance is returned (already_loaded=true) rather
    than a second copy; pass new_instance=true to really load another one. Loading can take from
    seconds to minutes. chat also loads models on demand, so this is only needed to choose settings
    such as context_length up front or to warm a model before use.
    """
    client = ctx.request_context.lifespan_context.client
    result = None if new_instance else await existing_instance(client, model, context_length)
    if result is None:
        request = LoadRequest(
            model=model,
            context_length=context_length,
            eval_batch_size=eval_batch_size,
            flash_attention=flash_attention,
            num_experts=num_experts,
            offload_kv_cache_to_gpu=offload_kv_cache_to_gpu,
            echo_load_config=True,
        )
        result = await load_new(ctx, request)
    return tool_result(result, render_load(result))


async def unload_model(
    ctx: Context[AppState],
    instance_id: Annotated[
        str,
        Field(
            min_length=1,
            description="Loaded instance id (e.g. 'qwen/qwen3-4b:2'), or a model key to unload all of its instances",
        ),
    ],
) -> Annotated[CallToolResult, UnloadResult]:
    """Unload a model from memory to free RAM/VRAM.

    Takes an instance id from list_models (e.g. 'qwen/qwen3-4b:2'), or a model key, which unloads
    every loaded instance of that model. Any chat running on it is interrupted.
    """
    client = ctx.request_context.lifespan_context.client
    listing = await client.list_models()
    instance_ids = [inst.id for m in listing.models for inst in m.loaded_instances]
    # A model key wins over the equal id of its first instance: the key means every instance.
    info = _find_model(listing.models, instance_id)
    if info is None:
        if instance_id not in instance_ids:
            keys = [m.key for m in listing.models]
            raise model_not_found(instance_id, instance_ids + keys, "loaded instance or model")
        targets = [instance_id]
    else:
        targets = [inst.id for inst in info.loaded_instances]
        if not targets:
            loaded = ", ".join(instance_ids) or "none"
            raise BridgeError(
                ErrorCode.INVALID_ARGUMENT,
                f"{instance_id!r} is not loaded, so there is nothing to unload. Loaded instances: {loaded}.",
            )
    unloaded = [(await client.unload_model(target)).instance_id for target in targets]
    return tool_result(UnloadResult(unloaded=unloaded), f"Unloaded {', '.join(unloaded)}.")
