"""The main paths through the tools against every LM Studio build the simulator plays.

A change that works against the docs but breaks an older or quirkier build fails here. The behaviours and their
sources are in docs/lmstudio-compatibility.md.
"""

import base64

import pytest
from mcp import Client

from lms_mcp.simulator import PROFILE_NAMES, PROFILES, Simulator
from tests.support import DEEPSEEK as REASONER
from tests.support import GEMMA as VISION
from tests.support import OBJECT_SCHEMA as OBJECT
from tests.support import QWEN as TEXT_ONLY
from tests.support import XHIGH, chat_bodies, text_of
from tests.support import structured_of as ok

pytestmark = pytest.mark.anyio

WEBP = "data:image/webp;base64," + base64.b64encode(b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 24).decode()


@pytest.fixture(params=PROFILE_NAMES)
def sim(request: pytest.FixtureRequest) -> Simulator:
    """Overrides conftest's simulator: every test here runs once per build."""
    return Simulator(profile=request.param)


async def test_a_one_shot_chat_answers_and_leaves_nothing_stored(client: Client, sim: Simulator) -> None:
    answer = ok(await client.call_tool("chat", {"prompt": "hi", "model": TEXT_ONLY}))
    assert answer["answer"]
    assert chat_bodies(sim)[0]["store"] is False
    assert sim.state.threads == {}


async def test_a_session_with_a_system_prompt_continues_on_every_build(client: Client, sim: Simulator) -> None:
    for prompt in ("Remember 7.", "Add 3."):
        arguments = {"prompt": prompt, "model": TEXT_ONLY, "session": "s", "system_prompt": "Be exact."}
        ok(await client.call_tool("chat", arguments))
    first, second = chat_bodies(sim)
    assert "system_prompt" in first and "system_prompt" not in second
    assert second["previous_response_id"]


async def test_an_explicit_continuation_never_resends_the_system_prompt(client: Client, sim: Simulator) -> None:
    first = ok(await client.call_tool("chat", {"prompt": "Remember 7.", "model": TEXT_ONLY, "store": True}))
    arguments = {
        "prompt": "Add 3.",
        "model": TEXT_ONLY,
        "previous_response_id": first["response_id"],
        "system_prompt": "Be exact.",
    }
    second = ok(await client.call_tool("chat", arguments))
    assert "system_prompt" not in chat_bodies(sim)[1]
    assert any("keeps the one from its first turn" in note for note in second["notes"])


async def test_a_structured_answer_of_a_thinking_model_comes_back_parsed(client: Client, sim: Simulator) -> None:
    answer = ok(await client.call_tool("chat", {"prompt": "Fine?", "model": REASONER, "json_schema": OBJECT}))
    assert isinstance(answer["parsed"]["ok"], bool)
    took_from_reasoning = any("taken from there" in note for note in answer["notes"])
    assert took_from_reasoning == PROFILES[sim.config.profile].structured_in_reasoning


async def test_reasoning_control_follows_what_the_build_lists(client: Client, sim: Simulator) -> None:
    ok(await client.call_tool("chat", {"prompt": "x", "model": XHIGH, "reasoning": "xhigh"}))
    assert chat_bodies(sim)[-1]["reasoning"] == "xhigh"
    wrong = await client.call_tool("chat", {"prompt": "x", "model": REASONER, "reasoning": "high"})
    assert wrong.is_error
    assert text_of(wrong).startswith("INVALID_ARGUMENT: ")
    assert "on" in text_of(wrong)  # the allowed value is named, by lms-mcp or by LM Studio
    # Where the build lists no levels, the value is LM Studio's to judge: it was sent.
    sent = any(body.get("reasoning") == "high" for body in chat_bodies(sim))
    assert sent == (not PROFILES[sim.config.profile].lists_reasoning)


async def test_an_unknown_model_names_the_closest_keys(client: Client) -> None:
    for arguments in (
        {"prompt": "x", "model": "qwen/qwen3-4"},
        {"prompt": "x", "model": "qwen/qwen3-4", "json_schema": OBJECT},
    ):
        result = await client.call_tool("chat", arguments)
        assert result.is_error
        assert text_of(result).startswith(
            "MODEL_NOT_FOUND: LM Studio has no model 'qwen/qwen3-4'. Closest: qwen/qwen3-4b"
        )


async def test_a_webp_image_is_refused_before_the_structured_route(client: Client, sim: Simulator) -> None:
    arguments = {"prompt": "What is it?", "model": VISION, "images": [WEBP], "json_schema": OBJECT}
    result = await client.call_tool("chat", arguments)
    assert result.is_error
    assert text_of(result).startswith("INVALID_ARGUMENT: LM Studio's OpenAI-compatible route")
    assert not [r for r in sim.requests if r.path == "/v1/chat/completions"]
    # The native route takes it.
    ok(await client.call_tool("chat", {"prompt": "What is it?", "model": VISION, "images": [WEBP]}))


async def test_a_model_listed_without_capabilities_gets_reasoning_and_images_passed_on(
    client: Client, sim: Simulator
) -> None:
    # A side-loaded model can be listed with no `capabilities` at all: nothing is known, so nothing is refused.
    [qwen] = [entry for entry in sim.config.catalog if entry.key == TEXT_ONLY]
    qwen.lists_capabilities = False
    await client.call_tool("chat", {"prompt": "x", "model": TEXT_ONLY, "reasoning": "high", "images": [WEBP]})
    [body] = chat_bodies(sim)
    assert body["reasoning"] == "high"
    assert any(item.get("type") == "image" for item in body["input"])
