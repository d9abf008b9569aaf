"""What a call may send: one byte budget for the prompt, files and images, text checks, real images only."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from .refusals import FileRefused

# The setting that sizes a call's budget, named in every refusal so the caller knows what to raise.
TOTAL_SETTING = "LMS_MCP_MAX_TOTAL_FILE_BYTES"
FILE_SETTING = "LMS_MCP_MAX_FILE_BYTES"

IMAGE_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}
DATA_URL = re.compile(r"data:(?P<type>[^;,]*)(?:;[^;,]*)*;base64,(?P<payload>.*)", re.IGNORECASE | re.DOTALL)


@dataclass
class CallBudget:
    """The bytes one call may still send to the model: the prompt, every file and every image."""

    limit: int
    left: int = -1

    def __post_init__(self) -> None:
        if self.left < 0:
            self.left = self.limit

    def take(self, size: int, what: str, instead: str) -> None:
        """Count `size` bytes of `what`, or refuse saying what to send instead and which setting to raise."""
        if size > self.left:
            raise FileRefused(
                "too_large",
                f"{what} has {size} bytes, more than the {self.left} left of the {self.limit} bytes one call may "
                f"send (prompt, files and images together). {instead}, or raise {TOTAL_SETTING}.",
            )
        self.left -= size


def check_file_size(size: int, what: str, max_file_bytes: int) -> None:
    if size > max_file_bytes:
        raise FileRefused(
            "too_large",
            f"{what} has {size} bytes, more than the {max_file_bytes} allowed per file. Send a smaller file or an "
            f"excerpt, or raise {FILE_SETTING}.",
        )


def decode_text(given: str, data: bytes) -> str:
    if b"\x00" in data:
        raise FileRefused("unreadable", f"{given!r} is a binary file; only text files can be sent as `files`.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise FileRefused("unreadable", f"{given!r} is not UTF-8 text.") from None


def image_type(data: bytes) -> str | None:
    """The MIME type of a PNG, JPEG, GIF or WebP image, judged by its first bytes; None for anything else."""
    mime = next((m for magic, m in IMAGE_MAGIC.items() if data.startswith(magic)), None)
    if mime is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        mime = "image/webp"
    return mime


def image_data_url(given: str, data: bytes) -> str:
    mime = image_type(data)
    if mime is None:
        raise FileRefused("unreadable", f"{given!r} is not a PNG, JPEG, GIF or WebP image.")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def is_data_url(given: str) -> bool:
    return given[:5].lower() == "data:"


def checked_data_url(given: str, what: str, max_file_bytes: int, budget: CallBudget) -> str:
    """A caller's image data URL, decoded and checked like an image file (type by content, size, budget)."""
    match = DATA_URL.fullmatch(given)
    if match is None or not match["type"].lower().startswith("image/"):
        raise FileRefused(
            "invalid", f"{what} must be a path or a base64 image data URL like 'data:image/png;base64,...'."
        )
    payload = match["payload"]
    # Refuse what is too large before decoding it: 4 characters carry 3 bytes, less 1 per `=` of padding.
    check_file_size(len(payload) // 4 * 3 - payload[-2:].count("="), what, max_file_bytes)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise FileRefused(
            "invalid", f"{what} is not valid base64 (a data URL holds no spaces or line breaks)."
        ) from None
    mime = image_type(data)
    if mime is None:
        raise FileRefused(
            "invalid", f"{what} is not a PNG, JPEG, GIF or WebP image (SVG and other types cannot be sent)."
        )
    check_file_size(len(data), what, max_file_bytes)
    budget.take(len(data), what, "Send fewer or smaller images")
    # The type is the one the bytes show, whatever the URL declared.
    return f"data:{mime};base64,{payload}"


def label_file(path: str, text: str) -> str:
    """How a file is put in front of the model: clearly delimited and labelled with its path."""
    return f'<file path="{path}">\n{text}\n</file>'
