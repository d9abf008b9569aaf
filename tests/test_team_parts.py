"""The pieces of a shared server on their own: token lists, the guard, the fair queue, rates, the log line."""

import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp import Client
from mcp.types import CallToolResult, TextContent

from lms_mcp.server import build_server
from lms_mcp.serving.guards import BearerTokenGuard
from lms_mcp.settings import Settings, SettingsError, load_settings
from lms_mcp.team.access_log import access_line, model_of, outcome_of
from lms_mcp.team.fairness import FairQueue
from lms_mcp.team.rate import CallRate
from lms_mcp.team.tokens import ClientToken, all_clients, parse_client_tokens
from lms_mcp.waiting import PredictionSlots
from tests.support import text_of

pytestmark = pytest.mark.anyio

# --- the token list ---------------------------------------------------------------------------------


def test_token_pairs_are_parsed_with_the_token_after_the_first_colon() -> None:
    parsed = parse_client_tokens(" alice:a1 , bob.k_2-x:b:2:: ,carol:c")
    assert [(c.name, c.token) for c in parsed] == [("alice", "a1"), ("bob.k_2-x", "b:2::"), ("carol", "c")]
    assert "a1" not in repr(parsed)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("", "got none"),
        ("alice", "entry 1 is not name:token"),
        ("alice:a,bob:", "entry 2 is not name:token"),
        ("al ice:a", "entry 1: a client name"),
        ("alice:Tw1n,bob:Tw1n", "entries 1 and 2 have the same token"),
        (":tok3n", "entry 1: a client name"),
    ],
)
def test_bad_token_lists_are_refused_without_repeating_names_or_tokens(value: str, says: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"http_tokens": value}, {})
    message = str(caught.value)
    assert says in message and "--http-tokens / LMS_MCP_HTTP_TOKENS" in message
    for secret in ("Tw1n", "tok3n", "al ice", "alice", "bob"):
        assert secret not in message


def test_named_tokens_allow_a_network_address_and_the_single_token_is_client_default() -> None:
    settings = load_settings({"transport": "http", "host": "0.0.0.0"}, {"LMS_MCP_HTTP_TOKENS": "alice:a"})
    assert settings.http_tokens == (ClientToken("alice", "a"),) and "alice" not in repr(settings)
    assert all_clients(settings.http_tokens, "single") == (ClientToken("alice", "a"), ClientToken("default", "single"))
    assert all_clients(settings.http_tokens, "a") == (ClientToken("alice", "a"),)
    assert all_clients((), None) == ()


def test_the_guard_names_the_client_of_each_token() -> None:
    async def app(*_args: object) -> None:
        raise AssertionError("never called")

    guard = BearerTokenGuard(app, [ClientToken("alice", "a1"), ClientToken("bob", "b2"), ClientToken("bob", "b3")])
    assert guard.client_for(b"Bearer a1") == "alice"
    assert guard.client_for(b"Bearer b3") == "bob"
    for wrong in (b"", b"Bearer ", b"Bearer a", b"Bearer a1 ", b"bearer a1", b"Basic a1"):
        assert guard.client_for(wrong) is None


def test_rate_and_access_log_settings() -> None:
    settings = load_settings({"max_calls_per_minute": "30", "access_log": True}, {})
    assert settings.max_calls_per_minute == 30 and settings.access_log
    assert load_settings({}, {"LMS_MCP_ACCESS_LOG": "1"}).access_log
    with pytest.raises(SettingsError, match="--max-calls-per-minute"):
        load_settings({"max_calls_per_minute": "-1"}, {})


# --- the fair queue ---------------------------------------------------------------------------------


T = TypeVar("T")


def drain(queue: FairQueue[T]) -> list[T]:
    served: list[T] = []
    while (item := queue.pop()) is not None:
        served.append(item)
    return served


def test_a_newcomer_goes_before_a_client_that_was_just_served() -> None:
    queue = FairQueue[str]()
    queue.served("alice")  # alice's first chat took the free slot
    for index in range(5):
        queue.push("alice", f"a{index}")
    queue.push("bob", "b0")
    queue.push("bob", "b1")
    assert queue.position("b0") == 1 and queue.position("a0") == 2
    assert drain(queue) == ["b0", "a0", "b1", "a1", "a2", "a3", "a4"]


@given(st.lists(st.sampled_from(["a", "b", "c", None]), max_size=40), st.lists(st.integers(0, 39), max_size=5))
def test_the_service_order_is_what_pop_serves_and_each_client_keeps_its_own_order(
    clients: list[str | None], removed: list[int]
) -> None:
    queue = FairQueue[tuple[str | None, int]]()
    items = [(client, index) for index, client in enumerate(clients)]
    for item in items:
        queue.push(item[0], item)
    for index in removed:
        if index < len(items):
            queue.remove(items[index][0], items[index])
    expected = queue.service_order()
    assert [queue.position(item) for item in expected] == list(range(1, len(expected) + 1))
    served = drain(queue)
    assert served == expected and len(queue) == 0
    for client in set(clients):
        mine = [index for owner, index in served if owner == client]
        assert mine == sorted(mine)
    # Round-robin: no client gets its (k+1)-th turn before every other client with k+1 items had its k-th.
    turns: dict[str | None, list[int]] = {}
    for place, (owner, _index) in enumerate(served):
        turns.setdefault(owner, []).append(place)
    for mine in turns.values():
        for theirs in turns.values():
            for k in range(1, min(len(mine), len(theirs))):
                assert mine[k] > theirs[k - 1]


# --- prediction slots -------------------------------------------------------------------------------


def positions_of(seen: list[int]) -> Callable[[int], Awaitable[None]]:
    async def on_wait(position: int) -> None:
        seen.append(position)

    return on_wait


async def test_a_waiter_that_gives_up_after_being_handed_the_slot_passes_it_on() -> None:
    slots = PredictionSlots(1)
    order: list[str] = []
    scopes: dict[str, anyio.CancelScope] = {}

    async def wait(name: str) -> None:
        with anyio.CancelScope() as scope:
            scopes[name] = scope
            async with slots.slot(positions_of([]), 600, name):
                order.append(name)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            async with slots.slot(positions_of([]), 600, "holder"):
                group.start_soon(wait, "x")
                await anyio.wait_all_tasks_blocked()
                group.start_soon(wait, "y")
                await anyio.wait_all_tasks_blocked()
                assert slots.waiting == 2
            scopes["x"].cancel()  # x was just handed the slot and has not run yet
    assert order == ["y"] and slots.waiting == 0
    async with slots.slot(positions_of([]), 600, "later"):  # nothing is left held
        pass


async def test_queue_positions_count_everyone_waiting_in_service_order() -> None:
    slots = PredictionSlots(1)
    seen: dict[str, list[int]] = {}

    async def wait(client: str, name: str) -> None:
        async with slots.slot(positions_of(seen.setdefault(name, [])), 600, client):
            pass

    async with anyio.create_task_group() as group:
        async with slots.slot(positions_of([]), 600, "alice"):
            for index in range(3):
                group.start_soon(wait, "alice", f"a{index}")
                await anyio.wait_all_tasks_blocked()
            group.start_soon(wait, "bob", "b0")
            await anyio.wait_all_tasks_blocked()
    assert seen == {"a0": [1], "a1": [2], "a2": [3], "b0": [1]}


# --- rates and the log line ---------------------------------------------------------------------------


def test_the_call_rate_is_a_sliding_window_per_client() -> None:
    now = [1000.0]
    rate = CallRate(2, clock=lambda: now[0])
    assert rate.admit("alice") is None and rate.admit("alice") is None
    assert rate.admit("alice") == pytest.approx(60.0)
    assert rate.admit("bob") is None
    now[0] += 59.5
    assert rate.admit("alice") == pytest.approx(0.5)
    now[0] += 0.5
    assert rate.admit("alice") is None
    assert CallRate(0).admit("anyone") is None


def test_a_log_line_says_the_outcome_and_the_model_only() -> None:
    failed = CallToolResult(content=[TextContent(type="text", text="TIMEOUT: slow")], is_error=True)
    strange = CallToolResult(content=[TextContent(type="text", text="Unknown tool: x")], is_error=True)
    answered = CallToolResult(content=[], structured_content={"answer": "secret", "model_instance_id": "m:2"})
    assert [outcome_of(r) for r in (failed, strange, answered)] == ["TIMEOUT", "error", "ok"]
    assert [model_of(r) for r in (failed, answered)] == [None, "m:2"]
    line = json.loads(access_line(client=None, tool="chat", seconds=0.01234, outcome="ok", model=None))
    assert line["client"] is None and line["duration_ms"] == 12.3


# --- files over the network -------------------------------------------------------------------------


async def read_file_through_chat(settings: Settings, path: str) -> CallToolResult:
    async with Client(build_server(settings)) as client:
        return await client.call_tool("chat", {"prompt": "summarise", "files": [path], "model": "qwen/qwen3-4b"})


async def test_files_are_off_on_a_network_address_unless_directories_are_given(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    network = replace(settings, transport="http", host="0.0.0.0", http_token="t")
    refused = await read_file_through_chat(network, "notes.txt")
    assert refused.is_error and text_of(refused).startswith("FILE_NOT_ALLOWED")
    assert "network address" in text_of(refused) and "--allow-dir" in text_of(refused)
    allowed = await read_file_through_chat(replace(network, allowed_dirs=(str(tmp_path),)), "notes.txt")
    assert not allowed.is_error
    # Only the directories named are shared: not the working directory besides them.
    (tmp_path / "shared").mkdir()
    elsewhere = replace(network, allowed_dirs=(str(tmp_path / "shared"),))
    outside = await read_file_through_chat(elsewhere, str(tmp_path / "notes.txt"))
    assert outside.is_error and text_of(outside).startswith("FILE_NOT_ALLOWED")
    loopback = replace(settings, transport="http", host="127.0.0.1")
    assert not (await read_file_through_chat(loopback, "notes.txt")).is_error
