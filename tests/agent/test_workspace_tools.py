"""The three workspace tools on real files through the real sandbox, without a model: caps, scopes, odd files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from lms_mcp.agent import Scope, workspace_tools
from lms_mcp.agent.budget import Budget
from lms_mcp.agent.tool_specs import read_arguments
from lms_mcp.agent.workspace_tools import ToolResult, Workspace
from lms_mcp.sandbox import FileRefused, Sandbox

pytestmark = pytest.mark.anyio


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    for directory in ("src", "node_modules/pkg", ".git", "other"):
        (root / directory).mkdir(parents=True)
    (root / "src" / "a.py").write_text("alpha = 1\nbeta = 2\n", encoding="utf-8")
    (root / "node_modules" / "pkg" / "index.js").write_text("x", encoding="utf-8")
    (root / ".git" / "HEAD").write_text("ref", encoding="utf-8")
    (root / "other" / "b.txt").write_text("beta\n", encoding="utf-8")
    os.symlink(root / "src" / "a.py", root / "other" / "to_a.py")
    return root


def workspace(
    root: Path, paths: list[str] | None = None, *, max_file_bytes: int = 100_000, more: tuple[Path, ...] = ()
) -> Workspace:
    sandbox = Sandbox.create((str(root), *map(str, more)), max_file_bytes, 10 * max_file_bytes, cwd=str(root))
    return Workspace(Scope.open(sandbox, paths))


async def run(space: Workspace, name: str, bytes_left: int = 1_000_000, **arguments: Any) -> ToolResult:
    parsed, _given = read_arguments(name, json.dumps(arguments))
    return await space.run(parsed, bytes_left, 5.0)


async def test_listing_shows_but_does_not_expand_dependencies_and_version_control(tree: Path) -> None:
    result = await run(workspace(tree), "list_files", depth=3)
    assert result.text.splitlines() == [
        ".git/ (not expanded)",
        "node_modules/ (not expanded)",
        "other/",
        "other/b.txt (5 bytes)",
        "other/to_a.py (symlink, not followed: read it by name)",
        "src/",
        "src/a.py (19 bytes)",
        "[7 entries]",
    ]
    inside = await run(workspace(tree), "list_files", path="node_modules")
    assert inside.text.splitlines()[:2] == ["node_modules/pkg/", "node_modules/pkg/index.js (1 bytes)"]


async def test_a_listing_is_capped(tree: Path) -> None:
    many = tree / "many"
    many.mkdir()
    for index in range(workspace_tools.LIST_ENTRIES + 5):
        (many / f"f{index:04d}.txt").write_text("", encoding="utf-8")
    result = await run(workspace(tree), "list_files", path="many")
    lines = result.text.splitlines()
    assert len(lines) == workspace_tools.LIST_ENTRIES + 1
    assert (
        lines[-1] == f"[first {workspace_tools.LIST_ENTRIES} entries: list a subdirectory, lower depth or use pattern]"
    )


async def test_a_symlink_inside_the_scope_is_read_and_one_leading_out_of_it_is_refused(tree: Path) -> None:
    whole = await run(workspace(tree), "read_file", path="other/to_a.py")
    assert whole.ok and whole.text.startswith("other/to_a.py, lines 1-2 of 2:")
    narrowed = await run(workspace(tree, ["other"]), "read_file", path="other/to_a.py")
    assert not narrowed.ok
    assert narrowed.text == "Refused: 'other/to_a.py' leads outside the paths this task may explore (other/)."


async def test_a_scope_of_one_file(tree: Path) -> None:
    space = workspace(tree, ["src/a.py"])
    assert (await run(space, "list_files")).text.splitlines() == ["src/a.py (19 bytes)", "[1 entry]"]
    assert (await run(space, "search_files", pattern="beta")).text.splitlines()[0] == "src/a.py:2: beta = 2"
    refused = await run(space, "read_file", path="other/b.txt")
    assert refused.text == "Refused: 'other/b.txt' is outside the paths this task may explore (src/a.py)."


async def test_several_allowed_directories_are_the_default_scope(tree: Path, tmp_path: Path) -> None:
    second = tmp_path / "second"
    second.mkdir()
    (second / "c.md").write_text("beta again\n", encoding="utf-8")
    space = workspace(tree, more=(second,))
    found = await run(space, "search_files", pattern="^beta")
    # Paths outside the first directory are shown whole, so the model can name them back.
    assert found.text.splitlines()[:3] == [
        "other/b.txt:1: beta",
        "src/a.py:2: beta = 2",
        f"{second / 'c.md'}:1: beta again",
    ]
    assert (await run(space, "read_file", path=str(second / "c.md"))).ok


async def test_reading_cuts_long_lines_replaces_bad_bytes_and_keeps_to_the_budget(tree: Path) -> None:
    (tree / "long.txt").write_text("y" * 5000 + "\nshort\n", encoding="utf-8")
    (tree / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    (tree / "empty.txt").write_bytes(b"")
    space = workspace(tree)
    long = await run(space, "read_file", path="long.txt")
    assert f"1| {'y' * 1000} [line cut at 1000 characters]" in long.text
    assert (await run(space, "read_file", path="latin1.txt")).text.endswith("1| caf\ufffd")
    assert (await run(space, "read_file", path="empty.txt")).text == "empty.txt is empty."
    little = await run(space, "read_file", bytes_left=40, path="long.txt")
    # At least one line, even over the budget: the loop's budget then cuts it.
    assert little.text.splitlines()[0] == "long.txt, lines 1-1 of 2:"


async def test_files_over_the_size_cap_are_refused_and_left_out_of_searches(tree: Path) -> None:
    (tree / "big.txt").write_text("beta\n" * 100, encoding="utf-8")
    (tree / "blob.bin").write_bytes(b"beta\x00beta")
    space = workspace(tree, max_file_bytes=100)
    refused = await run(space, "read_file", path="big.txt")
    assert refused.text.startswith("Refused: 'big.txt' has 500 bytes, more than the 100 allowed per file.")
    searched = await run(space, "search_files", pattern="beta")
    assert searched.text.splitlines()[-1] == (
        "[2 matching lines; 2 files searched; 2 left out (binary, too large, unreadable or past the limits)]"
    )


async def test_search_caps_matches_and_cuts_lines_and_glob_matches_paths(tree: Path) -> None:
    (tree / "src" / "many.py").write_text("".join(f"hit {n} " + "z" * 300 + "\n" for n in range(150)), encoding="utf-8")
    space = workspace(tree)
    capped = await run(space, "search_files", pattern="^hit", glob="src/*.py")
    lines = capped.text.splitlines()
    assert len(lines) == workspace_tools.SEARCH_MATCHES + 1
    assert lines[0] == "src/many.py:1: hit 0 " + "z" * (workspace_tools.MATCH_CHARS - 6)
    assert lines[-1] == "[first 100 of 150 matching lines; 2 files searched]"
    assert capped.summary == "150 matches in 1 file+"
    ignoring_case = await run(space, "search_files", pattern="(?i)ALPHA", glob="*.py")
    assert ignoring_case.text.splitlines()[0] == "src/a.py:1: alpha = 1"
    nothing = await run(space, "search_files", pattern="gamma", path="other")
    assert nothing.text == "[0 matching lines; 1 files searched]" and nothing.summary == "0 matches in 0 files"


def test_the_scope_refuses_what_cannot_be_read_at_the_start(tree: Path, tmp_path: Path) -> None:
    sandbox = Sandbox.create((str(tree),), 1000, 1000, cwd=str(tree))
    with pytest.raises(FileRefused) as outside:
        Scope.open(sandbox, [str(tmp_path)])
    assert outside.value.kind == "not_allowed"
    with pytest.raises(FileRefused) as missing:
        Scope.open(sandbox, ["nope"])
    assert missing.value.kind == "not_found"
    unrooted = Sandbox.create((), 1000, 1000, cwd="/")
    with pytest.raises(FileRefused, match="No directory may be read"):
        Scope.open(unrooted, None)


def test_the_budget_cuts_between_characters_and_then_stops() -> None:
    budget = Budget(max_steps=3, max_bytes=10)
    assert budget.take("abc") == "abc" and budget.exhausted() is None
    cut = budget.take("ééééé")  # 10 bytes, 7 left: three whole characters fit
    assert cut.startswith("ééé\n[cut here: the 10-byte reading budget") and budget.bytes_read == 10
    assert budget.exhausted() == "budget"
    budget.steps = 3
    assert budget.exhausted() == "max_steps"
