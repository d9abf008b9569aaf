"""Settings precedence (flag > env > default) and the command line's help and errors."""

import subprocess
import sys

import pytest

from lms_mcp.cli import build_parser, main
from lms_mcp.settings import OPTIONS, Settings, SettingsError, load_settings
from tests.support import child_env, run_captured


def flags(*argv: str) -> dict[str, str | None]:
    return vars(build_parser().parse_args(list(argv)))


def test_defaults_apply_when_nothing_is_set() -> None:
    assert load_settings(flags(), {}) == Settings()
    assert Settings().base_url == "http://127.0.0.1:1234"
    assert Settings().transport == "stdio"


def test_environment_overrides_default_and_flag_overrides_environment() -> None:
    env = {
        "LMSTUDIO_BASE_URL": "http://10.1.2.3:4321",
        "LMS_MCP_PORT": "9001",
        "LMS_MCP_DEFAULT_MODEL": "qwen/qwen3-4b",
    }
    from_env = load_settings(flags(), env)
    assert (from_env.base_url, from_env.port, from_env.default_model) == ("http://10.1.2.3:4321", 9001, "qwen/qwen3-4b")
    both = load_settings(flags("--base-url", "http://127.0.0.1:5555", "--port", "9002"), env)
    assert (both.base_url, both.port, both.default_model) == ("http://127.0.0.1:5555", 9002, "qwen/qwen3-4b")


@pytest.mark.parametrize(
    "given",
    ["http://localhost:1234/v1", "http://localhost:1234/api/v1/", "http://localhost:1234/", " http://localhost:1234 "],
)
def test_base_url_suffixes_are_tolerated(given: str) -> None:
    assert load_settings({}, {"LMSTUDIO_BASE_URL": given}).base_url == "http://localhost:1234"


def test_token_comes_from_lm_api_token_and_is_not_in_repr() -> None:
    settings = load_settings({}, {"LM_API_TOKEN": "sk-lm-abcDEF78:abcDEF7890abcDEF7890"})
    assert settings.api_token == "sk-lm-abcDEF78:abcDEF7890abcDEF7890"
    assert "abcDEF" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "argv", "expected"),
    [
        ({"LMS_MCP_PORT": "http"}, [], "LMS_MCP_PORT (--port / LMS_MCP_PORT): must be a port number"),
        ({}, ["--port", "70000"], "--port (--port / LMS_MCP_PORT): must be a port number"),
        ({"LMSTUDIO_BASE_URL": "localhost:1234"}, [], "(--base-url / LMSTUDIO_BASE_URL): must be an http://"),
        ({"LMS_MCP_READ_TIMEOUT": "-1"}, [], "(--read-timeout / LMS_MCP_READ_TIMEOUT): must be a number of seconds"),
        ({"LMS_MCP_TRANSPORT": "websocket"}, [], "(--transport / LMS_MCP_TRANSPORT): must be one of stdio, sse, http"),
    ],
)
def test_bad_values_name_the_flag_and_the_env_var(env: dict[str, str], argv: list[str], expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(flags(*argv), env)
    assert expected in str(caught.value)


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]


def test_help_lists_every_env_var() -> None:
    out = run_captured([sys.executable, "-m", "lms_mcp", "--help"], check=True).stdout
    for option in OPTIONS:
        assert option.env in out
        if option.flag:
            assert option.flag in out
    assert "simulate" in out


def test_bad_setting_exits_2_with_the_reason_on_stderr() -> None:
    done = run_captured([sys.executable, "-m", "lms_mcp"], env=child_env(LMS_MCP_LOG_LEVEL="chatty"))
    assert done.returncode == 2
    assert done.stdout == ""
    # The reason alone, not buried under the usage block.
    assert done.stderr.splitlines() == [
        "lms-mcp: error: LMS_MCP_LOG_LEVEL (--log-level / LMS_MCP_LOG_LEVEL): must be one of DEBUG, INFO, "
        "WARNING, ERROR, got 'chatty'"
    ]


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("demo", "usage: lms-mcp demo [-h]"),
        ("doctor", "--default-model KEY"),
        ("simulate", "--tokens-per-second"),
    ],
)
def test_each_subcommand_has_its_own_help(command: str, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: lms-mcp {command}") and expected in out
    assert "python -m" not in out


def test_flags_before_the_doctor_subcommand_are_kept() -> None:
    namespace = vars(build_parser().parse_args(["--base-url", "http://10.0.0.2:1234", "doctor", "--port", "9"]))
    settings = load_settings(namespace, {})
    assert (namespace["command"], settings.base_url, settings.port) == ("doctor", "http://10.0.0.2:1234", 9)


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["doctor", "--help"]])
def test_help_and_version_load_neither_the_sdk_nor_the_http_stack(argv: list[str]) -> None:
    """Cold start: the console script's answer to --help must not pay for httpx2, pydantic or mcp."""
    done = run_captured([sys.executable, "-X", "importtime", "-m", "lms_mcp", *argv], env=child_env(), check=True)
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}
    assert "lms_mcp" in imported
    assert not imported & {"httpx2", "httpcore2", "pydantic", "mcp", "anyio", "starlette", "uvicorn"}


def imported_modules(*argv: str) -> set[str]:
    """Every module `python -X importtime ARGV` imports, with stdin at its end (a stdio server starts and stops)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=True,
        timeout=60,
        env=child_env(LMSTUDIO_BASE_URL="http://127.0.0.1:9"),
    )
    return {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}


BARE_STDIO_SERVER = "from mcp.server.mcpserver import MCPServer; MCPServer('bare').run('stdio')"
# Only the HTTP transport, the simulator, another subcommand or a running delegation needs these.
NOT_FOR_STDIO = (
    "lms_mcp.serving",
    "lms_mcp.agent.loop",
    "lms_mcp.agent.workspace_tools",
    "lms_mcp.simulator",
    "lms_mcp.doctor",
    "lms_mcp.demo",
    "uvicorn",
    "starlette",
    "sse_starlette",
    "jsonschema",
)


def test_a_stdio_start_imports_nothing_it_does_not_need_beyond_what_the_sdk_does() -> None:
    """Cold start: a stdio session pays for no module of the HTTP stack that a bare MCPServer does not load itself,
    nor for delegate's loop before a delegation runs."""
    bridge = imported_modules("-m", "lms_mcp")
    bare = imported_modules("-c", BARE_STDIO_SERVER)
    assert {"lms_mcp.server", "mcp.server.stdio"} <= bridge  # it did serve stdio
    for package in NOT_FOR_STDIO:
        loaded = {name for name in bridge if name == package or name.startswith(package + ".")}
        assert loaded <= bare, f"a stdio start imports {sorted(loaded - bare)}"


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [
        ("LMS_MCP_PORT", "0", "must be a port number from 1 to 65535"),
        ("LMS_MCP_PORT", "65536", "must be a port number from 1 to 65535"),
        ("LMS_MCP_PORT", "80.5", "must be a port number from 1 to 65535"),
        ("LMS_MCP_MAX_CONCURRENT_PREDICTIONS", "-1", "must be a whole number from 0 (no limit) to 1024"),
        ("LMS_MCP_MAX_CONCURRENT_PREDICTIONS", "1025", "must be a whole number from 0 (no limit) to 1024"),
        ("LMS_MCP_CONNECT_TIMEOUT", "0", "must be a number of seconds above 0 and at most 86400"),
        ("LMS_MCP_CONNECT_TIMEOUT", "nan", "must be a number of seconds above 0 and at most 86400"),
        ("LMS_MCP_READ_TIMEOUT", "inf", "must be a number of seconds above 0 and at most 86400"),
        ("LMS_MCP_MAX_FILE_BYTES", "0", "must be a number of bytes from 1 to 1000000000"),
        ("LMS_MCP_MAX_FILE_BYTES", "1000000001", "must be a number of bytes from 1 to 1000000000"),
    ],
)
def test_numbers_out_of_range_are_refused(env: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({}, {env: value})
    assert f"{expected}, got {value!r}" in str(caught.value)


def test_numbers_at_the_edges_of_their_range_are_accepted() -> None:
    env = {
        "LMS_MCP_PORT": "65535",
        "LMS_MCP_MAX_CONCURRENT_PREDICTIONS": "0",
        "LMS_MCP_CONNECT_TIMEOUT": " 0.25 ",
        "LMS_MCP_MAX_CALL_SECONDS": "86400",
        "LMS_MCP_MAX_FILE_BYTES": "1",
    }
    settings = load_settings({}, env)
    assert (
        settings.port,
        settings.max_concurrent_predictions,
        settings.connect_timeout,
        settings.max_call_seconds,
        settings.max_file_bytes,
    ) == (65535, 0, 0.25, 86400.0, 1)


def test_readme_documents_every_setting_and_error_code() -> None:
    from pathlib import Path

    from lms_mcp.tools.errors import ErrorCode

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    for option in OPTIONS:
        assert f"`{option.env}`" in readme, option.env
        if option.flag:
            assert f"`{option.flag}" in readme, option.flag
    for code in ErrorCode:
        assert f"`{code}`" in readme, code


def test_unexpanded_bundle_placeholders_count_as_unset() -> None:
    """An MCP bundle passes `${user_config.NAME}` through for an optional setting left blank."""
    env = {option.env: f"${{user_config.{option.field}}}" for option in OPTIONS}
    assert load_settings({}, env) == Settings()
    flags: dict[str, str | list[str] | bool | None] = {
        option.field: ["${user_config.x}"] if option.repeatable else " ${user_config.x} "
        for option in OPTIONS
        if option.flag and not option.switch
    }
    assert load_settings(flags, {}) == Settings()
    # A placeholder flag falls back to the env var, as a flag not given does.
    assert load_settings({"port": "${user_config.port}"}, {"LMS_MCP_PORT": "9000"}).port == 9000
    # Text that merely contains a placeholder is a real (bad) value.
    with pytest.raises(SettingsError):
        load_settings({}, {"LMS_MCP_PORT": "80${user_config.port}"})
