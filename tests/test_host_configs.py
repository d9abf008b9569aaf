"""The host configs doctor prints, rendered for each OS: config file locations, quoting, JSON and TOML."""

import json
import shlex
import tomllib

from lms_mcp.host_configs import claude_desktop_files, quote_command, render

ENV = {"LMSTUDIO_BASE_URL": "http://127.0.0.1:1234", "LMS_MCP_DEFAULT_MODEL": "qwen/qwen3-4b"}
WINDOWS = r"C:\Users\Ann Lee\pipx\bin\lms-mcp.exe"
MAC = "/Users/Ann Lee/.local/bin/lms-mcp"


def block_after(text: str, heading: str) -> str:
    """The lines after `heading` up to the next blank line."""
    rest = text[text.index(heading) :].split("\n", 1)[1]
    return rest.split("\n\n", 1)[0]


def claude_code_line(text: str) -> str:
    return block_after(text, "Claude Code").strip()


def test_windows_paths_are_quoted_for_windows_shells_and_escaped_in_json_and_toml() -> None:
    text = render([WINDOWS], ENV, "win32")
    line = claude_code_line(text)
    assert line.endswith(f'-- "{WINDOWS}"')
    assert "'" not in line  # cmd.exe has no single quotes
    assert line.startswith("claude mcp add -s user lmstudio -e LMSTUDIO_BASE_URL=http://127.0.0.1:1234 -e ")
    desktop = json.loads(block_after(text, r"%APPDATA%\Claude\claude_desktop_config.json").split("\n", 1)[1])
    assert desktop["mcpServers"]["lmstudio"]["command"] == WINDOWS
    codex = tomllib.loads(text[text.index("[mcp_servers.lmstudio]") :])
    assert codex == {"mcp_servers": {"lmstudio": {"command": WINDOWS, "args": [], "env": ENV}}}
    assert r"Cursor (%USERPROFILE%\.cursor\mcp.json)" in text
    assert r"Codex (%USERPROFILE%\.codex\config.toml)" in text


def test_windows_config_locations_include_the_microsoft_store_build() -> None:
    files = claude_desktop_files("win32")
    assert files[0] == r"%APPDATA%\Claude\claude_desktop_config.json"
    assert files[1].startswith(r"%LOCALAPPDATA%\Packages\Claude_*\LocalCache\Roaming\Claude\claude_desktop_config.json")


def test_macos_paths_are_quoted_for_posix_shells() -> None:
    command = [MAC, "--log-level", "WARNING"]
    text = render(command, ENV, "darwin")
    assert shlex.split(claude_code_line(text))[-4:] == ["--", *command]
    assert "'/Users/Ann Lee/.local/bin/lms-mcp'" in claude_code_line(text)
    assert "~/Library/Application Support/Claude/claude_desktop_config.json" in text
    assert "Cursor (~/.cursor/mcp.json)" in text and "Codex (~/.codex/config.toml)" in text
    codex = tomllib.loads(text[text.index("[mcp_servers.lmstudio]") :])
    assert codex["mcp_servers"]["lmstudio"]["args"] == ["--log-level", "WARNING"]


def test_linux_says_claude_desktop_has_no_official_build() -> None:
    text = render(["/usr/local/bin/lms-mcp"], {}, "linux")
    assert "no official Linux build" in text
    assert tomllib.loads(text[text.index("[mcp_servers.lmstudio]") :])["mcp_servers"]["lmstudio"]["env"] == {}


def test_quoting_round_trips_on_each_os() -> None:
    argv = ["C:\\Program Files\\x\\lms-mcp.exe", 'say "hi"', "a b", ""]
    assert quote_command(argv, "win32") == '"C:\\Program Files\\x\\lms-mcp.exe" "say \\"hi\\"" "a b" ""'
    assert shlex.split(quote_command(argv, "darwin")) == argv
