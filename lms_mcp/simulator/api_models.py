"""Model management: `GET /api/v1/models`, `POST /api/v1/models/load`, `POST /api/v1/models/unload`, and the
OpenAI-compatible listing `GET /v1/models`."""

from __future__ import annotations

from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response

from lms_mcp.simulator.catalog import LoadedInstance, ModelEntry
from lms_mcp.simulator.errors import invalid_request, lms_error, model_not_found
from lms_mcp.simulator.responses import LMStudioJSONResponse
from lms_mcp.simulator.schemas import LoadRequest, UnloadRequest, parse_json, validate
from lms_mcp.simulator.state import LoadOptions, State


class ModelsApi:
    def __init__(self, state: State) -> None:
        self.state = state

    async def list_models(self, request: Request) -> Response:
        self.state.refresh()
        build = self.state.config.build
        models = [
            entry.to_json(reasoning=build.lists_reasoning, parallel=build.lists_parallel)
            for entry in self.state.models()
        ]
        return LMStudioJSONResponse({"models": models})

    async def list_openai_models(self, request: Request) -> Response:
        self.state.refresh()
        data = [
            {"id": model_id, "object": "model", "owned_by": "organization_owner"} for model_id in openai_ids(self.state)
        ]
        return LMStudioJSONResponse({"object": "list", "data": data})

    async def load(self, request: Request) -> Response:
        state = self.state
        state.refresh()
        body = validate(LoadRequest, parse_json(await request.body()))
        entry = state.find_model(body.model)
        if entry is None:
            raise model_not_found(body.model)
        if body.context_length is not None and body.context_length > entry.max_context_length:
            raise invalid_request(
                f"context_length {body.context_length} exceeds the maximum context length of model "
                f"'{entry.key}' ({entry.max_context_length}).",
                param="context_length",
            )
        options = LoadOptions(
            context_length=body.context_length,
            eval_batch_size=body.eval_batch_size,
            flash_attention=body.flash_attention,
            num_experts=body.num_experts,
            offload_kv_cache_to_gpu=body.offload_kv_cache_to_gpu,
        )
        load_time = state.config.load_time
        # The id is reserved for the whole load, so concurrent loads of one model get key, key:2, ...
        instance_id = state.reserve_instance_id(entry)
        try:
            # Blocks like LM Studio's load does: no progress, one answer at the end.
            await anyio.sleep(load_time)
            instance = state.add_instance(entry, instance_id, options, jit=False)
        finally:
            state.release_instance_id(instance_id)
        response: dict[str, Any] = {
            "type": entry.type,
            "instance_id": instance.id,
            "load_time_seconds": round(load_time, 3),
            "status": "loaded",
        }
        if body.echo_load_config:
            response["load_config"] = _load_config(entry, instance)
        return LMStudioJSONResponse(response)

    async def unload(self, request: Request) -> Response:
        self.state.refresh()
        body = validate(UnloadRequest, parse_json(await request.body()))
        if not self.state.remove_instance(body.instance_id):
            raise lms_error(
                404,
                "model_not_found",
                f"No loaded model instance with id '{body.instance_id}'.",
                param="instance_id",
            )
        return LMStudioJSONResponse({"instance_id": body.instance_id})


def openai_ids(state: State) -> list[str]:
    """What `/v1/models` lists: every downloaded model while JIT loading is on, else the loaded instances (§6)."""
    if state.config.jit:
        return [entry.key for entry in state.models()]
    return [instance.id for entry in state.models() for instance in entry.loaded_instances]


def _load_config(entry: ModelEntry, instance: LoadedInstance) -> dict[str, Any]:
    """`load_config` as in fixtures/api-v1-models-load: LLM engine settings only where they apply."""
    if entry.type == "embedding":
        return {"context_length": instance.context_length}
    config: dict[str, Any] = {
        "context_length": instance.context_length,
        "eval_batch_size": instance.eval_batch_size,
        "flash_attention": instance.flash_attention,
        "offload_kv_cache_to_gpu": instance.offload_kv_cache_to_gpu,
    }
    if entry.num_experts:
        config["num_experts"] = instance.num_experts
    return config
