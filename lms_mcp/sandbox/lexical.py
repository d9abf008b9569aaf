"""Lexical path checks: pure functions of strings, no file system access, for any path flavour.

Every path is checked here before the file system is touched: made absolute against a base, normalised,
and matched part by part against the allowed roots. The flavour (POSIX, macOS, Windows) decides how parts
are split and compared, so the Windows rules are tested on any machine with `ntpath`/`PureWindowsPath`.
"""

from __future__ import annotations

import ntpath
import posixpath
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath, PurePosixPath, PureWindowsPath


class LexicalRefusal(Exception):
    """A path refused on its spelling alone; `kind` is not_allowed or unreadable."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


def exact(part: str) -> str:
    return part


def caseless(part: str) -> str:
    """Unicode canonical caseless matching: case and NFC/NFD differences compare equal."""
    return unicodedata.normalize("NFD", unicodedata.normalize("NFD", part).casefold())


@dataclass(frozen=True)
class PathFlavour:
    name: str
    join: Callable[..., str]
    normpath: Callable[[str], str]
    pure: type[PurePath]
    # How the volume compares names. A looser comparison than the volume's own is safe: a match that is
    # not exact is confirmed by file identity before anything is read.
    fold: Callable[[str], str]
    windows: bool = False


POSIX = PathFlavour("posix", posixpath.join, posixpath.normpath, PurePosixPath, exact)
# APFS and HFS+ are case-insensitive and normalisation-insensitive by default.
MACOS = PathFlavour("macos", posixpath.join, posixpath.normpath, PurePosixPath, caseless)
WINDOWS = PathFlavour("windows", ntpath.join, ntpath.normpath, PureWindowsPath, caseless, windows=True)


def flavour_of(platform: str) -> PathFlavour:
    if platform == "win32":
        return WINDOWS
    return MACOS if platform == "darwin" else POSIX


def absolute(given: str, base: str, flavour: PathFlavour) -> str:
    """`given` made absolute against `base` and normalised (`.` and `..` folded away), or a refusal."""
    if "\x00" in given:
        raise LexicalRefusal("unreadable", "contains a NUL character")
    path = flavour.normpath(flavour.join(base, given))
    if not flavour.pure(path).is_absolute():
        # Windows: relative to another drive's current directory (`D:notes.txt` against a base on C:).
        raise LexicalRefusal("not_allowed", "is not a full path (give it with its drive, like C:\\dir\\file)")
    return path


@dataclass(frozen=True)
class Beneath:
    """Where a path lies under a root: the parts after the root, and whether the root matched exactly."""

    parts: tuple[str, ...]
    exact: bool
    # The path's own spelling of the root (differs from the root's only in case or normalisation).
    prefix: str


def beneath(path: str, root: str, flavour: PathFlavour) -> Beneath | None:
    """The parts of `path` below `root`, if the root's parts start it (compared the volume's way)."""
    pure, base = flavour.pure(path), flavour.pure(root)
    parts, root_parts = pure.parts, base.parts
    head = parts[: len(root_parts)]
    if len(head) < len(root_parts) or [flavour.fold(p) for p in head] != [flavour.fold(p) for p in root_parts]:
        return None
    prefix = str(flavour.pure(*head))
    return Beneath(parts=parts[len(root_parts) :], exact=head == root_parts, prefix=prefix)


WINDOWS_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", *(f"{d}{n}" for d in ("COM", "LPT") for n in "123456789")]
)


def check_names(parts: Sequence[str], flavour: PathFlavour) -> None:
    """Refuse names that do not mean a plain entry: leftover dot parts, Windows devices and streams."""
    for part in parts:
        if part in ("", ".", ".."):
            raise LexicalRefusal("not_allowed", "has an unresolved '.' or '..' part")
        if not flavour.windows:
            continue
        # `nul.txt` is the null device, `a.txt:x` a stream of a.txt, and Windows drops trailing dots and spaces.
        if part.split(".")[0].rstrip(" ").upper() in WINDOWS_DEVICES or ":" in part or part[-1] in ". ":
            raise LexicalRefusal("not_allowed", f"names a Windows device, stream or ambiguous name ({part!r})")


# Directories a server is started from by hosts that set no working directory (or a system one): none of
# them is a project, so the working directory is then no default root. Trees count with everything inside.
POSIX_SYSTEM_TREES = (
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/sbin", "/sys",
    "/usr/bin", "/usr/lib", "/usr/lib32", "/usr/lib64", "/usr/libexec", "/usr/sbin", "/usr/share",
    "/System", "/Library", "/private/etc",
)  # fmt: skip
POSIX_SYSTEM_DIRS = (
    "/usr", "/usr/local", "/var", "/tmp", "/opt", "/run", "/srv", "/mnt", "/media", "/home",
    "/Applications", "/Users", "/Volumes", "/private", "/private/var", "/private/tmp",
)  # fmt: skip


def windows_system_dirs(environ: Mapping[str, str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Windows' system trees (the Windows directory, program files) and the users directory."""
    drive = environ.get("SystemDrive", "C:")
    trees = [environ.get("SystemRoot") or environ.get("windir") or f"{drive}\\Windows"]
    for name, default in [("ProgramFiles", "Program Files"), ("ProgramFiles(x86)", "Program Files (x86)")]:
        trees.append(environ.get(name) or f"{drive}\\{default}")
    trees.append(environ.get("ProgramData") or f"{drive}\\ProgramData")
    return tuple(trees), (f"{drive}\\Users",)


def system_dirs(flavour: PathFlavour, environ: Mapping[str, str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if flavour.windows:
        return windows_system_dirs(environ)
    return POSIX_SYSTEM_TREES, POSIX_SYSTEM_DIRS


def is_system_dir(path: str, flavour: PathFlavour, trees: Sequence[str], dirs: Sequence[str]) -> bool:
    """A filesystem root, a drive or share root, a system tree or a directory that holds everyone's files."""
    if len(flavour.pure(path).parts) <= 1:
        return True
    if any(beneath(path, tree, flavour) is not None for tree in trees):
        return True
    return any((found := beneath(path, d, flavour)) is not None and not found.parts for d in dirs)
