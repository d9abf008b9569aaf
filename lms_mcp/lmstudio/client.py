"""Async client for LM Studio's native REST API v1 (LM Studio 0.4+)."""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import AsyncGenerator, Generator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx2
from pydantic import ValidationError

from .. import __version__
from ..urls import DEFAULT_BASE_URL, connect_timeout_for, display_url, is_loopback_host, normalize_base_url
from .errors import (
    ConnectionLostError,
    InvalidRequestError,
    LMStudioTimeoutError,
    LMStudioUnreachableError,
    MalformedResponseError,
    check_response,
    error_detail,
    error_from_response,
)
from .models import (
    ChatCompletion,
    ChatRequest,
    ChatResponse,
    CompletionRequest,
    DownloadJob,
    DownloadRequest,
    EmbeddingsRequest,
    EmbeddingsResponse,
    ErrorDetail,
    Greeting,
    LoadRequest,
    LoadResponse,
    ModelList,
    UnloadRequest,
    UnloadResponse,
    WireModel,
)
from .streaming import ChatEnd, ChatEvent, ErrorEvent, EventParseError, parse_event

logger = logging.getLogger(__name__)

ResponseT = TypeVar("ResponseT", bound=WireModel)


class LMStudioClient:
    """One pooled HTTP connection to LM Studio, shared by every call.

    The HTTP client is created on first use, so constructing this costs nothing and never touches
    the network: a server can start while LM Studio is down and work as soon as it comes up.
    `transport` is the test seam (an httpx2 transport); production uses the default pool.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        api_token: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 300.0,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = normalize_base_url(base_url)
        self._api_token = api_token or None
        connect = connect_timeout_for(self.base_url, connect_timeout)
        self._timeout = httpx2.Timeout(connect=connect, read=read_timeout, write=30.0, pool=connect_timeout)
        self._transport = transport
        self._http: httpx2.AsyncClient | None = None
        # (event type, problem) pairs already logged: stream drift is reported once, not once per token.
        self._drift_logged: set[tuple[str, str]] = set()

    @property
    def token_configured(self) -> bool:
        return self._api_token is not None

    def _client(self) -> httpx2.AsyncClient:
        if self._http is None:
            parts = urlsplit(self.base_url)
            loopback = is_loopback_host(parts.hostname or "")
            headers = {"User-Agent": f"lms-mcp/{__version__}", "Accept": "application/json"}
            if self._api_token:
                headers["Authorization"] = f"Bearer {self._api_token}"
            self._http = httpx2.AsyncClient(
                base_url=self.base_url,
                headers=headers,
                timeout=self._timeout,
                transport=self._transport,
                # Loading the TLS trust store costs ~40-80 ms; plain http:// never needs it.
                verify=parts.scheme == "https",
                # Proxy variables must not reroute a local LM Studio.
                trust_env=not loopback,
                mounts=None if loopback else _without_system_proxy(),
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> LMStudioClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    # --- endpoints --------------------------------------------------------------------------------

    async def greeting(self) -> bool:
        """`GET /lmstudio-greeting`: True when the server says it is LM Studio."""
        body = await self._request("GET", "/lmstudio-greeting")
        return self._parse(Greeting, body).lmstudio

    async def list_models(self) -> ModelList:
        return self._parse(ModelList, await self._request("GET", "/api/v1/models"))

    async def chat(self, request: ChatRequest) -> ChatResponse:
        """`POST /api/v1/chat` without streaming: returns when the whole answer is ready."""
        body = request.model_copy(update={"stream": None}).to_wire()
        return self._parse(ChatResponse, await self._request("POST", "/api/v1/chat", body))

    async def chat_stream(self, request: ChatRequest) -> AsyncGenerator[ChatEvent]:
        """`POST /api/v1/chat` with `stream: true`, as typed events ending with `ChatEnd`.

        A known event that does not match its documented shape is logged (once per type) and skipped. If the
        stream breaks off, the `ConnectionLostError` carries the `error` event LM Studio sent before, if any.
        Close the iterator (`contextlib.aclosing`) when stopping early: that aborts the request.
        """
        body = request.model_copy(update={"stream": True}).to_wire()
        reported: ErrorDetail | None = None
        try:
            with self._translate_errors():
                async with self._client().stream("POST", "/api/v1/chat", json=body) as response:
                    if not response.headers.get("content-type", "").startswith("text/event-stream"):
                        await response.aread()
                        yield self._unstreamed(response)
                        return
                    async for sse in httpx2.EventSource(response, max_event_size=None):
                        event = self._stream_event(sse.event, sse.data)
                        if isinstance(event, ErrorEvent):
                            reported = event.error
                        if event is not None:
                            yield event
                        # LM Studio may keep the socket open briefly after chat.end.
                        if isinstance(event, ChatEnd):
                            return
        except ConnectionLostError as exc:
            if reported is None:
                raise
            raise ConnectionLostError(f"{exc}, after reporting: {_said(reported)}", detail=reported) from exc
        lost = "LM Studio closed the chat stream before it finished (no chat.end event)"
        raise ConnectionLostError(f"{lost}, after reporting: {_said(reported)}" if reported else lost, detail=reported)

    def _unstreamed(self, response: httpx2.Response) -> ChatEnd:
        """An answer to a streaming request that is not an event stream: an error, or the whole answer at once."""
        body = check_response(response, token_sent=self.token_configured)
        if error_detail(body) is not None:
            raise error_from_response(response, body, token_sent=self.token_configured)
        return ChatEnd(result=self._parse(ChatResponse, body))

    def _stream_event(self, name: str, data: str) -> ChatEvent | None:
        try:
            event = parse_event(name, data)
        except EventParseError as exc:
            if name == "chat.end":  # the answer itself: nothing to fall back on
                raise MalformedResponseError(str(exc)) from exc
            self._log_drift(name, "malformed", f"{exc}; skipping it")
            return None
        if event is not None and event.model_extra:
            self._log_drift(
                name, "extra", f"LM Studio sent {name!r} with undocumented fields {sorted(event.model_extra)}"
            )
        return event

    def _log_drift(self, name: str, problem: str, message: str) -> None:
        if (name, problem) not in self._drift_logged:
            self._drift_logged.add((name, problem))
            logger.warning("%s (reported once per event type)", message)

    async def load_model(self, request: LoadRequest, *, read_timeout: float | None = None) -> LoadResponse:
        """`POST /api/v1/models/load`: blocks, silent, until the model is loaded (seconds to minutes).

        `read_timeout` replaces the client's for this call, since nothing is sent until the end.
        """
        body = await self._request("POST", "/api/v1/models/load", request.to_wire(), read_timeout=read_timeout)
        return self._parse(LoadResponse, body)

    async def unload_model(self, instance_id: str) -> UnloadResponse:
        body = UnloadRequest(instance_id=instance_id).to_wire()
        return self._parse(UnloadResponse, await self._request("POST", "/api/v1/models/unload", body))

    async def download_model(self, request: DownloadRequest) -> DownloadJob:
        return self._parse(DownloadJob, await self._request("POST", "/api/v1/models/download", request.to_wire()))

    async def download_status(self, job_id: str) -> DownloadJob:
        path = f"/api/v1/models/download/status/{quote(job_id, safe='')}"
        return self._parse(DownloadJob, await self._request("GET", path))

    async def chat_completions(
        self, request: CompletionRequest, *, read_timeout: float | None = None
    ) -> ChatCompletion:
        """`POST /v1/chat/completions`, OpenAI-compatible: used for answers held to a JSON Schema."""
        body = await self._request("POST", "/v1/chat/completions", request.to_wire(), read_timeout=read_timeout)
        return self._parse(ChatCompletion, body)

    async def embeddings(self, request: EmbeddingsRequest) -> EmbeddingsResponse:
        """`POST /v1/embeddings`, the OpenAI-compatible route: v1 has no native embeddings endpoint."""
        return self._parse(EmbeddingsResponse, await self._request("POST", "/v1/embeddings", request.to_wire()))

    # --- plumbing ---------------------------------------------------------------------------------

    async def _request(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, read_timeout: float | None = None
    ) -> Any:
        timeout = self._timeout
        if read_timeout is not None:
            timeout = httpx2.Timeout(connect=timeout.connect, read=read_timeout, write=timeout.write, pool=timeout.pool)
        with self._translate_errors():
            response = await self._client().request(method, path, json=body, timeout=timeout)
        return check_response(response, token_sent=self.token_configured)

    @staticmethod
    def _parse(model: type[ResponseT], body: Any) -> ResponseT:
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            detail = error_detail(body)
            if detail is not None:
                raise MalformedResponseError(f"LM Studio answered with an error: {_said(detail)}") from exc
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "body"
            raise MalformedResponseError(
                f"LM Studio's response does not match its documented shape ({where}: {first['msg']})"
            ) from exc

    @contextmanager
    def _translate_errors(self) -> Generator[None]:
        """Network failures become client errors; LMStudioError and cancellation pass through."""
        try:
            yield
        except httpx2.ConnectTimeout as exc:
            raise LMStudioTimeoutError(
                f"Connecting to LM Studio at {display_url(self.base_url)} timed out", phase="connect"
            ) from exc
        except httpx2.ConnectError as exc:
            raise LMStudioUnreachableError(display_url(self.base_url), _reason(exc)) from exc
        except httpx2.ReadTimeout as exc:
            raise LMStudioTimeoutError("LM Studio sent nothing for the read timeout", phase="read") from exc
        except httpx2.WriteTimeout as exc:
            raise LMStudioTimeoutError("Sending the request to LM Studio timed out", phase="write") from exc
        except httpx2.PoolTimeout as exc:
            raise LMStudioTimeoutError("No free connection to LM Studio in time", phase="pool") from exc
        except httpx2.InvalidURL as exc:
            raise InvalidRequestError(f"The request cannot be sent to LM Studio: {exc}") from exc
        except (httpx2.RemoteProtocolError, httpx2.ReadError, httpx2.WriteError) as exc:
            raise ConnectionLostError(f"LM Studio closed the connection mid-response ({_reason(exc)})") from exc


def _said(detail: ErrorDetail) -> str:
    kind = f"{detail.type}: " if detail.type != "unknown" else ""
    return f"{kind}{detail.message or '(no message)'}"


def _without_system_proxy() -> dict[str, httpx2.AsyncBaseTransport | None] | None:
    """Direct connections unless HTTP(S)_PROXY / ALL_PROXY / NO_PROXY are set.

    With none of them set, httpx2 takes the macOS or Windows system proxy but not its bypass list, so an
    LM Studio on the local network would go through the office proxy.
    """
    if urllib.request.getproxies_environment():
        return None
    return dict.fromkeys(("http://", "https://", "all://"))


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__
