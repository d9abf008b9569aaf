"""The LM Studio simulator, exercised over real loopback HTTP and compared against the documented fixtures."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

import anyio
import httpx2
import pytest

from lms_mcp.simulator import (
    Simulator,
    SimulatorConfig,
    reasoning_text,
    reply_text,
    serve_in_thread,
)
from tests.support import DEEPSEEK, EMBED, GEMMA, QWEN, XHIGH, loopback_http
from tests.support import LM_TOKEN as TOKEN
from tests.support import lmstudio_fixture as fixture

pytestmark = pytest.mark.anyio

REPO = Path(__file__).parents[2]
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

Json = dict[str, Any]


@pytest.fixture
def sim_config() -> SimulatorConfig:
    return SimulatorConfig(load_time=0.01, download_duration=0.1)


@pytest.fixture
def simulator(sim_config: SimulatorConfig) -> Simulator:
    return Simulator(sim_config)


@pytest.fixture
async def lms(simulator: Simulator) -> AsyncIterator[httpx2.AsyncClient]:
    with serve_in_thread(simulator) as url:
        async with loopback_http(url) as client:
            yield client


def json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def assert_same_shape(ours: Any, theirs: Any, *, optional: frozenset[str] = frozenset(), path: str = "$") -> None:
    """Same keys and JSON types, recursively; list items are matched to a fixture item of the same `type`.

    Tool `arguments` are tool-specific, so only their JSON type is compared.
    """
    if isinstance(theirs, dict) and path.endswith(".arguments"):
        assert isinstance(ours, dict), path
    elif isinstance(theirs, dict):
        assert isinstance(ours, dict), path
        ours_d, theirs_d = cast(Json, ours), cast(Json, theirs)
        assert set(ours_d) - optional == set(theirs_d) - optional, path
        for key in ours_d.keys() & theirs_d.keys():
            assert_same_shape(ours_d[key], theirs_d[key], optional=optional, path=f"{path}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list), path
        theirs_l = cast(list[Any], theirs)
        for index, item in enumerate(cast(list[Any], ours)):
            candidates: list[Any] = [t for t in theirs_l if _type_of(t) == _type_of(item)]
            assert candidates, f"{path}[{index}] has no counterpart in the fixture"
            assert_same_shape(item, candidates[0], optional=optional, path=f"{path}[{index}]")
    elif theirs is not None:
        assert json_kind(ours) == json_kind(theirs), path


def _type_of(value: Any) -> object:
    return cast(Json, value).get("type") if isinstance(value, dict) else None


def parse_sse(text: str) -> list[tuple[str, Json]]:
    """Strict SSE framing: `event:` line, `data:` line, blank line; nothing else."""
    assert text.endswith("\n\n")
    events: list[tuple[str, Json]] = []
    for block in text.strip("\n").split("\n\n"):
        event_line, data_line = block.split("\n")
        assert event_line.startswith("event: ") and data_line.startswith("data: ")
        events.append((event_line.removeprefix("event: "), json.loads(data_line.removeprefix("data: "))))
    return events


async def stream_chat(lms: httpx2.AsyncClient, body: Json) -> list[tuple[str, Json]]:
    response = await lms.post("/api/v1/chat", json={**body, "stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    return parse_sse(response.text)


async def eventually(predicate: Callable[[], bool]) -> None:
    """Wait (up to 2 s) for state the server thread updates; there is no cross-thread event to await."""
    for _ in range(200):
        if predicate():
            return
        await anyio.sleep(0.01)
    raise AssertionError("condition not reached within 2 s")


def loaded_ids(models: Json, key: str) -> list[str]:
    entry = next(m for m in models["models"] if m["key"] == key)
    return [instance["id"] for instance in entry["loaded_instances"]]


# --- discovery, headers, unknown routes -------------------------------------------------------------------------


async def test_greeting_with_express_headers(lms: httpx2.AsyncClient) -> None:
    response = await lms.get("/lmstudio-greeting")
    assert response.status_code == 200
    assert response.json() == {"lmstudio": True}
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.headers["x-powered-by"] == "Express"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/api/v1/models/download/status"),
        ("GET", "/api/v1/models/download-status"),
        ("POST", "/api/v1/models"),
        ("GET", "/api/v1/chat"),
        ("POST", "/chat/completions"),
        ("OPTIONS", "/api/v1/chat"),
    ],
)
async def test_unknown_route_answers_200_with_error_string(lms: httpx2.AsyncClient, method: str, path: str) -> None:
    response = await lms.request(method, path)
    assert response.status_code == 200
    assert response.json() == {"error": f"Unexpected endpoint or method. ({method} {path})"}


async def test_trailing_slash_is_ignored_like_express(lms: httpx2.AsyncClient) -> None:
    response = await lms.get("/api/v1/models/")
    assert response.status_code == 200
    assert "models" in response.json()


# --- GET /api/v1/models -----------------------------------------------------------------------------------------


async def test_models_match_the_documented_fixture(lms: httpx2.AsyncClient) -> None:
    models = (await lms.get("/api/v1/models")).json()["models"]
    documented = fixture("api-v1-models/response.json")["models"]
    by_key = {model["key"]: model for model in models}
    assert list(by_key) == [GEMMA, QWEN, DEEPSEEK, EMBED, XHIGH]
    # DeepSeek R1 is the fixture's entry verbatim; Gemma too, apart from listing a second variant.
    assert by_key[DEEPSEEK] == documented[1]
    assert {k: v for k, v in by_key[GEMMA].items() if k != "variants"} == {
        k: v for k, v in documented[0].items() if k != "variants"
    }
    assert by_key[GEMMA]["variants"] == [f"{GEMMA}@q4_k_m", f"{GEMMA}@q8_0"]
    assert list(by_key[GEMMA]) == list(documented[0])  # same key order as LM Studio
    assert_same_shape(by_key[EMBED], documented[2])
    assert_same_shape(by_key[QWEN], documented[1], optional=frozenset({"reasoning"}))
    assert "reasoning" not in by_key[QWEN]["capabilities"]
    assert by_key[QWEN]["loaded_instances"] == []


async def test_synthetic_models_are_appended(simulator: Simulator, lms: httpx2.AsyncClient) -> None:
    simulator.config.synthetic_models = 50
    models = (await lms.get("/api/v1/models")).json()["models"]
    assert len(models) == 55
    assert models[-1]["key"] == "synthetic/model-0050"
    assert_same_shape(
        models[-1], fixture("api-v1-models/response.json")["models"][1], optional=frozenset({"reasoning"})
    )


# --- POST /api/v1/chat: non-streaming ---------------------------------------------------------------------------


async def test_chat_reply_is_derived_from_the_request(simulator: Simulator, lms: httpx2.AsyncClient) -> None:
    response = await lms.post(
        "/api/v1/chat", json={"model": GEMMA, "input": "My favourite colour is blue.", "system_prompt": "Be brief."}
    )
    assert response.status_code == 200
    body = response.json()
    assert_same_shape(body, fixture("api-v1-chat/response.ephemeral-mcp-with-reasoning.json"))
    assert body["model_instance_id"] == GEMMA
    # Gemma's reasoning defaults to "on": a reasoning item first, then the message.
    assert body["output"] == [
        {"type": "reasoning", "content": reasoning_text(GEMMA, "Be brief.", "My favourite colour is blue.", 1, 8)},
        {"type": "message", "content": reply_text(GEMMA, "Be brief.", "My favourite colour is blue.", 1, 12)},
    ]
    stats = body["stats"]
    assert stats["total_output_tokens"] == 20
    assert stats["reasoning_output_tokens"] == 8
    # 2 words of system prompt + 5 of user text, plus 4 template tokens per message.
    assert stats["input_tokens"] == 2 + 5 + 2 * 4
    assert "model_load_time_seconds" not in stats
    assert re.fullmatch(r"resp_[0-9a-f]{48}", body["response_id"])
    assert simulator.requests[-1].body["input"] == "My favourite colour is blue."


async def test_reply_text_is_deterministic_and_truncates_to_a_prefix() -> None:
    full = reply_text(QWEN, None, "hi", 1, 12)
    assert full == reply_text(QWEN, None, "hi", 1, 12)
    assert len(full.split(" ")) == 12
    assert full.startswith(reply_text(QWEN, None, "hi", 1, 5) + " ")
    variants = {
        reply_text(QWEN, None, "hi", 2, 12),
        reply_text(QWEN, "sys", "hi", 1, 12),
        reply_text(GEMMA, None, "hi", 1, 12),
        reply_text(QWEN, None, "hi!", 1, 12),
        reasoning_text(QWEN, None, "hi", 1, 12),
    }
    assert full not in variants and len(variants) == 5


async def test_store_false_has_no_response_id_and_stores_nothing(simulator: Simulator, lms: httpx2.AsyncClient) -> None:
    body = (await lms.post("/api/v1/chat", json={"model": GEMMA, "input": "hi", "store": False})).json()
    assert "response_id" not in body
    assert simulator.state.threads == {}


async def test_stateful_continuation_uses_history_and_may_switch_model(lms: httpx2.AsyncClient) -> None:
    first = (await lms.post("/api/v1/chat", json={"model": GEMMA, "input": "one", "system_prompt": "S"})).json()
    second = (
        await lms.post(
            "/api/v1/chat", json={"model": QWEN, "input": "two words", "previous_response_id": first["response_id"]}
        )
    ).json()
    assert second["output"] == [{"type": "message", "content": reply_text(QWEN, "S", "two words", 2, 12)}]
    # system (1) + user (1) + assistant (12) + user (2) words, 4 template tokens each.
    assert second["stats"]["input_tokens"] == 1 + 1 + 12 + 2 + 4 * 4
    assert second["response_id"] != first["response_id"]
    # Branching from the first response again is a new turn 2 as well.
    third = (
        await lms.post(
            "/api/v1/chat",
            json={"model": QWEN, "input": "two words", "previous_response_id": first["response_id"], "store": False},
        )
    ).json()
    assert third["output"] == second["output"]
    assert "response_id" not in third


async def test_continuation_errors(lms: httpx2.AsyncClient) -> None:
    unknown = await lms.post(
        "/api/v1/chat", json={"model": GEMMA, "input": "x", "previous_response_id": "resp_" + "0" * 48}
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["type"] == "invalid_request"
    assert unknown.json()["error"]["param"] == "previous_response_id"
    bad_prefix = await lms.post("/api/v1/chat", json={"model": GEMMA, "input": "x", "previous_response_id": "abc"})
    assert bad_prefix.status_code == 400
    assert bad_prefix.json()["error"]["param"] == "previous_response_id"
    first = (await lms.post("/api/v1/chat", json={"model": GEMMA, "input": "x"})).json()
    with_system = await lms.post(
        "/api/v1/chat",
        json={"model": GEMMA, "input": "y", "system_prompt": "S", "previous_response_id": first["response_id"]},
    )
    assert with_system.status_code == 500
    assert with_system.json() == {"error": {"message": "Only user, assistant and tool roles are supported, got system"}}


async def test_model_may_be_a_variant_or_an_instance_id(lms: httpx2.AsyncClient) -> None:
    by_variant = (await lms.post("/api/v1/chat", json={"model": f"{GEMMA}@q4_k_m", "input": "x"})).json()
    assert by_variant["model_instance_id"] == GEMMA
    assert "model_load_time_seconds" not in by_variant["stats"]
    load = (await lms.post("/api/v1/models/load", json={"model": GEMMA})).json()
    assert load["instance_id"] == f"{GEMMA}:2"
    by_instance = (await lms.post("/api/v1/chat", json={"model": f"{GEMMA}:2", "input": "x"})).json()
    assert by_instance["model_instance_id"] == f"{GEMMA}:2"
    unknown_instance = await lms.post("/api/v1/chat", json={"model": f"{GEMMA}:7", "input": "x"})
    assert unknown_instance.status_code == 404


async def test_max_output_tokens_spends_reasoning_first(lms: httpx2.AsyncClient) -> None:
    body = (await lms.post("/api/v1/chat", json={"model": DEEPSEEK, "input": "x", "max_output_tokens": 5})).json()
    assert body["output"] == [
        {"type": "reasoning", "content": reasoning_text(DEEPSEEK, None, "x", 1, 5)},
        {"type": "message", "content": ""},
    ]
    assert body["stats"]["total_output_tokens"] == 5
    assert body["stats"]["reasoning_output_tokens"] == 5
    short = (await lms.post("/api/v1/chat", json={"model": QWEN, "input": "x", "max_output_tokens": 3})).json()
    assert short["output"] == [{"type": "message", "content": reply_text(QWEN, None, "x", 1, 3)}]


async def test_reasoning_off_and_validation(lms: httpx2.AsyncClient) -> None:
    off = (await lms.post("/api/v1/chat", json={"model": GEMMA, "input": "x", "reasoning": "off"})).json()
    assert [item["type"] for item in off["output"]] == ["message"]
    assert off["stats"]["reasoning_output_tokens"] == 0
    for model, value, allowed in [(DEEPSEEK, "off", "'on'"), (GEMMA, "high", "'off', 'on'"), (QWEN, "on", "none")]:
        response = await lms.post("/api/v1/chat", json={"model": model, "input": "x", "reasoning": value})
        assert response.status_code == 400
        error = response.json()["error"]
        assert (error["type"], error["param"]) == ("invalid_request", "reasoning")
        assert allowed in error["message"]


async def test_images_need_a_vision_model_and_a_data_url(lms: httpx2.AsyncClient) -> None:
    image = fixture("api-v1-chat/request.images.json")["input"]
    ok = await lms.post("/api/v1/chat", json={"model": GEMMA, "input": image, "reasoning": "off"})
    assert ok.status_code == 200
    text = "Describe this image in two sentences"
    assert ok.json()["output"] == [{"type": "message", "content": reply_text(GEMMA, None, text, 1, 12)}]
    assert ok.json()["stats"]["input_tokens"] == 6 + 4 + 64
    no_vision = await lms.post("/api/v1/chat", json={"model": QWEN, "input": image})
    assert no_vision.status_code == 400
    assert no_vision.json()["error"]["param"] == "input"
    remote = [{"type": "image", "data_url": "https://example.com/cat.png"}]
    not_data_url = await lms.post("/api/v1/chat", json={"model": GEMMA, "input": remote})
    assert not_data_url.status_code == 400
    assert not_data_url.json()["error"]["param"] == "input"


# --- strict validation -----------------------------------------------------------------------------------------


async def test_message_item_type_is_rejected_exactly_as_observed(lms: httpx2.AsyncClient) -> None:
    observed = next(
        entry
        for entry in fixture("observed-third-party/errors-and-misc.json")["entries"]
        if entry["id"] == "v1-chat-invalid-input-item-type"
    )
    response = await lms.post("/api/v1/chat", json={"model": GEMMA, "input": [{"type": "message", "content": "hi"}]})
    assert response.status_code == 400
    assert response.json() == observed["body"]


@pytest.mark.parametrize(
    ("body", "code", "param", "message"),
    [
        ({"input": "x"}, "missing_required_parameter", "model", '"model" is required'),
        ({"model": GEMMA}, "missing_required_parameter", "input", '"input" is required'),
        (
            {"model": GEMMA, "input": "x", "ttl": 5, "seed": 1},
            "unrecognized_keys",
            "ttl",
            "Unrecognized key(s) in object: 'ttl', 'seed'",
        ),
        ({"model": 7, "input": "x"}, "invalid_type", "model", "Expected string, received number"),
        ({"model": GEMMA, "input": "x", "temperature": 1.5}, "too_big", "temperature", None),
        ({"model": GEMMA, "input": "x", "max_output_tokens": 0}, "too_small", "max_output_tokens", None),
        ({"model": GEMMA, "input": "x", "stream": "yes"}, "invalid_type", "stream", None),
        ({"model": GEMMA, "input": "x", "temperature": None}, "invalid_type", "temperature", None),
        ({"model": GEMMA, "input": "x", "reasoning": "max"}, "invalid_enum_value", "reasoning", None),
        ({"model": GEMMA, "input": "x", "integrations": [{"type": "mcp"}]}, "invalid_union", "integrations", None),
    ],
)
async def test_strict_chat_validation(
    lms: httpx2.AsyncClient, body: Json, code: str, param: str, message: str | None
) -> None:
    for stream in (False, True):
        # Validation failures are plain JSON 400s even when a stream was requested.
        response = await lms.post("/api/v1/chat", json={**body, "stream": stream} if "stream" not in body else body)
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        error = response.json()["error"]
        assert (error["type"], error["code"], error["param"]) == ("invalid_request", code, param)
        if message is not None:
            assert error["message"] == message


async def test_invalid_json_body(lms: httpx2.AsyncClient) -> None:
    response = await lms.post("/api/v1/chat", content=b'{"model": ', headers={"content-type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request"
    assert "Expecting value" in error["message"]


async def test_model_resolution_errors(simulator: Simulator, lms: httpx2.AsyncClient) -> None:
    missing = await lms.post("/api/v1/chat", json={"model": "nope/nothing", "input": "x"})
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "model_not_found"
    assert missing.json()["error"]["param"] == "model"
    assert missing.json()["error"]["message"].startswith("Model 'nope/nothing' not found")
    embedding = await lms.post("/api/v1/chat", json={"model": EMBED, "input": "x"})
    assert embedding.status_code == 400
    assert embedding.json()["error"]["type"] == "invalid_request"
    simulator.config.jit = False
    not_loaded = await lms.post("/api/v1/chat", json={"model": QWEN, "input": "x"})
    assert not_loaded.status_code == 400
    assert "not loaded" in not_loaded.json()["error"]["message"]


# --- POST /api/v1/chat: streaming -------------------------------------------------------------------------------


async def test_stream_event_order_and_shapes_with_jit_load(simulator: Simulator, lms: httpx2.AsyncClient) -> None:
    events = await stream_chat(lms, {"model": DEEPSEEK, "input": "think", "context_length": 8192})
    names = [name for name, _ in events]
    assert names == [
        "chat.start",
        "model_load.start",
        "model_load.progress",
        "model_load.progress",
        "model_load.end",
        "prompt_processing.start",
        "prompt_processing.progress",
        "prompt_processing.progress",
        "prompt_processing.end",
        "reasoning.start",
        *["reasoning.delta"] * 8,
        "reasoning.end",
        "message.start",
        *["message.delta"] * 12,
        "message.end",
        "chat.end",
    ]
    for name, data in events:
        assert data["type"] == name
        documented = fixture(f"api-v1-chat/stream-events/{name}.json")
        assert_same_shape(data, documented, optional=frozenset({"model_load_time_seconds"}))
    result = events[-1][1]["result"]
    message = "".join(d["content"] for n, d in events if n == "message.delta")
    reasoning = "".join(d["content"] for n, d in events if n == "reasoning.delta")
    assert result["output"] == [{"type": "reasoning", "content": reasoning}, {"type": "message", "content": message}]
    assert message == reply_text(DEEPSEEK, None, "think", 1, 12)
    assert result["stats"]["model_load_time_seconds"] == 0.01
    assert [d["progress"] for n, d in events if n == "model_load.progress"] == [0.5, 1.0]
    # The JIT load left the model loaded with the requested context length.
    models = (await lms.get("/api/v1/models")).json()
    entry = next(m for m in models["models"] if m["key"] == DEEPSEEK)
    assert entry["loaded_instances"][0]["id"] == DEEPSEEK
    assert entry["loaded_instances"][0]["config"]["context_length"] == 8192
    again = await stream_chat(lms, {"model": DEEPSEEK, "input": "think"})
    assert not any(name.startswith("model_load") for name, _ in again)
    assert "model_load_time_seconds" not in again[-1][1]["result"]["stats"]


async def test_stream_result_equals_non_streaming_shape(lms: httpx2.AsyncClient) -> None:
    events = await stream_chat(lms, {"model": GEMMA, "input": "same"})
    plain = (await lms.post("/api/v1/chat", json={"model": GEMMA, "input": "same"})).json()
    streamed = events[-1][1]["result"]
    assert streamed["output"] == plain["output"]
    assert {k: v for k, v in streamed.items() if k != "response_id"} == {
        k: v for k, v in plain.items() if k != "response_id"
    }


async def test_concurrent_jit_chats_share_one_load(simulator: Simulator, lms: httpx2.AsyncClient) -> None:
    simulator.config.load_time = 0.1
    results: list[list[tuple[str, Json]]] = []

    async def one() -> None:
        results.append(await stream_chat(lms, {"model": QWEN, "input": "x"}))

    async with anyio.create_task_group() as group:
        group.start_soon(one)
        group.start_soon(one)
    loads = [sum(name == "model_load.start" for name, _ in events) for events in results]
    assert sorted(loads) == [0, 1]
    assert all(events[-1][1]["result"]["model_instance_id"] == QWEN for events in results)
    assert loaded_ids((await lms.get("/api/v1/models")).json(), QWEN) == [QWEN]


async def test_jit_load_evicts_the_previous_jit_model(lms: httpx2.AsyncClient) -> None:
    await lms.post("/api/v1/chat", json={"model": QWEN, "input": "x"})
    await lms.post("/api/v1/chat", json={"model": DEEPSEEK, "input": "x"})
    models = (await lms.get("/api/v1/models")).json()
    assert loaded_ids(models, QWEN) == []
    assert loaded_ids(models, DEEPSEEK) == [DEEPSEEK]
    assert loaded_ids(models, GEMMA) == [GEMMA]  # loaded explicitly, never evicted


# --- integrations -----------------------------------------------------------------------------------------------


async def test_integrations_need_their_settings(simulator: Simulator, lms: httpx2.AsyncClient) -> None:
    ephemeral = fixture("api-v1-chat/request.ephemeral-mcp.json")["integrations"]
    for integrations in (ephemeral, ["mcp/playwright"]):
        response = await lms.post("/api/v1/chat", json={"model": QWEN, "input": "x", "integrations": integrations})
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "integrations"
    # Plugins also need "Require Authentication".
    simulator.config.allow_mcp_json = True
    plugin = await lms.post("/api/v1/chat", json={"model": QWEN, "input": "x", "integrations": ["mcp/playwright"]})
    assert plugin.status_code == 400


async def test_ephemeral_mcp_scripts_one_tool_call(simulator: Simulator, lms: httpx2.AsyncClient) -> None:
    simulator.config.allow_ephemeral_mcp = True
    request = fixture("api-v1-chat/request.ephemeral-mcp.json")
    events = await stream_chat(lms, {**request, "model": QWEN})
    names = [name for name, _ in events]
    start = names.index("tool_call.start")
    assert names[start : start + 4] == [
        "tool_call.start",
        "tool_call.arguments",
        "tool_call.success",
        "prompt_processing.start",
    ]
    for name, data in events[start : start + 3]:
        assert_same_shape(data, fixture(f"api-v1-chat/stream-events/{name}.json"))
    result = events[-1][1]["result"]
    tool_call = result["output"][0]
    assert tool_call["tool"] == "model_search"
    assert tool_call["provider_info"] == {"type": "ephemeral_mcp", "server_label": "huggingface"}
    assert tool_call["arguments"] == {"query": request["input"]}
    assert_same_shape(result, fixture("api-v1-chat/response.mcp-ephemeral-and-plugin.json"))


async def test_private_mcp_url_fails_after_chat_start(simulator: Simulator, lms: httpx2.AsyncClient) -> None:
    simulator.config.allow_ephemeral_mcp = True
    integration = {"type": "ephemeral_mcp", "server_label": "local", "server_url": "http://127.0.0.1:9/mcp"}
    body = {"model": GEMMA, "input": "x", "integrations": [integration]}
    events = await stream_chat(lms, body)
    assert [name for name, _ in events] == ["chat.start", "error", "chat.end"]
    assert events[1][1]["error"]["type"] == "mcp_connection_error"
    assert events[2][1]["result"]["output"] == []
    plain = await lms.post("/api/v1/chat", json=body)
    assert plain.status_code == 400
    assert plain.json()["error"]["type"] == "mcp_connection_error"


# --- load / unload ----------------------------------------------------------------------------------------------


async def test_load_matches_fixture_and_numbers_instances(lms: httpx2.AsyncClient) -> None:
    request = {**fixture("api-v1-models-load/request.json"), "model": GEMMA}
    second = (await lms.post("/api/v1/models/load", json=request)).json()
    assert_same_shape(second, fixture("api-v1-models-load/response.echo-load-config.json"))
    assert second["instance_id"] == f"{GEMMA}:2"
    assert second["load_config"]["context_length"] == 16384
    assert second["load_time_seconds"] == 0.01
    third = (await lms.post("/api/v1/models/load", json={"model": GEMMA})).json()
    assert third == {"type": "llm", "instance_id": f"{GEMMA}:3", "load_time_seconds": 0.01, "status": "loaded"}
    models = (await lms.get("/api/v1/models")).json()
    assert loaded_ids(models, GEMMA) == [GEMMA, f"{GEMMA}:2", f"{GEMMA}:3"]
    embedding = (await lms.post("/api/v1/models/load", json={"model": EMBED, "echo_load_config": True})).json()
    assert embedding["type"] == "embedding"
    assert embedding["load_config"] == {"context_length": 2048}
    listed = next(m for m in (await lms.get("/api/v1/models")).json()["models"] if m["key"] == EMBED)
    assert listed["loaded_instances"] == [{"id": EMBED, "config": {"context_length": 2048}}]


async def test_load_errors(lms: httpx2.AsyncClient) -> None:
    unknown = await lms.post("/api/v1/models/load", json={"model": "nope"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["type"] == "model_not_found"
    extra = await lms.post("/api/v1/models/load", json={"model": QWEN, "stream": False})
    assert extra.status_code == 400
    assert extra.json()["error"]["code"] == "unrecognized_keys"
    assert "Unrecognized key(s)" in extra.json()["error"]["message"]


async def test_unload(lms: httpx2.AsyncClient) -> None:
    response = await lms.post("/api/v1/models/unload", json=fixture("api-v1-models-unload/request.json"))
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "model_not_found"
    ok = await lms.post("/api/v1/models/unload", json={"instance_id": GEMMA})
    assert ok.json() == {"instance_id": GEMMA}
    assert_same_shape(ok.json(), fixture("api-v1-models-unload/response.json"))
    assert loaded_ids((await lms.get("/api/v1/models")).json(), GEMMA) == []
    by_model = await lms.post("/api/v1/models/unload", json={"model": GEMMA})
    assert by_model.status_code == 400
    assert by_model.json()["error"]["code"] == "missing_required_parameter"
    extra = await lms.post("/api/v1/models/unload", json={"instance_id": GEMMA, "model": GEMMA})
    assert extra.status_code == 400
    assert extra.json()["error"]["code"] == "unrecognized_keys"


# --- downloads --------------------------------------------------------------------------------------------------


async def test_download_progresses_to_completed(lms: httpx2.AsyncClient) -> None:
    created = (await lms.post("/api/v1/models/download", json=fixture("api-v1-models-download/request.json"))).json()
    assert_same_shape(created, fixture("api-v1-models-download/response.downloading.json"))
    assert re.fullmatch(r"job_[0-9a-f]{10}", created["job_id"])
    assert ISO_MS.match(created["started_at"])
    assert created["total_size_bytes"] == 2279145003
    status_url = f"/api/v1/models/download/status/{created['job_id']}"
    running = (await lms.get(status_url)).json()
    assert running["status"] == "downloading"
    assert {"bytes_per_second", "estimated_completion", "downloaded_bytes"} <= set(running)
    assert 0 <= running["downloaded_bytes"] < running["total_size_bytes"]
    await anyio.sleep(0.12)
    done = (await lms.get(status_url)).json()
    assert_same_shape(done, fixture("api-v1-models-download-status/response.completed.json"))
    assert done["downloaded_bytes"] == done["total_size_bytes"]
    assert ISO_MS.match(done["completed_at"])
    models = (await lms.get("/api/v1/models")).json()
    assert loaded_ids(models, "ibm/granite-4-micro") == []
    again = await lms.post("/api/v1/models/download", json={"model": "ibm/granite-4-micro"})
    assert again.json() == {"status": "already_downloaded"}


async def test_download_rules(simulator: Simulator, lms: httpx2.AsyncClient) -> None:
    assert (await lms.post("/api/v1/models/download", json={"model": QWEN})).json() == {"status": "already_downloaded"}
    unknown = await lms.post("/api/v1/models/download", json={"model": "nobody/nothing"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["type"] == "model_not_found"
    quant_on_catalog_id = await lms.post(
        "/api/v1/models/download", json={"model": "openai/gpt-oss-20b", "quantization": "Q4_K_M"}
    )
    assert quant_on_catalog_id.status_code == 400
    assert quant_on_catalog_id.json()["error"]["param"] == "quantization"
    simulator.config.download_fails = True
    hf = await lms.post(
        "/api/v1/models/download",
        json={"model": "https://huggingface.co/lmstudio-community/gpt-oss-20b-GGUF", "quantization": "MXFP4"},
    )
    assert hf.json()["status"] == "downloading"
    await anyio.sleep(0.06)
    failed = (await lms.get(f"/api/v1/models/download/status/{hf.json()['job_id']}")).json()
    assert failed["status"] == "failed"
    assert isinstance(failed["error"], str)
    missing_job = await lms.get("/api/v1/models/download/status/job_0000000000")
    assert missing_job.status_code == 404
    assert missing_job.json()["error"]["type"] == "job_not_found"


# --- embeddings -------------------------------------------------------------------------------------------------


async def test_embeddings(lms: httpx2.AsyncClient) -> None:
    response = await lms.post("/v1/embeddings", json={"model": EMBED, "input": ["alpha beta", "gamma"], "extra": 1})
    assert response.status_code == 200
    body = response.json()
    assert_same_shape(body, fixture("api-v0-embeddings/response.truncation-marker-removed.json"))
    assert body["model"] == f"{EMBED}@q4_k_m"
    assert [item["index"] for item in body["data"]] == [0, 1]
    vectors = [item["embedding"] for item in body["data"]]
    assert all(len(vector) == 8 for vector in vectors) and vectors[0] != vectors[1]
    assert body["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    single = (await lms.post("/v1/embeddings", json={"model": EMBED, "input": "gamma"})).json()
    assert single["data"][0]["embedding"] == vectors[1]
    chat_model = await lms.post("/v1/embeddings", json={"model": GEMMA, "input": "x"})
    assert chat_model.status_code == 400
    unknown = await lms.post("/v1/embeddings", json={"model": "nope", "input": "x"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "model_not_found"


# --- auth -------------------------------------------------------------------------------------------------------


async def test_auth(simulator: Simulator, lms: httpx2.AsyncClient) -> None:
    simulator.config.api_tokens = [TOKEN]
    observed = next(
        entry
        for entry in fixture("observed-third-party/errors-and-misc.json")["entries"]
        if entry["id"] == "auth-missing-token"
    )
    missing = await lms.get("/api/v1/models")
    assert missing.status_code == 401
    assert missing.json() == observed["body"]
    malformed = await lms.get("/api/v1/models", headers={"Authorization": "Bearer 22aac52a71deadbeef"})
    assert malformed.status_code == 401
    assert malformed.json()["error"] == {
        "type": "invalid_request",
        "code": "invalid_api_key",
        "message": "Malformed LM Studio API token provided: 22aac52a71... Ensure you are using a valid token.",
    }
    unknown = await lms.post(
        "/api/v1/chat", headers={"Authorization": "Bearer sk-lm-zzzzzzzz:zzzzzzzzzzzzzzzzzzzz"}, json={}
    )
    assert unknown.status_code == 401
    assert unknown.json()["error"]["message"].startswith("Invalid LM Studio API token provided: sk-lm-zzzz...")
    assert (await lms.get("/nowhere")).status_code == 401
    assert (await lms.get("/lmstudio-greeting")).status_code == 200
    ok = await lms.get("/api/v1/models", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200


# --- faults -----------------------------------------------------------------------------------------------------


async def test_http_500_fires_times_on_its_route(simulator: Simulator, lms: httpx2.AsyncClient) -> None:
    fault = simulator.inject("http_500", route="/api/v1/models", times=2)
    assert (await lms.get("/lmstudio-greeting")).status_code == 200
    for _ in range(2):
        response = await lms.get("/api/v1/models")
        assert response.status_code == 500
        assert response.json()["error"]["type"] == "internal_error"
    assert (await lms.get("/api/v1/models")).status_code == 200
    assert fault.fired == 2


async def test_malformed_json(simulator: Simulator, lms: httpx2.AsyncClient) -> None:
    simulator.inject("malformed_json")
    response = await lms.get("/api/v1/models")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert "models" in (await lms.get("/api/v1/models")).json()


async def test_slow_headers_and_clear_faults(simulator: Simulator, lms: httpx2.AsyncClient) -> None:
    simulator.inject("slow_headers", delay=0.15)
    started = time.perf_counter()
    assert (await lms.get("/lmstudio-greeting")).status_code == 200
    assert time.perf_counter() - started >= 0.15
    simulator.inject("http_500", times=None)
    simulator.clear_faults()
    assert (await lms.get("/lmstudio-greeting")).status_code == 200


async def test_drop_stream(simulator: Simulator, lms: httpx2.AsyncClient) -> None:
    simulator.inject("drop_stream", after_events=3)
    # A non-streaming chat does not consume a stream fault.
    assert (await lms.post("/api/v1/chat", json={"model": QWEN, "input": "x"})).status_code == 200
    lines: list[str] = []
    with pytest.raises(httpx2.RemoteProtocolError):
        async with lms.stream("POST", "/api/v1/chat", json={"model": GEMMA, "input": "x", "stream": True}) as response:
            async for line in response.aiter_lines():
                lines.append(line)  # noqa: PERF401 - the lines before the failure are the point
    assert sum(line.startswith("event: ") for line in lines) == 3
    assert not any("chat.end" in line for line in lines)
    assert simulator.requests[-1].completed is False


async def test_error_event_then_partial_chat_end(simulator: Simulator, lms: httpx2.AsyncClient) -> None:
    simulator.inject("error_event", after_tokens=2, message="boom")
    events = await stream_chat(lms, {"model": QWEN, "input": "x"})
    names = [name for name, _ in events]
    assert names[-5:] == ["message.start", "message.delta", "message.delta", "error", "chat.end"]
    assert events[-2][1] == {"type": "error", "error": {"type": "unknown", "message": "boom"}}
    result = events[-1][1]["result"]
    assert result["output"] == [{"type": "message", "content": reply_text(QWEN, None, "x", 1, 2)}]
    assert result["stats"]["total_output_tokens"] == 2


async def test_stall_stream(simulator: Simulator, lms: httpx2.AsyncClient) -> None:
    simulator.inject("stall_stream", after_events=2, delay=0.3)
    arrivals: list[float] = []
    async with lms.stream("POST", "/api/v1/chat", json={"model": GEMMA, "input": "x", "stream": True}) as response:
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                arrivals.append(time.perf_counter())  # noqa: PERF401 - timed as each event arrives
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:], strict=False)]
    # The pause falls after the second event and is the one long gap (no upper bound on the others:
    # a busy machine may delay any event a little).
    assert gaps[1] >= 0.25  # measured by the client, so the gap before it may eat a little of it
    assert max(range(len(gaps)), key=gaps.__getitem__) == 1


# --- recording --------------------------------------------------------------------------------------------------


async def test_records_requests(simulator: Simulator, lms: httpx2.AsyncClient) -> None:
    await lms.post("/api/v1/chat?x=1", json={"model": GEMMA, "input": "hi"}, headers={"X-Test": "yes"})
    record = simulator.requests[-1]
    assert (record.method, record.path, record.query, record.status) == ("POST", "/api/v1/chat", "x=1", 200)
    assert record.headers["x-test"] == "yes"
    assert record.body == {"model": GEMMA, "input": "hi"}
    assert record.completed and not record.disconnected
    simulator.reset_stats()
    assert simulator.requests == [] and simulator.max_in_flight == 0


async def test_disconnect_mid_stream_is_recorded(simulator: Simulator, lms: httpx2.AsyncClient) -> None:
    simulator.config.tokens_per_second = 50
    async with lms.stream("POST", "/api/v1/chat", json={"model": GEMMA, "input": "x", "stream": True}) as response:
        async for line in response.aiter_lines():
            if "reasoning.delta" in line:
                break
    record = simulator.requests[-1]
    await eventually(lambda: record.disconnected and simulator.in_flight == 0)
    assert not record.completed


async def test_disconnect_during_blocking_load_is_recorded(simulator: Simulator, lms: httpx2.AsyncClient) -> None:
    simulator.config.load_time = 2.0
    with pytest.raises(httpx2.ReadTimeout):
        await lms.post("/api/v1/models/load", json={"model": QWEN}, timeout=0.1)
    record = simulator.requests[-1]
    await eventually(lambda: record.disconnected and simulator.in_flight == 0)
    simulator.config.load_time = 0.01
    # The abandoned load was cancelled and released its instance id.
    assert (await lms.post("/api/v1/models/load", json={"model": QWEN})).json()["instance_id"] == QWEN


async def test_disconnect_during_slow_headers_is_recorded(simulator: Simulator, lms: httpx2.AsyncClient) -> None:
    simulator.inject("slow_headers", delay=2.0)
    with pytest.raises(httpx2.ReadTimeout):
        await lms.get("/api/v1/models", timeout=0.1)
    record = simulator.requests[-1]
    await eventually(lambda: record.disconnected and simulator.in_flight == 0)


async def test_max_in_flight(simulator: Simulator, lms: httpx2.AsyncClient) -> None:
    simulator.config.load_time = 0.1
    ids: list[str] = []

    async def load() -> None:
        ids.append((await lms.post("/api/v1/models/load", json={"model": DEEPSEEK})).json()["instance_id"])

    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(load)
    assert simulator.max_in_flight == 3
    assert simulator.in_flight == 0
    assert sorted(ids) == [DEEPSEEK, f"{DEEPSEEK}:2", f"{DEEPSEEK}:3"]


# --- serving ----------------------------------------------------------------------------------------------------


async def test_in_process_asgi_transport(simulator: Simulator) -> None:
    transport = httpx2.ASGITransport(app=simulator.app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://lmstudio", verify=False) as client:
        response = await client.post("/api/v1/chat", json={"model": GEMMA, "input": "hi", "reasoning": "off"})
    assert response.json()["output"] == [{"type": "message", "content": reply_text(GEMMA, None, "hi", 1, 12)}]


def test_serve_in_thread_starts_and_stops_fast() -> None:
    started = time.perf_counter()
    with serve_in_thread(Simulator()) as url:
        assert time.perf_counter() - started < 0.3
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        assert httpx2.get(f"{url}/lmstudio-greeting").json() == {"lmstudio": True}
        stopping = time.perf_counter()
    assert time.perf_counter() - stopping < 0.3
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(f"{url}/lmstudio-greeting")


def test_cli_serves_and_logs_its_url() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "lms_mcp.simulator", "--port", "0", "--load-time", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, line
        assert httpx2.get(f"{match[0]}/lmstudio-greeting").json() == {"lmstudio": True}
    finally:
        process.terminate()
        stdout, _ = process.communicate(timeout=5)
    assert stdout == ""
