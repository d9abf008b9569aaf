"""The sandbox: which directories may be read, and opening, reading and listing inside them."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType

from .content import CallBudget, check_file_size
from .lexical import (
    Beneath,
    LexicalRefusal,
    PathFlavour,
    absolute,
    beneath,
    check_names,
    flavour_of,
    is_system_dir,
    system_dirs,
)
from .opening import DIR_FLAGS, FILE_FLAGS, Method, Target, default_method, descriptor_path, open_beneath
from .refusals import FileRefused, unreadable

ALLOW_MORE = "Allow more with --allow-dir / LMS_MCP_ALLOWED_DIRS."
NOT_SHARED_REMOTELY = (
    "this server is served on a network address, where a caller's paths are not paths on the server's "
    "machine; put the text in the prompt (images as data: URLs)"
)


@dataclass(frozen=True)
class Root:
    """An allowed directory: its real path, and the spellings a caller may use for it."""

    real: str
    spellings: tuple[str, ...]

    @classmethod
    def of(cls, directory: str) -> Root:
        configured = os.path.abspath(os.path.expanduser(directory))
        real = os.path.realpath(configured)
        # On macOS /tmp is /private/tmp: a caller may write either.
        return cls(real=real, spellings=tuple(dict.fromkeys([real, configured])))


@dataclass
class Opened:
    """An open file or directory inside the sandbox: its descriptor, real path and fstat."""

    fd: int
    path: str
    stat: os.stat_result

    def read(self, limit: int) -> bytes:
        """Up to `limit` bytes from the current position (fewer only at the end of the file)."""
        chunks: list[bytes] = []
        while limit > 0:
            chunk = os.read(self.fd, min(limit, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            limit -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Opened:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


@dataclass(frozen=True)
class Entry:
    """One name in a listed directory; symlinks are reported as such, never followed."""

    name: str
    kind: str  # file, directory, symlink or other
    size: int


@dataclass(frozen=True)
class Sandbox:
    roots: tuple[Root, ...]
    max_file_bytes: int
    max_total_bytes: int
    flavour: PathFlavour = field(default_factory=lambda: flavour_of(sys.platform))
    # How files are opened; None: the best this platform has.
    method: Method | None = None
    # Why there is no root at all (empty when there are roots).
    unrooted: str = ""

    @classmethod
    def create(
        cls,
        dirs: tuple[str, ...],
        max_file_bytes: int,
        max_total_bytes: int,
        *,
        cwd: str | None = None,
        flavour: PathFlavour | None = None,
        environ: Mapping[str, str] | None = None,
        remote: bool = False,
    ) -> Sandbox:
        """The sandbox for `dirs` and the working directory, which counts unless it is a root or system
        directory. A relative path starts from the first of them: the first of `dirs`, if any.

        Hosts that start servers from `/` or `C:\\Windows\\System32` get only `dirs`, rather than the whole
        disk or the system's files. A server on a network address (`remote`) gets only `dirs`, too.
        """
        flavour = flavour or flavour_of(sys.platform)
        roots = [Root.of(d) for d in dirs]
        if remote:
            # A remote caller's paths are not paths on this machine: only the directories named are shared.
            why = "" if roots else NOT_SHARED_REMOTELY
            return cls(tuple(dict.fromkeys(roots)), max_file_bytes, max_total_bytes, flavour=flavour, unrooted=why)
        cwd = cwd or os.getcwd()
        if not is_system_dir(cwd, flavour, *system_dirs(flavour, os.environ if environ is None else environ)):
            roots.append(Root.of(cwd))
        elif not roots:
            why = f"the server was started in {cwd}, a filesystem root or system directory, and was given none"
            return cls((), max_file_bytes, max_total_bytes, flavour=flavour, unrooted=why)
        return cls(tuple(dict.fromkeys(roots)), max_file_bytes, max_total_bytes, flavour=flavour)

    def budget(self) -> CallBudget:
        return CallBudget(self.max_total_bytes)

    # --- where a path lies: lexical first, then the file system ---

    def locate(self, given: str) -> Target:
        """The allowed directory `given` lies in and the names below it, judged on its spelling."""
        if not self.roots:
            raise FileRefused(
                "not_allowed",
                f"No directory may be read: {self.unrooted}. Name the directories with --allow-dir / "
                "LMS_MCP_ALLOWED_DIRS.",
            )
        expanded = os.path.expanduser(given) if given.startswith("~") else given
        if expanded.startswith("~"):
            raise FileRefused("unreadable", f"{given!r} names the home directory of a user that does not exist.")
        try:
            return self._place(given, absolute(expanded, self.roots[0].real, self.flavour))
        except LexicalRefusal as exc:
            raise _refusal(given, "", exc) from None

    def _place(self, given: str, path: str) -> Target:
        """Match an absolute, normalised path against the roots: exact matches first, the deepest root first."""
        found: list[tuple[Root, Beneath]] = []
        for root in self.roots:
            found += [(root, b) for s in root.spellings if (b := beneath(path, s, self.flavour)) is not None]
        found.sort(key=lambda pair: (not pair[1].exact, len(pair[1].parts)))
        for root, where in found:
            # A match that differs in case or Unicode normalisation counts only if it is the very directory.
            if where.exact or _same_file(where.prefix, root.real):
                check_names(where.parts, self.flavour)
                return Target(root.real, where.parts)
        roots = ", ".join(root.real for root in self.roots)
        raise FileRefused(
            "not_allowed", f"{given!r} is outside the directories this server may read ({roots}). {ALLOW_MORE}"
        )

    def _relocate(self, given: str, path: str) -> Target:
        try:
            return self._place(given, self.flavour.normpath(path))
        except LexicalRefusal as exc:
            raise _refusal(given, "leads to a path that ", exc) from None

    # --- opening, reading, listing ---

    def open(self, given: str, *, directory: bool = False) -> Opened:
        """Open a regular file (or a directory) inside the sandbox, with no window for a swap."""
        target = self.locate(given)
        method = self.method or default_method()
        try:
            fd, path = open_beneath(
                target, lambda p: self._relocate(given, p), DIR_FLAGS if directory else FILE_FLAGS, method
            )
        except OSError as exc:
            raise unreadable(given, exc) from None
        try:
            info = os.fstat(fd)
            check_type(given, info, directory)
            where = self._check_place(given, fd, path, trust_path=method != "name")
        except BaseException as exc:
            os.close(fd)
            if isinstance(exc, OSError):
                raise unreadable(given, exc) from None
            raise
        return Opened(fd, where, info)

    def _check_place(self, given: str, fd: int, path: str, *, trust_path: bool) -> str:
        """Where the open descriptor lives, checked again: its real path."""
        where = descriptor_path(fd)
        if where is None:
            # openat2 and the walk opened exactly their path, beneath the root; a file opened by name
            # cannot be placed without the system's word, and a second lookup could be swapped.
            if not trust_path:
                raise FileRefused(
                    "unreadable",
                    f"{given!r} cannot be read safely here: the system does not say where an open file lives. "
                    "Copy it to a local folder inside the allowed directories.",
                )
            where = path
        self._relocate(given, where)
        return where

    def read_bytes(self, given: str, budget: CallBudget) -> tuple[str, bytes]:
        """A whole regular file within the per-file cap and what is left of the call's `budget`."""
        with self.open(given) as opened:
            size = opened.stat.st_size
            check_file_size(size, repr(given), self.max_file_bytes)
            budget.take(size, repr(given), "Send fewer or smaller files, or an excerpt")
            try:
                # What was checked is what is read, even if the file grows meanwhile.
                return opened.path, opened.read(size)
            except OSError as exc:
                raise unreadable(given, exc) from None

    def list_dir(self, given: str) -> tuple[str, list[Entry]]:
        """The entries of a directory inside the sandbox, sorted by name, symlinks not followed."""
        if sys.platform == "win32":
            # Windows cannot open a directory as a descriptor: its real path is checked, then listed.
            path = os.path.realpath(self.locate(given).path)
            self._relocate(given, path)
            return path, _listing(given, path)
        with self.open(given, directory=True) as opened:
            return opened.path, _listing(given, opened.fd)


def _refusal(given: str, via: str, exc: LexicalRefusal) -> FileRefused:
    advice = f" {ALLOW_MORE}" if exc.kind == "not_allowed" else ""
    return FileRefused(exc.kind, f"{given!r} {via}{exc}.{advice}")


def check_type(given: str, info: os.stat_result, directory: bool) -> None:
    """A regular file (or a directory, when one is wanted), judged on the open descriptor."""
    if directory and not stat.S_ISDIR(info.st_mode):
        raise FileRefused("unreadable", f"{given!r} is not a directory.")
    if not directory and not stat.S_ISREG(info.st_mode):
        what = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file (device, FIFO or socket)"
        raise FileRefused("unreadable", f"{given!r} is {what}; only regular files can be read.")


def _listing(given: str, where: int | str) -> list[Entry]:
    try:
        with os.scandir(where) as listing:
            entries = [_entry(item) for item in listing]
    except OSError as exc:
        raise unreadable(given, exc) from None
    return sorted(entries, key=lambda entry: entry.name)


def _same_file(path: str, other: str) -> bool:
    try:
        return os.path.samestat(os.stat(path), os.stat(other))
    except OSError:
        return False


def _entry(item: os.DirEntry[str] | os.DirEntry[bytes]) -> Entry:
    name = os.fsdecode(item.name)
    info = item.stat(follow_symlinks=False)
    if stat.S_ISLNK(info.st_mode):
        return Entry(name, "symlink", 0)
    if stat.S_ISDIR(info.st_mode):
        return Entry(name, "directory", 0)
    if stat.S_ISREG(info.st_mode):
        return Entry(name, "file", info.st_size)
    return Entry(name, "other", 0)
