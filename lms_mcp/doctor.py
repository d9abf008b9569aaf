"""`lms-mcp doctor`: check the setup against the real LM Studio, then print ready-to-paste host configs."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from .host_configs import render
from .lmstudio import (
    AuthInvalidError,
    AuthRequiredError,
    LMStudioClient,
    LMStudioError,
    LMStudioUnreachableError,
    NotLMStudioV1Error,
)
from .lmstudio.models import ModelList
from .settings import Settings
from .tools.errors import translate
from .urls import display_url, redact_urls

NO_LM_STUDIO = (
    "No LM Studio at hand? `lms-mcp demo` tours every tool against a built-in simulator, and "
    "`lms-mcp simulate` serves one at http://127.0.0.1:1234 for lms-mcp (or your MCP host) to talk to."
)


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
        # The advice may quote LMSTUDIO_BASE_URL, credentials and all.
        self.lines.append(f"  FAIL  {text}\n        fix: {redact_urls(fix)}")


def _advice(exc: LMStudioError, settings: Settings) -> str:
    # The error contract's advice, without its code prefix.
    return translate(exc, settings).message


async def check(settings: Settings) -> Report:
    report = Report()
    url = display_url(settings.base_url)
    async with LMStudioClient(
        settings.base_url, api_token=settings.api_token, connect_timeout=settings.connect_timeout, read_timeout=30
    ) as client:
        try:
            is_lm_studio = await client.greeting()
        except LMStudioError as exc:
            report.problem(f"LM Studio does not answer at {url}", _advice(exc, settings))
            if isinstance(exc, LMStudioUnreachableError):
                report.note(NO_LM_STUDIO)
            return report
        if not is_lm_studio:
            report.problem(
                f"the server at {url} answers, but says it is not LM Studio",
                "point LMSTUDIO_BASE_URL / --base-url at LM Studio's server (LM Studio > Developer shows it)",
            )
            return report
        report.ok(f"LM Studio answers at {url}")
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
    # Secrets are never printed: the user pastes them in.
    env = {"LMSTUDIO_BASE_URL": display_url(settings.base_url, mask="<user>:<password>")}
    if settings.api_token:
        env["LM_API_TOKEN"] = "<your LM Studio API token>"
    if settings.default_model:
        env["LMS_MCP_DEFAULT_MODEL"] = settings.default_model
    return env


def installed_command() -> list[str]:
    """The absolute path of this lms-mcp, which GUI hosts need (they do not see the shell's PATH).

    shutil.which finds `lms-mcp.exe` on Windows (PATHEXT); the one beside this interpreter comes first.
    """
    script = shutil.which("lms-mcp", path=str(Path(sys.executable).parent)) or shutil.which("lms-mcp")
    return [os.path.abspath(script)] if script else [sys.executable, "-m", "lms_mcp"]


def run(settings: Settings) -> int:
    report = anyio.run(check, settings)
    print(f"lms-mcp doctor: LM Studio at {display_url(settings.base_url)}")
    print("\n".join(report.lines))
    print()
    if report.problems:
        print(f"{report.problems} problem(s) found. Fix them, then run lms-mcp doctor again.")
    else:
        print("All good. Add lms-mcp to your MCP host:")
    print()
    print(render(installed_command(), server_env(settings), sys.platform))
    return 1 if report.problems else 0
