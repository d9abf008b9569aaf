"""Ready-to-paste MCP host configs for lms-mcp, written for the OS they are used on (paths, quoting)."""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Sequence

SERVER_NAME = "lmstudio"


def quote_command(argv: Sequence[str], platform: str) -> str:
    """A command line for the OS's shell: POSIX quoting, or the Windows rules (cmd.exe has no single quotes)."""
    return subprocess.list2cmdline(argv) if platform == "win32" else shlex.join(argv)


def toml_string(value: str) -> str:
    # JSON's string escapes are a subset of TOML's basic strings: backslashes in Windows paths stay right.
    return json.dumps(value)


def codex_config(command: Sequence[str], env: dict[str, str]) -> str:
    """The `[mcp_servers.lmstudio]` table of ~/.codex/config.toml."""
    args = ", ".join(toml_string(arg) for arg in command[1:])
    variables = ", ".join(f"{name} = {toml_string(value)}" for name, value in env.items())
    return "\n".join(
        [
            f"[mcp_servers.{SERVER_NAME}]",
            f"command = {toml_string(command[0])}",
            f"args = [{args}]",
            f"env = {{ {variables} }}" if variables else "env = {}",
        ]
    )


def claude_desktop_files(platform: str) -> list[str]:
    """Where Claude Desktop keeps claude_desktop_config.json on this OS."""
    if platform == "darwin":
        return ["~/Library/Application Support/Claude/claude_desktop_config.json"]
    if platform == "win32":
        return [
            r"%APPDATA%\Claude\claude_desktop_config.json",
            r"%LOCALAPPDATA%\Packages\Claude_*\LocalCache\Roaming\Claude\claude_desktop_config.json"
            " (the Microsoft Store build)",
        ]
    return ["~/.config/Claude/claude_desktop_config.json (Claude Desktop has no official Linux build)"]


def home_file(relative: str, platform: str) -> str:
    """A file in the user's home directory, written the way the OS's users write it."""
    return "%USERPROFILE%\\" + relative.replace("/", "\\") if platform == "win32" else f"~/{relative}"


def render(command: list[str], env: dict[str, str], platform: str) -> str:
    """Every host's config for running `command` with `env`, for `platform` (a sys.platform value)."""
    program, args = command[0], command[1:]
    desktop = {"mcpServers": {SERVER_NAME: {"command": program, "args": args, "env": env}}}
    vscode = {"servers": {SERVER_NAME: {"type": "stdio", "command": program, "args": args, "env": env}}}
    env_flags = [part for name, value in env.items() for part in ("-e", f"{name}={value}")]
    claude_code = ["claude", "mcp", "add", "-s", "user", SERVER_NAME, *env_flags, "--", *command]
    desktop_files = "\n".join(f"  {path}" for path in claude_desktop_files(platform))
    return "\n".join(
        [
            "Claude Desktop: Settings > Developer > Edit Config opens its config file:",
            desktop_files,
            json.dumps(desktop, indent=2),
            "",
            "Claude Code (-s user: in every project; leave it out for this project only):",
            f"  {quote_command(claude_code, platform)}",
            "",
            f"Cursor ({home_file('.cursor/mcp.json', platform)}):",
            json.dumps(desktop, indent=2),
            "",
            "VS Code (.vscode/mcp.json in the workspace):",
            json.dumps(vscode, indent=2),
            "",
            f"Codex ({home_file('.codex/config.toml', platform)}):",
            codex_config(command, env),
        ]
    )
