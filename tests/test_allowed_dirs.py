"""Which directories chat may read: the working directory, plus every --allow-dir / LMS_MCP_ALLOWED_DIRS."""

import os
from pathlib import Path

import pytest
from mcp import Client

from lms_mcp.cli import build_parser
from lms_mcp.sandbox import Sandbox
from lms_mcp.server import build_server
from lms_mcp.settings import SettingsError, load_settings
from lms_mcp.simulator import Simulator
from tests.support import QWEN as MODEL
from tests.support import text_of

pytestmark = pytest.mark.anyio


def folder(parent: Path, name: str, file: str, text: str) -> Path:
    directory = parent / name
    directory.mkdir()
    (directory / file).write_text(text, encoding="utf-8")
    return directory


async def test_allow_dir_adds_to_the_working_directory_and_keeps_odd_names_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sim: Simulator, sim_url: str
) -> None:
    work = folder(tmp_path, "project", "here.txt", "from the working directory")
    # The env var's separator (':', or ';' on Windows) in a folder's name: one directory all the same.
    odd = folder(tmp_path, f"notes{os.pathsep}2026", "there.txt", "from the odd folder")
    other = folder(tmp_path, "other", "also.txt", "from the other folder")
    (tmp_path / "secret.txt").write_text("not for the model", encoding="utf-8")
    monkeypatch.chdir(work)
    argv = ["--base-url", sim_url, "--allow-dir", str(odd), "--allow-dir", str(other)]
    settings = load_settings(vars(build_parser().parse_args(argv)), {})
    assert settings.allowed_dirs == (str(odd), str(other))
    async with Client(build_server(settings)) as client:
        # A relative path starts from the first --allow-dir.
        for path in [str(work / "here.txt"), "there.txt", str(odd / "there.txt"), str(other / "also.txt")]:
            result = await client.call_tool("chat", {"prompt": "Read it.", "model": MODEL, "files": [path]})
            assert not result.is_error, text_of(result)
        refused = await client.call_tool(
            "chat", {"prompt": "Read it.", "model": MODEL, "files": [str(tmp_path / "secret.txt")]}
        )
    assert refused.is_error and text_of(refused).startswith("FILE_NOT_ALLOWED")
    sent = " ".join(str(record.body) for record in sim.requests if record.path == "/api/v1/chat")
    for text in ["from the working directory", "from the odd folder", "from the other folder"]:
        assert text in sent
    assert "not for the model" not in sent


def test_the_env_var_joins_directories_with_the_path_separator(tmp_path: Path) -> None:
    first = folder(tmp_path, "a", "1.txt", "1")
    second = folder(tmp_path, "b", "2.txt", "2")
    odd = folder(tmp_path, f"c{os.pathsep}d", "3.txt", "3")
    joined = load_settings({}, {"LMS_MCP_ALLOWED_DIRS": f"{first}{os.pathsep}{second}{os.pathsep}"})
    assert joined.allowed_dirs == (str(first), str(second))
    assert load_settings({}, {"LMS_MCP_ALLOWED_DIRS": str(odd)}).allowed_dirs == (str(odd),)
    with pytest.raises(SettingsError) as caught:
        load_settings({}, {"LMS_MCP_ALLOWED_DIRS": f"{first}{os.pathsep}{tmp_path / 'missing'}"})
    assert "must name an existing directory" in str(caught.value)


def test_a_working_directory_that_is_a_filesystem_root_does_not_count(tmp_path: Path) -> None:
    extra = folder(tmp_path, "extra", "x.txt", "x")
    sandbox = Sandbox.create((str(extra),), 100, 100, cwd=os.path.abspath(os.sep))
    assert [root.real for root in sandbox.roots] == [os.path.realpath(extra)]
    work = folder(tmp_path, "work", "y.txt", "y")
    sandbox = Sandbox.create((str(extra),), 100, 100, cwd=str(work))
    assert [root.real for root in sandbox.roots] == [os.path.realpath(extra), os.path.realpath(work)]
