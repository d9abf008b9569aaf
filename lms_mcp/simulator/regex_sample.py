"""One string that a regular expression matches, for JSON Schema `pattern`s in structured output.

Covers the patterns schemas typically use: literals, escapes (`\\d`, `\\w`, `\\s`, ...), character classes with
ranges and negation, `.`, groups (plain, non-capturing, named), alternation (the first branch is taken),
quantifiers (`?`, `*`, `+`, `{m}`, `{m,n}`; the minimum count is used, at least one where allowed) and anchors.
Anything else (lookarounds, backreferences) gives None; callers check the result with `re.search` anyway.
"""

from __future__ import annotations

import string

# A representative character per escape class, and the ranges the class covers (for negated character classes).
_CLASS_SAMPLES = {"d": "1", "w": "a", "s": " ", "D": "a", "W": "-", "S": "a"}
_CLASS_CHARS = {
    "d": string.digits,
    "w": string.ascii_letters + string.digits + "_",
    "s": " \t\n\r\f\v",
}
_ZERO_WIDTH = frozenset("bBAZ")
_CONTROL = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "0": "\0"}
# Tried in order for a negated class: the first one outside the class is used.
_NEGATED_CANDIDATES = "a1_-xZ. "


class _Unsupported(Exception):
    pass


def regex_sample(pattern: str) -> str | None:
    """A string `re.search(pattern, ...)` is likely to accept, or None for constructs this does not handle."""
    try:
        parser = _Parser(pattern)
        text = parser.alternation()
        if parser.pos != len(pattern):
            return None
        return text
    except (_Unsupported, IndexError, ValueError):
        return None


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.pos = 0

    def peek(self) -> str | None:
        return self.pattern[self.pos] if self.pos < len(self.pattern) else None

    def take(self) -> str:
        char = self.pattern[self.pos]
        self.pos += 1
        return char

    def alternation(self) -> str:
        first = self.sequence()
        while self.peek() == "|":
            self.take()
            self.sequence()  # parsed only to move past it
        return first

    def sequence(self) -> str:
        parts: list[str] = []
        while (char := self.peek()) is not None and char not in "|)":
            atom, repeatable = self.atom()
            parts.append(self.quantified(atom) if repeatable else atom)
        return "".join(parts)

    def atom(self) -> tuple[str, bool]:
        char = self.take()
        match char:
            case "^" | "$":
                return "", False
            case ".":
                return "a", True
            case "(":
                return self.group(), True
            case "[":
                return self.char_class(), True
            case "\\":
                return self.escape()
            case "*" | "+" | "?":
                raise _Unsupported("quantifier without an atom")
            case _:
                return char, True

    def group(self) -> str:
        if self.peek() == "?":
            self.take()
            kind = self.take()
            named = (kind == "P" and self.peek() == "<") or (kind == "<" and self.peek() not in ("=", "!"))
            if named:  # (?P<name>...) or (?<name>...)
                self.pos = self.pattern.index(">", self.pos) + 1
            elif kind != ":":
                raise _Unsupported("lookaround or inline flag")
        text = self.alternation()
        if self.take() != ")":
            raise _Unsupported("unbalanced group")
        return text

    def escape(self) -> tuple[str, bool]:
        char = self.take()
        if char in _ZERO_WIDTH:
            return "", False
        if char in _CLASS_SAMPLES:
            return _CLASS_SAMPLES[char], True
        if char in _CONTROL:
            return _CONTROL[char], True
        if char.isdigit():
            raise _Unsupported("backreference")
        if char in "xu":
            width = 2 if char == "x" else 4
            code = self.pattern[self.pos : self.pos + width]
            self.pos += width
            return chr(int(code, 16)), True
        return char, True

    def char_class(self) -> str:
        negated = self.peek() == "^"
        if negated:
            self.take()
        members: list[tuple[str, str]] = []  # inclusive (low, high) ranges
        first = True
        while first or self.peek() != "]":
            first = False
            low = self.class_char()
            if isinstance(low, list):
                members.extend(low)
                continue
            if self.peek() == "-" and self.pattern[self.pos + 1] != "]":
                self.take()
                high = self.class_char()
                if isinstance(high, list):
                    raise _Unsupported("range to a class")
                members.append((low, high))
            else:
                members.append((low, low))
        self.take()
        if not negated:
            return members[0][0]
        for candidate in _NEGATED_CANDIDATES:
            if not any(low <= candidate <= high for low, high in members):
                return candidate
        raise _Unsupported("negated class excludes every candidate")

    def class_char(self) -> str | list[tuple[str, str]]:
        char = self.take()
        if char != "\\":
            return char
        escaped = self.take()
        if escaped in _CLASS_CHARS:
            return [(member, member) for member in _CLASS_CHARS[escaped]]
        if escaped in "DWS":
            raise _Unsupported("negated escape inside a class")
        if escaped in _CONTROL:
            return _CONTROL[escaped]
        return escaped

    def quantified(self, atom: str) -> str:
        char = self.peek()
        if char in ("*", "+", "?"):
            self.take()
            least, most = {"*": (0, None), "+": (1, None), "?": (0, 1)}[char]
        elif char == "{" and (bounds := self.braces()) is not None:
            least, most = bounds
        else:
            return atom
        if self.peek() in ("?", "+"):  # lazy or possessive: the count range is the same
            self.take()
        count = max(least, 1) if most is None or most >= 1 else least
        return atom * count

    def braces(self) -> tuple[int, int | None] | None:
        """`{m}`, `{m,}` or `{m,n}` at the current position, consumed; None (nothing consumed) if it is a literal."""
        end = self.pattern.find("}", self.pos)
        body = self.pattern[self.pos + 1 : end] if end > 0 else ""
        low, comma, high = body.partition(",")
        if not low.isdigit() or (high and not high.isdigit()):
            return None
        self.pos = end + 1
        return int(low), (int(high) if high else None) if comma else int(low)
