"""Server settings: command-line flag > environment variable > default, validated once, then frozen.

Each setting is declared once, in `OPTIONS`, with its flag, env var, parser and help; the CLI and
`--help` are generated from that table, so a new setting cannot be half-documented.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from .integration_policy import IntegrationPolicy
from .team.tokens import ClientToken, parse_client_tokens
from .tool_names import TOOL_NAMES
from .urls import DEFAULT_BASE_URL, is_loopback_host, normalize_base_url

Transport = Literal["stdio", "sse", "http"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class SettingsError(ValueError):
    """A setting with a value that cannot be used; the message names the flag and the env var."""


@dataclass(frozen=True)
class Settings:
    base_url: str = DEFAULT_BASE_URL
    api_token: str | None = dataclasses.field(default=None, repr=False)
    default_model: str | None = None
    transport: Transport = "stdio"
    host: str = "127.0.0.1"
    port: int = 8765
    connect_timeout: float = 5.0
    read_timeout: float = 300.0
    max_call_seconds: float = 1800.0
    max_concurrent_predictions: int = 0
    log_level: LogLevel = "INFO"
    http_token: str | None = dataclasses.field(default=None, repr=False)
    allow_unauthenticated: bool = False
    read_only: bool = False
    # Tool names to serve; empty means all of them.
    tools: tuple[str, ...] = ()
    # Directories `files` and `images` may be read from besides the working directory (which counts unless
    # it is a filesystem root or a system directory).
    allowed_dirs: tuple[str, ...] = ()
    max_file_bytes: int = 2_000_000
    max_total_file_bytes: int = 8_000_000
    # How often waits report progress (load heartbeats, download polls, queue position).
    progress_interval: float = 1.0
    # LM Studio integrations chat may ask for (--read-only drops per-call MCP servers).
    integrations: IntegrationPolicy = IntegrationPolicy()
    # Named HTTP clients, each with its own token, sessions and call rate.
    http_tokens: tuple[ClientToken, ...] = dataclasses.field(default=(), repr=False)
    # Tool calls one client may make in any minute; 0 means no limit.
    max_calls_per_minute: int = 0
    access_log: bool = False
    # What one delegate call's model may read through its tools (file text, listings, matches), in bytes.
    max_delegate_bytes: int = 2_000_000


@dataclass(frozen=True)
class Option:
    field: str
    flag: str | None
    env: str
    help: str
    parse: Callable[[str], Any]
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    # Set for a flag that may be given several times: each value is parsed alone and the setting is their
    # tuple. It splits the env var's value into those values.
    split_env: Callable[[str], list[str]] | None = None
    # A flag that takes no value (on when given); its env var takes 1/0, true/false, yes/no.
    switch: bool = False

    @property
    def repeatable(self) -> bool:
        return self.split_env is not None


def _base_url(value: str) -> str:
    url = normalize_base_url(value)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http:// or https:// URL such as {DEFAULT_BASE_URL}, got {value!r}")
    return url


def _number(
    convert: Callable[[str], float], low: float, high: float, what: str, *, above: bool = False
) -> Callable[[str], Any]:
    """A parser of numbers from `low` (or above it, with `above`) to `high`; `what` completes "must be ..."."""

    def parse(value: str) -> float:
        try:
            number = convert(value.strip())
        except ValueError:
            number = None
        # Written so that NaN fails too.
        if number is None or not (low < number if above else low <= number) or not number <= high:
            raise ValueError(f"must be {what}, got {value!r}")
        return number

    return parse


_port = _number(int, 1, 65535, "a port number from 1 to 65535")
_count = _number(int, 0, 1024, "a whole number from 0 (no limit) to 1024")
_seconds = _number(float, 0, 86_400, "a number of seconds above 0 and at most 86400", above=True)
_byte_count = _number(int, 1, 1_000_000_000, "a number of bytes from 1 to 1000000000")
_calls_per_minute = _number(int, 0, 100_000, "a whole number from 0 (no limit) to 100000")


def _choice(*allowed: str, upper: bool = False) -> Callable[[str], str]:
    def parse(value: str) -> str:
        normalized = value.strip().upper() if upper else value.strip().lower()
        if normalized not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}, got {value!r}")
        return normalized

    return parse


def _text(value: str) -> str | None:
    return value.strip() or None


def _bool(value: str) -> bool:
    normalized = value.strip().lower()
    if normalized in ("1", "true", "yes", "on"):
        return True
    if normalized in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"must be true or false (1/0, yes/no), got {value!r}")


def _tool_list(value: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    unknown = [name for name in names if name not in TOOL_NAMES]
    if unknown or not names:
        raise ValueError(f"must be a comma-separated list of tools from {', '.join(TOOL_NAMES)}, got {value!r}")
    return names


def _directory(value: str) -> str:
    if not os.path.isdir(os.path.expanduser(value)):
        raise ValueError(f"must name an existing directory, got {value!r}")
    return value


def _directory_list(value: str) -> list[str]:
    """Directories joined by os.pathsep; a value that names one existing directory is that directory, even
    with os.pathsep in its name (a folder picker's answer)."""
    if os.path.isdir(os.path.expanduser(value.strip())):
        return [value]
    return value.split(os.pathsep)


OPTIONS: tuple[Option, ...] = (
    Option(
        "base_url",
        "--base-url",
        "LMSTUDIO_BASE_URL",
        f"LM Studio server address (default {DEFAULT_BASE_URL}; a trailing /v1 or /api/v1 is fine)",
        _base_url,
        "URL",
    ),
    Option(
        "api_token",
        None,
        "LM_API_TOKEN",
        "LM Studio API token, needed when 'Require Authentication' is on (env only, never logged)",
        _text,
    ),
    Option(
        "default_model",
        "--default-model",
        "LMS_MCP_DEFAULT_MODEL",
        "model key chat uses when the caller names none (default: the only loaded LLM)",
        _text,
        "KEY",
    ),
    Option(
        "transport",
        "--transport",
        "LMS_MCP_TRANSPORT",
        "MCP transport: stdio (default), sse, or http (Streamable HTTP at /mcp)",
        _choice("stdio", "sse", "http"),
        choices=("stdio", "sse", "http"),
    ),
    Option("host", "--host", "LMS_MCP_HOST", "address to listen on for sse/http (default 127.0.0.1)", str, "HOST"),
    Option("port", "--port", "LMS_MCP_PORT", "port to listen on for sse/http (default 8765)", _port, "PORT"),
    Option(
        "connect_timeout",
        "--connect-timeout",
        "LMS_MCP_CONNECT_TIMEOUT",
        "seconds to wait for a connection to LM Studio (default 5)",
        _seconds,
        "SECONDS",
    ),
    Option(
        "read_timeout",
        "--read-timeout",
        "LMS_MCP_READ_TIMEOUT",
        "seconds LM Studio may stay silent during a call or a stream (default 300)",
        _seconds,
        "SECONDS",
    ),
    Option(
        "max_call_seconds",
        "--max-call-seconds",
        "LMS_MCP_MAX_CALL_SECONDS",
        "longest a chat, delegate or load_model call may take in all (default 1800)",
        _seconds,
        "SECONDS",
    ),
    Option(
        "max_concurrent_predictions",
        "--max-concurrent-predictions",
        "LMS_MCP_MAX_CONCURRENT_PREDICTIONS",
        "chats sent to LM Studio at once; more wait in a queue (default 0: no limit)",
        _count,
        "N",
    ),
    Option(
        "http_token",
        "--http-token",
        "LMS_MCP_HTTP_TOKEN",
        "bearer token clients must send to the sse/http endpoints (prefer the env var: flags show in ps)",
        _text,
        "TOKEN",
    ),
    Option(
        "allow_unauthenticated",
        "--allow-unauthenticated",
        "LMS_MCP_ALLOW_UNAUTHENTICATED",
        "serve sse/http on a non-loopback address without --http-token (trusted networks only)",
        _bool,
        switch=True,
    ),
    Option(
        "read_only",
        "--read-only",
        "LMS_MCP_READ_ONLY",
        "serve no tool that loads, unloads or downloads models",
        _bool,
        switch=True,
    ),
    Option(
        "tools",
        "--tools",
        "LMS_MCP_TOOLS",
        f"serve only these tools, comma-separated (default: all of {', '.join(TOOL_NAMES)})",
        _tool_list,
        "NAMES",
    ),
    Option(
        "allowed_dirs",
        "--allow-dir",
        "LMS_MCP_ALLOWED_DIRS",
        f"another directory chat's files and images may come from, besides the working directory; repeat the "
        f"flag, or join with '{os.pathsep}' in the env var",
        _directory,
        "DIR",
        split_env=_directory_list,
    ),
    Option(
        "max_file_bytes",
        "--max-file-bytes",
        "LMS_MCP_MAX_FILE_BYTES",
        "largest file or image chat may send (default 2000000)",
        _byte_count,
        "BYTES",
    ),
    Option(
        "max_total_file_bytes",
        "--max-total-file-bytes",
        "LMS_MCP_MAX_TOTAL_FILE_BYTES",
        "most bytes one chat call may send: prompt, files and images together (default 8000000)",
        _byte_count,
        "BYTES",
    ),
    Option(
        "integrations",
        "--integrations",
        "LMS_MCP_INTEGRATIONS",
        "LM Studio integrations chat may use: off, plugins (default: installed plugins only), any (also MCP "
        "servers named per call, at any URL), or comma-separated hosts such servers may be at",
        IntegrationPolicy.parse,
        "POLICY",
    ),
    Option(
        "log_level",
        "--log-level",
        "LMS_MCP_LOG_LEVEL",
        "stderr log level: DEBUG, INFO (default), WARNING or ERROR. DEBUG may log whole messages (prompts, "
        "answers, file contents): keep such logs private",
        _choice("DEBUG", "INFO", "WARNING", "ERROR", upper=True),
        "LEVEL",
    ),
    Option(
        "http_tokens",
        "--http-tokens",
        "LMS_MCP_HTTP_TOKENS",
        "named clients of the sse/http endpoints, comma-separated name:token pairs; each client has its own "
        "sessions and call rate (prefer the env var: flags show in ps)",
        parse_client_tokens,
        "PAIRS",
    ),
    Option(
        "max_calls_per_minute",
        "--max-calls-per-minute",
        "LMS_MCP_MAX_CALLS_PER_MINUTE",
        "tool calls one client may make in any minute; more get RATE_LIMITED (default 0: no limit)",
        _calls_per_minute,
        "N",
    ),
    Option(
        "access_log",
        "--access-log",
        "LMS_MCP_ACCESS_LOG",
        "write one JSON line per tool call to stderr: time, client, tool, duration, outcome, model",
        _bool,
        switch=True,
    ),
    Option(
        "max_delegate_bytes",
        "--max-delegate-bytes",
        "LMS_MCP_MAX_DELEGATE_BYTES",
        "most bytes a delegate call's model may read through its tools: file text, listings and matches "
        "(default 2000000)",
        _byte_count,
        "BYTES",
    ),
)


def option_label(option: Option) -> str:
    return f"{option.flag} / {option.env}" if option.flag else option.env


# An MCP bundle's `${user_config.NAME}` that the host left as it was: what it does for a blank optional setting.
_PLACEHOLDER = re.compile(r"\$\{[^{}]*\}")

FlagValue = str | list[str] | bool | None


def is_placeholder(value: str) -> bool:
    return _PLACEHOLDER.fullmatch(value.strip()) is not None


def _given(
    option: Option, flags: Mapping[str, FlagValue], environ: Mapping[str, str]
) -> tuple[str, str | list[str]] | None:
    """Where the option's value comes from (flag or env var) and its raw value; None when it is not set."""
    flag = flags.get(option.field)
    if isinstance(flag, bool):
        flag = "true" if flag else "false"
    if isinstance(flag, list):
        flag = [value for value in flag if not is_placeholder(value)] or None
    elif flag is not None and is_placeholder(flag):
        flag = None
    if flag is not None:
        return option.flag or option.env, flag
    env = environ.get(option.env)
    if env is None or is_placeholder(env):
        return None
    if option.split_env is not None:
        return option.env, [value for value in option.split_env(env) if not is_placeholder(value)]
    return option.env, env


def _parse(option: Option, raw: str | Sequence[str]) -> Any:
    if isinstance(raw, str):
        return option.parse(raw)
    return tuple(dict.fromkeys(option.parse(value.strip()) for value in raw if value.strip()))


def load_settings(flags: Mapping[str, FlagValue], environ: Mapping[str, str]) -> Settings:
    """Build Settings from raw flag values (by field name; None = not given) and the environment.

    A value that is an unexpanded `${...}` placeholder counts as not given.
    """
    values: dict[str, Any] = {}
    for option in OPTIONS:
        given = _given(option, flags, environ)
        if given is None:
            continue
        source, raw = given
        try:
            values[option.field] = _parse(option, raw)
        except ValueError as exc:
            raise SettingsError(f"{source} ({option_label(option)}): {exc}") from None
    settings = Settings(**values)
    check_exposure(settings)
    return settings


def check_exposure(settings: Settings) -> None:
    """Refuse to serve LM Studio to the network with no token, unless told the network is trusted."""
    if settings.transport == "stdio" or is_loopback_host(settings.host):
        return
    if settings.http_token or settings.http_tokens or settings.allow_unauthenticated:
        return
    raise SettingsError(
        f"--host {settings.host} would let anyone on the network use LM Studio through this server. Set a token "
        "with LMS_MCP_HTTP_TOKEN (or --http-token; LMS_MCP_HTTP_TOKENS for named clients), or pass "
        "--allow-unauthenticated if the network is trusted."
    )
