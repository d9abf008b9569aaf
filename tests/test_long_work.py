"""Long work never goes quiet or hangs: progress, cancellation, heartbeats, download waits, timeouts, queueing."""

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import anyio
import pytest
from mcp import Client

from lms_mcp.server import build_server
from lms_mcp.settings import Settings
from lms_mcp.simulator import Simulator, reply_text
from tests.support import GEMMA as LOADED
from tests.support import QWEN as UNLOADED
from tests.support import text_of, wait_for

pytestmark = pytest.mark.anyio


Seen = list[tuple[float, str]]


def recorder(seen: Seen) -> Any:
    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, message or ""))

    return on_progress


@pytest.fixture
async def fast(settings: Settings) -> AsyncIterator[Client]:
    """lms-mcp with a 0.1 s progress interval, in memory."""
    async with Client(build_server(replace(settings, progress_interval=0.1))) as client:
        yield client


async def test_jit_load_prompt_and_200_tokens_give_a_throttled_increasing_progress_sequence(
    fast: Client, sim: Simulator
) -> None:
    sim.config.reply_tokens = 200
    sim.config.tokens_per_second = 400  # half a second of generation
    sim.config.load_progress_steps = 5
    sim.config.prompt_progress_steps = 5
    seen: Seen = []
    result = await fast.call_tool("chat", {"prompt": "write", "model": UNLOADED}, progress_callback=recorder(seen))
    assert not result.is_error
    assert result.structured_content and result.structured_content["answer"] == reply_text(
        UNLOADED, None, "write", 1, 200
    )
    values = [value for value, _ in seen]
    assert values == sorted(values) and len(set(values)) == len(values)
    messages = [message for _, message in seen]
    phases = [m.split(":")[0].split(" ")[0] for m in messages]
    assert phases.index("Loading") < phases.index("Processing") < phases.index("Generating")
    generating = [m for m in messages if m.startswith("Generating: ")]
    # 200 tokens over ~0.5 s at most one update per 0.1 s: a handful, not 200.
    assert 2 <= len(generating) <= 12, generating


async def test_cancelled_chat_aborts_the_upstream_request_and_the_server_keeps_serving(
    client: Client, sim: Simulator
) -> None:
    sim.config.reply_tokens = 400
    sim.config.tokens_per_second = 40  # ten seconds if nobody stops it
    with anyio.move_on_after(0.5):
        await client.call_tool("chat", {"prompt": "long", "model": LOADED})
    await wait_for(lambda: any(r.disconnected for r in sim.requests if r.path == "/api/v1/chat"))
    assert not (await client.call_tool("list_models", {})).is_error


async def test_load_sends_heartbeats_while_lm_studio_is_silent(fast: Client, sim: Simulator) -> None:
    sim.config.load_time = 0.45
    seen: Seen = []
    result = await fast.call_tool("load_model", {"model": UNLOADED}, progress_callback=recorder(seen))
    assert not result.is_error
    heartbeats = [m for _, m in seen if m.startswith(f"Loading {UNLOADED}: ")]
    assert len(heartbeats) >= 2
    assert [v for v, _ in seen] == sorted(v for v, _ in seen)


async def test_download_wait_reports_progress_across_polls_to_completion(fast: Client, sim: Simulator) -> None:
    sim.config.download_duration = 0.6
    seen: Seen = []
    result = await fast.call_tool(
        "download_model", {"model": "ibm/granite-4-micro", "wait_seconds": 10}, progress_callback=recorder(seen)
    )
    assert result.structured_content and result.structured_content["status"] == "completed"
    assert len(seen) >= 3
    assert [v for v, _ in seen] == sorted(v for v, _ in seen)
    assert all(m.startswith("Download job_") for _, m in seen)


async def test_short_wait_returns_a_job_that_download_status_later_sees_completed(fast: Client, sim: Simulator) -> None:
    sim.config.download_duration = 0.5
    started = time.monotonic()
    first = await fast.call_tool("download_model", {"model": "ibm/granite-4-micro", "wait_seconds": 0.1})
    assert time.monotonic() - started < 0.45  # the wait bounds the call
    assert first.structured_content and first.structured_content["status"] == "downloading"
    job_id = first.structured_content["job_id"]
    later = await fast.call_tool("download_status", {"job_id": job_id, "wait_seconds": 10})
    assert later.structured_content and later.structured_content["status"] == "completed"
    assert later.structured_content["fraction"] == 1


async def test_stalled_stream_is_an_idle_timeout_naming_the_setting(sim: Simulator, settings: Settings) -> None:
    sim.inject("stall_stream", route="/api/v1/chat", after_events=3, delay=2.0)
    async with Client(build_server(replace(settings, read_timeout=0.3))) as client:
        result = await client.call_tool("chat", {"prompt": "x", "model": LOADED})
    assert result.is_error
    assert text_of(result).startswith("TIMEOUT: LM Studio sent nothing for 0.3 s")
    assert "LMS_MCP_READ_TIMEOUT" in text_of(result)


async def test_overall_cap_stops_a_chat_and_returns_the_partial_answer(sim: Simulator, settings: Settings) -> None:
    sim.config.reply_tokens = 400
    sim.config.tokens_per_second = 50
    async with Client(build_server(replace(settings, max_call_seconds=0.5))) as client:
        result = await client.call_tool("chat", {"prompt": "x", "model": LOADED})
    assert result.is_error
    text = text_of(result)
    assert text.startswith("TIMEOUT: The chat took longer than 0.5 s") and "LMS_MCP_MAX_CALL_SECONDS" in text
    partial = text.split("characters):\n", 1)[1]
    assert partial and reply_text(LOADED, None, "x", 1, 400).startswith(partial)
    await wait_for(lambda: any(r.disconnected for r in sim.requests if r.path == "/api/v1/chat"))


async def run_chats(client: Client, count: int, seen: Seen) -> float:
    started = time.monotonic()
    async with anyio.create_task_group() as group:
        for index in range(count):
            group.start_soon(
                lambda i=index: client.call_tool(
                    "chat", {"prompt": f"task {i}", "model": LOADED}, progress_callback=recorder(seen)
                )
            )
    return time.monotonic() - started


async def test_eight_chats_run_at_once(client: Client, sim: Simulator) -> None:
    sim.config.time_to_first_token = 0.3
    elapsed = await run_chats(client, 8, [])
    assert sim.max_in_flight == 8
    assert elapsed < 8 * 0.3


async def test_with_a_limit_of_two_chats_queue_and_say_so(sim: Simulator, settings: Settings) -> None:
    sim.config.time_to_first_token = 0.3
    seen: Seen = []
    limited = replace(settings, max_concurrent_predictions=2, progress_interval=0.1)
    async with Client(build_server(limited)) as client:
        await run_chats(client, 8, seen)
    assert sim.max_in_flight == 2
    assert len([r for r in sim.requests if r.path == "/api/v1/chat"]) == 8
    assert any(m.startswith("Queued for a free LM Studio slot: position") for _, m in seen)
