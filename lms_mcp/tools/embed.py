"""The embed tool: embedding vectors from a local model, through /v1/embeddings."""

from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import BaseModel, Field

from ..app_state import AppState
from ..lmstudio.models import EmbeddingsRequest
from .errors import BridgeError, ErrorCode
from .results import tool_result


class EmbedResult(BaseModel):
    model: str
    dimensions: int
    embeddings: list[list[float]] = Field(description="One vector per text, in the order given")


async def default_embedding_model(ctx: Context[AppState]) -> str:
    listing = await ctx.request_context.lifespan_context.client.list_models()
    embedders = [m for m in listing.models if m.type == "embedding"]
    loaded = [m.key for m in embedders if m.loaded_instances]
    if loaded or embedders:
        return (loaded or [m.key for m in embedders])[0]
    raise BridgeError(
        ErrorCode.NO_MODEL_LOADED, "No embedding model is downloaded. Download one with download_model first."
    )


async def embed(
    ctx: Context[AppState],
    texts: Annotated[list[str], Field(min_length=1, max_length=512, description="Texts to embed")],
    model: Annotated[
        str | None,
        Field(description="Embedding model key (default: a loaded embedding model, else a downloaded one)"),
    ] = None,
) -> Annotated[CallToolResult, EmbedResult]:
    """Turn texts into embedding vectors with a local embedding model, for search and clustering."""
    chosen = model or await default_embedding_model(ctx)
    client = ctx.request_context.lifespan_context.client
    response = await client.embeddings(EmbeddingsRequest(model=chosen, input=texts))
    vectors = [item.embedding for item in sorted(response.data, key=lambda item: item.index)]
    result = EmbedResult(model=chosen, dimensions=len(vectors[0]) if vectors else 0, embeddings=vectors)
    return tool_result(result, f"{len(vectors)} embedding(s) of {result.dimensions} dimensions from {chosen}.")
