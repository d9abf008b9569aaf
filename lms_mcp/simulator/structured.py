"""Structured output: a deterministic JSON document that satisfies a JSON Schema, and ways to spoil it.

LM Studio constrains sampling with a grammar compiled from the schema, so a real answer always validates; the
simulator builds such a document directly from the schema. Strings are words of the reply vocabulary derived
from the request (via `seed`) and the JSON path, so different questions give different, reproducible answers.

Supported keywords: `type` (one or a list), `const`, `enum`; objects: `properties`, `required`,
`additionalProperties`, `patternProperties`, `minProperties`, `maxProperties`; arrays: `items` (schema or the
old tuple form), `prefixItems`, `additionalItems`, `minItems`, `maxItems`, `uniqueItems`, `contains`; strings:
`minLength`, `maxLength`, common `format`s, `pattern` (best effort, see `regex_sample`); numbers:
`minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum` (number or draft-4 boolean form), `multipleOf`;
composition: `allOf` (merged), `anyOf`/`oneOf` (the first satisfiable option), `$ref` to local JSON pointers
(`#`, `#/$defs/...`, `#/definitions/...`), boolean schemas. Ignored: `not`, `if`/`then`/`else`, `dependent*`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from collections.abc import Callable
from typing import Any, cast

from lms_mcp.simulator.generation import pseudo_word
from lms_mcp.simulator.regex_sample import regex_sample

Schema = dict[str, Any]
# (value, exclusive); None when there is no bound.
Bound = tuple[float, bool] | None
# What `type` becomes when merged allOf members share no type.
_NO_TYPE = "(no common type)"
# Deeper than any sensible schema: a cycle of $refs with nothing optional on the way fails here.
_MAX_DEPTH = 32
# Past this depth optional properties and optional array items are left out, so recursive schemas terminate.
_OPTIONAL_DEPTH = 6
_ARRAY_LENGTH = 2
_MAX_REF_HOPS = 64
_UNIQUE_ATTEMPTS = 8
_TYPE_KEYWORDS = (
    ("object", ("properties", "required", "additionalProperties", "patternProperties", "minProperties")),
    ("array", ("items", "prefixItems", "minItems", "maxItems", "uniqueItems", "contains")),
    ("string", ("minLength", "maxLength", "pattern", "format")),
    ("number", ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")),
)
# Tried in order when a value the schema must reject is needed; the first definitely rejected one is used.
_WRONG_VALUES: tuple[Any, ...] = ("not-what-the-schema-wants", 12345.5, None, True, [], {})
# Keywords whose merged value is the tighter of two numbers.
_LOWER_LIMITS = ("minimum", "minLength", "minItems", "minProperties")
_UPPER_LIMITS = ("maximum", "maxLength", "maxItems", "maxProperties")


class SchemaError(ValueError):
    """The schema cannot be satisfied or resolved (a grammar LM Studio could not compile)."""


def generate(schema: object, seed: str) -> Any:
    """A JSON value that validates against `schema`; the same schema and seed always give the same value."""
    try:
        return _Builder(schema, seed).value(schema, "$", 0)
    except RecursionError:
        # A schema that refers to itself without end (`{"allOf": [{"$ref": "#"}]}`): no grammar to compile.
        raise SchemaError("the schema refers to itself without end") from None


def violate(schema: object, document: object) -> Any:
    """`document` (valid for `schema`) changed so the schema surely rejects it, like a model that ignored it.

    Drops the first required property, else gives one property a wrong type, else replaces the whole value.
    Returns `document` unchanged when the schema accepts anything.
    """
    builder = _Builder(schema, "violate")
    resolved = builder.resolve(schema)
    fields = _schema_map(document)
    if isinstance(resolved, dict) and isinstance(document, dict):
        present = [key for key in _strings(resolved.get("required")) if key in fields]
        if present:
            return {key: value for key, value in fields.items() if key != present[0]}
        properties = _schema_map(resolved.get("properties"))
        for key in fields:
            if key in properties:
                wrong = builder.rejected_value(properties[key])
                if wrong is not _NOTHING:
                    return {**fields, key: wrong}
    wrong = builder.rejected_value(schema)
    return cast(object, document) if wrong is _NOTHING else wrong


_NOTHING = object()


class _Builder:
    def __init__(self, root: object, seed: str) -> None:
        self.root = root
        self.seed = seed
        # How a value of each JSON type is made from its (resolved) schema, path and depth.
        self._makers: dict[str, Callable[[Schema, str, int], Any]] = {
            "object": self._object,
            "array": self._array,
            "string": lambda schema, path, _depth: self._string(schema, path),
            "integer": lambda schema, path, _depth: self._integer(schema, path),
            "number": lambda schema, path, _depth: self._number(schema, path),
            "boolean": lambda _schema, path, _depth: self.number(path) % 2 == 0,
            "null": lambda _schema, _path, _depth: None,
        }

    # --- schema resolution -----------------------------------------------------------------------------------

    def resolve(self, schema: object) -> Schema | bool:
        """The schema with `$ref`s followed and `allOf` merged in, as one schema object (or a boolean schema)."""
        schema = self._follow_refs(schema)
        if isinstance(schema, bool):
            return schema
        if not isinstance(schema, dict):
            raise SchemaError(f"a schema must be an object or a boolean, not {json.dumps(schema)}")
        fields = cast(Schema, schema)
        return self._merge_all_of(fields) if "allOf" in fields else fields

    def _follow_refs(self, schema: object) -> object:
        for _ in range(_MAX_REF_HOPS):
            if not isinstance(schema, dict) or "$ref" not in schema:
                return cast(object, schema)
            schema = self._follow_ref(cast(Schema, schema))
        raise SchemaError("$ref chain does not end")

    def _follow_ref(self, fields: Schema) -> object:
        """One `$ref` hop: its target, with the keywords beside the `$ref` merged in."""
        target = self._pointer(fields["$ref"])
        rest = {key: value for key, value in fields.items() if key != "$ref"}
        if not rest or target is False:
            return target
        if target is True:
            return rest
        if isinstance(target, dict):
            return _merge(cast(Schema, target), rest)
        raise SchemaError(f"$ref {fields['$ref']} does not point to a schema")

    def _merge_all_of(self, fields: Schema) -> Schema | bool:
        merged: Schema = {key: value for key, value in fields.items() if key != "allOf"}
        for part in _list(fields["allOf"]):
            resolved = self.resolve(part)
            if resolved is False:
                raise SchemaError("an allOf member rejects everything")
            if resolved is not True:
                merged = _merge(merged, resolved)
        return self.resolve(merged)

    def _pointer(self, ref: object) -> object:
        if not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/")):
            raise SchemaError(f"only local JSON-pointer $refs (#/...) are supported, not {json.dumps(ref)}")
        node = self.root
        for raw in ref[2:].split("/") if ref != "#" else []:
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = cast(Schema, node)[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(cast(list[Any], node)):
                node = cast(list[Any], node)[int(part)]
            else:
                raise SchemaError(f"$ref {ref} points nowhere")
        return node

    # --- generation ------------------------------------------------------------------------------------------

    def value(self, schema: object, path: str, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise SchemaError(f"the schema nests deeper than {_MAX_DEPTH} levels at {path} (a required cycle?)")
        resolved = self.resolve(schema)
        if resolved is True:
            return self.word(path)
        if resolved is False:
            raise SchemaError(f"nothing satisfies the schema at {path}")
        for keyword in ("anyOf", "oneOf"):
            if keyword in resolved:
                return self.value(self._choose(resolved, keyword, depth), path, depth + 1)
        kinds = _types(resolved.get("type"))
        if "const" in resolved:
            return resolved["const"]
        if "enum" in resolved:
            return self._enum(resolved, kinds, path)
        kind = next((kind for kind in kinds if kind != "null"), kinds[0] if kinds else _inferred_type(resolved))
        if kind == _NO_TYPE:
            raise SchemaError(f"the allOf members at {path} have no type in common")
        make = self._makers.get(kind)
        if make is None:
            raise SchemaError(f"unknown type {json.dumps(kind)} at {path}")
        return make(resolved, path, depth)

    def _enum(self, schema: Schema, kinds: list[str], path: str) -> Any:
        options = _list(schema["enum"])
        fitting = [option for option in options if not kinds or any(_is_type(option, kind) for kind in kinds)]
        if not fitting:
            raise SchemaError(f"no enum value at {path} has an allowed type")
        return fitting[self.number(path) % len(fitting)]

    def _choose(self, schema: Schema, keyword: str, depth: int) -> Schema | bool:
        """The first option that can be satisfied, merged with the keywords beside the `anyOf`/`oneOf`."""
        rest = {key: value for key, value in schema.items() if key != keyword}
        options = [self.resolve(option) for option in _list(schema[keyword])]
        candidates = [option for option in options if option is not False]
        if not candidates:
            raise SchemaError(f"no {keyword} option can be satisfied")
        if depth > _OPTIONAL_DEPTH:
            # Deep in a recursive schema, prefer an option that ends the recursion (null, a scalar, ...).
            candidates.sort(key=lambda option: not _is_leaf(option))
        chosen = candidates[0]
        return rest if isinstance(chosen, bool) else _merge(rest, chosen)

    def _object(self, schema: Schema, path: str, depth: int) -> dict[str, Any]:
        properties = _schema_map(schema.get("properties"))
        required = _strings(schema.get("required"))
        optional_too = depth <= _OPTIONAL_DEPTH
        keys = [key for key in properties if key in required or optional_too]
        keys += [key for key in required if key not in properties]
        most = schema.get("maxProperties")
        if isinstance(most, int) and len(keys) > most:
            optional = [key for key in keys if key not in required]
            excess = len(keys) - most
            if excess > len(optional):
                raise SchemaError(f"maxProperties at {path} is below the number of required properties")
            dropped = set(optional[len(optional) - excess :])
            keys = [key for key in keys if key not in dropped]
        least = _int(schema.get("minProperties"), 0)
        if len(keys) < least:
            spare = [key for key in properties if key not in keys]
            if schema.get("additionalProperties") is not False:
                spare += [f"extra_{n}" for n in range(1, least + 1) if f"extra_{n}" not in properties]
            keys += spare[: least - len(keys)]
            if len(keys) < least:
                raise SchemaError(f"minProperties at {path} needs more properties than the schema allows")
        return {key: self.value(self._property_schema(schema, key), f"{path}.{key}", depth + 1) for key in keys}

    def _property_schema(self, schema: Schema, key: str) -> object:
        properties = _schema_map(schema.get("properties"))
        if key in properties:
            return properties[key]
        for pattern, sub in _schema_map(schema.get("patternProperties")).items():
            if re.search(pattern, key):
                return sub
        additional: object = schema.get("additionalProperties", True)
        return additional if isinstance(additional, bool) else _schema_map(additional) or True

    def _array(self, schema: Schema, path: str, depth: int) -> list[Any]:
        items = schema.get("items", True)
        prefix = _list(schema.get("prefixItems"))
        rest: object = items
        if isinstance(items, list):  # draft 4-2019 tuple form
            prefix, rest = cast(list[Any], items), schema.get("additionalItems", True)
        least = _int(schema.get("minItems"), 0)
        most = schema.get("maxItems")
        count = max(least, _ARRAY_LENGTH if depth <= _OPTIONAL_DEPTH else 0)
        if isinstance(most, int):
            count = min(count, most)
        if rest is False:
            count = min(count, len(prefix))
        if count < least:
            raise SchemaError(f"minItems at {path} cannot be met")
        result: list[Any] = []
        seen: set[str] = set()
        for index in range(count):
            sub = prefix[index] if index < len(prefix) else rest
            if index == len(prefix) and "contains" in schema:
                sub = {"allOf": [sub, schema["contains"]]}
            for attempt in range(_UNIQUE_ATTEMPTS):
                item_path = f"{path}[{index}]" if attempt == 0 else f"{path}[{index}]~{attempt}"
                item = self.value(sub, item_path, depth + 1)
                if not schema.get("uniqueItems") or _canonical(item) not in seen:
                    break
            else:
                if len(result) >= least:
                    break
                raise SchemaError(f"cannot find {least} distinct items for uniqueItems at {path}")
            seen.add(_canonical(item))
            result.append(item)
        return result

    def _string(self, schema: Schema, path: str) -> str:
        least = _int(schema.get("minLength"), 0)
        most = schema.get("maxLength")
        text = self._formatted(schema.get("format"), path)
        filler = 1
        while len(text) < least:
            text += pseudo_word(f"{self.seed}\n{path}+{filler}")
            filler += 1
        if isinstance(most, int):
            text = text[:most]
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and not _matches(pattern, text):
            for candidate in _pattern_candidates(self.word(path), pattern):
                fits = len(candidate) >= least and (not isinstance(most, int) or len(candidate) <= most)
                if fits and _matches(pattern, candidate):
                    return candidate
        return text

    def _formatted(self, fmt: object, path: str) -> str:
        if not isinstance(fmt, str):
            return self.word(path)
        from_digest = _DIGEST_FORMATS.get(fmt)
        if from_digest is not None:
            return from_digest(self.digest(path))
        return _WORD_FORMATS.get(fmt, "{}").format(self.word(path))

    def _integer(self, schema: Schema, path: str) -> int:
        low, high = _bounds(schema)
        least = None if low is None else (math.floor(low[0]) + 1 if low[1] else math.ceil(low[0]))
        most = None if high is None else (math.ceil(high[0]) - 1 if high[1] else math.floor(high[0]))
        if least is not None and most is not None and least > most:
            raise SchemaError(f"no integer lies between the bounds at {path}")
        value = self.number(path) % 100
        if least is not None and most is not None:
            value = least + value % (most - least + 1)
        elif least is not None:
            value = max(value, least)
        elif most is not None:
            value = min(value, most)
        step = schema.get("multipleOf")
        if _is_number(step):
            inclusive = (None if least is None else (least, False)), (None if most is None else (most, False))
            return int(_multiple(step, value, *inclusive, whole=True, path=path))
        return value

    def _number(self, schema: Schema, path: str) -> float | int:
        low, high = _bounds(schema)
        value: float = (self.number(path) % 1000) / 10
        if low is not None and not _within(value, low, None):
            value = low[0] + 1 if low[1] else low[0]
        if high is not None and not _within(value, None, high):
            value = high[0] - 1 if high[1] else high[0]
        if low is not None and high is not None and not _within(value, low, high):
            value = (low[0] + high[0]) / 2
        if not _within(value, low, high):
            raise SchemaError(f"no number lies between the bounds at {path}")
        step = schema.get("multipleOf")
        return _multiple(step, value, low, high, whole=False, path=path) if _is_number(step) else value

    # --- violation -------------------------------------------------------------------------------------------

    def rejected_value(self, schema: object) -> Any:
        """A value `schema` surely rejects, or `_NOTHING` if none of the candidates is."""
        for candidate in _WRONG_VALUES:
            if self._rejects(schema, candidate, 0):
                return candidate
        return _NOTHING

    def _rejects(self, schema: object, value: Any, depth: int) -> bool:
        """True only when `schema` certainly rejects `value` (a conservative check: False means "don't know")."""
        if depth > _MAX_DEPTH:
            return False
        resolved = self.resolve(schema)
        if isinstance(resolved, bool):
            return not resolved
        if "const" in resolved and _canonical(resolved["const"]) != _canonical(value):
            return True
        if "enum" in resolved and _canonical(value) not in {_canonical(option) for option in _list(resolved["enum"])}:
            return True
        kinds = _types(resolved.get("type"))
        if kinds and not any(_is_type(value, kind) for kind in kinds):
            return True
        return any(
            keyword in resolved and all(self._rejects(option, value, depth + 1) for option in _list(resolved[keyword]))
            for keyword in ("anyOf", "oneOf")
        )

    # --- determinism -----------------------------------------------------------------------------------------

    def digest(self, path: str) -> bytes:
        return hashlib.sha256(f"{self.seed}\n{path}".encode()).digest()

    def number(self, path: str) -> int:
        return int.from_bytes(self.digest(path)[:4], "big")

    def word(self, path: str) -> str:
        return pseudo_word(f"{self.seed}\n{path}")


def _date(digest: bytes) -> str:
    return f"2024-{1 + digest[0] % 12:02d}-{_day(digest):02d}"


def _day(digest: bytes) -> int:
    return 1 + digest[1] % 28


def _time(digest: bytes) -> str:
    return f"{digest[2] % 24:02d}:{digest[3] % 60:02d}:00Z"


# String formats made from the path's digest, and those that frame the path's word (any other: the bare word).
_DIGEST_FORMATS: dict[str, Callable[[bytes], str]] = {
    "date-time": lambda digest: f"{_date(digest)}T{_time(digest)}",
    "date": _date,
    "time": _time,
    "uuid": lambda digest: str(uuid.UUID(bytes=digest[:16], version=4)),
    "ipv4": lambda digest: f"192.0.2.{digest[4] % 255}",
    "ipv6": lambda digest: f"2001:db8::{digest[4]:x}",
    "duration": lambda digest: f"P{_day(digest)}D",
}
_WORD_FORMATS = {
    "email": "{}@example.com",
    "idn-email": "{}@example.com",
    "hostname": "{}.example.com",
    "idn-hostname": "{}.example.com",
    "uri": "https://example.com/{}",
    "url": "https://example.com/{}",
    "iri": "https://example.com/{}",
    "uri-reference": "/{}",
    "iri-reference": "/{}",
}


def _merge(first: Schema, second: Schema) -> Schema:
    """Both schemas at once (as far as the generator needs): constraints combine, sub-schemas nest in allOf."""
    merged = dict(first)
    for key, value in second.items():
        merged[key] = _combined(key, merged[key], value) if key in merged else value
    return merged


def _combined(key: str, mine: Any, value: Any) -> Any:
    """One keyword both merged schemas have, as both at once."""
    if key == "required":
        return list(dict.fromkeys([*_strings(mine), *_strings(value)]))
    if key in ("properties", "patternProperties", "$defs", "definitions"):
        both = dict(_schema_map(mine))
        for name, sub in _schema_map(value).items():
            both[name] = {"allOf": [both[name], sub]} if name in both else sub
        return both
    if key == "type":
        return _type_intersection(_types(mine), _types(value))
    if key == "enum":
        allowed = {_canonical(option) for option in _list(value)}
        return [option for option in _list(mine) if _canonical(option) in allowed]
    if key in _LOWER_LIMITS and _is_number(mine) and _is_number(value):
        return max(mine, value)
    if key in _UPPER_LIMITS and _is_number(mine) and _is_number(value):
        return min(mine, value)
    if isinstance(mine, dict | bool) and isinstance(value, dict | bool) and key not in ("const", "default"):
        return {"allOf": [cast(object, mine), cast(object, value)]}
    # Anything else (e.g. two anyOfs, two patterns): the first one wins; good enough for generation.
    return cast(object, mine)


def _type_intersection(first: list[str], second: list[str]) -> list[str]:
    kept: list[str] = []
    for kind in first:
        if kind in second:
            kept.append(kind)
        elif {kind, *second} >= {"integer", "number"}:
            kept.append("integer")  # integers are the numbers both allow
    return list(dict.fromkeys(kept)) or [_NO_TYPE]


def _is_leaf(option: Schema | bool) -> bool:
    """Whether generating `option` cannot recurse further (anything but an object or an array)."""
    if isinstance(option, bool):
        return True
    kinds = _types(option.get("type")) or [_inferred_type(option)]
    return "const" in option or "enum" in option or any(kind not in ("object", "array") for kind in kinds)


def _inferred_type(schema: Schema) -> str:
    for kind, keywords in _TYPE_KEYWORDS:
        if any(keyword in schema for keyword in keywords):
            return kind
    return "string"


def _bounds(schema: Schema) -> tuple[Bound, Bound]:
    """(value, exclusive) for the lower and upper bound, accepting both the draft-4 and the draft-6+ forms."""
    return _bound(schema, "minimum", "exclusiveMinimum", lower=True), _bound(
        schema, "maximum", "exclusiveMaximum", lower=False
    )


def _bound(schema: Schema, inclusive_key: str, exclusive_key: str, *, lower: bool) -> Bound:
    inclusive = _number_or_none(schema.get(inclusive_key))
    exclusive = _number_or_none(schema.get(exclusive_key))
    if inclusive is None:
        return None if exclusive is None else (exclusive, True)
    if schema.get(exclusive_key) is True:  # draft 4: a flag on the inclusive bound
        return inclusive, True
    if exclusive is None:
        return inclusive, False
    exclusive_is_tighter = exclusive >= inclusive if lower else exclusive <= inclusive
    return (exclusive, True) if exclusive_is_tighter else (inclusive, False)


def _number_or_none(value: object) -> float | None:
    return float(cast(float, value)) if _is_number(value) else None


def _within(value: float, low: Bound, high: Bound) -> bool:
    if low is not None and (value < low[0] or (low[1] and value == low[0])):
        return False
    return not (high is not None and (value > high[0] or (high[1] and value == high[0])))


def _multiple(step: Any, value: float, low: Bound, high: Bound, *, whole: bool, path: str) -> float | int:
    """The multiple of `step` nearest `value` that stays within the bounds (and is whole, for integers)."""
    if step <= 0:
        raise SchemaError(f"multipleOf must be positive at {path}")
    base = math.ceil(value / step)
    tries = [base, base + 1, base - 1, base + 2, base - 2]
    if low is not None:
        tries += [math.ceil(low[0] / step), math.ceil(low[0] / step) + 1]
    if high is not None:
        tries += [math.floor(high[0] / step), math.floor(high[0] / step) - 1]
    for k in tries:
        candidate: float | int = k * step
        if isinstance(candidate, float) and candidate.is_integer():
            candidate = int(candidate)
        if whole and not isinstance(candidate, int):
            continue
        if _within(candidate, low, high) and _is_multiple(candidate, step):
            return candidate
    raise SchemaError(f"no multiple of {step} lies between the bounds at {path}")


def _is_multiple(value: float, step: float) -> bool:
    # The same test as the `jsonschema` package: an exact integer quotient for float steps.
    if isinstance(step, float) or isinstance(value, float):
        quotient = value / step
        return math.isfinite(quotient) and int(quotient) == quotient
    return value % step == 0


def _pattern_candidates(word: str, pattern: str) -> list[str]:
    """Natural-looking strings first; then one built from the pattern itself."""
    sample = regex_sample(pattern)
    return [word, word.upper(), word.capitalize(), *([sample] if sample is not None else []), "12345", ""]


def _matches(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except re.error:  # ECMA-262 syntax Python does not know; LM Studio's grammar compiler decides, not us
        return False


def _types(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    return _strings(value)


def _is_type(value: Any, kind: str) -> bool:
    match kind:
        case "null":
            return value is None
        case "boolean":
            return isinstance(value, bool)
        case "integer":
            return (isinstance(value, int) and not isinstance(value, bool)) or (
                isinstance(value, float) and value.is_integer()
            )
        case "number":
            return _is_number(value)
        case "string":
            return isinstance(value, str)
        case "array":
            return isinstance(value, list)
        case "object":
            return isinstance(value, dict)
        case _:
            return False


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _list(value: object) -> list[Any]:
    return cast(list[Any], value) if isinstance(value, list) else []


def _strings(value: object) -> list[str]:
    return [item for item in _list(value) if isinstance(item, str)]


def _schema_map(value: object) -> dict[str, Any]:
    return cast(dict[str, Any], value) if isinstance(value, dict) else {}


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
