"""Walking directories inside a delegation's scope: depth-first, in name order, symlinks listed but not followed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..sandbox import FileRefused
from .scope import Scope

# Listed, but not walked into: version control, dependencies and caches are rarely what a task is about.
SKIPPED_DIRS = frozenset(
    {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".tox", ".mypy_cache", ".pytest_cache"}
)


@dataclass(frozen=True)
class Found:
    path: str
    # file, directory, symlink, other; or unreadable (a directory that could not be listed: `note` says why).
    kind: str
    size: int
    note: str = ""


def walk(scope: Scope, directory: str, depth: int) -> Iterator[Found]:
    """Everything below `directory` down to `depth` levels (1: its own entries); FileRefused if it cannot be listed."""
    real, entries = scope.sandbox.list_dir(directory)
    scope.check_real(directory, real)
    for entry in entries:
        path = scope.sandbox.flavour.join(directory, entry.name)
        skipped = entry.kind == "directory" and entry.name in SKIPPED_DIRS
        yield Found(path, entry.kind, entry.size, "not expanded" if skipped else "")
        if entry.kind != "directory" or depth <= 1 or skipped:
            continue
        try:
            yield from walk(scope, path, depth - 1)
        except FileRefused as exc:
            yield Found(path, "unreadable", 0, str(exc))
