"""The paths one delegation may explore: a subset of the sandbox's allowed directories, checked twice.

A path the model names is judged on its spelling first (after the sandbox's own lexical check), then
again on the real path of what was opened, so neither `..` nor a symlink leads out of the task's paths,
even to another place the sandbox allows. Blocking calls: run them in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..sandbox import FileRefused, Opened, Sandbox
from ..sandbox.lexical import beneath


@dataclass(frozen=True)
class Place:
    """One path the caller let the model explore: as spelt (lexical, absolute) and as it really is."""

    path: str
    real: str
    directory: bool


class Scope:
    def __init__(self, sandbox: Sandbox, places: tuple[Place, ...]) -> None:
        self.sandbox = sandbox
        self.places = places
        # Paths are shown to the model relative to the first allowed directory, which is also where the
        # sandbox resolves relative paths from.
        self.base = sandbox.roots[0].real if sandbox.roots else ""

    @classmethod
    def open(cls, sandbox: Sandbox, paths: list[str] | None) -> Scope:
        """The places for `paths` (default: every allowed directory); FileRefused for one that cannot be read."""
        given = paths or [root.real for root in sandbox.roots] or ["."]
        return cls(sandbox, tuple(_place(sandbox, path) for path in dict.fromkeys(given)))

    def locate(self, given: str) -> str:
        """The absolute path `given` names, if it lies inside the task's paths by its spelling.

        Outside the allowed directories, the model is told the task's paths, not those directories.
        """
        try:
            path = self.sandbox.locate(given).path
        except FileRefused as exc:
            raise self._outside(given) if exc.kind == "not_allowed" else exc from None
        if not any(self._inside(path, place.path) or self._inside(path, place.real) for place in self.places):
            raise self._outside(given)
        return path

    def check_real(self, given: str, real: str) -> None:
        """Refuse what was opened if its real path is outside the task's paths (a symlink that leads out)."""
        if not any(self._inside(real, place.real) for place in self.places):
            raise self._outside(given, via=" leads")

    def open_file(self, given: str) -> Opened:
        """A regular file inside the task's paths, opened race-free by the sandbox; the caller closes it."""
        self.locate(given)
        opened = self.sandbox.open(given)
        try:
            self.check_real(given, opened.path)
        except BaseException:
            opened.close()
            raise
        return opened

    def show(self, path: str) -> str:
        """How a path is written for the model: relative to the base directory, else absolute."""
        below = beneath(path, self.base, self.sandbox.flavour) if self.base else None
        if below is None:
            return path
        return "/".join(below.parts) or "."

    def describe(self) -> str:
        return ", ".join(self.show(place.path) + ("/" if place.directory else "") for place in self.places)

    def _inside(self, path: str, place: str) -> bool:
        return beneath(path, place, self.sandbox.flavour) is not None

    def _outside(self, given: str, via: str = " is") -> FileRefused:
        return FileRefused(
            "not_allowed", f"{given!r}{via} outside the paths this task may explore ({self.describe()})."
        )


def _place(sandbox: Sandbox, given: str) -> Place:
    """A file, or else a directory (tried second: Windows cannot open a directory as a file descriptor)."""
    path = sandbox.locate(given).path
    try:
        with sandbox.open(given) as opened:
            return Place(path, opened.path, directory=False)
    except FileRefused as exc:
        if exc.kind != "unreadable":
            raise
        as_file = exc
    try:
        real, _entries = sandbox.list_dir(given)
    except FileRefused:
        raise as_file from None
    return Place(path, real, directory=True)
