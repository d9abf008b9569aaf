"""`lms-mcp demo`: a short tour of every tool against the built-in simulator, no LM Studio needed."""

from __future__ import annotations

import sys
from typing import Any

import anyio
from mcp import Client
from mcp.types import CallToolResult, TextContent

from .server import build_server
from .settings import Settings
from .simulator import Simulator, SimulatorConfig, serve_in_thread

MODEL = "qwen/qwen3-4b"
DOWNLOAD = "ibm/granite-4-micro"


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


async def tour(url: str) -> None:
    progress = ProgressLine(live=sys.stdout.isatty())
    async with Client(build_server(Settings(base_url=url, progress_interval=0.5))) as client:

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
        await call("unload_model", {"instance_id": MODEL})
        await call("download_status", {"job_id": "job_0000000000"})


def run() -> int:
    config = SimulatorConfig(reply_tokens=30, tokens_per_second=60, load_time=0.6, download_duration=2.0)
    print("lms-mcp demo: every tool against the built-in LM Studio simulator (no LM Studio needed).")
    with serve_in_thread(Simulator(config)) as url:
        print(f"Simulator at {url}; in real use lms-mcp talks to LM Studio at http://127.0.0.1:1234.")
        anyio.run(tour, url)
    print("\nThe last call failed on purpose: errors start with a code and say what to do next.")
    print("Next: `lms-mcp doctor` checks your real LM Studio and prints the config for your MCP host.")
    return 0
