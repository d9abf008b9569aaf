"""`lms-mcp demo`: a short tour of every tool against the built-in simulator, no LM Studio needed."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.types import CallToolResult, TextContent

from .server import build_server
from .settings import Settings
from .simulator import AgentScript, ScriptedCall, Simulator, SimulatorConfig, serve_in_thread

MODEL = "qwen/qwen3-4b"
DOWNLOAD = "ibm/granite-4-micro"
# The small project `delegate` explores, and what the simulated model does there.
PROJECT = {
    "app/auth.py": "import hmac\n\n\ndef check(token, expected):\n    return hmac.compare_digest(token, expected)\n",
    "app/views.py": "from app.auth import check\n\n\ndef login(request):\n    return check(request.token, SECRET)\n",
}
EXPLORER = AgentScript.one_by_one(
    ScriptedCall("search_files", {"pattern": "check\\(", "path": "app"}),
    ScriptedCall("read_file", {"path": "app/auth.py"}),
    answer="app/auth.py:5 checks the token with hmac.compare_digest, which is constant-time; "
    "app/views.py:5 calls it on login.",
)


def show(title: str, arguments: dict[str, Any], result: CallToolResult) -> None:
    text = "\n".join(block.text for block in result.content if isinstance(block, TextContent))
    marker = "error" if result.is_error else "result"
    print(f"\n=== {title} {arguments}\n--- {marker}:\n{text}", flush=True)


class ProgressLine:
    """Progress of the running call: one line rewritten in place on a terminal, else a line per new message."""

    def __init__(self, live: bool) -> None:
        self.live = live
        self.width = 0
        self.last = ""

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        text = message or f"{progress:g}"
        if total:
            filled = int(30 * min(1.0, progress / total))
            text = f"[{'#' * filled}{'.' * (30 - filled)}] {text}"
        if not self.live:
            if text != self.last:
                print(f"  {text}", flush=True)
            self.last = text
            return
        sys.stdout.write("\r" + text.ljust(self.width))
        sys.stdout.flush()
        self.width = len(text)

    def done(self) -> None:
        if self.width:
            sys.stdout.write("\n")
            self.width = 0
        self.last = ""


async def tour(url: str, project: Path) -> None:
    progress = ProgressLine(live=sys.stdout.isatty())
    settings = Settings(base_url=url, progress_interval=0.5, allowed_dirs=(str(project),))
    async with Client(build_server(settings)) as client:

        async def call(tool: str, arguments: dict[str, Any]) -> CallToolResult:
            print(f"\n>>> {tool}", flush=True)
            result = await client.call_tool(tool, arguments, progress_callback=progress)
            progress.done()
            show(tool, arguments, result)
            return result

        await call("list_models", {})
        await call("load_model", {"model": MODEL, "context_length": 8192})
        await call("chat", {"model": MODEL, "prompt": "Say hello to the new lms-mcp user.", "session": "demo"})
        await call("chat", {"prompt": "And once more, in fewer words.", "session": "demo"})
        await call("list_sessions", {})
        await call("reset_session", {"session": "demo"})
        await call("embed", {"texts": ["LM Studio runs models locally.", "lms-mcp hands them work."]})
        started = await call("download_model", {"model": DOWNLOAD})
        job_id = started.structured_content.get("job_id") if started.structured_content else None
        if job_id:
            await call("download_status", {"job_id": job_id, "wait_seconds": 10})
        task = "Where is the auth token checked, and is the comparison constant-time?"
        await call("delegate", {"model": MODEL, "task": task, "paths": [str(project)]})
        await call("unload_model", {"instance_id": MODEL})
        await call("download_status", {"job_id": "job_0000000000"})


def run() -> int:
    config = SimulatorConfig(
        reply_tokens=30, tokens_per_second=60, load_time=0.6, download_duration=2.0, agent=EXPLORER
    )
    print("lms-mcp demo: every tool against the built-in LM Studio simulator (no LM Studio needed).")
    with serve_in_thread(Simulator(config)) as url, tempfile.TemporaryDirectory(prefix="lms-mcp-demo-") as tmp:
        print(f"Simulator at {url}; in real use lms-mcp talks to LM Studio at http://127.0.0.1:1234.")
        project = Path(tmp)
        for name, text in PROJECT.items():
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            (project / name).write_text(text, encoding="utf-8")
        anyio.run(tour, url, project)
    print("\nThe last call failed on purpose: errors start with a code and say what to do next.")
    print("Next: `lms-mcp doctor` checks your real LM Studio and prints the config for your MCP host.")
    return 0
