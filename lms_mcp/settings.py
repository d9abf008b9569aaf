"""Server settings: command-line flag > environment variable > default, validated once, then frozen.

Each setting is declared once, in `OPTIONS`, with its flag, env var, parser and help; the CLI and
`--help` are generated from that table, so a new setting cannot be half-documented.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from .lmstudio.client import DEFAULT_BASE_URL, is_loopback_host, normalize_base_url
from .tool_names import TOOL_NAMES

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
    # Directories `files` and `images` may be read from; empty means the working directory (unless it is a
    # filesystem root or a system directory: then none).
    allowed_dirs: tuple[str, ...] = ()
    max_file_bytes: int = 2_000_000
    max_total_file_bytes: int = 8_000_000
    # How often waits report progress (load heartbeats, download polls, queue position).
    progress_interval: float = 1.0
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
    # A flag that may be given several times; the env var holds the values joined by os.pathsep.
    repeatable: bool = False
    # A flag that takes no value (on when given); its env var takes 1/0, true/false, yes/no.
    switch: bool = False


def _base_url(value: str) -> str:
    url = normalize_base_url(value)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http:// or https:// URL such as {DEFAULT_BASE_URL}, got {value!r}")
    return url


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise ValueError(f"must be a port number from 1 to 65535, got {value!r}")
    return port


def _count(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        count = -1
    if not 0 <= count <= 1024:
        raise ValueError(f"must be a whole number from 0 (no limit) to 1024, got {value!r}")
    return count


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= 86_400:
        raise ValueError(f"must be a number of seconds above 0 and at most 86400, got {value!r}")
    return seconds


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


def _directories(value: str) -> tuple[str, ...]:
    dirs = tuple(part.strip() for part in value.split(os.pathsep) if part.strip())
    for directory in dirs:
        if not os.path.isdir(os.path.expanduser(directory)):
            raise ValueError(f"must name existing directories, got {directory!r}")
    return dirs


def _byte_count(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        count = 0
    if not 1 <= count <= 1_000_000_000:
        raise ValueError(f"must be a number of bytes from 1 to 1000000000, got {value!r}")
    return count


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
        "longest a chat or load_model call may take in all (default 1800)",
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
        f"directory chat's files and images may come from; repeat the flag, or join with '{os.pathsep}' in "
        "the env var (default: the working directory)",
        _directories,
        "DIR",
        repeatable=True,
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
        "log_level",
        "--log-level",
        "LMS_MCP_LOG_LEVEL",
        "stderr log level: DEBUG, INFO (default), WARNING or ERROR",
        _choice("DEBUG", "INFO", "WARNING", "ERROR", upper=True),
        "LEVEL",
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


def load_settings(flags: Mapping[str, str | list[str] | bool | None], environ: Mapping[str, str]) -> Settings:
    """Build Settings from raw flag values (by field name; None = not given) and the environment."""
    values: dict[str, Any] = {}
    for option in OPTIONS:
        given = flags.get(option.field)
        if isinstance(given, bool):
            raw: str | None = "true" if given else "false"
        elif isinstance(given, list):
            raw = os.pathsep.join(given)
        else:
            raw = given
        source = option.flag
        if raw is None:
            raw = environ.get(option.env)
            source = option.env
        if raw is None:
            continue
        try:
            values[option.field] = option.parse(raw)
        except ValueError as exc:
            raise SettingsError(f"{source} ({option_label(option)}): {exc}") from None
    settings = Settings(**values)
    check_exposure(settings)
    return settings


def check_exposure(settings: Settings) -> None:
    """Refuse to serve LM Studio to the network with no token, unless told the network is trusted."""
    if settings.transport == "stdio" or is_loopback_host(settings.host):
        return
    if settings.http_token or settings.allow_unauthenticated:
        return
    raise SettingsError(
        f"--host {settings.host} would let anyone on the network use LM Studio through this server. Set a token "
        "with LMS_MCP_HTTP_TOKEN (or --http-token), or pass --allow-unauthenticated if the network is trusted."
    )
