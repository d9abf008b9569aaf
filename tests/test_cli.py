"""Settings precedence (flag > env > default) and the command line's help and errors."""

import subprocess
import sys

import pytest

from lms_mcp.cli import build_parser
from lms_mcp.settings import OPTIONS, Settings, SettingsError, load_settings


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
    out = subprocess.run(
        [sys.executable, "-m", "lms_mcp", "--help"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    for option in OPTIONS:
        assert option.env in out
        if option.flag:
            assert option.flag in out
    assert "simulate" in out


def test_bad_setting_exits_2_with_the_reason_on_stderr() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lms_mcp"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"LMS_MCP_LOG_LEVEL": "chatty", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "LMS_MCP_LOG_LEVEL (--log-level / LMS_MCP_LOG_LEVEL): must be one of DEBUG" in done.stderr


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
