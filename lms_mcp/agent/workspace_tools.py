"""list_files, read_file and search_files: what the local model can do with the files, read-only, in its scope.

Every path goes through the scope (lexical check, race-free open beneath an allowed directory, real path
checked again) and every result is capped. A refused path, a bad argument or a bad pattern is a result
the model reads and can recover from, never a failure of the delegation. Nothing here writes, executes
or reaches the network; the one child process (matcher.py) only matches text it is given.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio.to_thread

from ..sandbox import FileRefused
from ..sandbox.content import check_file_size
from .matcher import SearchFailed, search
from .scope import Scope
from .tool_specs import Arguments, ListFiles, ReadFile, SearchFiles
from .walk import Found, walk

T = TypeVar("T")

# Per call: what one read_file returns, lines longer than this are cut, list and search results are capped.
READ_BYTES = 24_000
LINE_CHARS = 1_000
LIST_ENTRIES = 300
LIST_DEPTH = 2
SEARCH_MATCHES = 100
MATCH_CHARS = 240
SEARCH_DEPTH = 12
SEARCH_FILES = 2_000
SEARCH_BYTES = 20_000_000
SEARCH_SECONDS = 5.0
BAD_PATTERN = "not a valid regular expression"
SLOW_PATTERN = " Simplify the pattern (nested repeats like (a+)+ can take for ever) or narrow path and glob."


@dataclass(frozen=True)
class ToolResult:
    text: str
    # A few words for the step list and progress: "lines 1-80 of 80", "refused: outside the task's paths".
    summary: str
    ok: bool = True
    # The file read (as shown to the model), for the list of files read.
    file: str | None = None
    # What the call acted on, for progress messages.
    target: str = ""


def refused(exc: FileRefused, target: str) -> ToolResult:
    return ToolResult(f"Refused: {exc}", f"refused ({exc.kind.replace('_', ' ')})", ok=False, target=target)


class Workspace:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def run(self, arguments: Arguments, bytes_left: int, seconds_left: float) -> ToolResult:
        """One call; refusals come back as results. Blocking reads happen in a worker thread."""
        try:
            match arguments:
                case ListFiles():
                    return await _in_thread(functools.partial(self.list_files, arguments))
                case ReadFile():
                    return await _in_thread(functools.partial(self.read_file, arguments, bytes_left))
                case SearchFiles():
                    return await self.search_files(arguments, min(SEARCH_SECONDS, max(seconds_left, 0.1)))
                case _:
                    raise TypeError(f"no tool takes {type(arguments).__name__}")
        except FileRefused as exc:
            return refused(exc, getattr(arguments, "path", None) or "")

    # --- list_files ---

    def list_files(self, arguments: ListFiles) -> ToolResult:
        depth = arguments.depth or LIST_DEPTH
        lines: list[str] = []
        for start, directory in self._starts(arguments.path):
            if not directory:
                lines.append(self._entry(Found(start, "file", self._size(start))))
                continue
            for found in walk(self.scope, start, depth):
                if arguments.pattern and (found.kind != "file" or not _matches(found, arguments.pattern)):
                    continue
                lines.append(self._entry(found))
                if len(lines) > LIST_ENTRIES:
                    break
        count = min(len(lines), LIST_ENTRIES)
        footer = (
            f"[first {LIST_ENTRIES} entries: list a subdirectory, lower depth or use pattern]"
            if len(lines) > LIST_ENTRIES
            else f"[{_count(count, 'entry', 'entries')}]"
        )
        target = arguments.path or self.scope.describe()
        return ToolResult("\n".join([*lines[:LIST_ENTRIES], footer]), _count(count, "entry", "entries"), target=target)

    def _starts(self, given: str | None) -> list[tuple[str, bool]]:
        """Where a listing or search starts: the path given (file or directory), else every place of the scope.

        A file is tried first: Windows cannot open a directory as a file descriptor.
        """
        if given is None:
            return [(place.path, place.directory) for place in self.scope.places]
        path = self.scope.locate(given)
        try:
            self._size(given)
            return [(path, False)]
        except FileRefused as exc:
            if exc.kind != "unreadable":
                raise
            as_file = exc
        try:
            self.scope.sandbox.list_dir(path)
        except FileRefused:
            raise as_file from None
        return [(path, True)]

    def _size(self, given: str) -> int:
        with self.scope.open_file(given) as opened:
            return opened.stat.st_size

    def _entry(self, found: Found) -> str:
        shown = self.scope.show(found.path)
        match found.kind:
            case "directory":
                return f"{shown}/" + (f" ({found.note})" if found.note else "")
            case "file":
                return f"{shown} ({found.size} bytes)"
            case "symlink":
                return f"{shown} (symlink, not followed: read it by name)"
            case "unreadable":
                return f"{shown}/ (cannot be listed: {found.note})"
            case _:
                return f"{shown} (not a regular file)"

    # --- read_file ---

    def read_file(self, arguments: ReadFile, bytes_left: int) -> ToolResult:
        given = arguments.path
        path = self.scope.locate(given)
        with self.scope.open_file(given) as opened:
            check_file_size(opened.stat.st_size, repr(given), self.scope.sandbox.max_file_bytes)
            data = opened.read(opened.stat.st_size)
        shown = self.scope.show(path)
        if b"\x00" in data:
            raise FileRefused("unreadable", f"{given!r} is a binary file; only text can be read.")
        lines = data.decode("utf-8", "replace").splitlines()
        first = arguments.start_line or 1
        last = min(arguments.end_line or len(lines), len(lines))
        if not lines:
            return ToolResult(f"{shown} is empty.", "empty file", file=shown, target=shown)
        if first > last:
            note = f"{shown} has {len(lines)} lines: ask for lines within 1-{len(lines)}."
            return ToolResult(note, "lines out of range", ok=False, target=shown)
        body, end = _numbered(lines, first, last, min(READ_BYTES, bytes_left))
        more = f"\n[more: read_file with start_line={end + 1}]" if end < len(lines) and end < last else ""
        text = f"{shown}, lines {first}-{end} of {len(lines)}:\n{body}{more}"
        return ToolResult(text, f"lines {first}-{end} of {len(lines)}", file=shown, target=shown)

    # --- search_files ---

    async def search_files(self, arguments: SearchFiles, seconds: float) -> ToolResult:
        target = arguments.path or self.scope.describe()
        try:
            re.compile(arguments.pattern)
        except (re.error, RecursionError, OverflowError) as exc:
            return _search_refused(f"{BAD_PATTERN}: {exc}", target)
        files, skipped = await _in_thread(functools.partial(self._texts, arguments))
        try:
            matches = await search(arguments.pattern, files, limit=SEARCH_MATCHES, width=MATCH_CHARS, seconds=seconds)
        except SearchFailed as exc:
            advice = SLOW_PATTERN if exc.timed_out else ""
            return _search_refused(f"{exc}.{advice}", target)
        lines = [f"{m.path}:{m.line}: {m.text}" for m in matches.found]
        in_files = len({m.path for m in matches.found})
        shown = f"first {len(lines)} of " if matches.total > len(lines) else ""
        footer = f"[{shown}{matches.total} matching lines; {len(files)} files searched{skipped}]"
        summary = f"{_count(matches.total, 'match', 'matches')} in {_count(in_files, 'file')}{'+' if shown else ''}"
        return ToolResult("\n".join([*lines, footer]), summary, target=target)

    def _texts(self, arguments: SearchFiles) -> tuple[list[tuple[str, str]], str]:
        """The texts to search (as shown, text), and a note on what was left out."""
        texts: list[tuple[str, str]] = []
        left_out = 0
        total = 0
        for start, directory in self._starts(arguments.path):
            found = walk(self.scope, start, SEARCH_DEPTH) if directory else iter([Found(start, "file", 0)])
            for item in found:
                if item.kind != "file" or (arguments.glob and not _matches(item, arguments.glob, self.scope)):
                    continue
                if len(texts) >= SEARCH_FILES or total >= SEARCH_BYTES:
                    left_out += 1
                    continue
                text = self._text(item.path)
                if text is None:
                    left_out += 1
                    continue
                total += len(text)
                texts.append((self.scope.show(item.path), text))
        return texts, f"; {left_out} left out (binary, too large, unreadable or past the limits)" if left_out else ""

    def _text(self, path: str) -> str | None:
        try:
            with self.scope.open_file(path) as opened:
                if opened.stat.st_size > self.scope.sandbox.max_file_bytes:
                    return None
                data = opened.read(opened.stat.st_size)
        except FileRefused:
            return None
        return None if b"\x00" in data else data.decode("utf-8", "replace")


def _count(number: int, one: str, many: str = "") -> str:
    return f"{number} {one if number == 1 else many or one + 's'}"


def _search_refused(message: str, target: str) -> ToolResult:
    summary = "search stopped" if message.endswith(SLOW_PATTERN) else "search failed"
    if message.startswith(BAD_PATTERN):
        summary = "bad pattern"
    return ToolResult(f"Search failed: {message}", summary, ok=False, target=target)


def _matches(found: Found, pattern: str, scope: Scope | None = None) -> bool:
    name = found.path.replace("\\", "/").rsplit("/", 1)[-1]
    shown = scope.show(found.path) if scope is not None else name
    return fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(shown, pattern)


def _numbered(lines: list[str], first: int, last: int, limit: int) -> tuple[str, int]:
    """Lines `first`..`last` numbered, as many as fit in `limit` bytes (at least one); the text and the last line."""
    parts: list[str] = []
    size = 0
    end = first - 1
    for number in range(first, last + 1):
        line = lines[number - 1]
        if len(line) > LINE_CHARS:
            line = f"{line[:LINE_CHARS]} [line cut at {LINE_CHARS} characters]"
        entry = f"{number}| {line}\n"
        size += len(entry.encode("utf-8"))
        if size > limit and parts:
            break
        parts.append(entry)
        end = number
    return "".join(parts).rstrip("\n"), end


async def _in_thread(work: Callable[[], T]) -> T:
    # Abandoned on cancel: the read finishes in the background, its result unused.
    return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
