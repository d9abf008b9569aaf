"""`lms-mcp doctor`: check the setup against the real LM Studio, then print ready-to-paste host configs."""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from .lmstudio import (
    AuthInvalidError,
    AuthRequiredError,
    LMStudioClient,
    LMStudioError,
    NotLMStudioV1Error,
)
from .lmstudio.models import ModelList
from .settings import Settings
from .tools.errors import translate


@dataclass
class Report:
    lines: list[str] = field(default_factory=list[str])
    problems: int = 0

    def ok(self, text: str) -> None:
        self.lines.append(f"  ok    {text}")

    def note(self, text: str) -> None:
        self.lines.append(f"  note  {text}")

    def problem(self, text: str, fix: str) -> None:
        self.problems += 1
        self.lines.append(f"  FAIL  {text}\n        fix: {fix}")


def _advice(exc: LMStudioError, settings: Settings) -> str:
    # The error contract's advice, without its code prefix.
    return str(translate(exc, settings)).split(": ", 1)[1]


async def check(settings: Settings) -> Report:
    report = Report()
    async with LMStudioClient(
        settings.base_url, api_token=settings.api_token, connect_timeout=settings.connect_timeout, read_timeout=30
    ) as client:
        try:
            await client.greeting()
            report.ok(f"LM Studio answers at {settings.base_url}")
        except LMStudioError as exc:
            report.problem(f"LM Studio does not answer at {settings.base_url}", _advice(exc, settings))
            return report
        try:
            listing = await client.list_models()
        except NotLMStudioV1Error as exc:
            report.problem(
                "the server does not speak LM Studio's v1 API (LM Studio before 0.4)", _advice(exc, settings)
            )
            return report
        except (AuthRequiredError, AuthInvalidError) as exc:
            report.problem("LM Studio refused the request: authentication", _advice(exc, settings))
            return report
        except LMStudioError as exc:
            report.problem("listing models failed", _advice(exc, settings))
            return report
    report.ok("LM Studio speaks the native v1 API (0.4 or newer)")
    if settings.api_token:
        report.ok("the API token in LM_API_TOKEN is accepted")
    else:
        report.ok("no API token needed ('Require Authentication' is off)")
    check_models(report, listing, settings)
    return report


def check_models(report: Report, listing: ModelList, settings: Settings) -> None:
    llms = [m for m in listing.models if m.type == "llm"]
    loaded = [inst.id for m in llms for inst in m.loaded_instances]
    if not llms:
        report.problem(
            "no LLM is downloaded, so chat has nothing to run",
            "download one in LM Studio, or with the download_model tool (e.g. ibm/granite-4-micro)",
        )
    else:
        report.ok(f"{len(llms)} LLM(s) downloaded: {', '.join(m.key for m in llms)}")
        if loaded:
            report.ok(f"loaded now: {', '.join(loaded)}")
        else:
            report.note("no LLM is loaded; chat loads the model it is given on demand, or use load_model")
    if settings.default_model:
        keys = {m.key for m in listing.models} | {i.id for m in listing.models for i in m.loaded_instances}
        if settings.default_model in keys:
            report.ok(f"the default model {settings.default_model} is downloaded")
        else:
            report.problem(
                f"the default model {settings.default_model!r} is not downloaded",
                "set LMS_MCP_DEFAULT_MODEL / --default-model to a key that list_models shows",
            )


def server_env(settings: Settings) -> dict[str, str]:
    env = {"LMSTUDIO_BASE_URL": settings.base_url}
    if settings.api_token:
        # The token itself is never printed: the user pastes it in.
        env["LM_API_TOKEN"] = "<your LM Studio API token>"
    if settings.default_model:
        env["LMS_MCP_DEFAULT_MODEL"] = settings.default_model
    return env


def host_configs(settings: Settings, command: list[str]) -> str:
    env = server_env(settings)
    program, args = command[0], command[1:]
    desktop = {"mcpServers": {"lmstudio": {"command": program, "args": args, "env": env}}}
    cursor = desktop
    vscode = {"servers": {"lmstudio": {"type": "stdio", "command": program, "args": args, "env": env}}}
    env_flags = " ".join(f"-e {k}={shlex.quote(v)}" for k, v in env.items())
    return "\n".join(
        [
            "Claude Desktop (claude_desktop_config.json):",
            json.dumps(desktop, indent=2),
            "",
            "Claude Code:",
            f"  claude mcp add lmstudio {env_flags} -- {shlex.join(command)}",
            "",
            "Cursor (~/.cursor/mcp.json):",
            json.dumps(cursor, indent=2),
            "",
            "VS Code (.vscode/mcp.json):",
            json.dumps(vscode, indent=2),
        ]
    )


def installed_command() -> list[str]:
    """The absolute path of this lms-mcp, which GUI hosts need (they do not see the shell's PATH)."""
    beside = Path(sys.executable).parent / "lms-mcp"
    script = str(beside) if beside.exists() else shutil.which("lms-mcp")
    return [script] if script else [sys.executable, "-m", "lms_mcp"]


def run(settings: Settings) -> int:
    report = anyio.run(check, settings)
    print(f"lms-mcp doctor: LM Studio at {settings.base_url}")
    print("\n".join(report.lines))
    print()
    if report.problems:
        print(f"{report.problems} problem(s) found. Fix them, then run lms-mcp doctor again.")
    else:
        print("All good. Add lms-mcp to your MCP host:")
    print()
    print(host_configs(settings, installed_command()))
    return 1 if report.problems else 0
