"""The simulator's OpenAI-compatible `POST /v1/chat/completions` (and `GET /v1/models`), over real loopback HTTP."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import jsonschema
import pytest

from lms_mcp.simulator import Simulator, reply_text
from tests.support import DEEPSEEK, EMBED, GEMMA, QWEN, XHIGH, loopback_http
from tests.support import LM_TOKEN as TOKEN
from tests.support import PNG_DATA_URL as PNG
from tests.support import lmstudio_fixture as fixture

pytestmark = pytest.mark.anyio

ROUTE = "/v1/chat/completions"
COMPLETION_ID = re.compile(r"^chatcmpl-[a-z0-9]{21}$")

Json = dict[str, Any]

# Schemas of the kinds bridges send; every answer must validate against its schema.
SCHEMAS: dict[str, Json] = {
    "nested objects": {
        "type": "object",
        "properties": {
            "title": {"type": "string", "minLength": 12, "maxLength": 16},
            "author": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "born": {"type": "integer", "minimum": 1900}},
                "required": ["name", "born"],
                "additionalProperties": False,
            },
            "rating": {"type": "number", "exclusiveMinimum": 0, "maximum": 5},
            "in_print": {"type": "boolean"},
        },
        "required": ["title", "author", "rating"],
        "additionalProperties": False,
    },
    "arrays": {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 3, "maxItems": 5},
            "scores": {"type": "array", "items": {"type": "integer", "multipleOf": 5}, "maxItems": 1},
            "matrix": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
            "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "null"}], "items": False},
        },
        "required": ["tags", "scores", "matrix", "pair"],
    },
    "enums and consts": {
        "type": "object",
        "properties": {
            "colour": {"enum": ["red", "green", "blue"]},
            "size": {"type": "string", "enum": ["S", "M", "L"]},
            "version": {"const": 2},
            "flags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "uniqueItems": True, "minItems": 3},
        },
        "required": ["colour", "size", "version", "flags"],
    },
    "$defs refs": {
        "$defs": {
            "person": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "email": {"type": "string", "format": "email"}},
                "required": ["name", "email"],
            },
            "node": {
                "type": "object",
                "properties": {
                    "value": {"type": "integer"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
                },
                "required": ["value", "children"],
            },
        },
        "type": "object",
        "properties": {
            "people": {"type": "array", "items": {"$ref": "#/$defs/person"}, "minItems": 1},
            "tree": {"$ref": "#/$defs/node"},
        },
        "required": ["people", "tree"],
    },
    "definitions refs": {
        "definitions": {"code": {"type": "string", "pattern": "^[A-Z]{3}-\\d{2}$"}},
        "type": "array",
        "items": {"$ref": "#/definitions/code"},
        "minItems": 2,
    },
    "anyOf and oneOf": {
        "type": "object",
        "properties": {
            "note": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
            "amount": {"oneOf": [{"type": "integer", "minimum": 10, "maximum": 12}, {"type": "string"}]},
            "choice": {"anyOf": [{"$ref": "#/$defs/yes"}, {"type": "boolean"}]},
        },
        "required": ["note", "amount", "choice"],
        "$defs": {"yes": {"type": "object", "properties": {"ok": {"const": True}}, "required": ["ok"]}},
    },
    "allOf": {
        "allOf": [
            {"type": "object", "properties": {"id": {"type": "string", "format": "uuid"}}, "required": ["id"]},
            {"properties": {"count": {"type": "integer", "exclusiveMaximum": 3}}, "required": ["count"]},
        ]
    },
    "nullable and untyped": {
        "type": "object",
        "properties": {"maybe": {"type": ["string", "null"]}, "anything": {}, "price": {"minimum": 100}},
        "required": ["maybe", "anything", "price"],
    },
}


@pytest.fixture
async def lms(sim_url: str) -> AsyncIterator[httpx2.AsyncClient]:
    async with loopback_http(sim_url) as client:
        yield client


def structured(schema: Json, question: str = "Describe it.", **extra: Any) -> Json:
    return {
        "model": GEMMA,
        "messages": [{"role": "user", "content": question}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}},
        **extra,
    }


async def content_of(lms: httpx2.AsyncClient, body: Json) -> str:
    response = await lms.post(ROUTE, json=body)
    assert response.status_code == 200, response.text
    return response.json()["choices"][0]["message"]["content"]


def validates(schema: Json, document: Any) -> bool:
    try:
        jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)
    except jsonschema.ValidationError:
        return False
    return True


async def test_plain_answer_is_the_native_reply_text(lms: httpx2.AsyncClient) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "an earlier answer here"},
        {"role": "user", "content": [{"type": "text", "text": "alpha beta"}, {"type": "text", "text": "gamma"}]},
    ]
    before = int(time.time())
    response = await lms.post(ROUTE, json={"model": QWEN, "messages": messages})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    documented = fixture("openai-v1-chat-completions/response.tool-calls.json")
    assert list(body) == list(documented)
    assert COMPLETION_ID.match(body["id"])
    assert body["object"] == "chat.completion"
    assert before <= body["created"] <= int(time.time())
    assert body["model"] == QWEN
    [choice] = body["choices"]
    assert list(choice) == list(documented["choices"][0])
    expected = reply_text(QWEN, "Be brief.", "alpha beta\ngamma", 2, 12)
    assert choice == {
        "index": 0,
        "logprobs": None,
        "finish_reason": "stop",
        "message": {"role": "assistant", "content": expected},
    }
    # Words plus 4 tokens of template overhead per message: (2 + 2 + 4 + 3) + 4 * 4.
    assert body["usage"] == {
        "prompt_tokens": 27,
        "completion_tokens": 12,
        "total_tokens": 39,
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    as_text = {"model": QWEN, "messages": messages, "response_format": {"type": "text"}}
    assert await content_of(lms, as_text) == expected
    second = (await lms.post(ROUTE, json={"model": QWEN, "messages": messages})).json()
    assert second["id"] != body["id"]


async def test_structured_answers_validate_against_their_schema(lms: httpx2.AsyncClient) -> None:
    for name, schema in SCHEMAS.items():
        jsonschema.Draft202012Validator.check_schema(schema)
        response = await lms.post(ROUTE, json=structured(schema))
        assert response.status_code == 200, (name, response.text)
        body = response.json()
        content = body["choices"][0]["message"]["content"]
        document = json.loads(content)
        jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)
        assert body["choices"][0]["finish_reason"] == "stop", name
        assert body["usage"]["completion_tokens"] == len(content.split()), name


async def test_structured_answers_are_deterministic_per_question(lms: httpx2.AsyncClient) -> None:
    schema = SCHEMAS["nested objects"]
    first = await content_of(lms, structured(schema, "Which book?"))
    assert await content_of(lms, structured(schema, "Which book?")) == first
    assert await content_of(lms, structured(schema, "Which film?")) != first


async def test_documented_structured_output_request(lms: httpx2.AsyncClient) -> None:
    request = fixture("openai-v1-chat-completions/request.structured-output.json")
    request["model"] = GEMMA
    body = (await lms.post(ROUTE, json=request)).json()
    document = json.loads(body["choices"][0]["message"]["content"])
    assert validates(request["response_format"]["json_schema"]["schema"], document)
    assert set(document) == {"joke"}


async def test_invalid_json_mode(sim: Simulator, lms: httpx2.AsyncClient) -> None:
    sim.config.json_mode = "invalid_json"
    for name, schema in SCHEMAS.items():
        content = await content_of(lms, structured(schema))
        with pytest.raises(json.JSONDecodeError):
            json.loads(content)
        assert content, name


async def test_schema_violation_mode(sim: Simulator, lms: httpx2.AsyncClient) -> None:
    sim.config.json_mode = "schema_violation"
    scalar_schemas: dict[str, Json] = {
        "string": {"type": "string"},
        "enum": {"enum": ["x", "y"]},
        "optional only": {"type": "object", "properties": {"n": {"type": "integer"}}},
    }
    for name, schema in (SCHEMAS | scalar_schemas).items():
        document = json.loads(await content_of(lms, structured(schema)))
        assert not validates(schema, document), name
    dropped = json.loads(await content_of(lms, structured(SCHEMAS["nested objects"])))
    assert set(dropped) == {"author", "rating", "in_print"}  # the first required property is missing


async def test_json_object_is_rejected_with_a_bare_string(lms: httpx2.AsyncClient) -> None:
    for response_format in ({"type": "json_object"}, {"type": "xml"}, {}):
        body = {"model": GEMMA, "messages": [{"role": "user", "content": "x"}], "response_format": response_format}
        response = await lms.post(ROUTE, json=body)
        assert response.status_code == 400
        assert response.json() == {"error": "'response_format.type' must be 'json_schema' or 'text'"}


async def test_unknown_model(lms: httpx2.AsyncClient) -> None:
    response = await lms.post(ROUTE, json={"model": "nope/nothing", "messages": [{"role": "user", "content": "x"}]})
    assert response.status_code == 404
    error = response.json()["error"]
    assert list(error) == ["message", "type", "param", "code"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "model"
    assert error["code"] == "model_not_found"
    assert error["message"].startswith('Model "nope/nothing" not found.')
    assert QWEN in error["message"]


async def test_request_errors(lms: httpx2.AsyncClient) -> None:
    user = [{"role": "user", "content": "x"}]
    image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": PNG}}]}]
    cases: list[tuple[Json, int, str]] = [
        ({"messages": user}, 400, "model"),
        ({"model": GEMMA}, 400, "messages"),
        ({"model": GEMMA, "messages": []}, 400, "messages"),
        ({"model": GEMMA, "messages": [{"role": "assistant", "content": "only me"}]}, 400, "messages"),
        ({"model": GEMMA, "messages": [{"role": "robot", "content": "x"}]}, 400, "messages"),
        ({"model": EMBED, "messages": user}, 400, "model"),
        ({"model": GEMMA, "messages": user, "temperature": "hot"}, 400, "temperature"),
        ({"model": GEMMA, "messages": user, "max_tokens": -5}, 400, "max_tokens"),
        ({"model": GEMMA, "messages": user, "stream": "yes"}, 400, "stream"),
        ({"model": QWEN, "messages": image}, 400, "messages"),  # Qwen has no vision
        (structured({"$ref": "#/$defs/missing"}), 400, "response_format"),
        (structured({"allOf": [{"$ref": "#"}]}), 400, "response_format"),  # refers to itself without end
        ({"model": GEMMA, "messages": user, "response_format": {"type": "json_schema"}}, 400, "response_format"),
    ]
    for body, status, param in cases:
        response = await lms.post(ROUTE, json=body)
        assert response.status_code == status, body
        error = response.json()["error"]
        assert (error["type"], error["param"]) == ("invalid_request_error", param), body
    assert (await lms.post(ROUTE, json={"model": GEMMA, "messages": image})).status_code == 200
    remote = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]}]
    refused = await lms.post(ROUTE, json={"model": GEMMA, "messages": remote})
    # LM Studio's bare-string error for any image URL it will not take (lmstudio-bug-tracker#1752).
    assert (refused.status_code, refused.json()) == (400, {"error": "'url' field must be a base64 encoded image."})


async def test_unknown_keys_and_documented_options_are_accepted(lms: httpx2.AsyncClient) -> None:
    body = {
        "model": GEMMA,
        "messages": [{"role": "user", "content": "x", "name": "me"}],
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 40,
        "repeat_penalty": 1.1,
        "seed": 7,
        "stop": ["\n\n"],
        "reasoning_effort": "none",
        "ttl": 300,
        "logit_bias": {},
        "n": 1,
        "tool_choice": "none",
        "made_up_option": {"deep": [1, 2]},
    }
    assert await content_of(lms, body) == reply_text(GEMMA, None, "x", 1, 12)


async def test_jit_load_and_model_listing(sim: Simulator, lms: httpx2.AsyncClient) -> None:
    listed = (await lms.get("/v1/models")).json()
    assert listed["object"] == "list"
    assert [model["id"] for model in listed["data"]] == [GEMMA, QWEN, DEEPSEEK, EMBED, XHIGH]
    assert all(
        model == {"id": model["id"], "object": "model", "owned_by": "organization_owner"} for model in listed["data"]
    )
    started = time.monotonic()
    body = {"model": f"{QWEN}@q4_k_m", "messages": [{"role": "user", "content": "x"}]}
    response = await lms.post(ROUTE, json=body)
    assert response.status_code == 200
    assert time.monotonic() - started >= sim.config.load_time
    assert response.json()["model"] == QWEN
    models = (await lms.get("/api/v1/models")).json()["models"]
    qwen = next(model for model in models if model["key"] == QWEN)
    assert [instance["id"] for instance in qwen["loaded_instances"]] == [QWEN]
    sim.config.jit = False
    assert [model["id"] for model in (await lms.get("/v1/models")).json()["data"]] == [GEMMA, QWEN]
    unloaded = await lms.post(ROUTE, json={"model": DEEPSEEK, "messages": [{"role": "user", "content": "x"}]})
    assert unloaded.status_code == 404
    assert unloaded.json()["error"]["message"].endswith(f"{GEMMA}\n{QWEN}")
    by_instance = await lms.post(ROUTE, json={"model": QWEN, "messages": [{"role": "user", "content": "x"}]})
    assert by_instance.status_code == 200


async def test_max_tokens_cuts_the_answer(lms: httpx2.AsyncClient) -> None:
    user = [{"role": "user", "content": "x"}]
    short = (await lms.post(ROUTE, json={"model": QWEN, "messages": user, "max_tokens": 3})).json()
    assert short["choices"][0]["message"]["content"] == reply_text(QWEN, None, "x", 1, 3)
    assert short["choices"][0]["finish_reason"] == "length"
    assert short["usage"]["completion_tokens"] == 3
    unlimited = (await lms.post(ROUTE, json={"model": QWEN, "messages": user, "max_tokens": -1})).json()
    assert unlimited["choices"][0]["message"]["content"] == reply_text(QWEN, None, "x", 1, 12)
    assert unlimited["choices"][0]["finish_reason"] == "stop"
    cut = (await lms.post(ROUTE, json=structured(SCHEMAS["nested objects"], max_tokens=2))).json()
    assert cut["choices"][0]["finish_reason"] == "length"
    assert cut["usage"]["completion_tokens"] == 2
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut["choices"][0]["message"]["content"])


async def test_streaming(lms: httpx2.AsyncClient) -> None:
    body = {
        "model": QWEN,
        "messages": [{"role": "user", "content": "x"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 4,
    }
    response = await lms.post(ROUTE, json=body)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    frames = response.text.removesuffix("\n\n").split("\n\n")
    assert all(frame.startswith("data: ") for frame in frames)
    assert frames[-1] == "data: [DONE]"
    chunks = [json.loads(frame.removeprefix("data: ")) for frame in frames[:-1]]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk["id"] for chunk in chunks}) == 1
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks if chunk["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert "".join(delta.get("content", "") for delta in deltas) == reply_text(QWEN, None, "x", 1, 4)
    assert [chunk["choices"][0]["finish_reason"] for chunk in chunks if chunk["choices"]][-1] == "length"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 5,
        "completion_tokens": 4,
        "total_tokens": 9,
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


async def test_auth_applies(sim: Simulator, lms: httpx2.AsyncClient) -> None:
    sim.config.api_tokens = [TOKEN]
    body = {"model": GEMMA, "messages": [{"role": "user", "content": "x"}]}
    missing = await lms.post(ROUTE, json=body)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "invalid_api_key"
    assert (await lms.get("/v1/models")).status_code == 401
    ok = await lms.post(ROUTE, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200


async def test_requests_are_recorded(sim: Simulator, lms: httpx2.AsyncClient) -> None:
    body = structured(SCHEMAS["allOf"])
    await lms.post(ROUTE, json=body)
    [record] = [record for record in sim.requests if record.path == ROUTE]
    assert (record.method, record.status, record.completed) == ("POST", 200, True)
    assert record.body == body
