"""chat's argument contract: every argument is sent or refused by name, on both routes, and nothing leaks."""

from dataclasses import replace
from typing import Any

import pytest
from mcp import Client

from lms_mcp.server import build_server
from lms_mcp.settings import Settings
from lms_mcp.simulator import Simulator
from tests.support import DEEPSEEK as REASONER
from tests.support import GEMMA, completion_bodies, text_of
from tests.support import OBJECT_SCHEMA as OBJECT
from tests.support import QWEN as MODEL

pytestmark = pytest.mark.anyio


async def test_json_schema_sends_min_p_and_reasoning_on_the_completions_route(client: Client, sim: Simulator) -> None:
    result = await client.call_tool(
        "chat",
        {
            "prompt": "Is it fine?",
            "model": GEMMA,
            "json_schema": OBJECT,
            "min_p": 0.05,
            "top_k": 20,
            "reasoning": "off",
        },
    )
    assert not result.is_error, text_of(result)
    [body] = completion_bodies(sim)
    assert body["min_p"] == 0.05
    assert body["top_k"] == 20
    # The OpenAI-compatible route calls "no thinking" `none`.
    assert body["reasoning_effort"] == "none"


@pytest.mark.parametrize(
    ("argument", "value"),
    [("context_length", 8192), ("integrations", ["mcp/playwright"]), ("store", True)],
)
async def test_json_schema_refuses_what_its_route_cannot_carry_by_name(
    client: Client, sim: Simulator, argument: str, value: Any
) -> None:
    result = await client.call_tool("chat", {"prompt": "x", "model": MODEL, "json_schema": OBJECT, argument: value})
    assert result.is_error
    assert text_of(result).startswith(f"INVALID_ARGUMENT: `{argument}` cannot be used with json_schema")
    assert completion_bodies(sim) == []


async def test_json_schema_answer_times_out_on_max_call_seconds(settings: Settings, sim: Simulator) -> None:
    sim.faults.inject("slow_headers", route="/v1/chat/completions", delay=3.0)
    async with Client(build_server(replace(settings, max_call_seconds=0.5, read_timeout=60))) as client:
        result = await client.call_tool("chat", {"prompt": "x", "model": MODEL, "json_schema": OBJECT})
    text = text_of(result)
    assert result.is_error
    assert text.startswith("TIMEOUT: The chat took longer than 0.5 s"), text
    assert "--max-call-seconds" in text
    assert "--read-timeout" not in text


async def test_json_schema_unknown_model_suggests_the_closest_keys(client: Client) -> None:
    result = await client.call_tool("chat", {"prompt": "x", "model": "qwen/qwen3-4", "json_schema": OBJECT})
    assert result.is_error
    assert text_of(result).startswith("MODEL_NOT_FOUND: LM Studio has no model 'qwen/qwen3-4'. Closest: qwen/qwen3-4b")


async def test_json_schema_returns_the_reasoning_when_asked(client: Client) -> None:
    result = await client.call_tool(
        "chat", {"prompt": "x", "model": REASONER, "json_schema": OBJECT, "include_reasoning": True}
    )
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    assert result.structured_content["parsed"] is not None


async def test_refused_arguments_name_the_argument_in_the_error_contract(client: Client) -> None:
    missing = await client.call_tool("chat", {"model": MODEL})
    assert missing.is_error
    assert text_of(missing).startswith("INVALID_ARGUMENT: chat was called with arguments it cannot take: `prompt` is")
    wrong = await client.call_tool("chat", {"prompt": "x", "temperature": 3})
    assert text_of(wrong).startswith("INVALID_ARGUMENT: chat was called with arguments it cannot take: `temperature`")
    assert "(got 3)" in text_of(wrong)
    assert "pydantic" not in text_of(wrong) and "http" not in text_of(wrong)


@pytest.mark.parametrize("name", ["a\nb", "\x1b[31mred", "nul\x00", "bidi\u202eevil", "zero\u200fwidth"])
async def test_session_names_must_be_printable(client: Client, sim: Simulator, name: str) -> None:
    result = await client.call_tool("chat", {"prompt": "x", "model": MODEL, "session": name})
    assert result.is_error
    assert text_of(result).startswith("INVALID_ARGUMENT: chat was called with arguments it cannot take: `session`")
    assert sim.requests == []


async def test_failed_turns_and_resets_leave_no_session_lock_behind(settings: Settings, sim: Simulator) -> None:
    server = build_server(settings)
    async with Client(server) as client:
        for number in range(20):
            failed = await client.call_tool("chat", {"prompt": "x", "model": "no/such-model", "session": f"s{number}"})
            assert failed.is_error
        ok = await client.call_tool("chat", {"prompt": "x", "model": MODEL, "session": "kept"})
        assert not ok.is_error, text_of(ok)
        reset = await client.call_tool("reset_session", {"session": "kept"})
        assert not reset.is_error
        listed = await client.call_tool("list_sessions", {})
        assert listed.structured_content == {"sessions": []}
        assert server.sessions.open_turns == 0
