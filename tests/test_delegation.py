"""Delegation that saves the caller's context: sessions, files, images, reasoning, integrations, embeddings."""

import base64
import json
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest
from mcp import Client

from lms_mcp.integration_policy import IntegrationPolicy
from lms_mcp.server import build_server
from lms_mcp.settings import Settings
from lms_mcp.simulator import JsonMode, Simulator, reply_text
from tests.support import DEEPSEEK as REASONER
from tests.support import GEMMA as VISION
from tests.support import PNG, chat_bodies, text_of
from tests.support import QWEN as TEXT_ONLY
from tests.support import structured_of as answer

pytestmark = pytest.mark.anyio


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("def main():\n    return 42\n", encoding="utf-8")
    (root / "notes.md").write_text("# Notes\nShip on Friday.\n", encoding="utf-8")
    (root / "logo.png").write_bytes(PNG)
    (tmp_path / "secret.txt").write_text("password=hunter2\n", encoding="utf-8")
    return root


@pytest.fixture
async def client_in(project: Path, settings: Settings) -> AsyncIterator[Client]:
    """lms-mcp allowed to read only `project`."""
    async with Client(build_server(replace(settings, allowed_dirs=(str(project),)))) as client:
        yield client


# --- named sessions ---------------------------------------------------------------------------------


async def test_three_turn_session_sends_the_system_prompt_once(client: Client, sim: Simulator) -> None:
    turns = ["Remember the number 7.", "Add 3 to it.", "Now double it."]
    answers = [
        answer(
            await client.call_tool(
                "chat", {"prompt": prompt, "model": TEXT_ONLY, "session": "math", "system_prompt": "Be exact."}
            )
        )
        for prompt in turns
    ]
    bodies = chat_bodies(sim)
    assert [("system_prompt" in b) for b in bodies] == [True, False, False]
    assert "previous_response_id" not in bodies[0]
    assert bodies[1]["previous_response_id"] == answers[0]["response_id"]
    assert bodies[2]["previous_response_id"] == answers[1]["response_id"]
    for turn, (prompt, result) in enumerate(zip(turns, answers, strict=True), start=1):
        assert result["answer"] == reply_text(TEXT_ONLY, "Be exact.", prompt, turn, sim.config.reply_tokens)
        assert result["session"] == "math"
    assert "system_prompt was not sent" in answers[1]["notes"][0]


async def test_a_session_keeps_its_model_and_can_be_listed_and_reset(client: Client, sim: Simulator) -> None:
    answer(await client.call_tool("chat", {"prompt": "one", "model": TEXT_ONLY, "session": "s1"}))
    second = answer(await client.call_tool("chat", {"prompt": "two", "session": "s1"}))
    assert second["model_instance_id"] == TEXT_ONLY
    listed = answer(await client.call_tool("list_sessions", {}))["sessions"]
    assert [(s["session"], s["turns"], s["model"]) for s in listed] == [("s1", 2, TEXT_ONLY)]
    assert answer(await client.call_tool("reset_session", {"session": "s1"}))["reset"] is True
    fresh = answer(await client.call_tool("chat", {"prompt": "three", "model": TEXT_ONLY, "session": "s1"}))
    assert fresh["answer"] == reply_text(TEXT_ONLY, None, "three", 1, sim.config.reply_tokens)
    assert "previous_response_id" not in chat_bodies(sim)[-1]
    missing = await client.call_tool("reset_session", {"session": "s2"})
    assert missing.is_error and text_of(missing).startswith("INVALID_ARGUMENT: There is no session 's2'. Closest: s1")


async def test_session_with_previous_response_id_or_store_false_is_refused(client: Client, sim: Simulator) -> None:
    both = await client.call_tool("chat", {"prompt": "x", "session": "a", "previous_response_id": "resp_1"})
    assert both.is_error and text_of(both).startswith("INVALID_ARGUMENT: Pass `session` or `previous_response_id`")
    unstored = await client.call_tool("chat", {"prompt": "x", "session": "a", "store": False})
    assert unstored.is_error and "store=true" in text_of(unstored)
    assert chat_bodies(sim) == []


# --- files read server-side -------------------------------------------------------------------------


async def test_files_are_read_by_the_server_and_labelled_with_their_path(
    client_in: Client, sim: Simulator, project: Path
) -> None:
    result = answer(
        await client_in.call_tool(
            "chat", {"prompt": "Review these.", "model": TEXT_ONLY, "files": ["src/app.py", str(project / "notes.md")]}
        )
    )
    sent = chat_bodies(sim)[0]["input"]
    app_py, notes = project / "src" / "app.py", project / "notes.md"
    assert sent == [
        {"type": "text", "content": f'<file path="{app_py}">\ndef main():\n    return 42\n\n</file>'},
        {"type": "text", "content": f'<file path="{notes}">\n# Notes\nShip on Friday.\n\n</file>'},
        {"type": "text", "content": "Review these."},
    ]
    user_text = "\n".join(item["content"] for item in sent)
    assert result["answer"] == reply_text(TEXT_ONLY, None, user_text, 1, sim.config.reply_tokens)


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("../secret.txt", "FILE_NOT_ALLOWED"),
        ("missing.txt", "FILE_NOT_FOUND"),
        ("src", "FILE_UNREADABLE"),
        ("logo.png", "FILE_UNREADABLE"),
    ],
)
async def test_files_outside_missing_or_not_text_are_refused(
    client_in: Client, sim: Simulator, path: str, code: str
) -> None:
    result = await client_in.call_tool("chat", {"prompt": "x", "model": TEXT_ONLY, "files": [path]})
    assert result.is_error and text_of(result).startswith(f"{code}: ")
    assert "hunter2" not in text_of(result)
    assert chat_bodies(sim) == []


async def test_a_symlink_pointing_out_cannot_escape(client_in: Client, sim: Simulator, project: Path) -> None:
    (project / "link.txt").symlink_to(project.parent / "secret.txt")
    (project / "linkdir").symlink_to(project.parent)
    for path in ["link.txt", "linkdir/secret.txt", str(project / "src" / ".." / ".." / "secret.txt")]:
        result = await client_in.call_tool("chat", {"prompt": "x", "model": TEXT_ONLY, "files": [path]})
        assert result.is_error and text_of(result).startswith("FILE_NOT_ALLOWED: "), path
        assert "--allow-dir" in text_of(result)
    assert chat_bodies(sim) == []


@pytest.mark.posix_only("os.mkfifo, /dev/zero")
async def test_a_fifo_or_a_device_is_refused_without_blocking(
    settings: Settings, sim: Simulator, project: Path
) -> None:
    os.mkfifo(project / "pipe")
    async with Client(build_server(replace(settings, allowed_dirs=(str(project), "/dev")))) as client:
        for path in ["pipe", "/dev/zero"]:
            result = await client.call_tool("chat", {"prompt": "x", "model": TEXT_ONLY, "files": [path]})
            assert result.is_error and text_of(result).startswith("FILE_UNREADABLE: "), path
            assert "only regular files" in text_of(result)


async def test_file_size_limits_per_file_and_per_call(settings: Settings, sim: Simulator, project: Path) -> None:
    (project / "big.txt").write_text("x" * 600, encoding="utf-8")
    (project / "half.txt").write_text("y" * 400, encoding="utf-8")
    limited = replace(settings, allowed_dirs=(str(project),), max_file_bytes=500, max_total_file_bytes=700)
    async with Client(build_server(limited)) as client:
        big = await client.call_tool("chat", {"prompt": "x", "model": TEXT_ONLY, "files": ["big.txt"]})
        assert big.is_error and text_of(big).startswith("FILE_TOO_LARGE: ") and "LMS_MCP_MAX_FILE_BYTES" in text_of(big)
        two = await client.call_tool("chat", {"prompt": "x", "model": TEXT_ONLY, "files": ["half.txt", "half.txt"]})
        assert two.is_error and "LMS_MCP_MAX_TOTAL_FILE_BYTES" in text_of(two)
        one = await client.call_tool("chat", {"prompt": "x", "model": TEXT_ONLY, "files": ["half.txt"]})
        assert not one.is_error
    assert len(chat_bodies(sim)) == 1


# --- images -----------------------------------------------------------------------------------------


async def test_an_image_goes_to_a_vision_model_as_a_data_url(client_in: Client, sim: Simulator) -> None:
    answer(await client_in.call_tool("chat", {"prompt": "What is this?", "model": VISION, "images": ["logo.png"]}))
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert chat_bodies(sim)[0]["input"] == [
        {"type": "image", "data_url": data_url},
        {"type": "text", "content": "What is this?"},
    ]


async def test_an_image_for_a_model_without_vision_names_the_vision_models(client_in: Client, sim: Simulator) -> None:
    result = await client_in.call_tool("chat", {"prompt": "x", "model": TEXT_ONLY, "images": ["logo.png"]})
    assert result.is_error
    assert text_of(result) == f"INVALID_ARGUMENT: {TEXT_ONLY} cannot see images. Vision models: {VISION}."
    assert chat_bodies(sim) == []


async def test_image_data_urls_are_passed_and_other_files_refused(client_in: Client, sim: Simulator) -> None:
    url = "data:image/jpeg;base64,/9j/4AAQ"
    answer(await client_in.call_tool("chat", {"prompt": "x", "model": VISION, "images": [url]}))
    assert chat_bodies(sim)[0]["input"][0] == {"type": "image", "data_url": url}
    text_file = await client_in.call_tool("chat", {"prompt": "x", "model": VISION, "images": ["notes.md"]})
    assert text_file.is_error and text_of(text_file).startswith("FILE_UNREADABLE: ")


# --- reasoning --------------------------------------------------------------------------------------


async def test_reasoning_is_left_out_unless_asked_for(client: Client, sim: Simulator) -> None:
    plain = answer(await client.call_tool("chat", {"prompt": "think", "model": REASONER}))
    assert plain["reasoning"] is None and "<reasoning>" not in text_of(
        await client.call_tool("chat", {"prompt": "think", "model": REASONER})
    )
    shown = answer(await client.call_tool("chat", {"prompt": "think", "model": REASONER, "include_reasoning": True}))
    assert shown["reasoning"] and shown["stats"]["reasoning_tokens"] == sim.config.reasoning_tokens


async def test_an_answer_emptied_by_reasoning_says_what_to_do(client: Client) -> None:
    result = await client.call_tool("chat", {"prompt": "think", "model": REASONER, "max_output_tokens": 5})
    data = answer(result)
    assert data["answer"] == "" and data["truncated"] is True
    assert "reasoning used the whole max_output_tokens budget" in data["notes"][0]
    assert "raise max_output_tokens" in text_of(result)


async def test_a_cut_off_answer_is_flagged(client: Client, sim: Simulator) -> None:
    data = answer(await client.call_tool("chat", {"prompt": "x", "model": TEXT_ONLY, "max_output_tokens": 3}))
    assert data["truncated"] is True and len(data["answer"].split()) == 3
    assert data["notes"] == ["The answer was cut off at max_output_tokens: raise it to get the rest."]
    full = answer(await client.call_tool("chat", {"prompt": "x", "model": TEXT_ONLY}))
    assert full["truncated"] is False and full["notes"] == []


# --- LM Studio's own MCP tools ------------------------------------------------------------------------


async def test_integrations_pass_through_and_tool_calls_are_summarised(settings: Settings, sim: Simulator) -> None:
    sim.config.allow_ephemeral_mcp = True
    server = {
        "type": "ephemeral_mcp",
        "server_label": "huggingface",
        "server_url": "https://huggingface.co/mcp",
        "allowed_tools": ["model_search"],
    }
    allowing = replace(settings, integrations=IntegrationPolicy.parse("huggingface.co"))
    async with Client(build_server(allowing)) as client:
        result = await client.call_tool("chat", {"prompt": "top model?", "model": TEXT_ONLY, "integrations": [server]})
    data = answer(result)
    assert chat_bodies(sim)[0]["integrations"] == [server]
    assert [(c["tool"], c["provider"], c["error"]) for c in data["tool_calls"]] == [
        ("model_search", "huggingface", None)
    ]
    assert "tool model_search: ok" in text_of(result)


async def test_integrations_disabled_in_lm_studio_is_an_invalid_argument(client: Client) -> None:
    result = await client.call_tool("chat", {"prompt": "x", "model": TEXT_ONLY, "integrations": ["mcp/playwright"]})
    assert result.is_error and text_of(result).startswith("INVALID_ARGUMENT: LM Studio rejected the request")


# --- embeddings -------------------------------------------------------------------------------------


async def test_embed_returns_one_vector_per_text(client: Client, sim: Simulator) -> None:
    data = answer(await client.call_tool("embed", {"texts": ["alpha", "beta", "alpha"]}))
    assert data["model"] == "text-embedding-nomic-embed-text-v1.5"
    vectors = data["embeddings"]
    assert len(vectors) == 3 and data["dimensions"] == len(vectors[0]) > 0
    assert vectors[0] == vectors[2] != vectors[1]
    assert [r.body for r in sim.requests if r.path == "/v1/embeddings"] == [
        {"model": "text-embedding-nomic-embed-text-v1.5", "input": ["alpha", "beta", "alpha"]}
    ]


async def test_embed_with_a_chat_model_is_refused(client: Client) -> None:
    result = await client.call_tool("embed", {"texts": ["x"], "model": TEXT_ONLY})
    assert result.is_error and text_of(result).startswith("INVALID_ARGUMENT: ")


# --- JSON answers -----------------------------------------------------------------------------------

INVOICE = {
    "type": "object",
    "properties": {
        "total": {"type": "number", "minimum": 0},
        "currency": {"type": "string", "enum": ["EUR", "USD"]},
        "lines": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    },
    "required": ["total", "currency", "lines"],
}


async def test_json_schema_answer_comes_back_parsed_and_valid(client: Client, sim: Simulator) -> None:
    result = answer(
        await client.call_tool(
            "chat",
            {
                "prompt": "Extract the invoice.",
                "model": TEXT_ONLY,
                "json_schema": INVOICE,
                "system_prompt": "Be exact.",
            },
        )
    )
    parsed = result["parsed"]
    jsonschema.validate(parsed, INVOICE)
    assert json.loads(result["answer"]) == parsed
    sent = [r.body for r in sim.requests if r.path == "/v1/chat/completions"]
    assert sent == [
        {
            "model": TEXT_ONLY,
            "messages": [
                {"role": "system", "content": "Be exact."},
                {"role": "user", "content": "Extract the invoice."},
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": INVOICE, "strict": True},
            },
        }
    ]
    assert chat_bodies(sim) == []


@pytest.mark.parametrize(
    ("mode", "expected"), [("invalid_json", "is not valid JSON"), ("schema_violation", "does not match")]
)
async def test_json_answer_that_fails_to_parse_or_validate_is_an_error(
    client: Client, sim: Simulator, mode: JsonMode, expected: str
) -> None:
    sim.config.json_mode = mode
    result = await client.call_tool("chat", {"prompt": "Extract.", "model": TEXT_ONLY, "json_schema": INVOICE})
    assert result.is_error
    assert text_of(result).startswith("INVALID_ANSWER: The model's answer ") and expected in text_of(result)


async def test_json_schema_with_files_sends_them_as_parts(client_in: Client, sim: Simulator, project: Path) -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    result = answer(
        await client_in.call_tool(
            "chat", {"prompt": "Is it fine?", "model": TEXT_ONLY, "json_schema": schema, "files": ["notes.md"]}
        )
    )
    assert isinstance(result["parsed"]["ok"], bool)
    content = [r.body for r in sim.requests if r.path == "/v1/chat/completions"][0]["messages"][0]["content"]
    assert content == [
        {"type": "text", "text": f'<file path="{project / "notes.md"}">\n# Notes\nShip on Friday.\n\n</file>'},
        {"type": "text", "text": "Is it fine?"},
    ]


async def test_bad_schema_or_a_conversation_with_json_is_refused(client: Client, sim: Simulator) -> None:
    bad = await client.call_tool("chat", {"prompt": "x", "json_schema": {"type": "banana"}})
    assert bad.is_error and text_of(bad).startswith("INVALID_ARGUMENT: json_schema is not a valid JSON Schema")
    chained = await client.call_tool("chat", {"prompt": "x", "session": "s", "json_schema": {"type": "object"}})
    assert chained.is_error and "cannot continue a conversation" in text_of(chained)
    assert sim.requests == []


async def test_started_from_the_filesystem_root_no_directory_is_readable(
    settings: Settings, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir("/")
    async with Client(build_server(settings)) as client:
        result = await client.call_tool("chat", {"prompt": "x", "model": TEXT_ONLY, "files": ["/etc/hostname"]})
    assert result.is_error and text_of(result).startswith("FILE_NOT_ALLOWED: No directory may be read")
    assert "--allow-dir" in text_of(result)
    assert chat_bodies(sim) == []
