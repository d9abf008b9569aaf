"""A json_schema call cannot freeze the server: answers are checked in a killable process, schemas are bounded.

The simulator answers a `const` without looking at the schema's other keywords, and ignores `not`: that is
how these tests get answers that validate slowly, like a model whose grammar did not enforce a `pattern`.
"""

import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client

from lms_mcp.server import build_server
from lms_mcp.serving import Limits
from lms_mcp.settings import Settings
from lms_mcp.simulator import Simulator
from lms_mcp.tools import schema_guard
from lms_mcp.tools.errors import BridgeError
from lms_mcp.tools.structured import check_schema
from tests.raw_http import RawSession, http_server_in_thread
from tests.support import QWEN as MODEL
from tests.support import text_of, wait_for

pytestmark = pytest.mark.anyio

# `re` needs ~2^40 steps to reject this answer: hours, not seconds.
CATASTROPHIC = {"type": "string", "const": "a" * 40 + "!", "pattern": "^(a+)+$"}
CODE = {
    "type": "object",
    "properties": {"code": {"type": "string", "pattern": "^[A-Z]{3}$"}, "count": {"type": "integer"}},
    "required": ["code", "count"],
}


@pytest.fixture
async def connect(settings: Settings) -> AsyncIterator[Callable[[], Awaitable[Client]]]:
    """Opens in-memory clients: they share the test's event loop, as the clients of one server share its loop."""
    async with AsyncExitStack() as stack:

        async def opener() -> Client:
            return await stack.enter_async_context(Client(build_server(settings)))

        yield opener


Connect = Callable[[], Awaitable[Client]]


async def chat_json(client: Client, schema: dict[str, Any]) -> Any:
    return await client.call_tool("chat", {"prompt": "Extract.", "model": MODEL, "json_schema": schema})


async def test_a_catastrophic_pattern_barely_delays_other_clients_and_ends_in_a_coded_error(
    connect: Connect, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schema_guard, "CHECK_SECONDS", 2.0)
    attacker, lister, extractor = await connect(), await connect(), await connect()
    quiet: list[float] = []
    for _ in range(5):
        started = time.perf_counter()
        await lister.call_tool("list_models", {})
        quiet.append(time.perf_counter() - started)
    outcome: dict[str, Any] = {}
    during: list[float] = []
    parsed: list[Any] = []

    async def attack() -> None:
        outcome["result"] = await chat_json(attacker, CATASTROPHIC)

    async def list_models() -> None:
        while "result" not in outcome:
            started = time.perf_counter()
            assert not (await lister.call_tool("list_models", {})).is_error
            during.append(time.perf_counter() - started)

    async def extract() -> None:
        while "result" not in outcome:
            result = await chat_json(extractor, CODE)
            assert not result.is_error, text_of(result)
            assert result.structured_content is not None
            parsed.append(result.structured_content["parsed"])

    with anyio.fail_after(20):
        async with anyio.create_task_group() as group:
            group.start_soon(attack)
            await wait_for(lambda: bool(schema_guard.running_workers()), seconds=10)
            group.start_soon(list_models)
            group.start_soon(extract)
    result = outcome["result"]
    assert result.is_error
    assert text_of(result).startswith("INVALID_ANSWER: The model's answer could not be checked: checking it ")
    assert "took longer than 2 s" in text_of(result) and "Simplify the schema's patterns" in text_of(result)
    print(
        f"\nlist_models before the attack: max {max(quiet) * 1000:.0f} ms; during it: {len(during)} calls, "
        f"max {max(during) * 1000:.0f} ms; json_schema calls answered meanwhile: {len(parsed)}"
    )
    assert max(during) < 1.0
    assert len(during) >= 10 and parsed
    assert all(set(answer) == {"code", "count"} and len(answer["code"]) == 3 for answer in parsed)
    assert not schema_guard.running_workers()


async def test_cancelling_the_call_kills_its_worker(
    connect: Connect, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schema_guard, "CHECK_SECONDS", 60.0)
    client = await connect()
    workers: frozenset[int] = frozenset()
    with anyio.fail_after(20):
        async with anyio.create_task_group() as group:
            group.start_soon(chat_json, client, CATASTROPHIC)
            await wait_for(lambda: bool(schema_guard.running_workers()), seconds=10)
            workers = schema_guard.running_workers()
            group.cancel_scope.cancel()
        await wait_for(lambda: not schema_guard.running_workers(), seconds=5)
    for pid in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not (await client.call_tool("list_models", {})).is_error


def nested(depth: int) -> dict[str, Any]:
    """A schema whose objects nest `depth` deep (each property's schema is two levels below its parent's)."""
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth // 2):
        schema = {"type": "object", "properties": {"inner": schema}}
    return schema


TOO_DEEP = "json_schema nests objects and arrays more than 64 levels deep; flatten it."


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (nested(66), TOO_DEEP),
        (nested(150), TOO_DEEP),
        (
            {"type": "object", "properties": {f"p{n}": {"type": "integer"} for n in range(300)}},
            "json_schema has more than 200 subschemas (objects and true/false values)",
        ),
        ({"allOf": [True] * 5000}, "json_schema has more than 200 subschemas"),
        ({"enum": list(range(50_000))}, "json_schema has more than 10000 values in all"),
        ({"type": "string", "pattern": "a" * 6000}, "json_schema has more than 5000 characters of `pattern`s"),
        ({"patternProperties": {"b" * 6000: True}}, "json_schema has more than 5000 characters of `pattern`s"),
        ({"type": "string", "pattern": "a{99999999999}"}, "json_schema is not a valid JSON Schema: 'a{99999999999}'"),
        ({"type": "string", "pattern": "(" * 2000 + ")" * 2000}, "json_schema is not a valid JSON Schema: '((("),
    ],
    ids=[
        "66-deep",
        "150-deep",
        "300-properties",
        "5000-booleans",
        "huge-enum",
        "long-pattern",
        "long-pattern-key",
        "repeat-overflow",
        "nested-groups",
    ],
)
async def test_schemas_too_big_or_broken_to_check_quickly_are_refused_up_front(
    connect: Connect, sim: Simulator, schema: dict[str, Any], expected: str
) -> None:
    client = await connect()
    started = time.perf_counter()
    result = await chat_json(client, schema)
    assert result.is_error and text_of(result).startswith(f"INVALID_ARGUMENT: {expected}")
    assert len(text_of(result)) < 700
    assert time.perf_counter() - started < 1.0
    assert sim.requests == []


def test_a_schema_nested_10000_deep_is_measured_without_recursion() -> None:
    started = time.perf_counter()
    with pytest.raises(BridgeError) as refused:
        check_schema(nested(10_000))
    assert str(refused.value) == f"INVALID_ARGUMENT: {TOO_DEEP}"
    assert time.perf_counter() - started < 0.5


async def test_over_http_a_10000_deep_schema_is_a_parse_error_and_the_server_keeps_serving(sim_url: str) -> None:
    """JSON this deep never reaches a tool: the SDK's parser refuses it (and its own client cannot send it)."""

    def chat_call(depth: int) -> bytes:
        schema = '{"type":"object","properties":{"inner":' * (depth // 2) + '{"type":"string"}' + "}}" * (depth // 2)
        arguments = f'{{"prompt":"x","model":"{MODEL}","json_schema":{schema}}}'
        params = f'{{"name":"chat","arguments":{arguments}}}'
        return f'{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{params}}}'.encode()

    with http_server_in_thread(Settings(base_url=sim_url, transport="http"), Limits()) as url:
        async with httpx2.AsyncClient(timeout=30, trust_env=False) as http:
            session = RawSession(http, url)
            await session.open()
            headers = session.headers(**{"content-type": "application/json"})
            parsable = await http.post(url, content=chat_call(100), headers=headers)
            assert parsable.status_code == 200 and f"INVALID_ARGUMENT: {TOO_DEEP}" in parsable.text
            deep = await http.post(url, content=chat_call(10_000), headers=headers)
            assert deep.status_code == 400
            assert deep.json()["error"]["code"] == -32700 and "recursion limit" in deep.json()["error"]["message"]
            listing = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "list_models"}}
            after = await http.post(url, json=listing, headers=session.headers())
            assert after.status_code == 200 and '"isError":false' in after.text


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("#/$defs/loop", "json_schema could not be checked: a `$ref` leads back to itself"),
        ("https://schemas.example/elsewhere.json", "json_schema has a reference that cannot be resolved"),
    ],
    ids=["cycle", "remote"],
)
async def test_a_ref_that_cannot_be_followed_is_an_invalid_argument(
    connect: Connect, sim: Simulator, target: str, expected: str
) -> None:
    schema = {"type": "integer", "not": {"$ref": target}, "$defs": {"loop": {"$ref": "#/$defs/loop"}}}
    result = await chat_json(await connect(), schema)
    assert result.is_error and text_of(result).startswith(f"INVALID_ARGUMENT: {expected}")


async def test_refs_that_fan_out_are_stopped_at_the_time_limit(
    connect: Connect, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schema_guard, "CHECK_SECONDS", 1.0)
    # Each level refers to the next twice: 2^30 checks of the last one.
    levels = {f"d{n}": {"allOf": [{"$ref": f"#/$defs/d{n + 1}"}] * 2} for n in range(30)}
    schema = {"type": "integer", "not": {"$ref": "#/$defs/d0"}, "$defs": {**levels, "d30": {"type": "integer"}}}
    client = await connect()
    with anyio.fail_after(10):
        result = await chat_json(client, schema)
    assert result.is_error and "took longer than 1 s and was stopped" in text_of(result)
    assert not schema_guard.running_workers()


async def test_an_answer_too_deep_to_check_is_an_invalid_answer() -> None:
    # The simulator never nests this deep, so the check is called directly (still in a real worker process).
    tree = {"$ref": "#/$defs/tree", "$defs": {"tree": {"type": "array", "items": {"$ref": "#/$defs/tree"}}}}
    with pytest.raises(BridgeError) as refused:
        await schema_guard.parse_answer("[" * 900 + "]" * 900, tree)
    assert str(refused.value).startswith("INVALID_ANSWER: The model's answer could not be checked: it nests too deeply")


async def test_a_fair_schema_with_patterns_still_comes_back_parsed(connect: Connect, sim: Simulator) -> None:
    result = await chat_json(await connect(), CODE)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    parsed = result.structured_content["parsed"]
    assert isinstance(parsed["count"], int) and len(parsed["code"]) == 3 and parsed["code"].isupper()


async def test_a_flood_of_hostile_schemas_runs_no_more_checks_at_once_than_allowed(
    connect: Connect, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schema_guard, "CHECK_SECONDS", 0.5)
    monkeypatch.setattr(schema_guard, "MAX_WORKERS", 1)
    monkeypatch.setattr(schema_guard, "_peak", 0)
    attackers = [await connect() for _ in range(3)]
    results: list[Any] = []

    async def attack(client: Client) -> None:
        results.append(await chat_json(client, CATASTROPHIC))

    with anyio.fail_after(20):
        async with anyio.create_task_group() as group:
            for client in attackers:
                group.start_soon(attack, client)
    assert len(results) == 3
    assert all(text_of(result).startswith("INVALID_ANSWER: ") for result in results)
    assert schema_guard.peak_workers() == 1  # the others waited for the one slot
    assert not schema_guard.running_workers()
