"""`lms-mcp doctor` against the simulator (healthy and broken setups) and `lms-mcp demo` from the installed script."""

import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lms_mcp.cli import main
from lms_mcp.simulator import Simulator, SimulatorConfig, serve_in_thread
from lms_mcp.tool_names import TOOL_NAMES
from tests.support import LM_TOKEN as TOKEN
from tests.support import another_web_server, child_env, fixed_json_server, free_port, lms_mcp_command, run_captured


def doctor(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The installed `lms-mcp doctor`, as a user runs it."""
    return run_captured([lms_mcp_command(), "doctor", *args], env=child_env(**env))


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def doctor_here(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., Outcome]:
    """`lms-mcp doctor` through the same entry point, in this process (no interpreter start-up to pay)."""

    def run(**env: str) -> Outcome:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        code = main(["doctor"])
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run


def desktop_config(output: str) -> dict[str, Any]:
    """The Claude Desktop JSON block that doctor prints."""
    start = output.index("{", output.index("Claude Desktop: "))
    end = output.index("\n\nClaude Code")
    return json.loads(output[start:end])


def test_doctor_on_a_healthy_setup_exits_0_and_prints_host_configs(sim_url: str) -> None:
    done = doctor("--default-model", "qwen/qwen3-4b", LMSTUDIO_BASE_URL=sim_url)
    assert done.returncode == 0, done.stdout
    assert "All good" in done.stdout and "FAIL" not in done.stdout
    assert "loaded now: google/gemma-4-26b-a4b" in done.stdout
    config = desktop_config(done.stdout)
    command = config["mcpServers"]["lmstudio"]["command"]
    assert Path(command).resolve() == Path(lms_mcp_command()).resolve()
    assert config == {
        "mcpServers": {
            "lmstudio": {
                "command": command,
                "args": [],
                "env": {"LMSTUDIO_BASE_URL": sim_url, "LMS_MCP_DEFAULT_MODEL": "qwen/qwen3-4b"},
            }
        }
    }
    claude_code = (
        f"claude mcp add -s user lmstudio -e LMSTUDIO_BASE_URL={sim_url} -e LMS_MCP_DEFAULT_MODEL=qwen/qwen3-4b --"
    )
    assert claude_code in done.stdout
    assert "Cursor" in done.stdout and '"servers"' in done.stdout  # VS Code's format
    codex = tomllib.loads(done.stdout[done.stdout.index("[mcp_servers.lmstudio]") :])
    assert codex["mcp_servers"]["lmstudio"]["env"]["LMSTUDIO_BASE_URL"] == sim_url


def test_doctor_without_lm_studio_exits_1_with_the_fix(doctor_here: Callable[..., Outcome]) -> None:
    done = doctor_here(LMSTUDIO_BASE_URL=f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 1
    assert "FAIL  LM Studio does not answer" in done.stdout and "lms server start" in done.stdout
    # Without LM Studio there is still a way to try it.
    assert "`lms-mcp demo`" in done.stdout and "`lms-mcp simulate`" in done.stdout


@pytest.mark.parametrize(
    ("token", "expected"),
    [(None, "LM Studio requires an API token"), ("sk-lm-zzzzzzzz:zzzzzzzzzzzzzzzzzzzz", "refused")],
)
def test_doctor_reports_auth_problems_without_showing_the_token(
    doctor_here: Callable[..., Outcome], token: str | None, expected: str
) -> None:
    with serve_in_thread(Simulator(SimulatorConfig(api_tokens=[TOKEN]))) as url:
        env = {"LMSTUDIO_BASE_URL": url} | ({"LM_API_TOKEN": token} if token else {})
        done = doctor_here(**env)
    assert done.returncode == 1 and expected in done.stdout
    assert "zzzzzzzz" not in done.stdout + done.stderr


def test_doctor_with_the_right_token_never_prints_it(doctor_here: Callable[..., Outcome]) -> None:
    with serve_in_thread(Simulator(SimulatorConfig(api_tokens=[TOKEN]))) as url:
        done = doctor_here(LMSTUDIO_BASE_URL=url, LM_API_TOKEN=TOKEN)
    assert done.returncode == 0, done.stdout
    assert "the API token in LM_API_TOKEN is accepted" in done.stdout
    assert TOKEN not in done.stdout + done.stderr and "<your LM Studio API token>" in done.stdout


def test_doctor_flags_a_default_model_that_is_not_downloaded(doctor_here: Callable[..., Outcome], sim_url: str) -> None:
    done = doctor_here(LMSTUDIO_BASE_URL=sim_url, LMS_MCP_DEFAULT_MODEL="nobody/nothing")
    assert done.returncode == 1 and "the default model 'nobody/nothing' is not downloaded" in done.stdout


def test_demo_tours_every_tool_and_writes_plain_lines_to_a_file() -> None:
    done = run_captured([lms_mcp_command(), "demo"], env=child_env(), timeout=120)
    assert done.returncode == 0, done.stderr
    for tool in TOOL_NAMES:
        assert f">>> {tool}" in done.stdout, tool
    assert "Loaded qwen/qwen3-4b" in done.stdout and "completed, 100%" in done.stdout
    assert "- demo: 2 turn(s) with qwen/qwen3-4b" in done.stdout and "Session 'demo' reset." in done.stdout
    assert "2 embedding(s)" in done.stdout
    assert "Unloaded qwen/qwen3-4b." in done.stdout
    assert "JOB_NOT_FOUND: " in done.stdout  # the failure shown on purpose
    # Progress, one line per step: no carriage returns when stdout is not a terminal.
    assert "\r" not in done.stdout and re.search(r"\n  Generating: \d+ tokens?\n", done.stdout)


def test_doctor_into_a_pipe_its_reader_closed_ends_without_a_traceback() -> None:
    """`lms-mcp doctor | head -1`: the reader is gone before doctor writes (here, before it even starts)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [lms_mcp_command(), "doctor"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=60,
            env=child_env(LMSTUDIO_BASE_URL=f"http://127.0.0.1:{free_port()}"),
        )
    finally:
        os.close(write_end)
    assert done.returncode == 1
    assert done.stderr == b""


def test_doctor_does_not_take_a_server_that_says_it_is_not_lm_studio_for_lm_studio(
    doctor_here: Callable[..., Outcome],
) -> None:
    # Another server on LM Studio's port, one that knows the greeting route but is not LM Studio.
    with fixed_json_server(b'{"lmstudio": false}') as (url, _seen):
        done = doctor_here(LMSTUDIO_BASE_URL=url)
    assert done.returncode == 1
    assert "answers, but says it is not LM Studio" in done.stdout
    assert "LM Studio answers" not in done.stdout


def test_doctor_says_when_another_web_server_answers_without_its_html(doctor_here: Callable[..., Outcome]) -> None:
    with serve_in_thread(another_web_server()) as url:
        done = doctor_here(LMSTUDIO_BASE_URL=url)
    assert done.returncode == 1
    assert f"Something other than LM Studio answers at {url}" in done.stdout
    assert "<" not in done.stdout.split("Claude Desktop")[0]  # no markup before the host configs


def test_doctor_never_shows_credentials_in_the_address(doctor_here: Callable[..., Outcome], sim_url: str) -> None:
    with_credentials = sim_url.replace("http://", "http://alice:s3cret@")
    done = doctor_here(LMSTUDIO_BASE_URL=with_credentials)
    assert "s3cret" not in done.stdout + done.stderr
    assert f"LM Studio at {sim_url.replace('http://', 'http://***@')}" in done.stdout
    assert desktop_config(done.stdout)["mcpServers"]["lmstudio"]["env"]["LMSTUDIO_BASE_URL"] == sim_url.replace(
        "http://", "http://<user>:<password>@"
    )
    unreachable = doctor_here(LMSTUDIO_BASE_URL=f"http://alice:s3cret@127.0.0.1:{free_port()}")
    assert unreachable.returncode == 1 and "s3cret" not in unreachable.stdout + unreachable.stderr


def test_doctor_names_the_lms_mcp_beside_the_interpreter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lms_mcp.doctor import installed_command

    script = tmp_path / ("lms-mcp.exe" if os.name == "nt" else "lms-mcp")
    script.write_bytes(b"")
    script.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    assert [os.path.normcase(part) for part in installed_command()] == [os.path.normcase(str(script))]
