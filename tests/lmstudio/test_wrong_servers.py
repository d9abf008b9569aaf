"""What the client makes of servers that are not LM Studio, and of LM Studio answering in unexpected shapes.

Each case is a tiny web server on a real loopback socket: the client sees exactly the bytes a real server sends.
"""

import json
import logging
from contextlib import aclosing

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from lms_mcp.lmstudio import (
    ConnectionLostError,
    LMStudioClient,
    MalformedResponseError,
    ModelNotFoundError,
    NotLMStudioError,
    ServerError,
)
from lms_mcp.lmstudio.errors import text_excerpt
from lms_mcp.lmstudio.models import ChatRequest
from lms_mcp.lmstudio.streaming import ChatEnd, ChatEvent, ErrorEvent, MessageDelta, MessageStart
from lms_mcp.simulator import serve_in_thread

pytestmark = pytest.mark.anyio

APACHE_404 = """<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">
<html><head>
<title>404 Not Found</title>
<style>body { font-family: sans-serif }</style>
</head><body>
<h1>Not Found</h1>
<p>The requested URL was not found on this server.</p>
<script>track("404")</script>
</body></html>
"""
# Express's default error page, as LM Studio's web server would send it for an uncaught failure.
EXPRESS_500 = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Error</title></head>
<body><pre>Error: Only user, assistant and tool roles are supported, got system<br> &nbsp; &nbsp;at render</pre></body>
</html>
"""
REQUEST = ChatRequest(model="m", input="hi")
RESULT: dict[str, object] = {"model_instance_id": "m", "output": [{"type": "message", "content": "hello"}], "stats": {}}


def always(response: Response) -> Starlette:
    """A server that answers every route and method with the same response."""

    async def handler(request: Request) -> Response:
        return response

    methods = ["GET", "POST"]
    return Starlette(routes=[Route("/{path:path}", handler, methods=methods), Route("/", handler, methods=methods)])


def sse(event: str, data: object) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data)
    return f"event: {event}\ndata: {text}\n\n".encode()


def event_stream(frames: list[bytes], *, finish: bool = True) -> ASGIApp:
    """An SSE response of `frames`; without `finish` the connection is cut mid-body, like a crashed server."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for frame in frames:
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        if finish:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


async def stream(url: str) -> list[ChatEvent]:
    async with LMStudioClient(url) as client, aclosing(client.chat_stream(REQUEST)) as events:
        return [event async for event in events]


# --- another web server at the address -----------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "said"),
    [
        (Response(APACHE_404, status_code=404, media_type="text/html"), "404 Not Found"),
        (PlainTextResponse("404 page not found", status_code=404), "404 page not found"),
        (JSONResponse({"detail": "Not Found"}, status_code=404), "Not Found"),
        # llama.cpp's server: an error object, but a numeric code and a type LM Studio never sends.
        (JSONResponse({"error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}}, 404), "File"),
        (JSONResponse({"error": "Method Not Allowed"}, status_code=405), "Method Not Allowed"),
        (Response("<html><body><div id=app></div></body></html>", media_type="text/html"), ""),
    ],
    ids=["html-404", "text-404", "fastapi-404", "llama-cpp-404", "json-405", "spa-200"],
)
async def test_another_server_is_not_lm_studio(response: Response, said: str) -> None:
    with serve_in_thread(always(response)) as url:
        async with LMStudioClient(url) as client:
            with pytest.raises(NotLMStudioError) as listing:
                await client.list_models()
            with pytest.raises(NotLMStudioError):
                await client.greeting()
            with pytest.raises(NotLMStudioError):
                await stream(url)
    message = str(listing.value)
    assert said in listing.value.excerpt and said in message
    assert "<" not in message and "is not LM Studio" in message and url in message
    assert listing.value.status_code == response.status_code


async def test_an_html_error_page_from_lm_studios_web_server_keeps_its_text() -> None:
    page = Response(EXPRESS_500, status_code=500, media_type="text/html", headers={"X-Powered-By": "Express"})
    with serve_in_thread(always(page)) as url:
        async with LMStudioClient(url) as client:
            with pytest.raises(ServerError) as caught:
                await client.list_models()
    assert caught.value.status_code == 500
    assert caught.value.detail.message.startswith("Error: Only user, assistant and tool roles are supported")
    assert "<" not in str(caught.value)


@pytest.mark.parametrize(
    "response",
    [
        JSONResponse({"error": {"message": "Exception: Only user, assistant and tool roles are supported"}}, 500),
        PlainTextResponse("Exception: Only user, assistant and tool roles are supported", status_code=500),
        JSONResponse(["Exception: Only user, assistant and tool roles are supported"], status_code=500),
    ],
    ids=["error-without-type", "plain-text", "json-without-error"],
)
async def test_a_server_error_carries_lm_studios_text_whatever_the_body(response: Response) -> None:
    with serve_in_thread(always(response)) as url:
        async with LMStudioClient(url) as client:
            with pytest.raises(ServerError) as plain:
                await client.chat(REQUEST)
            with pytest.raises(ServerError) as streamed:
                await stream(url)
    for caught in (plain.value, streamed.value):
        assert "Only user, assistant and tool roles are supported" in str(caught)


async def test_lm_studio_404s_are_still_lm_studio_errors() -> None:
    body = {"error": {"type": "model_not_found", "message": 'Invalid model identifier "x"', "param": "model"}}
    with serve_in_thread(always(JSONResponse(body, status_code=404))) as url:
        async with LMStudioClient(url) as client:
            with pytest.raises(ModelNotFoundError):
                await client.list_models()


async def test_broken_json_with_a_json_content_type_is_malformed_not_a_wrong_server() -> None:
    with serve_in_thread(always(Response(b'{"models": [', media_type="application/json"))) as url:
        async with LMStudioClient(url) as client:
            with pytest.raises(MalformedResponseError):
                await client.list_models()


def test_excerpts_are_short_single_lines_without_markup() -> None:
    assert text_excerpt(APACHE_404) == "404 Not Found"
    body = "<html><body>" + "<p>word &amp; more</p>\n" * 200 + "</body></html>"
    excerpt = text_excerpt(body)
    assert len(excerpt) <= 160 and "<" not in excerpt and "\n" not in excerpt and excerpt.startswith("word & more")


# --- LM Studio's stream in unexpected shapes ---------------------------------------------------------


async def test_a_stream_cut_after_an_error_event_raises_with_lm_studios_text() -> None:
    frames = [
        sse("chat.start", {"type": "chat.start", "model_instance_id": "m"}),
        sse("message.start", {}),
        sse("message.delta", {"type": "message.delta", "content": "Hel"}),
        sse("error", {"type": "error", "error": {"type": "unknown", "message": "Model crashed: out of memory"}}),
    ]
    for cut in (False, True):
        with serve_in_thread(event_stream(frames, finish=cut)) as url:
            with pytest.raises(ConnectionLostError) as caught:
                await stream(url)
        assert "Model crashed: out of memory" in str(caught.value)
        assert caught.value.detail is not None and caught.value.detail.message == "Model crashed: out of memory"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "error", "error": "Engine exited unexpectedly"}, "Engine exited unexpectedly"),
        ({"type": "error", "error": {"code": 500, "message": "Engine exited unexpectedly"}}, "Engine exited"),
        ("Engine exited unexpectedly", "Engine exited unexpectedly"),
    ],
    ids=["bare-string", "numeric-code", "not-json"],
)
async def test_error_events_in_any_shape_keep_their_text(data: object, message: str) -> None:
    frames = [sse("error", data), sse("chat.end", {"type": "chat.end", "result": RESULT})]
    with serve_in_thread(event_stream(frames)) as url:
        events = await stream(url)
    errors = [event for event in events if isinstance(event, ErrorEvent)]
    assert len(errors) == 1 and errors[0].error.message.startswith(message)
    assert isinstance(events[-1], ChatEnd)


async def test_drifted_events_are_logged_once_and_the_answer_still_arrives(caplog: pytest.LogCaptureFixture) -> None:
    frames = [
        sse("chat.start", {"type": "chat.start", "model_instance_id": "m"}),
        sse("message.start", {}),  # some builds send events without fields as a bare {}
        sse("message.delta", {"type": "message.delta", "content": "hel", "logprob": -0.1}),
        sse("message.delta", {"type": "message.delta", "text": "lost"}),
        sse("message.delta", {"type": "message.delta", "content": "lo", "logprob": -0.2}),
        sse("message.delta", {"type": "message.delta"}),
        sse("chat.end", {"type": "chat.end", "result": RESULT}),
    ]
    caplog.set_level(logging.WARNING, logger="lms_mcp.lmstudio")
    with serve_in_thread(event_stream(frames)) as url:
        events = await stream(url)
    assert isinstance(events[1], MessageStart)
    assert [event.content for event in events if isinstance(event, MessageDelta)] == ["hel", "lo"]
    assert isinstance(events[-1], ChatEnd) and events[-1].result.message_text == "hello"
    logged = [record.getMessage() for record in caplog.records]
    assert len(logged) == 2, logged
    assert "undocumented fields ['logprob']" in logged[0]
    assert "malformed 'message.delta' event" in logged[1] and "skipping it" in logged[1]


async def test_a_malformed_chat_end_is_malformed_because_it_is_the_answer() -> None:
    frames = [sse("chat.end", {"type": "chat.end", "result": {"output": "nope"}})]
    with serve_in_thread(event_stream(frames)) as url:
        with pytest.raises(MalformedResponseError):
            await stream(url)


async def test_a_whole_json_answer_to_a_streaming_request_becomes_one_chat_end() -> None:
    with serve_in_thread(always(JSONResponse(RESULT))) as url:
        events = await stream(url)
    assert len(events) == 1 and isinstance(events[0], ChatEnd) and events[0].result.message_text == "hello"
