"""Opening a file or directory beneath a root with no window between the check and the open.

Three methods, the best the platform has:

- `openat2`: Linux 5.6+. The kernel resolves the path from the root's descriptor with RESOLVE_BENEATH and
  refuses any escape (`..`, absolute or outward symlinks) in the same call that opens the file.
- `walk`: POSIX. One component at a time from the root's descriptor, each opened with O_NOFOLLOW relative
  to the one before. A symlink is read, never followed: its target is checked again from scratch, like a
  new path, so a symlink that stays inside the allowed directories works and one that leads out does not.
  openat2 hands escapes to the walk too, since a symlink may point to another allowed directory.
- `name`: Windows (no `dir_fd`). The file is opened by its name, then the path of the open handle itself
  is checked; what was checked is what was opened.

Whatever the method, the caller checks the opened descriptor again (type, size, and where it lives).
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Method = Literal["openat2", "walk", "name"]

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
# O_NONBLOCK: a FIFO swapped in opens at once instead of waiting for a writer; O_NOCTTY: a terminal
# never becomes the server's controlling terminal. Both are harmless for regular files.
FILE_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
# No O_DIRECTORY: a file where a directory was asked for is told apart by fstat, not by a "missing" error.
DIR_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
# Directories passed through need only be searchable, not readable.
_STEP_FLAGS = getattr(os, "O_PATH", os.O_RDONLY) | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# The kernel's own limit on symlinks in one lookup.
MAX_SYMLINKS = 40


@dataclass(frozen=True)
class Target:
    """A path inside an allowed directory: the directory's real path and the names below it."""

    root: str
    parts: tuple[str, ...]

    @property
    def path(self) -> str:
        return os.path.join(self.root, *self.parts)


# Checks an absolute path found while opening (a symlink's target) and says where it lies, or raises.
Relocate = Callable[[str], Target]


def open_beneath(target: Target, relocate: Relocate, flags: int, method: Method) -> tuple[int, str]:
    """An open descriptor for `target` (with `flags`) and the path it was opened by, or OSError."""
    if method == "openat2":
        opened = _openat2_beneath(target, flags)
        if opened is not None:
            return opened
        method = "walk"
    if method == "walk":
        return _walk(target, relocate, flags)
    return _by_name(target, relocate, flags)


# --- openat2 (Linux) ----------------------------------------------------------------------------------------

_SYS_OPENAT2 = 437  # the same on x86_64 and aarch64
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_BENEATH = 0x08
# Retry a lookup the kernel could not prove safe because of a concurrent rename (it says EAGAIN).
_OPENAT2_TRIES = 4
# The walk can do what openat2 refused or cannot do: follow a symlink to another allowed directory (EXDEV),
# or run where the kernel or a seccomp filter lacks the call.
_WALK_INSTEAD = {errno.EXDEV, errno.EAGAIN, errno.ENOSYS, errno.EPERM, errno.EINVAL, errno.E2BIG}


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def _load_openat2() -> Callable[[int, bytes, _OpenHow], int] | None:
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "aarch64"):
        return None
    try:
        syscall = ctypes.CDLL(None, use_errno=True).syscall
    except (OSError, AttributeError):
        return None
    syscall.restype = ctypes.c_long

    def openat2(dir_fd: int, path: bytes, how: _OpenHow) -> int:
        size = ctypes.c_size_t(ctypes.sizeof(how))
        return int(syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(dir_fd), path, ctypes.byref(how), size))

    return openat2


_openat2 = _load_openat2()


def default_method() -> Method:
    if _openat2 is not None:
        return "openat2"
    return "walk" if os.open in os.supports_dir_fd else "name"


def _without_openat2() -> None:
    """The kernel has no openat2 (before Linux 5.6): stop asking."""
    global _openat2
    _openat2 = None


def _openat2_beneath(target: Target, flags: int) -> tuple[int, str] | None:
    """Open with openat2; None when the walk must do it instead."""
    if _openat2 is None:
        return None
    how = _OpenHow(flags | _CLOEXEC, 0, _RESOLVE_BENEATH | _RESOLVE_NO_MAGICLINKS)
    relative = os.fsencode(os.path.join(*target.parts) if target.parts else ".")
    root_fd = os.open(target.root, _STEP_FLAGS)
    try:
        for _ in range(_OPENAT2_TRIES):
            fd = _openat2(root_fd, relative, how)
            if fd >= 0:
                return fd, target.path
            code = ctypes.get_errno()
            if code not in _WALK_INSTEAD:
                raise OSError(code, os.strerror(code), target.path)
            if code == errno.ENOSYS:
                _without_openat2()
            if code != errno.EAGAIN:
                return None
        return None
    finally:
        os.close(root_fd)


# --- the walk (POSIX) ---------------------------------------------------------------------------------------


def _walk(target: Target, relocate: Relocate, flags: int) -> tuple[int, str]:
    for _ in range(MAX_SYMLINKS):
        step = _walk_once(target, flags)
        if isinstance(step, tuple):
            return step
        target = relocate(step)
    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), target.path)


def _walk_once(target: Target, flags: int) -> tuple[int, str] | str:
    """Open `target` one name at a time; or the absolute path to look up instead when a name is a symlink."""
    names = target.parts or (".",)
    fd = os.open(target.root, _STEP_FLAGS)
    try:
        for index, name in enumerate(names):
            last = index == len(names) - 1
            try:
                child = os.open(name, (flags | _CLOEXEC if last else _STEP_FLAGS) | _NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                link = _link_at(name, fd)
                if link is None:
                    # ELOOP is O_NOFOLLOW meeting a symlink that has since been replaced: look again.
                    if exc.errno in (errno.ELOOP, errno.EMLINK):
                        return target.path
                    raise
                # A relative target starts from the directory holding the link, a real directory (no
                # symlink on the way), so `..` in it may be folded lexically.
                here = os.path.join(target.root, *names[:index])
                return os.path.normpath(os.path.join(here, link, *names[index + 1 :]))
            fd, parent = child, fd
            os.close(parent)
        opened, fd = fd, -1
        return opened, target.path
    finally:
        if fd >= 0:
            os.close(fd)


def _link_at(name: str, dir_fd: int) -> str | None:
    """The target of `name` in `dir_fd` if it is a symlink, else None."""
    try:
        if not stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
            return None
        return os.readlink(name, dir_fd=dir_fd)
    except OSError:
        return None


# --- by name (Windows) ---------------------------------------------------------------------------------------


def _by_name(target: Target, relocate: Relocate, flags: int) -> tuple[int, str]:
    """Open by name; the caller then checks where the open handle lives."""
    try:
        return os.open(target.path, flags | _CLOEXEC), target.path
    except (FileNotFoundError, NotADirectoryError):
        # A link to a missing file outside is "outside", as it would be were the file there.
        relocate(os.path.realpath(target.path))
        raise


# --- where an open descriptor lives ---------------------------------------------------------------------------

if sys.platform == "win32":
    import msvcrt

    def descriptor_path(fd: int) -> str | None:
        """The final path of the open handle (GetFinalPathNameByHandleW), without the \\\\?\\ prefix."""
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        size = 32768
        buffer = ctypes.create_unicode_buffer(size)
        length = kernel32.GetFinalPathNameByHandleW(ctypes.c_void_p(msvcrt.get_osfhandle(fd)), buffer, size, 0)
        if not 0 < length < size:
            return None
        path = buffer.value
        if path.startswith("\\\\?\\UNC\\"):
            return "\\\\" + path[8:]
        return path[4:] if path.startswith("\\\\?\\") else path

else:

    def descriptor_path(fd: int) -> str | None:
        """The path the kernel has for an open descriptor: Linux's /proc; None elsewhere.

        macOS's F_GETPATH is not used: it may spell a path through the data volume or in another case
        than the allowed directory, and the walk that opened the file already knows its real path.
        """
        if sys.platform != "linux":
            return None
        try:
            return os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return None
