"""The simulator playing real LM Studio builds (profiles), over real loopback HTTP."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import jsonschema
import pytest

from lms_mcp.simulator import (
    PROFILE_NAMES,
    PROFILES,
    Simulator,
    SimulatorConfig,
    reasoning_text,
    reply_text,
    serve_in_thread,
)
from lms_mcp.simulator.catalog import gpt_oss
from lms_mcp.simulator.cli import main as simulate
from tests.support import GEMMA, QWEN, XHIGH, loopback_http
from tests.support import PNG_DATA_URL as PNG

pytestmark = pytest.mark.anyio

GPT_OSS = "openai/gpt-oss-20b"  # allowed low/medium/high
ROUTE = "/v1/chat/completions"
SCHEMA = {"type": "object", "properties": {"joke": {"type": "string"}}, "required": ["joke"]}
WEBP = "data:image/webp;base64," + base64.b64encode(b"RIFF\x1a\x00\x00\x00WEBPVP8 ").decode()

Json = dict[str, Any]


@pytest.fixture
def sim(profile: str) -> Simulator:
    return Simulator(SimulatorConfig(load_time=0.01), profile=profile)


@pytest.fixture
async def lms(sim: Simulator) -> AsyncIterator[httpx2.AsyncClient]:
    with serve_in_thread(sim) as url:
        async with loopback_http(url) as client:
            yield client


def user(content: object) -> Json:
    return {"role": "user", "content": content}


def structured(model: str, **extra: object) -> Json:
    schema_format = {"type": "json_schema", "json_schema": {"name": "joke", "schema": SCHEMA, "strict": True}}
    return {"model": model, "messages": [user("Tell me a joke.")], "response_format": schema_format, **extra}


def sse_chunks(text: str) -> list[Json]:
    frames = text.removesuffix("\n\n").split("\n\n")
    return [json.loads(frame.removeprefix("data: ")) for frame in frames if frame != "data: [DONE]"]


# --- selecting a profile ------------------------------------------------------------------------------------------


def test_help_lists_every_profile_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        simulate(["--help"])
    lines = capsys.readouterr().out.splitlines()
    for name, profile in PROFILES.items():
        [line] = [line for line in lines if line.startswith(f"  {name} ")]
        assert line.split(maxsplit=1)[1] == profile.summary
    assert PROFILE_NAMES == ("0.4.6", "0.4.10", "0.4.20", "latest")


def test_an_unknown_profile_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown LM Studio profile '0\.3\.9'; expected one of 0\.4\.6, "):
        SimulatorConfig(profile="0.3.9")
    with pytest.raises(ValueError, match="unknown LM Studio profile"):
        Simulator(profile="newest")
    assert Simulator().config.profile == "latest"


async def test_the_profile_can_be_switched_while_serving() -> None:
    sim = Simulator()
    with serve_in_thread(sim) as url:
        async with httpx2.AsyncClient(base_url=url, trust_env=False) as client:
            before = (await client.get("/api/v1/models")).json()["models"][0]
            sim.config.profile = "0.4.6"
            after = (await client.get("/api/v1/models")).json()["models"][0]
    assert "reasoning" in before["capabilities"] and "reasoning" not in after["capabilities"]


# --- GET /api/v1/models -------------------------------------------------------------------------------------------


async def test_model_listing_per_build(profile: str, lms: httpx2.AsyncClient) -> None:
    models = {model["key"]: model for model in (await lms.get("/api/v1/models")).json()["models"]}
    config = models[GEMMA]["loaded_instances"][0]["config"]
    if profile == "0.4.6":
        assert all("reasoning" not in model.get("capabilities", {}) for model in models.values())
        assert "parallel" not in config
    else:
        assert models[GEMMA]["capabilities"]["reasoning"] == {"allowed_options": ["off", "on"], "default": "on"}
        assert models[XHIGH]["capabilities"]["reasoning"] == {
            "allowed_options": ["off", "low", "medium", "xhigh", "on"],
            "default": "xhigh",
        }
        assert config["parallel"] == 4
    # Listed by every build (0.4.6 included: lmstudio-bug-tracker#1659).
    assert models[GEMMA]["selected_variant"] == f"{GEMMA}@q4_k_m"


async def test_a_model_may_be_listed_without_capabilities(sim: Simulator, lms: httpx2.AsyncClient) -> None:
    sim.config.catalog[1].lists_capabilities = False
    qwen = (await lms.get("/api/v1/models")).json()["models"][1]
    assert qwen["key"] == QWEN and "capabilities" not in qwen and qwen["description"] is None


# --- POST /api/v1/chat --------------------------------------------------------------------------------------------


async def test_system_prompt_on_a_continued_conversation(profile: str, lms: httpx2.AsyncClient) -> None:
    first = (await lms.post("/api/v1/chat", json={"model": QWEN, "input": "one", "system_prompt": "A"})).json()
    turn = {"model": QWEN, "input": "two", "system_prompt": "B", "previous_response_id": first["response_id"]}
    response = await lms.post("/api/v1/chat", json=turn)
    if profile in ("0.4.20", "latest"):
        assert response.status_code == 500
        assert response.json() == {
            "error": {"message": "Only user, assistant and tool roles are supported, got system"}
        }
        streamed = await lms.post("/api/v1/chat", json=turn | {"stream": True})
        assert streamed.status_code == 500
    else:
        assert response.status_code == 200
        # The new system prompt replaces the stored one.
        assert response.json()["output"] == [{"type": "message", "content": reply_text(QWEN, "B", "two", 2, 12)}]
    without = {"model": QWEN, "input": "two", "previous_response_id": first["response_id"]}
    assert (await lms.post("/api/v1/chat", json=without)).status_code == 200


async def test_reasoning_levels_are_per_model_and_a_wrong_one_names_the_allowed(lms: httpx2.AsyncClient) -> None:
    xhigh = await lms.post("/api/v1/chat", json={"model": XHIGH, "input": "think", "reasoning": "xhigh"})
    assert xhigh.status_code == 200
    assert xhigh.json()["output"][0] == {"type": "reasoning", "content": reasoning_text(XHIGH, None, "think", 1, 8)}
    wrong = await lms.post("/api/v1/chat", json={"model": GEMMA, "input": "x", "reasoning": "xhigh"})
    assert wrong.status_code == 400
    assert wrong.json() == {
        "error": {
            "type": "invalid_request",
            "message": f"Reasoning setting 'xhigh' is not supported by model '{GEMMA}'. Supported settings: 'off', "
            "'on'.",
            "code": "invalid_value",
            "param": "reasoning",
        }
    }
    none = await lms.post("/api/v1/chat", json={"model": QWEN, "input": "x", "reasoning": "on"})
    assert none.status_code == 400 and none.json()["error"]["message"].endswith("Supported settings: none.")


# --- POST /v1/chat/completions ------------------------------------------------------------------------------------


async def test_structured_answers_of_reasoning_models(profile: str, lms: httpx2.AsyncClient) -> None:
    body = (await lms.post(ROUTE, json=structured(GEMMA))).json()
    message = body["choices"][0]["message"]
    if PROFILES[profile].structured_in_reasoning:
        assert message["content"] == ""
        jsonschema.validate(json.loads(message["reasoning_content"]), SCHEMA)
    else:
        assert set(message) == {"role", "content"}
        jsonschema.validate(json.loads(message["content"]), SCHEMA)
    # A schema leaves nothing to think in: no reasoning tokens, in every build.
    assert body["usage"]["completion_tokens_details"] == {"reasoning_tokens": 0}
    # Models that do not reason answer in content everywhere.
    plain = (await lms.post(ROUTE, json=structured(QWEN))).json()["choices"][0]["message"]
    jsonschema.validate(json.loads(plain["content"]), SCHEMA)


async def test_structured_answer_in_reasoning_content_when_streamed() -> None:
    with serve_in_thread(Simulator(profile="0.4.10")) as url:
        async with httpx2.AsyncClient(base_url=url, trust_env=False) as client:
            # "none" does not help on this build: the reports found no switch that does.
            response = await client.post(ROUTE, json=structured(GEMMA, stream=True, reasoning_effort="none"))
    deltas = [chunk["choices"][0]["delta"] for chunk in sse_chunks(response.text) if chunk["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert all(delta.get("content", "") == "" for delta in deltas)
    jsonschema.validate(json.loads("".join(delta.get("reasoning_content", "") for delta in deltas)), SCHEMA)


async def test_webp_images_are_refused_where_the_build_does(profile: str, lms: httpx2.AsyncClient) -> None:
    def ask(url: str) -> Json:
        return {"model": GEMMA, "messages": [user([{"type": "image_url", "image_url": {"url": url}}])]}

    webp = await lms.post(ROUTE, json=ask(WEBP))
    assert PROFILES[profile].refuses_webp
    assert (webp.status_code, webp.json()) == (400, {"error": "'url' field must be a base64 encoded image."})
    assert (await lms.post(ROUTE, json=ask(PNG))).status_code == 200


@pytest.mark.parametrize(
    ("effort", "thinks"),
    [(None, True), ("none", False), ("off", True), ("low", True), ("high", True), ("xhigh", True)],
)
async def test_reasoning_effort_is_accepted_and_none_turns_thinking_off(
    lms: httpx2.AsyncClient, effort: str | None, thinks: bool
) -> None:
    # Gemma allows off/on: "off" is ignored (lmstudio-bug-tracker#2413), other levels fall back to "on" (#2284).
    request = {"model": GEMMA, "messages": [user("x")]} | ({"reasoning_effort": effort} if effort else {})
    response = await lms.post(ROUTE, json=request)
    assert response.status_code == 200
    body = response.json()
    message = body["choices"][0]["message"]
    assert message["content"] == reply_text(GEMMA, None, "x", 1, 12)
    if thinks:
        assert message["reasoning_content"] == reasoning_text(GEMMA, None, "x", 1, 8)
        assert body["usage"]["completion_tokens"] == 20
        assert body["usage"]["completion_tokens_details"] == {"reasoning_tokens": 8}
    else:
        assert "reasoning_content" not in message
        assert body["usage"]["completion_tokens"] == 12


async def test_gpt_oss_thinking_arrives_as_reasoning(sim: Simulator, lms: httpx2.AsyncClient) -> None:
    sim.config.catalog.append(gpt_oss())
    body = {"model": GPT_OSS, "messages": [user("x")], "reasoning_effort": "low", "stream": True}
    streamed = sse_chunks((await lms.post(ROUTE, json=body)).text)
    deltas = [chunk["choices"][0]["delta"] for chunk in streamed if chunk["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert "".join(delta.get("reasoning", "") for delta in deltas) == reasoning_text(GPT_OSS, None, "x", 1, 8)
    assert "".join(delta.get("content", "") for delta in deltas) == reply_text(GPT_OSS, None, "x", 1, 12)
    whole = (await lms.post(ROUTE, json=body | {"stream": False})).json()["choices"][0]["message"]
    assert set(whole) == {"role", "content", "reasoning"}
