"""`POST /v1/embeddings`, the OpenAI-compatible route: lenient about extra keys, OpenAI-shaped errors."""

from __future__ import annotations

import hashlib
import struct
from typing import cast

import anyio
from starlette.requests import Request
from starlette.responses import Response

from lms_mcp.simulator.catalog import ModelEntry
from lms_mcp.simulator.errors import openai_error, openai_model_not_found
from lms_mcp.simulator.generation import count_words
from lms_mcp.simulator.responses import LMStudioJSONResponse
from lms_mcp.simulator.schemas import parse_json
from lms_mcp.simulator.state import LoadOptions, State

EMBEDDING_DIMENSIONS = 8


def embedding_vector(model_key: str, text: str) -> list[float]:
    """A deterministic unit-length vector for `text`, so tests can check which text was embedded."""
    digest = hashlib.sha256(f"{model_key}\n{text}".encode()).digest()
    raw = [value / 2**31 - 1.0 for value in struct.unpack(">8I", digest)][:EMBEDDING_DIMENSIONS]
    norm = sum(value * value for value in raw) ** 0.5 or 1.0
    return [value / norm for value in raw]


class EmbeddingsApi:
    def __init__(self, state: State) -> None:
        self.state = state

    async def embeddings(self, request: Request) -> Response:
        state = self.state
        state.refresh()
        parsed = parse_json(await request.body())
        if not isinstance(parsed, dict):
            raise openai_error(400, "Request body must be a JSON object.")
        body = cast(dict[str, object], parsed)
        model = body.get("model")
        texts = _texts(body.get("input"))
        if not isinstance(model, str):
            raise openai_error(400, "'model' must be a string.", param="model")
        found = state.find_instance(model)
        entry = found[0] if found is not None else state.find_model(model)
        if entry is None:
            raise openai_model_not_found(model, [candidate.key for candidate in state.models()])
        if entry.type != "embedding":
            raise openai_error(400, f"Model '{model}' is not an embedding model.", param="model")
        await self._ensure_loaded(entry, model)
        data = [
            {"object": "embedding", "embedding": embedding_vector(entry.key, text), "index": index}
            for index, text in enumerate(texts)
        ]
        tokens = sum(count_words(text) for text in texts)
        return LMStudioJSONResponse(
            {
                "object": "list",
                "data": data,
                "model": entry.variant_ids()[0] if entry.variant_ids() else entry.key,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def _ensure_loaded(self, entry: ModelEntry, model: str) -> None:
        state = self.state
        if entry.loaded_instances:
            return
        if not state.config.jit:
            raise openai_error(400, f"Model '{model}' is not loaded and JIT model loading is disabled.", param="model")
        instance_id = state.reserve_instance_id(entry)
        try:
            await anyio.sleep(state.config.load_time)
            state.add_instance(entry, instance_id, LoadOptions(), jit=True)
        finally:
            state.release_instance_id(instance_id)


def _texts(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    items = cast(list[object], value) if isinstance(value, list) else []
    if items and all(isinstance(item, str) for item in items):
        return [str(item) for item in items]
    raise openai_error(400, "'input' must be a string or a non-empty array of strings.", param="input")
