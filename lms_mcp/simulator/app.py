"""The Starlette application: routes, the layers in front of them, and LM Studio's answer to unknown routes."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lms_mcp.simulator.api_chat import ChatApi
from lms_mcp.simulator.api_downloads import DownloadsApi
from lms_mcp.simulator.api_embeddings import EmbeddingsApi
from lms_mcp.simulator.api_models import ModelsApi
from lms_mcp.simulator.api_openai_chat import OpenAIChatApi
from lms_mcp.simulator.errors import ApiError
from lms_mcp.simulator.faults import FaultInjector
from lms_mcp.simulator.middleware import AuthMiddleware, ExpressCompatMiddleware, FaultMiddleware
from lms_mcp.simulator.recording import Recorder, RecordingMiddleware
from lms_mcp.simulator.responses import LMStudioJSONResponse
from lms_mcp.simulator.state import State


def build_app(state: State, faults: FaultInjector, recorder: Recorder) -> Starlette:
    models = ModelsApi(state)
    downloads = DownloadsApi(state)
    chat = ChatApi(state, faults)
    embeddings = EmbeddingsApi(state)
    openai_chat = OpenAIChatApi(state, faults)
    routes = [
        Route("/lmstudio-greeting", greeting, methods=["GET"]),
        Route("/api/v1/models", models.list_models, methods=["GET"]),
        Route("/api/v1/models/load", models.load, methods=["POST"]),
        Route("/api/v1/models/unload", models.unload, methods=["POST"]),
        Route("/api/v1/models/download", downloads.download, methods=["POST"]),
        Route("/api/v1/models/download/status/{job_id}", downloads.status, methods=["GET"]),
        Route("/api/v1/chat", chat.chat, methods=["POST"]),
        Route("/v1/models", models.list_openai_models, methods=["GET"]),
        Route("/v1/chat/completions", openai_chat.chat_completions, methods=["POST"]),
        Route("/v1/embeddings", embeddings.embeddings, methods=["POST"]),
    ]
    # First listed is outermost: recording sees everything, including faulted and unauthorised requests.
    middleware = [
        Middleware(RecordingMiddleware, recorder=recorder),
        Middleware(ExpressCompatMiddleware),
        Middleware(FaultMiddleware, faults=faults),
        Middleware(AuthMiddleware, config=state.config),
    ]
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={ApiError: api_error, 404: unexpected_endpoint, 405: unexpected_endpoint},
    )


async def greeting(request: Request) -> Response:
    return LMStudioJSONResponse({"lmstudio": True})


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return LMStudioJSONResponse(exc.body, status_code=exc.status)


async def unexpected_endpoint(request: Request, exc: Exception) -> Response:
    # LM Studio answers unknown routes and methods with HTTP 200 and a bare-string error (API.md §1.2).
    return LMStudioJSONResponse({"error": f"Unexpected endpoint or method. ({request.method} {request.url.path})"})
