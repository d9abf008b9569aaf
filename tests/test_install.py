"""The README's newcomer commands stay the ones CI runs (.ci/run installs with pipx and uv from a clean clone)."""

from pathlib import Path

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI = (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_the_readme_test_command_is_the_one_ci_runs() -> None:
    assert 'python3 -m venv .venv && .venv/bin/pip install -e ".[dev]" && .venv/bin/python -m pytest -q' in README
    assert "python3 -m venv --clear .venv\n" in CI
    assert '.venv/bin/python -m pip install --quiet -e ".[dev]"\n' in CI
    # The same command under coverage, which measures it.
    assert " .venv/bin/python -m coverage run -m pytest -q\n" in CI


def test_the_readme_install_commands_are_the_ones_ci_runs() -> None:
    assert "pipx install . && lms-mcp demo" in README and "`uv tool install .`" in README
    assert '/tools/bin/pipx" install --quiet "$install_dir/clone"' in CI
    assert '/tools/bin/uv" tool install --quiet --python python3 "$install_dir/clone"' in CI
    assert 'lms-mcp" --version' in CI


def test_the_readme_windows_commands_use_the_windows_layout() -> None:
    windows = [line for line in README.splitlines() if "py -m venv" in line]
    assert len(windows) == 2, "the install and the test command, for Windows"
    for line in windows:
        assert "&&" not in line and ".venv/bin" not in line, line
    assert r".venv\Scripts\pip install ." in README and "where.exe lms-mcp" in README
