"""Property-based tests: whatever arguments a model sends to any tool, the outcome is one a model can act on.

Only two kinds of outcome may come back from a tool call: a normal result, or an error result starting with
an `ErrorCode` then ": " (arguments that do not match the tool's input schema included: INVALID_ARGUMENT,
naming the argument). The SDK's own texts (`Error executing tool <name>`, for a crash or for refused
arguments) must never come back, the client call must never raise or
hang, and the server must still answer `list_models` after every call.

Arguments are drawn from each tool's real input schema (fetched with `tools/list`), mixing values that look
right (known model keys, ids the server handed out earlier, the enums) with hostile ones (wrong types, huge
or non-finite numbers, unicode and control characters, path traversal, devices, symlinks, odd data URLs,
unknown keys, missing required keys, nested garbage). Each test function has one simulator, one server and
one client; hypothesis runs its examples against them, so state (loads, downloads, sessions) carries over.
Known server bugs these tests found are listed below ("known server bugs") and kept out of the strategies.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
import traceback
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, cast

import anyio
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from mcp import Client
from mcp.types import CallToolResult, TextContent

from lms_mcp.server import build_server
from lms_mcp.settings import Settings
from lms_mcp.simulator import AgentScript, ScriptedCall, Simulator, SimulatorConfig
from lms_mcp.tools import TOOL_NAMES
from lms_mcp.tools.errors import ErrorCode
from tests.support import DEEPSEEK, EMBED, PNG, QWEN
from tests.support import GEMMA as LOADED

pytestmark = [
    pytest.mark.anyio,
    # Reporting a failing example that holds a very long string (they are drawn on purpose) is not a problem.
    pytest.mark.filterwarnings("ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning"),
]

# --- hypothesis profiles ------------------------------------------------------------------------------------
# Registered here and used as the parent of each test's settings, never loaded globally, so other test files
# keep hypothesis' defaults. LMS_MCP_PROPERTY_PROFILE=lms-mcp-thorough runs ten times as many random examples.

_PROFILE_SCALE = {"lms-mcp-ci": 1, "lms-mcp-thorough": 10}
_COMMON: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "print_blob": False,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
}
hsettings.register_profile("lms-mcp-ci", derandomize=True, **_COMMON)
hsettings.register_profile("lms-mcp-thorough", derandomize=False, **_COMMON)
_PROFILE = next((p for p in _PROFILE_SCALE if p == os.environ.get("LMS_MCP_PROPERTY_PROFILE")), "lms-mcp-ci")


def examples(count: int) -> hsettings:
    return hsettings(hsettings.get_profile(_PROFILE), max_examples=count * _PROFILE_SCALE[_PROFILE])


# --- what the server may answer -------------------------------------------------------------------------------

CALL_TIMEOUT = 10.0  # seconds; a call that takes longer counts as a hang
CODES = tuple(f"{code.value}: " for code in ErrorCode)
# Codes that say LM Studio itself is missing, old, locked or stuck: never true of the healthy, fast simulator.
ENVIRONMENT_CODES = tuple(
    f"{code.value}: "
    for code in (
        ErrorCode.LMSTUDIO_UNREACHABLE,
        ErrorCode.LMSTUDIO_TOO_OLD,
        ErrorCode.AUTH_REQUIRED,
        ErrorCode.AUTH_INVALID,
        ErrorCode.TIMEOUT,
    )
)

MODEL_KEYS = [
    LOADED,
    QWEN,
    DEEPSEEK,
    EMBED,
    "ibm/granite-4-micro",
    "openai/gpt-oss-20b",
    "https://huggingface.co/lmstudio-community/gpt-oss-20b-GGUF",
    f"{LOADED}:2",
    f"{LOADED}@q4_k_m",
    "google/gemma-4",
    "nobody/nothing",
]


def texts_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def problem_with(tool: str, result: CallToolResult) -> str | None:
    """None when the result is an allowed outcome, else what is wrong with it."""
    if not result.content or not isinstance(result.content[0], TextContent):
        return f"no text content: {result.content!r}"
    text = texts_of(result)
    if not result.is_error:
        if result.structured_content is None:
            return "a normal result without structured content"
        return None
    if text == f"Error executing tool {tool}":
        return "the SDK's generic crash text: the tool raised an unexpected exception"
    if text.startswith("Error executing tool"):
        return f"the SDK's own error text instead of the error contract: {text[:500]!r}"
    if text.startswith(ENVIRONMENT_CODES):
        return f"a code that blames LM Studio, which is up and healthy: {text[:500]!r}"
    if text.startswith(CODES):
        return None
    return f"an error result without an ErrorCode prefix: {text[:500]!r}"


# --- the sandbox `files` and `images` may read ----------------------------------------------------------------

# What lies just outside the allowed directory: no request to LM Studio may ever carry it.
OUTSIDE_MARKER = "OUTSIDE-THE-ALLOWED-DIRECTORY-5f0c"
OUTSIDE_PNG = PNG + OUTSIDE_MARKER.encode()
LEAK_MARKERS = (OUTSIDE_MARKER, base64.b64encode(OUTSIDE_PNG).decode(), "root:x:0:0:")
MAX_FILE_BYTES = 4096


SANDBOX = "@SANDBOX@"  # stands for the allowed directory in drawn paths; replaced just before each call
SANDBOX_NAMES = [
    "notes.txt",
    "sub",
    "sub/inner.md",
    "empty.txt",
    "binary.bin",
    "latin1.txt",
    "big.txt",
    "mid.txt",
    "pixel.png",
    "fake.png",
    "unicodé 名前.txt",
    "link_in",
    "link_out",
    "link_dir_out",
    "link_dir_out/etc/passwd",
    "link_outside",
    "link_outside_png",
    "dangling",
    "loop_a",
    "fifo",
    "missing.txt",
]
SANDBOX_PATHS = [
    *SANDBOX_NAMES,
    *(f"{SANDBOX}/{name}" for name in SANDBOX_NAMES),
    "./notes.txt",
    "sub/../notes.txt",
    "notes.txt/",
    "notes.txt/x",
    ".",
    f"{SANDBOX}/./sub/../notes.txt",
    "sub/./../sub/inner.md",
    f"{SANDBOX}/../outside.txt",
    f"{SANDBOX}/../outside.png",
    "../outside.txt",
    "link_outside",
    "link_outside_png",
]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The only allowed directory, holding every kind of thing a path can name."""
    # Its parent holds what is just outside it: ../outside.txt and ../outside.png.
    root = tmp_path_factory.mktemp("properties") / "allowed"
    root.mkdir()
    (root / "notes.txt").write_text("The cat sat on the mat.\n", encoding="utf-8")
    (root / "sub").mkdir()
    (root / "sub" / "inner.md").write_text("# inner\n", encoding="utf-8")
    (root / "empty.txt").write_bytes(b"")
    (root / "binary.bin").write_bytes(b"\x00\x01\x02")
    (root / "latin1.txt").write_bytes(b"caf\xe9")
    (root / "big.txt").write_bytes(b"x" * (MAX_FILE_BYTES + 1))
    (root / "mid.txt").write_bytes(b"y" * (MAX_FILE_BYTES - 1))
    (root / "pixel.png").write_bytes(PNG)
    (root / "fake.png").write_text("not an image", encoding="utf-8")
    (root / "unicodé 名前.txt").write_text("unicode name\n", encoding="utf-8")
    (root / "link_in").symlink_to(root / "notes.txt")
    (root / "link_out").symlink_to("/etc/passwd")
    (root / "link_dir_out").symlink_to("/")
    (root / "dangling").symlink_to(root / "missing")
    (root / "loop_a").symlink_to(root / "loop_b")
    (root / "loop_b").symlink_to(root / "loop_a")
    if hasattr(os, "mkfifo"):
        os.mkfifo(root / "fifo")
    (root.parent / "outside.txt").write_text(f"{OUTSIDE_MARKER}\n", encoding="utf-8")
    (root.parent / "outside.png").write_bytes(OUTSIDE_PNG)
    (root / "link_outside").symlink_to(root.parent / "outside.txt")
    (root / "link_outside_png").symlink_to(root.parent / "outside.png")
    return root


# Paths by kind, so each kind is drawn often whatever the size of the others.
PATHS_OUTSIDE = [
    "../../etc/passwd",
    "../" * 40 + "etc/passwd",
    "/etc/passwd",
    "/etc/shadow",
    "/",
    "file:///etc/passwd",
    "%2e%2e/%2e%2e/etc/passwd",
    "link_out",
    "link_dir_out/etc/passwd",
    "link_outside",
    "link_outside_png",
    f"{SANDBOX}/../outside.txt",
    f"{SANDBOX}/../outside.png",
    "../outside.txt",
]
PATHS_SPECIAL_FILES = ["/dev/zero", "/dev/null", "/dev/stdin", "/dev/urandom", "/proc/self/environ", "/proc/self/fd/0"]
PATHS_HOME = ["~", "~/", "~/.ssh/id_rsa", "~root/.profile", "~nosuchuser-lms-mcp/notes.txt", "~~", "~/../../etc/passwd"]
PATHS_ODD = [
    "",
    " ",
    "..",
    "notes.txt\x00",
    "\x00",
    "C:\\Windows\\win.ini",
    "\\\\server\\share\\x",
    "n" * 300,
    "/".join(["d"] * 3000),
    "notes\u202e.txt",
    "*",
    "notes.txt\n",
    "-rf",
]
HOSTILE_PATHS = [*PATHS_OUTSIDE, *PATHS_SPECIAL_FILES, *PATHS_HOME, *PATHS_ODD]

DATA_URLS = [
    "data:image/png;base64," + base64.b64encode(PNG).decode(),
    "data:image/png;base64,",
    "data:image/png;base64,!!!not base64!!!",
    "data:image/png,raw-not-base64",
    "data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=",
    "data:text/plain;base64,aGk=",
    "data:",
    "data:image/",
    "data:;base64,",
    "DATA:image/png;base64,AAAA",
    "http://127.0.0.1:1/cat.png",
]
data_urls = st.one_of(
    st.sampled_from(DATA_URLS), st.just(200_000).map(lambda size: f"data:image/png;base64,{'A' * size}")
)

# --- strategies -------------------------------------------------------------------------------------------------

SPECIAL_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\r\n",
    "\t\x0b\x0c",
    "\x1b[31mred\x1b[0m",
    "\u202eevil",
    "\ufeff",
    "\U0001f642" * 50,
    "e\u0301" * 20,
    "null",
    "None",
    "undefined",
    "{}",
    "[]",
    "%s%n%x",
    "{0}{1}",
    "${jndi:ldap://x}",
    "'; DROP TABLE models; --",
    "<script>alert(1)</script>",
    "\\",
    "?",
    "#",
    "/",
    "..",
    "../..",
    "a/b/../../../c",
    "%2F..%2F",
]
# Very long strings are built by `map`, so that no strategy's repr holds them.
long_text = st.sampled_from([("x", 100_000), ("\u00e9", 5000), ("\U0001f642", 20_000)]).map(
    lambda unit: unit[0] * unit[1]
)

hostile_text = st.one_of(
    st.sampled_from(SPECIAL_TEXT),
    long_text,
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
    st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=10),
)
# JSON numbers a client can send: `1e400` parses to inf on every JSON transport, `NaN` on the SDK's own stdio.
# (The in-memory client serializes both as null, so here they reach the server as null.)
hostile_numbers = st.one_of(
    st.sampled_from([0, -1, 1, 2**31, 2**63, -(2**63), 10**30, -(10**30), 0.5, -0.0, 1e-300, 1e308]),
    st.sampled_from([float("inf"), float("-inf"), float("nan")]),
    st.integers(),
    st.floats(),
)
json_scalars = st.one_of(st.none(), st.booleans(), hostile_numbers, hostile_text)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for level in range(depth):
        value = {"a": value} if level % 2 else [value]
    return value


# Nesting deeper than ~250 levels is refused by the client itself (pydantic's serialization depth limit).
ODD_SHAPES: list[Any] = [nested(50), nested(200), {"": None}, [[]], [{}]]
hostile_values: st.SearchStrategy[Any] = st.one_of(json_values, st.sampled_from(ODD_SHAPES))

VALID_SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]},
    {"type": "object", "properties": {"n": {"type": "integer", "minimum": 0}, "tags": {"type": "array"}}},
    {"type": "array", "items": {"type": "number"}},
    {"type": "string", "enum": ["yes", "no"]},
    {"type": "integer"},
    {"type": "boolean"},
    {"type": "null"},
    {},
    {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"},
    {"$schema": "http://json-schema.org/draft-04/schema#", "type": "object", "required": ["x"]},
    {"anyOf": [{"type": "string"}, {"type": "integer"}]},
    {"not": {}},
    {"const": 42},
    {"type": "object", "additionalProperties": False, "properties": {"a": {"$ref": "#/$defs/a"}}, "$defs": {"a": {}}},
    {"type": "string", "pattern": "^[a-z]+$", "maxLength": 3},
    {"type": "number", "maximum": float("inf")},
]
ODD_SCHEMAS: list[dict[str, Any]] = [
    {"type": 5},
    {"type": "not-a-type"},
    {"type": "object", "required": "a"},
    {"pattern": "("},
    {"$schema": "https://example.com/unknown-meta-schema"},
    {"$schema": "http://json-schema.org/schema#"},
    {"$schema": 7},
    {"$schema": ["x"]},
    {"$schema": None},
    {"$dynamicRef": "#x"},
    {"$id": 5},
    {"$ref": "#/definitions/missing"},
    {"$ref": "https://example.com/remote.json"},
    {"$ref": "#"},
    {"properties": []},
    {"enum": []},
    {"minimum": float("nan")},
    {"\x00": "\x00"},
]

path_entries = st.one_of(
    *(st.sampled_from(kind) for kind in (SANDBOX_PATHS, PATHS_OUTSIDE, PATHS_SPECIAL_FILES, PATHS_HOME, PATHS_ODD)),
    hostile_text,
)
SESSION_NAMES = ["review-auth", "s1", "S1", "a" * 200, "a" * 201, "名前", "../x"]
PLUGIN_IDS = ["mcp/playwright", "mcp/nope", "", "../../x", "plugin"]


@dataclass
class Seen:
    """Ids the server handed out during the running test, so later examples can pass them back."""

    response_ids: list[str] = field(default_factory=lambda: list[str]())
    job_ids: list[str] = field(default_factory=lambda: list[str]())
    instance_ids: list[str] = field(default_factory=lambda: list[str]())
    sessions: list[str] = field(default_factory=lambda: list[str]())

    def clear(self) -> None:
        for pool in (self.response_ids, self.job_ids, self.instance_ids, self.sessions):
            pool.clear()

    def harvest(self, value: Any) -> None:
        if isinstance(value, list):
            for item in cast(list[Any], value):
                self.harvest(item)
        elif isinstance(value, dict):
            for key, item in cast(dict[str, Any], value).items():
                target = {
                    "response_id": self.response_ids,
                    "last_response_id": self.response_ids,
                    "job_id": self.job_ids,
                    "instance_id": self.instance_ids,
                    "id": self.instance_ids,
                    "session": self.sessions,
                }.get(key)
                if target is not None and isinstance(item, str):
                    if item not in target:
                        target.append(item)
                else:
                    self.harvest(item)


# Hypothesis draws arguments before each example runs, outside the event loop (a draw inside an async test
# can raise hypothesis' StopTest, a BaseException that would kill anyio's test runner), so strategies read
# the ids handed out so far from this module-level record, which each test's harness clears first.
SEEN = Seen()


def from_pool(pool: list[str], fallback: str) -> st.SearchStrategy[str]:
    """One of the ids in `pool` as it is when the example is drawn (`fallback` while it is empty)."""
    return st.integers(0, 2**16).map(lambda index: pool[index % len(pool)] if pool else fallback)


def name_hint(name: str) -> st.SearchStrategy[Any] | None:
    """Values that look right for a parameter, whatever its schema says: known keys, ids seen before, paths."""
    match name:
        case "model" | "instance_id":
            seen = from_pool(SEEN.instance_ids, LOADED)
            return st.one_of(st.sampled_from(MODEL_KEYS), seen, hostile_text)
        case "session":
            return st.one_of(st.sampled_from(SESSION_NAMES), from_pool(SEEN.sessions, "s1"), hostile_text)
        case "previous_response_id":
            made_up = st.builds("resp_{}".format, st.one_of(st.text(max_size=20), st.sampled_from(SPECIAL_TEXT)))
            seen = from_pool(SEEN.response_ids, "resp_0")
            return st.one_of(seen, seen, made_up, st.sampled_from(["resp_", "resp", "RESP_1"]))
        case "job_id":
            made_up = st.builds("job_{}".format, st.one_of(st.text(max_size=12), st.sampled_from(SPECIAL_TEXT)))
            odd = st.sampled_from(
                ["job_", "job_0000000000", ".", "..", "job/1", "job%2F1", "job?x=1", "job#1", "JOB_1"]
            )
            return st.one_of(from_pool(SEEN.job_ids, "job_0"), made_up, odd, hostile_text)
        case "files" | "paths":
            return st.lists(path_entries, max_size=4)
        case "images":
            return st.lists(st.one_of(path_entries, data_urls), max_size=3)
        case "json_schema":
            return st.one_of(
                st.sampled_from(VALID_SCHEMAS),
                st.sampled_from(ODD_SCHEMAS),
                st.dictionaries(st.text(max_size=10), json_values, max_size=4),
            )
        case "integrations":
            plugin = st.fixed_dictionaries(
                {"type": st.just("plugin"), "id": st.sampled_from(PLUGIN_IDS)},
                optional={"allowed_tools": st.lists(hostile_text, max_size=3)},
            )
            ephemeral = st.fixed_dictionaries(
                {
                    "type": st.just("ephemeral_mcp"),
                    "server_label": hostile_text,
                    "server_url": st.sampled_from(["http://127.0.0.1:1/mcp", "https://example.com/mcp", "", "x"]),
                },
                optional={
                    "allowed_tools": st.lists(hostile_text, max_size=3),
                    "headers": st.dictionaries(hostile_text, hostile_text, max_size=3),
                },
            )
            return st.lists(st.one_of(st.sampled_from(PLUGIN_IDS), plugin, ephemeral), max_size=3)
        case "wait_seconds":
            return st.one_of(st.sampled_from([0, 0.0, 0.01, 0.2]), st.floats(0, 1))
        case "quantization":
            return st.one_of(st.sampled_from(["Q4_K_M", "MXFP4", "Q8_0", "q8_0", "", "Q99"]), hostile_text)
        case "texts":
            return st.lists(hostile_text, min_size=1, max_size=5)
        case _:
            return None


def from_schema(schema: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values that match a JSON Schema (the subset pydantic emits for tool parameters)."""
    if "$ref" in schema:
        return from_schema(defs[str(schema["$ref"]).rsplit("/", 1)[-1]], defs)
    if "anyOf" in schema:
        return st.one_of([from_schema(part, defs) for part in schema["anyOf"]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(list(schema["enum"]))
    match schema.get("type"):
        case "null":
            return st.none()
        case "boolean":
            return st.booleans()
        case "integer":
            low = schema.get("minimum")
            high = schema.get("maximum")
            base = low if low is not None else -1000
            return st.one_of(st.integers(base, base + 64), st.integers(low, high), st.sampled_from([2**31, 2**63]))
        case "number":
            low = schema.get("minimum")
            high = schema.get("maximum")
            return st.floats(low, high, allow_nan=False, allow_infinity=False)
        case "string":
            if schema.get("pattern") == "^resp_":
                return st.builds("resp_{}".format, st.text(max_size=20))
            return st.text(min_size=schema.get("minLength", 0), max_size=min(schema.get("maxLength", 60), 60))
        case "array":
            items = from_schema(schema.get("items", {}), defs) if schema.get("items") else json_values
            return st.lists(items, min_size=schema.get("minItems", 0), max_size=min(schema.get("maxItems", 4), 4))
        case "object":
            properties: dict[str, Any] = schema.get("properties", {})
            required = set(schema.get("required", []))
            if not properties:
                return st.dictionaries(st.text(max_size=10), json_values, max_size=3)
            return st.fixed_dictionaries(
                {k: from_schema(v, defs) for k, v in properties.items() if k in required},
                optional={k: from_schema(v, defs) for k, v in properties.items() if k not in required},
            )
        case _:
            return json_values


EXTRA_KEYS = ["ctx", "context", "self", "kwargs", "__proto__", "__class__", "", "\x00", "prompt ", "Model"]


async def _fetch_input_schemas() -> dict[str, dict[str, Any]]:
    # The server is never asked to reach LM Studio here: listing tools needs no connection.
    async with Client(build_server(Settings())) as client:
        return {tool.name: tool.input_schema for tool in (await client.list_tools()).tools}


# The tools' real input schemas, as a client sees them; fetched once, at import, before any event loop runs.
INPUT_SCHEMAS = anyio.run(_fetch_input_schemas)


@functools.cache
def parameter_values(tool: str) -> dict[str, st.SearchStrategy[Any]]:
    """For each parameter of `tool`: values its schema allows, mixed with values that look right for its name."""
    schema = INPUT_SCHEMAS[tool]
    defs: dict[str, Any] = schema.get("$defs", {})
    values: dict[str, st.SearchStrategy[Any]] = {}
    for name, prop in schema.get("properties", {}).items():
        hint = name_hint(name)
        values[name] = st.one_of(hint, from_schema(prop, defs)) if hint is not None else from_schema(prop, defs)
    return values


@st.composite
def arguments_of(draw: st.DrawFn, tool: str) -> dict[str, Any]:
    """A call's arguments: each parameter present or not, valid-looking or hostile, plus unknown keys."""
    required = set(INPUT_SCHEMAS[tool].get("required", []))
    # 0: every value valid-looking (reaches deep into the tool); higher: more hostile values and omissions.
    level = draw(st.sampled_from([0, 0, 1, 3, 6]))
    arguments: dict[str, Any] = {}
    for name, values in parameter_values(tool).items():
        present = draw(st.integers(0, 9)) >= level // 2 if name in required else draw(st.integers(0, 3)) == 0
        if present:
            arguments[name] = draw(hostile_values if draw(st.integers(0, 9)) < level else values)
    if level and draw(st.integers(0, 4)) == 0:
        extra_keys = st.one_of(st.sampled_from(EXTRA_KEYS), st.text(max_size=12))
        extras = draw(st.dictionaries(extra_keys, hostile_values, max_size=3))
        arguments |= {k: v for k, v in extras.items() if k not in arguments}
    return arguments


any_call = st.sampled_from(TOOL_NAMES).flatmap(lambda tool: st.tuples(st.just(tool), arguments_of(tool)))


# --- the server under test --------------------------------------------------------------------------------------


class ErrorLog(logging.Handler):
    """Every ERROR record (the server logs a tool's crash with its traceback), for the failure messages."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> str:
        lines: list[str] = []
        for record in self.records:
            lines.append(f"logged by {record.name}: {record.getMessage()}\n")
            if record.exc_info and record.exc_info[1] is not None:
                lines.extend(traceback.format_exception(record.exc_info[1]))
        self.records.clear()
        return "".join(lines)


def placed(value: Any, root: str) -> Any:
    """`value` with the sandbox placeholder replaced by the real allowed directory."""
    if isinstance(value, str):
        return value.replace(SANDBOX, root)
    if isinstance(value, list):
        return [placed(item, root) for item in cast(list[Any], value)]
    if isinstance(value, dict):
        return {key: placed(item, root) for key, item in cast(dict[str, Any], value).items()}
    return value


def shorten(text: str, limit: int = 3000) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit} more characters)"


@dataclass
class Harness:
    client: Client
    sim: Simulator
    sandbox: Path
    log: ErrorLog

    async def check_call(self, tool: str, drawn: dict[str, Any], *, then_list_models: bool = True) -> CallToolResult:
        """Call one tool, then list_models: fail, naming the arguments and the server's traceback, on anything
        but a validation refusal or a coded outcome, on a raise, on a hang, or if the server stops answering."""
        arguments = placed(drawn, str(self.sandbox))
        self.log.take()
        try:
            with anyio.fail_after(CALL_TIMEOUT):
                result = await self.client.call_tool(tool, arguments)
        except TimeoutError:
            self.fail(tool, arguments, f"hung for more than {CALL_TIMEOUT} s")
        except Exception as exc:
            raise AssertionError(self.describe(tool, arguments, f"raised in the client: {exc!r}")) from exc
        problem = problem_with(tool, result)
        if problem is not None:
            self.fail(tool, arguments, f"returned {problem}:\n{shorten(texts_of(result))}")
        SEEN.harvest(result.structured_content)
        if then_list_models:
            await self.check_alive(tool, arguments)
        return result

    async def check_alive(self, tool: str, arguments: dict[str, Any]) -> None:
        with anyio.fail_after(CALL_TIMEOUT):
            alive = await self.client.call_tool("list_models", {})
        if alive.is_error:
            self.fail(tool, arguments, f"left the server unable to list models: {texts_of(alive)}")
        SEEN.harvest(alive.structured_content)

    def describe(self, tool: str, arguments: dict[str, Any], what: str) -> str:
        """The offending call, what went wrong, and whatever the server logged as an error meanwhile."""
        log = self.log.take()
        logged = f"\nThe server logged:\n{log}" if log else ""
        return f"{tool}({shorten(repr(arguments))}) {what}{logged}"

    def fail(self, tool: str, arguments: dict[str, Any], what: str) -> NoReturn:
        # An AssertionError, not pytest.fail(): anyio's test runner must outlive a failing hypothesis example.
        raise AssertionError(self.describe(tool, arguments, what))


@pytest.fixture
def sim() -> Simulator:
    """Overrides conftest's: instant loads, short downloads, short replies, so examples stay cheap."""
    return Simulator(SimulatorConfig(load_time=0.0, download_duration=0.05, reply_tokens=3, reasoning_tokens=2))


@pytest.fixture
def error_log() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


async def open_harness(
    mode: str, sim: Simulator, sim_url: str, sandbox: Path, error_log: ErrorLog
) -> AsyncIterator[Harness]:
    settings = Settings(
        base_url=sim_url,
        allowed_dirs=(str(sandbox),),
        max_file_bytes=MAX_FILE_BYTES,
        max_total_file_bytes=2 * MAX_FILE_BYTES,
        progress_interval=0.02,
        max_call_seconds=CALL_TIMEOUT / 2,
        read_timeout=CALL_TIMEOUT / 2,
    )
    SEEN.clear()
    async with Client(build_server(settings), mode=mode, raise_exceptions=mode == "auto") as client:
        # The strategies were built from the schemas fetched at import: they must be the ones this client sees.
        assert {tool.name: tool.input_schema for tool in (await client.list_tools()).tools} == INPUT_SCHEMAS
        # Hand out a few real ids first, so examples can pass back ids the server knows.
        for tool, arguments in [
            ("chat", {"prompt": "hi", "model": LOADED, "session": "review-auth"}),
            ("chat", {"prompt": "hi", "model": LOADED}),
            ("download_model", {"model": "ibm/granite-4-micro"}),
            ("load_model", {"model": LOADED, "new_instance": True}),
        ]:
            result = await client.call_tool(tool, arguments)
            assert not result.is_error, texts_of(result)
            SEEN.harvest(result.structured_content)
        yield Harness(client=client, sim=sim, sandbox=sandbox, log=error_log)
    SEEN.clear()


@pytest.fixture
async def harness(sim: Simulator, sim_url: str, sandbox: Path, error_log: ErrorLog) -> AsyncIterator[Harness]:
    """One server and one client (the 2026-07-28 era) for all of a test's examples."""
    async for opened in open_harness("auto", sim, sim_url, sandbox, error_log):
        yield opened


@pytest.fixture
async def legacy_harness(sim: Simulator, sim_url: str, sandbox: Path, error_log: ErrorLog) -> AsyncIterator[Harness]:
    """The same through the legacy initialize handshake."""
    async for opened in open_harness("legacy", sim, sim_url, sandbox, error_log):
        yield opened


# --- the properties ---------------------------------------------------------------------------------------------


def _property_for(tool: str, count: int) -> Any:
    @examples(count)
    @given(arguments=arguments_of(tool))
    async def test(harness: Harness, arguments: dict[str, Any]) -> None:
        await harness.check_call(tool, arguments)

    test.__name__ = test.__qualname__ = f"test_{tool}_with_any_arguments_gives_a_coded_outcome"
    test.__doc__ = f"Whatever arguments `{tool}` gets, it answers with a coded outcome and the server stays up."
    return test


test_chat_with_any_arguments_gives_a_coded_outcome = _property_for("chat", 50)
test_list_models_with_any_arguments_gives_a_coded_outcome = _property_for("list_models", 10)
test_load_model_with_any_arguments_gives_a_coded_outcome = _property_for("load_model", 30)
test_unload_model_with_any_arguments_gives_a_coded_outcome = _property_for("unload_model", 25)
test_download_model_with_any_arguments_gives_a_coded_outcome = _property_for("download_model", 30)
test_download_status_with_any_arguments_gives_a_coded_outcome = _property_for("download_status", 30)
test_embed_with_any_arguments_gives_a_coded_outcome = _property_for("embed", 25)
test_list_sessions_with_any_arguments_gives_a_coded_outcome = _property_for("list_sessions", 5)
test_reset_session_with_any_arguments_gives_a_coded_outcome = _property_for("reset_session", 25)
test_delegate_with_any_arguments_gives_a_coded_outcome = _property_for("delegate", 25)


def test_every_tool_has_a_property() -> None:
    covered = {name.removeprefix("test_").split("_with_any_arguments")[0] for name in globals() if "_with_any" in name}
    assert covered == set(TOOL_NAMES)


@examples(12)
@given(calls=st.lists(any_call, min_size=2, max_size=5))
async def test_sequences_of_calls_across_tools_give_coded_outcomes(
    harness: Harness, calls: list[tuple[str, dict[str, Any]]]
) -> None:
    """State one tool leaves (a session, a download, a load) never makes another one crash."""
    for tool, arguments in calls:
        await harness.check_call(tool, arguments)


@examples(25)
@given(call=any_call)
async def test_the_legacy_handshake_era_gives_the_same_outcomes(
    legacy_harness: Harness, call: tuple[str, dict[str, Any]]
) -> None:
    tool, arguments = call
    await legacy_harness.check_call(tool, arguments)


image_entries = st.one_of(path_entries, data_urls)
# The server stops at the first path it refuses, so each list is readable entries then one drawn entry.
readable_files = st.lists(st.sampled_from(["notes.txt", f"{SANDBOX}/sub/inner.md", "link_in", "mid.txt"]), max_size=2)
readable_images = st.lists(st.sampled_from(["pixel.png", DATA_URLS[0]]), max_size=1)
file_arguments = st.fixed_dictionaries(
    {
        "prompt": st.just("Summarise the files."),
        "model": st.sampled_from([LOADED, LOADED, LOADED, "qwen/qwen3-4b"]),
    },
    optional={
        "files": st.tuples(readable_files, path_entries).map(lambda drawn: [*drawn[0], drawn[1]]),
        "images": st.tuples(readable_images, image_entries).map(lambda drawn: [*drawn[0], drawn[1]]),
    },
).filter(lambda arguments: "files" in arguments or "images" in arguments)


@examples(25)
@given(arguments=file_arguments)
async def test_chat_sends_lm_studio_nothing_from_outside_the_allowed_directory(
    harness: Harness, arguments: dict[str, Any]
) -> None:
    """`files` and `images` full of hostile paths: a coded outcome, and nothing from outside ever leaves."""
    before = len(harness.sim.requests)
    await harness.check_call("chat", arguments)
    sent = json.dumps([record.body for record in harness.sim.requests[before:]])
    leaked = [marker for marker in LEAK_MARKERS if marker in sent]
    assert not leaked, f"chat({placed(arguments, str(harness.sandbox))!r}) sent LM Studio {leaked}"


async def test_chat_refuses_every_path_outside_the_allowed_directory_with_a_file_code(harness: Harness) -> None:
    """Every listed path, alone in `files` and in `images`: no crash, no hang, no leak; the outside ones refused."""
    outside = {*PATHS_OUTSIDE, *PATHS_SPECIAL_FILES, *PATHS_HOME}
    paths = [*SANDBOX_PATHS, *HOSTILE_PATHS]
    for path in paths:
        for key in ("files", "images"):
            before = len(harness.sim.requests)
            arguments = {"prompt": "Summarise.", "model": LOADED, key: [path]}
            # One list_models at the end, not after each call: a dead server fails the next call anyway.
            result = await harness.check_call("chat", arguments, then_list_models=False)
            sent = json.dumps([record.body for record in harness.sim.requests[before:]])
            call = f"chat({key}=[{path!r}])"
            assert not [marker for marker in LEAK_MARKERS if marker in sent], f"{call} sent LM Studio what is outside"
            if path in outside:
                assert result.is_error and texts_of(result).startswith("FILE_"), f"{call}: {texts_of(result)[:300]}"
    await harness.check_alive("chat", {"files": paths, "images": paths})


# What a model may ask delegate's tools for: hostile paths, patterns and globs, wrong types, unknown tools, non-JSON.
PATTERNS = ["notes", "(a+)+$", "(", "[", "(?i)CAT", "\\", ".*", "(?P<x>a)(?P=x)", "a{99999}"]
tool_argument = st.one_of(path_entries, hostile_text, json_values)


def read_call(path: Any, start: Any, end: Any) -> ScriptedCall:
    return ScriptedCall("read_file", {"path": path, "start_line": start, "end_line": end})


def list_call(path: Any, depth: Any) -> ScriptedCall:
    return ScriptedCall("list_files", {"path": path, "depth": depth})


def search_call(pattern: Any, path: Any, glob: Any) -> ScriptedCall:
    return ScriptedCall("search_files", {"pattern": pattern, "path": path, "glob": glob})


model_calls = st.one_of(
    st.builds(read_call, path_entries, st.none(), st.none()),
    st.builds(read_call, path_entries, json_scalars, json_scalars),
    st.builds(list_call, path_entries, json_scalars),
    st.builds(
        search_call,
        st.one_of(st.sampled_from(PATTERNS), hostile_text),
        path_entries,
        st.one_of(st.none(), hostile_text),
    ),
    st.builds(
        ScriptedCall,
        st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True),
        st.one_of(hostile_text, st.dictionaries(st.sampled_from(["path", "pattern", "x"]), tool_argument, max_size=3)),
    ),
)


def placed_call(call: ScriptedCall, root: str) -> ScriptedCall:
    return ScriptedCall(call.name, placed(call.arguments, root))


@examples(25)
@given(turns=st.lists(st.lists(model_calls, min_size=1, max_size=3), min_size=1, max_size=4))
async def test_delegate_sends_lm_studio_nothing_from_outside_whatever_the_model_asks(
    harness: Harness, turns: list[list[ScriptedCall]]
) -> None:
    """A model that calls the tools with anything at all: a coded outcome, and nothing from outside ever leaves."""
    root = str(harness.sandbox)
    harness.sim.config.agent = AgentScript(turns=[[placed_call(call, root) for call in turn] for turn in turns])
    before = len(harness.sim.requests)
    try:
        # Within the sandbox: the working directory (this repository, whose tests hold the markers) is allowed too.
        arguments = {"task": "Explore.", "model": LOADED, "max_steps": 12, "paths": [SANDBOX]}
        result = await harness.check_call("delegate", arguments)
    finally:
        harness.sim.config.agent = None
    # Whatever the model asked for is a tool result it reads, never a failure of the delegation.
    assert not result.is_error, texts_of(result)
    found: dict[str, Any] = result.structured_content or {}
    steps = len(found["steps"])
    assert steps == sum(map(len, turns)) or (found["stopped"] == "budget" and steps < sum(map(len, turns)))
    sent = json.dumps([record.body for record in harness.sim.requests[before:]])
    leaked = [marker for marker in LEAK_MARKERS if marker in sent]
    assert not leaked, f"delegate with model calls {turns!r} sent LM Studio {leaked}"
