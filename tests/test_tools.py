"""Every tool end to end: MCP client -> lms-mcp -> real HTTP -> the LM Studio simulator."""

import json
from typing import Any

import anyio
import pytest
from mcp import Client

from lms_mcp.server import build_server
from lms_mcp.settings import Settings
from lms_mcp.simulator import Simulator, reply_text
from lms_mcp.tools import TOOL_NAMES
from lms_mcp.tools.manage import ModelListResult
from tests.support import GEMMA as LOADED
from tests.support import QWEN as UNLOADED
from tests.support import chat_bodies, text_of
from tests.support import structured_of as data

pytestmark = pytest.mark.anyio


async def test_lists_the_tools_with_titles_annotations_and_output_schemas(client: Client) -> None:
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == set(TOOL_NAMES)
    for tool in tools.values():
        assert tool.title and tool.description and tool.output_schema
        assert tool.annotations is not None
        # Hosts show these to the model: every argument says what it is for.
        undescribed = [name for name, p in tool.input_schema["properties"].items() if not p.get("description")]
        assert undescribed == [], (tool.name, undescribed)
    assert tools["list_models"].annotations and tools["list_models"].annotations.read_only_hint is True
    assert tools["unload_model"].annotations and tools["unload_model"].annotations.destructive_hint is True
    assert tools["download_model"].annotations and tools["download_model"].annotations.open_world_hint is True
    assert tools["chat"].annotations and tools["chat"].annotations.read_only_hint is False
    chat_params = tools["chat"].input_schema["properties"]
    assert {"prompt", "model", "system_prompt", "previous_response_id", "reasoning", "max_output_tokens"} <= set(
        chat_params
    )
    assert tools["chat"].input_schema["required"] == ["prompt"]


async def test_list_models_reports_every_model_with_capabilities_and_instances(client: Client, sim: Simulator) -> None:
    result = data(await client.call_tool("list_models", {}))
    keys = [m["key"] for m in result["models"]]
    assert keys == [m.key for m in sim.config.catalog]
    gemma = next(m for m in result["models"] if m["key"] == LOADED)
    assert gemma["vision"] is True and gemma["tool_use"] is True
    assert gemma["reasoning_options"] == ["off", "on"]
    assert gemma["loaded_instances"] == [{"id": LOADED, "context_length": 4096}]
    assert gemma["quantization"] == "Q4_K_M" and gemma["variants"]


async def test_list_models_filters_by_type_and_loaded(client: Client) -> None:
    embeddings = data(await client.call_tool("list_models", {"type": "embedding"}))
    assert embeddings["count"] >= 1 and all(m["type"] == "embedding" for m in embeddings["models"])
    loaded = data(await client.call_tool("list_models", {"loaded_only": True}))
    assert [m["key"] for m in loaded["models"]] == [LOADED]
    assert "LOADED" in text_of(await client.call_tool("list_models", {"loaded_only": True}))


async def test_list_models_structured_content_is_exactly_what_its_output_model_gives(client: Client) -> None:
    """list_models builds its structured content as plain JSON values: keys, order and values as ModelListResult's."""
    content = data(await client.call_tool("list_models", {}))
    assert content["count"] == len(content["models"]) > 1
    assert any(m["loaded_instances"] for m in content["models"])
    canonical = ModelListResult.model_validate(content).model_dump(mode="json")
    assert json.dumps(content) == json.dumps(canonical)


async def test_chat_returns_the_models_answer_and_sends_only_what_was_asked(client: Client, sim: Simulator) -> None:
    result = await client.call_tool(
        "chat",
        {"prompt": "Summarise: the cat sat.", "model": UNLOADED, "system_prompt": "Be terse.", "temperature": 0.2},
    )
    answer = data(result)
    expected = reply_text(UNLOADED, "Be terse.", "Summarise: the cat sat.", 1, sim.config.reply_tokens)
    assert answer["answer"] == expected
    assert text_of(result).startswith(expected)
    # A one-shot chat leaves nothing stored in LM Studio, so there is nothing to continue.
    assert answer["response_id"] is None
    assert "resp_" not in text_of(result)
    assert answer["model_instance_id"] == UNLOADED
    assert answer["stats"]["output_tokens"] == sim.config.reply_tokens
    assert answer["stats"]["model_load_time_seconds"] is not None  # it was loaded on demand
    assert chat_bodies(sim) == [
        {
            "model": UNLOADED,
            "input": "Summarise: the cat sat.",
            "system_prompt": "Be terse.",
            "temperature": 0.2,
            "store": False,
            "stream": True,
        }
    ]
    assert sim.state.threads == {}


async def test_chat_follow_up_continues_the_stored_conversation(client: Client, sim: Simulator) -> None:
    first = data(await client.call_tool("chat", {"prompt": "Remember 7.", "model": UNLOADED, "store": True}))
    second = data(
        await client.call_tool(
            "chat", {"prompt": "What number?", "model": UNLOADED, "previous_response_id": first["response_id"]}
        )
    )
    assert second["answer"] == reply_text(UNLOADED, None, "What number?", 2, sim.config.reply_tokens)
    assert second["response_id"] != first["response_id"]
    assert chat_bodies(sim)[1]["previous_response_id"] == first["response_id"]


async def test_chat_without_model_uses_the_only_loaded_llm(client: Client, sim: Simulator) -> None:
    answer = data(await client.call_tool("chat", {"prompt": "hi"}))
    assert answer["model_instance_id"] == LOADED
    assert chat_bodies(sim)[0]["model"] == LOADED


async def test_chat_without_model_uses_the_configured_default(sim: Simulator, sim_url: str) -> None:
    server = build_server(Settings(base_url=sim_url, default_model=UNLOADED))
    async with Client(server) as client:
        answer = data(await client.call_tool("chat", {"prompt": "hi"}))
    assert answer["model_instance_id"] == UNLOADED


async def test_chat_without_model_and_nothing_loaded_names_the_candidates(client: Client) -> None:
    assert not (await client.call_tool("unload_model", {"instance_id": LOADED})).is_error
    result = await client.call_tool("chat", {"prompt": "hi"})
    assert result.is_error
    assert text_of(result).startswith("NO_MODEL_LOADED: ")
    assert UNLOADED in text_of(result) and "load_model" in text_of(result)


async def test_chat_without_model_and_several_loaded_asks_to_choose(client: Client) -> None:
    assert not (await client.call_tool("load_model", {"model": UNLOADED})).is_error
    result = await client.call_tool("chat", {"prompt": "hi"})
    assert result.is_error
    assert text_of(result).startswith("INVALID_ARGUMENT: Several LLMs are loaded")
    assert LOADED in text_of(result) and UNLOADED in text_of(result)


async def test_chat_with_an_unknown_model_suggests_close_keys(client: Client) -> None:
    result = await client.call_tool("chat", {"prompt": "hi", "model": "qwen/qwen3-4"})
    assert result.is_error
    assert text_of(result).startswith("MODEL_NOT_FOUND: ")
    assert UNLOADED in text_of(result) and "list_models" in text_of(result)


async def test_chat_with_a_reasoning_value_the_model_refuses_lists_the_allowed_ones(
    client: Client, sim: Simulator
) -> None:
    result = await client.call_tool("chat", {"prompt": "hi", "model": LOADED, "reasoning": "high"})
    assert result.is_error
    assert text_of(result) == (
        f"INVALID_ARGUMENT: {LOADED} does not support reasoning='high'. Allowed values: off, on."
    )
    assert chat_bodies(sim) == []  # refused before any work
    no_reasoning = await client.call_tool("chat", {"prompt": "hi", "model": UNLOADED, "reasoning": "on"})
    assert text_of(no_reasoning).endswith("Leave `reasoning` out for it.")


async def test_chat_reports_increasing_progress_through_load_prompt_and_generation(
    client: Client, sim: Simulator
) -> None:
    sim.config.reply_tokens = 40
    seen: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, message))

    answer = data(await client.call_tool("chat", {"prompt": "hi", "model": UNLOADED}, progress_callback=on_progress))
    assert answer["stats"]["output_tokens"] == 40
    values = [value for value, _ in seen]
    assert values == sorted(values) and len(set(values)) == len(values)
    messages = [message or "" for _, message in seen]
    assert any(m.startswith(f"Loading {UNLOADED}") for m in messages)
    assert any(m.startswith("Processing prompt") for m in messages)
    assert any(m.startswith("Generating: ") for m in messages)


async def test_chat_error_mid_stream_returns_the_partial_answer_with_the_error(client: Client, sim: Simulator) -> None:
    sim.config.reply_tokens = 10
    sim.inject("error_event", route="/api/v1/chat", after_tokens=4)
    result = await client.call_tool("chat", {"prompt": "hi", "model": LOADED})
    assert result.is_error
    text = text_of(result)
    assert text.startswith("UPSTREAM_ERROR: LM Studio reported an error mid-answer")
    partial = " ".join(reply_text(LOADED, None, "hi", 1, 10).split(" ")[:4])
    assert partial in text


async def test_load_model_returns_the_instance_and_effective_config(client: Client, sim: Simulator) -> None:
    loaded = data(await client.call_tool("load_model", {"model": UNLOADED, "context_length": 8192}))
    assert loaded["instance_id"] == UNLOADED and loaded["already_loaded"] is False
    assert loaded["context_length"] == 8192 and loaded["load_time_seconds"] is not None
    load_bodies = [r.body for r in sim.requests if r.path == "/api/v1/models/load"]
    assert load_bodies == [{"model": UNLOADED, "context_length": 8192, "echo_load_config": True}]


async def test_load_model_returns_the_existing_instance_instead_of_a_second_copy(
    client: Client, sim: Simulator
) -> None:
    again = data(await client.call_tool("load_model", {"model": LOADED}))
    assert again == again | {"instance_id": LOADED, "already_loaded": True, "context_length": 4096}
    assert not [r for r in sim.requests if r.path == "/api/v1/models/load"]
    second = data(await client.call_tool("load_model", {"model": LOADED, "new_instance": True}))
    assert second["instance_id"] == f"{LOADED}:2" and second["already_loaded"] is False


async def test_load_model_with_a_different_context_than_the_loaded_instance_explains_the_choices(
    client: Client,
) -> None:
    result = await client.call_tool("load_model", {"model": LOADED, "context_length": 16384})
    assert result.is_error
    assert text_of(result).startswith("INVALID_ARGUMENT: ")
    assert "new_instance=true" in text_of(result) and "unload_model" in text_of(result)


async def test_load_model_of_an_unknown_key_is_model_not_found(client: Client) -> None:
    result = await client.call_tool("load_model", {"model": "gemma-4"})
    assert result.is_error and text_of(result).startswith("MODEL_NOT_FOUND: ")
    assert LOADED in text_of(result)


async def test_unload_model_by_instance_id(client: Client, sim: Simulator) -> None:
    assert data(await client.call_tool("unload_model", {"instance_id": LOADED}))["unloaded"] == [LOADED]
    assert [r.body for r in sim.requests if r.path == "/api/v1/models/unload"] == [{"instance_id": LOADED}]
    listed = data(await client.call_tool("list_models", {"loaded_only": True}))
    assert listed["count"] == 0


async def test_unload_model_by_key_unloads_every_instance(client: Client) -> None:
    data(await client.call_tool("load_model", {"model": LOADED, "new_instance": True}))
    unloaded = data(await client.call_tool("unload_model", {"instance_id": LOADED}))["unloaded"]
    assert sorted(unloaded) == [LOADED, f"{LOADED}:2"]


async def test_unload_model_of_a_model_that_is_not_loaded(client: Client) -> None:
    result = await client.call_tool("unload_model", {"instance_id": UNLOADED})
    assert result.is_error and text_of(result).startswith("INVALID_ARGUMENT: ")
    assert f"Loaded instances: {LOADED}" in text_of(result)
    unknown = await client.call_tool("unload_model", {"instance_id": "nope/never"})
    assert unknown.is_error and text_of(unknown).startswith("MODEL_NOT_FOUND: ")


async def test_download_model_starts_a_job_that_download_status_follows_to_completion(
    client: Client, sim: Simulator
) -> None:
    sim.config.download_duration = 0.3
    job = data(await client.call_tool("download_model", {"model": "ibm/granite-4-micro"}))
    assert job["status"] == "downloading" and job["job_id"].startswith("job_")
    assert job["total_size_bytes"] > 0
    status = data(await client.call_tool("download_status", {"job_id": job["job_id"]}))
    assert status["status"] in ("downloading", "completed")
    assert 0 <= status["fraction"] <= 1
    with anyio.fail_after(5):
        while status["status"] != "completed":
            await anyio.sleep(0.05)
            status = data(await client.call_tool("download_status", {"job_id": job["job_id"]}))
    assert status["fraction"] == 1 and status["downloaded_bytes"] == status["total_size_bytes"]
    keys = [m["key"] for m in data(await client.call_tool("list_models", {}))["models"]]
    assert "ibm/granite-4-micro" in keys


async def test_download_of_a_model_already_there(client: Client) -> None:
    result = data(await client.call_tool("download_model", {"model": LOADED}))
    assert result["status"] == "already_downloaded" and result["job_id"] is None


async def test_download_status_of_an_unknown_job(client: Client) -> None:
    result = await client.call_tool("download_status", {"job_id": "job_0000000000"})
    assert result.is_error and text_of(result).startswith("JOB_NOT_FOUND: ")


async def test_download_of_an_unknown_model(client: Client) -> None:
    result = await client.call_tool("download_model", {"model": "nobody/nothing"})
    assert result.is_error and text_of(result).startswith("MODEL_NOT_FOUND: ")


async def test_bad_arguments_are_refused_before_lm_studio_is_called(client: Client, sim: Simulator) -> None:
    for name, arguments in [
        ("chat", {"prompt": ""}),
        ("chat", {"prompt": "hi", "temperature": 3}),
        ("chat", {"prompt": "hi", "previous_response_id": "abc"}),
        ("load_model", {"model": LOADED, "context_length": 0}),
        ("list_models", {"type": "vlm"}),
    ]:
        result = await client.call_tool(name, arguments)
        assert result.is_error, (name, arguments)
    assert sim.requests == []


# The deprecation is the point: hosts still send this request, and it must be answered.
@pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")
async def test_hosts_may_set_the_log_level(settings: Settings) -> None:
    import logging

    try:
        async with Client(build_server(settings), mode="legacy") as client:
            assert client.server_capabilities and client.server_capabilities.logging is not None
            await client.set_logging_level("error")  # pyright: ignore[reportDeprecated] -- hosts still send it
            assert logging.getLogger("lms_mcp").level == logging.ERROR
            await client.set_logging_level("debug")  # pyright: ignore[reportDeprecated]
            assert logging.getLogger("lms_mcp").level == logging.DEBUG
    finally:
        logging.getLogger("lms_mcp").setLevel(logging.NOTSET)


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        ("chat", {"prompt": "x", "model": LOADED, "files": ["~nosuchuser/x"]}, "FILE_UNREADABLE: "),
        ("chat", {"prompt": "x", "model": LOADED, "images": ["notes.txt\x00"]}, "FILE_UNREADABLE: "),
        ("download_status", {"job_id": ".."}, "INVALID_ARGUMENT: download_status was called with arguments"),
        ("download_status", {"job_id": "x" * 100_000}, "INVALID_ARGUMENT: download_status was called with"),
        ("chat", {"prompt": "x", "model": LOADED, "json_schema": {"$schema": 7}}, "INVALID_ARGUMENT: "),
        ("chat", {"prompt": "x", "model": LOADED, "json_schema": {"$schema": ["x"]}}, "INVALID_ARGUMENT: "),
        ("chat", {"prompt": "x", "model": LOADED, "json_schema": {"$dynamicRef": "#x"}}, "INVALID_ARGUMENT: "),
        # An unknown dialect is read as the latest one: the call succeeds.
        ("chat", {"prompt": "x", "model": LOADED, "json_schema": {"$schema": "https://example.com/x"}}, None),
    ],
)
async def test_inputs_that_once_crashed_the_server_get_a_clear_answer(
    client: Client, tool: str, arguments: dict[str, Any], expected: str | None
) -> None:
    result = await client.call_tool(tool, arguments)
    text = text_of(result)
    assert text != f"Error executing tool {tool}"  # the SDK's text for a crash
    if expected is None:
        assert not result.is_error, text
    else:
        assert result.is_error
        assert text.startswith(expected), text
    assert not (await client.call_tool("list_models", {})).is_error
