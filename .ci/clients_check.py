"""Checks the JSON that the MCP Inspector CLI and the conformance suite write, for .ci/clients.sh.

Each subcommand prints one short detail line for the summary and exits 0 when the check holds, 1 when
it does not (with the reason on stdout), 2 when the output could not be read at all.

  tools FILE NAME...              tools/list lists exactly these tool names
  ok FILE ERA [KEY=VALUE|~TEXT]...  a tools/call result without isError, negotiated in ERA (legacy,
                                  modern, or any); KEY=VALUE compares structuredContent[KEY] (as JSON
                                  when it parses, else as a string), ~TEXT wants TEXT in the text
  error FILE ERA [~TEXT]...       a tools/call result with isError: true
  get FILE KEY                    prints structuredContent[KEY]
  conformance DIR                 lists the FAILURE/WARNING checks of a conformance output directory,
                                  one '<scenario>:<check-id> STATUS: message' line each
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

SERVER_INFO_META = "io.modelcontextprotocol/serverInfo"


class CheckFailed(Exception):
    pass


def load_result(path: str) -> dict[str, Any]:
    """The result object: `--cli` wraps it as {"result": ...}; mcpdo prints it bare."""
    text = Path(path).read_text(encoding="utf-8").strip()
    if not text:
        raise CheckFailed("no output")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CheckFailed(f"output is not JSON ({exc}): {text[:200]}") from exc
    if isinstance(data, dict) and "error" in data and "result" not in data:
        raise CheckFailed(f"error instead of a result: {json.dumps(data['error'])[:300]}")
    result = data.get("result", data) if isinstance(data, dict) else None
    if not isinstance(result, dict):
        raise CheckFailed(f"no result object: {text[:200]}")
    return result


def text_of(result: dict[str, Any]) -> str:
    return "\n".join(str(c.get("text", "")) for c in result.get("content") or [] if isinstance(c, dict))


def check_era(result: dict[str, Any], era: str) -> None:
    """Results on the 2026-07-28 wire carry the server's identity in _meta; handshake-era ones don't."""
    modern = SERVER_INFO_META in (result.get("_meta") or {})
    if era == "modern" and not modern:
        raise CheckFailed(f"no _meta[{SERVER_INFO_META!r}]: not answered on the 2026-07-28 wire")
    if era == "legacy" and modern:
        raise CheckFailed(f"_meta[{SERVER_INFO_META!r}] present: answered on the 2026-07-28 wire, not legacy")


def first_line(text: str, limit: int = 70) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def check_expectations(result: dict[str, Any], expectations: list[str]) -> None:
    structured = result.get("structuredContent") or {}
    text = text_of(result)
    for expectation in expectations:
        if expectation.startswith("~"):
            if expectation[1:] not in text:
                raise CheckFailed(f"text lacks {expectation[1:]!r}: {first_line(text, 200)!r}")
            continue
        key, _, raw = expectation.partition("=")
        try:
            wanted: Any = json.loads(raw)
        except json.JSONDecodeError:
            wanted = raw
        if key not in structured:
            raise CheckFailed(f"structuredContent has no {key!r}: {json.dumps(structured)[:200]}")
        if structured[key] != wanted:
            raise CheckFailed(f"structuredContent[{key!r}] is {structured[key]!r}, wanted {wanted!r}")


def cmd_tools(path: str, names: list[str]) -> str:
    result = load_result(path)
    listed = [t.get("name") for t in result.get("tools") or []]
    missing = sorted(set(names) - set(listed))
    extra = sorted(set(listed) - set(names))
    duplicated = sorted({n for n in listed if listed.count(n) > 1})
    if missing or extra or duplicated:
        raise CheckFailed(f"tools/list: missing {missing}, unexpected {extra}, duplicated {duplicated}")
    return f"{len(listed)} tools"


def cmd_ok(path: str, era: str, expectations: list[str]) -> str:
    result = load_result(path)
    if result.get("isError") is not False:
        raise CheckFailed(f"isError is {result.get('isError')!r}: {first_line(text_of(result), 200)!r}")
    check_era(result, era)
    check_expectations(result, expectations)
    return first_line(text_of(result))


def cmd_error(path: str, era: str, expectations: list[str]) -> str:
    result = load_result(path)
    if result.get("isError") is not True:
        raise CheckFailed(f"isError is {result.get('isError')!r}, wanted true: {first_line(text_of(result), 200)!r}")
    check_era(result, era)
    check_expectations(result, expectations)
    return "isError: " + first_line(text_of(result), 60)


def cmd_get(path: str, key: str) -> str:
    value = (load_result(path).get("structuredContent") or {}).get(key)
    if value is None:
        raise CheckFailed(f"structuredContent has no {key!r}")
    return str(value)


def cmd_conformance(directory: str) -> str:
    lines = []
    for checks_file in sorted(Path(directory).glob("*/checks.json")):
        # Result directories are named server-<scenario>-<timestamp>.
        scenario = re.sub(r"^server-|-\d{4}-\d{2}-\d{2}T[\d-]+Z$", "", checks_file.parent.name)
        for check in json.loads(checks_file.read_text(encoding="utf-8")):
            if check.get("status") in ("FAILURE", "WARNING"):
                message = str(check.get("errorMessage") or check.get("description") or "")[:220]
                lines.append(f"{scenario}:{check.get('id')} {check['status']}: {message}")
    return "\n".join(lines)


def say(text: str) -> None:
    sys.stdout.write(text + "\n")


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        say(__doc__ or "")
        return 2
    command, path, *rest = argv
    try:
        if command == "tools":
            say(cmd_tools(path, rest))
        elif command == "ok":
            say(cmd_ok(path, rest[0], rest[1:]))
        elif command == "error":
            say(cmd_error(path, rest[0], rest[1:]))
        elif command == "get":
            say(cmd_get(path, rest[0]))
        elif command == "conformance":
            say(cmd_conformance(path))
        else:
            say(f"unknown subcommand {command!r}")
            return 2
    except CheckFailed as exc:
        say(str(exc))
        return 1
    except (OSError, KeyError, IndexError, TypeError, ValueError) as exc:
        say(f"cannot read {path}: {exc!r}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
