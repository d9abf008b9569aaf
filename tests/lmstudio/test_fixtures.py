"""Every LM Studio example payload (tests/fixtures/lmstudio, copied from LM Studio's docs) parses."""

import pytest
from pydantic import BaseModel

from lms_mcp.lmstudio.errors import error_detail, is_unexpected_endpoint
from lms_mcp.lmstudio.models import (
    ChatRequest,
    ChatResponse,
    DownloadJob,
    DownloadRequest,
    EmbeddingsRequest,
    EmbeddingsResponse,
    LoadRequest,
    LoadResponse,
    MessageItem,
    ModelList,
    ToolCallItem,
    UnloadRequest,
    UnloadResponse,
)
from lms_mcp.lmstudio.streaming import EVENT_TYPES, ChatEnd, ChatEvent, parse_event
from tests.support import LMSTUDIO_FIXTURES as FIXTURES
from tests.support import lmstudio_fixture as load

MODEL_FOR = {
    "api-v1-chat/request.": ChatRequest,
    "api-v1-chat/response.": ChatResponse,
    "api-v1-models/response": ModelList,
    "api-v1-models-load/request": LoadRequest,
    "api-v1-models-load/response": LoadResponse,
    "api-v1-models-unload/request": UnloadRequest,
    "api-v1-models-unload/response": UnloadResponse,
    "api-v1-models-download/request": DownloadRequest,
    "api-v1-models-download/response": DownloadJob,
    "api-v1-models-download-status/response": DownloadJob,
    "api-v0-embeddings/request": EmbeddingsRequest,
    "api-v0-embeddings/response.truncation": EmbeddingsResponse,
}


def payload_files() -> list[str]:
    return sorted(
        str(path.relative_to(FIXTURES))
        for path in FIXTURES.glob("*/*.json")
        if any(str(path.relative_to(FIXTURES)).startswith(prefix) for prefix in MODEL_FOR)
    )


def test_every_v1_payload_has_a_model() -> None:
    v1 = {str(p.relative_to(FIXTURES)) for p in FIXTURES.glob("api-v1-*/*.json")}
    assert v1 and v1 <= set(payload_files())


@pytest.mark.parametrize("relative", payload_files())
def test_payload_parses(relative: str) -> None:
    model: type[BaseModel] = next(m for prefix, m in MODEL_FOR.items() if relative.startswith(prefix))
    parsed = model.model_validate(load(relative))
    if isinstance(parsed, ChatResponse):
        assert parsed.output and parsed.model_instance_id
    if isinstance(parsed, ModelList):
        assert parsed.models and all(m.key for m in parsed.models)


def test_tool_call_output_items_keep_their_provider() -> None:
    response = ChatResponse.model_validate(load("api-v1-chat/response.mcp-ephemeral-and-plugin.json"))
    calls = [item for item in response.output if isinstance(item, ToolCallItem)]
    assert calls and all(call.provider_info for call in calls)
    assert response.message_text == "".join(i.content for i in response.output if isinstance(i, MessageItem))


def test_unknown_output_items_are_kept_not_rejected() -> None:
    body = {"model_instance_id": "m", "output": [{"type": "hologram", "x": 1}, {"type": "message", "content": "hi"}]}
    response = ChatResponse.model_validate(body)
    assert response.output[0].type == "hologram" and response.message_text == "hi"


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_every_documented_stream_event_parses(name: str) -> None:
    data = (FIXTURES / "api-v1-chat" / "stream-events" / f"{name}.json").read_text(encoding="utf-8")
    event = parse_event(name, data)
    assert event is not None and event.type == name


def test_all_nineteen_event_types_are_known() -> None:
    documented = {p.stem for p in (FIXTURES / "api-v1-chat" / "stream-events").glob("*.json")}
    assert len(documented) == 19 and documented == set(EVENT_TYPES)


def test_assembled_stream_parses_and_ends_with_the_result() -> None:
    text = (FIXTURES / "api-v1-chat" / "stream.assembled-from-doc-events.sse").read_text(encoding="utf-8")
    events: list[ChatEvent | None] = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append(parse_event(fields["event"], fields["data"]))
    assert len(events) == 17
    last = events[-1]
    assert isinstance(last, ChatEnd) and last.result.response_id


def test_unknown_event_types_are_skipped() -> None:
    assert parse_event("chat.telemetry", '{"type":"chat.telemetry"}') is None


def test_observed_error_bodies_are_understood() -> None:
    entries = {e["id"]: e for e in load("observed-third-party/errors-and-misc.json")["entries"]}
    auth = error_detail(entries["auth-missing-token"]["body"])
    assert auth and auth.code == "invalid_api_key" and auth.type == "invalid_request"
    union = error_detail(entries["v1-chat-invalid-input-item-type"]["body"])
    assert union and union.param == "input" and union.code == "invalid_union"
    assert is_unexpected_endpoint(entries["unknown-endpoint"]["body"])
    assert not is_unexpected_endpoint(entries["auth-missing-token"]["body"])
