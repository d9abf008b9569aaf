"""Faults survived: each LM Studio failure gives its code, the server stays up, and other calls are unaffected."""

import os
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import anyio
import pytest
from mcp import Client

from lms_mcp.server import build_server
from lms_mcp.settings import Settings
from lms_mcp.simulator import FaultKind, Simulator
from tests.support import GEMMA as MODEL
from tests.support import text_of

pytestmark = pytest.mark.anyio

Call = tuple[str, dict[str, Any]]
CHAT: Call = ("chat", {"prompt": "hello", "model": MODEL})
LIST: Call = ("list_models", {})


@pytest.fixture
async def patient(settings: Settings) -> AsyncIterator[Client]:
    """lms-mcp with a short read timeout, so a slow LM Studio shows as a timeout quickly."""
    async with Client(build_server(replace(settings, read_timeout=0.5))) as client:
        yield client


@pytest.mark.parametrize(
    ("kind", "route", "params", "faulty", "healthy", "expected"),
    [
        (
            "http_500",
            "/api/v1/models",
            dict[str, Any](),
            LIST,
            CHAT,
            "UPSTREAM_ERROR: LM Studio failed (internal_error, HTTP 500)",
        ),
        ("malformed_json", "/api/v1/models", dict[str, Any](), LIST, CHAT, "UPSTREAM_ERROR: LM Studio answered GET"),
        ("slow_headers", "/api/v1/models", {"delay": 2.0}, LIST, CHAT, "TIMEOUT: LM Studio sent nothing for 0.5 s"),
        ("drop_stream", "/api/v1/chat", {"after_events": 4}, CHAT, LIST, "UPSTREAM_ERROR: LM Studio closed"),
        ("stall_stream", "/api/v1/chat", {"delay": 2.0}, CHAT, LIST, "TIMEOUT: LM Studio sent nothing for 0.5 s"),
        ("error_event", "/api/v1/chat", {"after_tokens": 2}, CHAT, LIST, "UPSTREAM_ERROR: LM Studio reported an"),
    ],
)
async def test_fault_gives_its_code_while_concurrent_calls_succeed(
    patient: Client,
    sim: Simulator,
    kind: FaultKind,
    route: str,
    params: dict[str, Any],
    faulty: tuple[str, dict[str, Any]],
    healthy: tuple[str, dict[str, Any]],
    expected: str,
) -> None:
    sim.inject(kind, route=route, **params)
    outcomes: dict[str, Any] = {}

    async def call(label: str, tool: tuple[str, dict[str, Any]]) -> None:
        outcomes[label] = await patient.call_tool(*tool)

    async with anyio.create_task_group() as group:
        group.start_soon(call, "faulty", faulty)
        for index in range(3):
            group.start_soon(call, f"healthy-{index}", healthy)
    assert outcomes["faulty"].is_error
    assert text_of(outcomes["faulty"]).startswith(expected), text_of(outcomes["faulty"])
    for index in range(3):
        assert not outcomes[f"healthy-{index}"].is_error, text_of(outcomes[f"healthy-{index}"])
    # The same server keeps serving the call that just failed.
    again = await patient.call_tool(*faulty)
    assert not again.is_error, text_of(again)


async def test_a_hundred_concurrent_chats_all_succeed(client: Client, sim: Simulator) -> None:
    sim.config.time_to_first_token = 0.05
    results: list[Any] = []

    async def one(index: int) -> None:
        results.append(await client.call_tool("chat", {"prompt": f"task {index}", "model": MODEL}))

    async with anyio.create_task_group() as group:
        for index in range(100):
            group.start_soon(one, index)
    assert len(results) == 100 and not [r for r in results if r.is_error]
    assert len([r for r in sim.requests if r.path == "/api/v1/chat"]) == 100


def open_fds() -> int:
    return len(os.listdir(f"/proc/{os.getpid()}/fd"))


@pytest.mark.linux_only("/proc/<pid>/fd")
async def test_a_thousand_sequential_calls_leak_no_file_descriptors(settings: Settings) -> None:
    async with Client(build_server(settings)) as client:
        for _ in range(20):  # warm up: the connection pool and caches fill first
            await client.call_tool("list_models", {"loaded_only": True})
        before = open_fds()
        for index in range(1000):
            result = await client.call_tool("list_models", {"loaded_only": True, "type": "llm" if index % 2 else None})
            assert not result.is_error
        assert open_fds() - before <= 2
