"""Reading the caller's files server-side, only inside the allowed directories.

A path is resolved (symlinks and `..` included) before it is checked, so no link or relative step
can lead outside. Only regular files are opened: devices, FIFOs and sockets are refused before any
read, so nothing can block or stream forever. Sizes are capped per file and per call.
"""

from __future__ import annotations

import base64
import os
import stat
from dataclasses import dataclass
from pathlib import Path

IMAGE_TYPES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}


class FileRefused(Exception):
    """A path the bridge will not read; `kind` says why (not_found, not_allowed, too_large, unreadable)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


NO_DIRS_AT_ROOT = (
    "No directory may be read: the server runs from the filesystem root. Name the directories with "
    "--allow-dir / LMS_MCP_ALLOWED_DIRS."
)
NO_DIRS_REMOTE = (
    "No directory may be read: this server is served on a network address, where a caller's paths are "
    "not paths on the server's machine. Put the text in the prompt (images as data: URLs), or start the "
    "server with --allow-dir / LMS_MCP_ALLOWED_DIRS naming the directories it may share."
)


@dataclass(frozen=True)
class FilePolicy:
    allowed_dirs: tuple[Path, ...]
    max_file_bytes: int
    max_total_bytes: int
    # What FILE_NOT_ALLOWED says when no directory at all may be read.
    no_dirs_reason: str = NO_DIRS_AT_ROOT

    @classmethod
    def create(
        cls, dirs: tuple[str, ...], max_file_bytes: int, max_total_bytes: int, *, remote: bool = False
    ) -> FilePolicy:
        """Resolve the allowed directories once; an empty tuple means the working directory.

        A host that starts the server from the filesystem root (as some desktop apps do) gets no
        directory by default rather than the whole disk; a server on a network address (`remote`)
        gets none either.
        """
        if remote and not dirs:
            return cls((), max_file_bytes, max_total_bytes, NO_DIRS_REMOTE)
        if dirs:
            roots = tuple(Path(d).expanduser().resolve() for d in dirs)
        else:
            cwd = Path.cwd().resolve()
            roots = () if cwd == Path(cwd.anchor) else (cwd,)
        return cls(allowed_dirs=roots, max_file_bytes=max_file_bytes, max_total_bytes=max_total_bytes)

    def resolve(self, given: str) -> Path:
        """The real path of an existing regular file inside an allowed directory, or FileRefused."""
        if not self.allowed_dirs:
            raise FileRefused("not_allowed", self.no_dirs_reason)
        try:
            candidate = Path(given).expanduser()
            if not candidate.is_absolute():
                candidate = self.allowed_dirs[0] / candidate
            real = candidate.resolve(strict=True)
        except (FileNotFoundError, NotADirectoryError):
            raise FileRefused("not_found", f"{given!r} does not exist.") from None
        # RuntimeError: '~user' with no such user, or a symlink loop; ValueError: a NUL byte in the path.
        except (OSError, RuntimeError, ValueError) as exc:
            raise FileRefused("unreadable", f"{given!r} cannot be resolved ({exc}).") from None
        if not any(real.is_relative_to(root) for root in self.allowed_dirs):
            roots = ", ".join(str(r) for r in self.allowed_dirs)
            raise FileRefused(
                "not_allowed",
                f"{given!r} is outside the directories this server may read ({roots}). Allow more with "
                "--allow-dir / LMS_MCP_ALLOWED_DIRS.",
            )
        mode = real.stat().st_mode
        if not stat.S_ISREG(mode):
            what = "a directory" if stat.S_ISDIR(mode) else "not a regular file (device, FIFO or socket)"
            raise FileRefused("unreadable", f"{given!r} is {what}; only regular files can be read.")
        return real

    def read_bytes(self, given: str, budget: int) -> tuple[Path, bytes]:
        """Read a whole file within the per-file cap and the `budget` left for this call."""
        real = self.resolve(given)
        size = real.stat().st_size
        if size > self.max_file_bytes:
            raise FileRefused(
                "too_large",
                f"{given!r} has {size} bytes, more than the {self.max_file_bytes} allowed per file. Send a "
                "smaller file or an excerpt, or raise LMS_MCP_MAX_FILE_BYTES.",
            )
        if size > budget:
            raise FileRefused(
                "too_large",
                f"{given!r} does not fit in the {self.max_total_bytes} bytes allowed per call with the other "
                "files. Send fewer files, or raise LMS_MCP_MAX_TOTAL_FILE_BYTES.",
            )
        # O_NONBLOCK: should the path have been swapped for a FIFO since the check, open must not hang.
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            # What was checked is what is read, even if the file grows meanwhile.
            data = handle.read(size)
        return real, data


def decode_text(given: str, data: bytes) -> str:
    if b"\x00" in data:
        raise FileRefused("unreadable", f"{given!r} is a binary file; only text files can be sent as `files`.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise FileRefused("unreadable", f"{given!r} is not UTF-8 text.") from None


def image_data_url(given: str, data: bytes) -> str:
    mime = next((m for magic, m in IMAGE_TYPES.items() if data.startswith(magic)), None)
    if mime is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        mime = "image/webp"
    if mime is None:
        raise FileRefused("unreadable", f"{given!r} is not a PNG, JPEG, GIF or WebP image.")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def label_file(path: Path, text: str) -> str:
    """How a file is put in front of the model: clearly delimited and labelled with its path."""
    return f'<file path="{path}">\n{text}\n</file>'
