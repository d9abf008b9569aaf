"""Building chat's `input`: the prompt, the files the bridge reads for the caller, and images."""

from __future__ import annotations

from ..files import FilePolicy, FileRefused, decode_text, image_data_url, label_file
from ..lmstudio.models import ImageInput, InputItem, TextInput
from .errors import BridgeError, ErrorCode

FILE_CODES = {
    "not_found": ErrorCode.FILE_NOT_FOUND,
    "not_allowed": ErrorCode.FILE_NOT_ALLOWED,
    "too_large": ErrorCode.FILE_TOO_LARGE,
    "unreadable": ErrorCode.FILE_UNREADABLE,
}


def refused(exc: FileRefused) -> BridgeError:
    return BridgeError(FILE_CODES[exc.kind], str(exc))


def build_input(
    prompt: str, files: list[str] | None, images: list[str] | None, policy: FilePolicy
) -> str | list[InputItem]:
    """A plain string when there is only the prompt; otherwise labelled file texts, images, then the prompt."""
    if not files and not images:
        return prompt
    budget = policy.max_total_bytes
    items: list[InputItem] = []
    try:
        for given in files or []:
            path, data = policy.read_bytes(given, budget)
            budget -= len(data)
            items.append(TextInput(content=label_file(path, decode_text(given, data))))
        for given in images or []:
            if given.startswith("data:"):
                if not given.startswith("data:image/") or ";base64," not in given:
                    raise BridgeError(
                        ErrorCode.INVALID_ARGUMENT,
                        "An image data URL must look like 'data:image/png;base64,...'.",
                    )
                items.append(ImageInput(data_url=given))
                continue
            _path, data = policy.read_bytes(given, budget)
            budget -= len(data)
            items.append(ImageInput(data_url=image_data_url(given, data)))
    except FileRefused as exc:
        raise refused(exc) from None
    items.append(TextInput(content=prompt))
    return items
