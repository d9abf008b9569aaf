"""Building chat's `input`: the prompt, the files the bridge reads for the caller, and images.

The prompt, the files and the images share one byte budget per call. Files are read in a worker thread,
so a slow disk or a large file never holds up other calls.
"""

from __future__ import annotations

import functools

import anyio.to_thread

from ..lmstudio.models import ImageInput, InputItem, TextInput
from ..sandbox import (
    CallBudget,
    FileRefused,
    Sandbox,
    checked_data_url,
    decode_text,
    image_data_url,
    is_data_url,
    label_file,
)
from .errors import BridgeError, ErrorCode

FILE_CODES = {
    "not_found": ErrorCode.FILE_NOT_FOUND,
    "not_allowed": ErrorCode.FILE_NOT_ALLOWED,
    "too_large": ErrorCode.FILE_TOO_LARGE,
    "unreadable": ErrorCode.FILE_UNREADABLE,
    "invalid": ErrorCode.INVALID_ARGUMENT,
}


def refused(exc: FileRefused) -> BridgeError:
    return BridgeError(FILE_CODES[exc.kind], str(exc))


def count_prompt(prompt: str, budget: CallBudget) -> None:
    # A character is at least one byte: a prompt longer than the budget in characters is refused unencoded.
    size = len(prompt) if len(prompt) > budget.left else len(prompt.encode("utf-8", "surrogatepass"))
    try:
        budget.take(size, "The prompt", "Send a shorter prompt or split the work over several calls in a `session`")
    except FileRefused as exc:
        raise BridgeError(ErrorCode.INVALID_ARGUMENT, str(exc)) from None


def read_inputs(files: list[str], images: list[str], policy: Sandbox, budget: CallBudget) -> list[InputItem]:
    """Labelled file texts, then images: blocking reads, for a worker thread."""
    items: list[InputItem] = []
    for given in files:
        path, data = policy.read_bytes(given, budget)
        items.append(TextInput(content=label_file(path, decode_text(given, data))))
    for number, given in enumerate(images, start=1):
        if is_data_url(given):
            url = checked_data_url(given, f"Image {number} (a data URL)", policy.max_file_bytes, budget)
        else:
            _path, data = policy.read_bytes(given, budget)
            url = image_data_url(given, data)
        items.append(ImageInput(data_url=url))
    return items


async def build_input(
    prompt: str, files: list[str] | None, images: list[str] | None, policy: Sandbox
) -> str | list[InputItem]:
    """A plain string when there is only the prompt; otherwise labelled file texts, images, then the prompt."""
    budget = policy.budget()
    count_prompt(prompt, budget)
    if not files and not images:
        return prompt
    read = functools.partial(read_inputs, files or [], images or [], policy, budget)
    try:
        items = await anyio.to_thread.run_sync(read, abandon_on_cancel=True)
    except FileRefused as exc:
        raise refused(exc) from None
    items.append(TextInput(content=prompt))
    return items
