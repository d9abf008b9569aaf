"""Why the sandbox refuses a path, in words that say what to do next."""

from __future__ import annotations

import errno
import sys


class FileRefused(Exception):
    """A path the server will not read.

    `kind` says why: not_found, not_allowed, too_large, unreadable, or invalid (an argument that is not a
    path, such as a malformed image data URL).
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def permission_advice(platform: str) -> str:
    if platform == "darwin":
        return (
            "macOS may be keeping the host app out of this folder: allow it in System Settings > Privacy & "
            "Security > Files and Folders (or Full Disk Access), or choose a folder in the extension's settings."
        )
    if platform == "win32":
        return "The file may be open and locked in another program: close it there, or send a copy."
    return "Check the file's permissions: the server runs as the host's user."


def unreadable(given: str, exc: OSError, platform: str = sys.platform) -> FileRefused:
    """An error from opening or reading a file that is inside the allowed directories."""
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return FileRefused("not_found", f"{given!r} does not exist.")
    if exc.errno == errno.ELOOP:
        return FileRefused("unreadable", f"{given!r} is a loop of symbolic links (or too long a chain of them).")
    reason = exc.strerror or type(exc).__name__
    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM):
        return FileRefused("unreadable", f"{given!r} cannot be read: {reason}. {permission_advice(platform)}")
    return FileRefused("unreadable", f"{given!r} cannot be read: {reason}. Check the file and try again.")
