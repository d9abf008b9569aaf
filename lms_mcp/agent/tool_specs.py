"""The three function tools the local model may call: what it is told about them, and how its arguments are read.

The JSON Schemas are written out by hand, short: they are sent with every model turn, so each word costs
prompt tokens every time. The pydantic models read the arguments leniently ("2" is 2, unknown keys are
ignored): a small model's near-miss should work, not cost it a step.
"""

from __future__ import annotations

import json
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..lmstudio.models import FunctionSpec, FunctionTool
from .text import wire_safe_json

MAX_PATTERN = 500


class Arguments(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ListFiles(Arguments):
    path: str | None = None
    pattern: str | None = None
    depth: int | None = Field(default=None, ge=1, le=5)


class ReadFile(Arguments):
    path: str = Field(min_length=1)
    start_line: int | None = Field(default=None, ge=1)
    end_line: int | None = Field(default=None, ge=1)


class SearchFiles(Arguments):
    pattern: str = Field(min_length=1, max_length=MAX_PATTERN)
    path: str | None = None
    glob: str | None = None


ARGUMENTS: dict[str, type[Arguments]] = {"list_files": ListFiles, "read_file": ReadFile, "search_files": SearchFiles}


def _function(name: str, description: str, properties: dict[str, Any], required: list[str]) -> FunctionTool:
    parameters: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
    return FunctionTool(function=FunctionSpec(name=name, description=description, parameters=parameters))


_PATH = {"type": "string", "description": "Relative to the base directory, or absolute"}

FUNCTION_TOOLS = [
    _function(
        "list_files",
        "List files and directories with their sizes in bytes. Default: the task's paths.",
        {
            "path": _PATH,
            "pattern": {"type": "string", "description": "Only files whose name matches this glob, e.g. *.py"},
            "depth": {"type": "integer", "minimum": 1, "maximum": 5, "description": "Levels to show (default 2)"},
        },
        [],
    ),
    _function(
        "read_file",
        "Read a text file with numbered lines; long files come in parts: ask for start_line/end_line.",
        {
            "path": _PATH,
            "start_line": {"type": "integer", "minimum": 1},
            "end_line": {"type": "integer", "minimum": 1},
        },
        ["path"],
    ),
    _function(
        "search_files",
        "Find lines matching a Python regular expression in the files below a path (default: the task's paths); "
        "answers path:line: text.",
        {
            "pattern": {"type": "string", "description": "Regular expression, matched per line; (?i) ignores case"},
            "path": _PATH,
            "glob": {"type": "string", "description": "Only files whose path or name matches this glob, e.g. *.py"},
        },
        ["pattern"],
    ),
]


class BadCall(Exception):
    """A call the model cannot have meant: an unknown tool, or arguments that are not what the tool takes."""


def read_arguments(name: str, raw: str) -> tuple[Arguments, dict[str, Any]]:
    """The arguments of a call as the tool takes them, and as the model wrote them (parsed)."""
    model = ARGUMENTS.get(name)
    if model is None:
        raise BadCall(f"There is no tool {name!r}. The tools are list_files, read_file and search_files.")
    try:
        given: Any = wire_safe_json(json.loads(raw)) if raw.strip() else {}
    except ValueError as exc:
        raise BadCall(f"The arguments of {name} are not valid JSON ({exc}). Send a JSON object.") from None
    if not isinstance(given, dict):
        raise BadCall(f'The arguments of {name} must be a JSON object, like {{"path": "src"}}.')
    try:
        return model.model_validate(given), cast(dict[str, Any], given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'arguments'}: {error['msg']}" for error in exc.errors()
        )
        raise BadCall(f"Bad arguments for {name}: {problems}.") from None
