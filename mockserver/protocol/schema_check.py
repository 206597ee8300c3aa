"""A fast yes-or-no check of a document against a JSON Schema, for the valid events of the hot path.

jsonschema explains what is wrong, and `validation.py` words that as the live API does; but for a
valid event (nearly every one) the answer is only "valid", and jsonschema takes 50-150 us to give it.
`compile_check` turns a schema into nested closures once; checking an event then costs a few
microseconds. It knows the keywords the SDK's generated schemas and the live rules use; a schema
with any other keyword gets no fast check (None), and jsonschema decides alone. Where both run, they
agree (a test holds them equal on every recorded frame and on generated ones).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]

_ANNOTATIONS = frozenset({"title", "description", "default", "examples", "$schema", "$defs", "$comment",
                          "deprecated", "readOnly", "writeOnly", "format", "discriminator"})
_TYPES: dict[str, Check] = {
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "string": lambda x: isinstance(x, str),
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
    "number": lambda x: isinstance(x, (int, float)) and not isinstance(x, bool),
    "integer": lambda x: (isinstance(x, int) and not isinstance(x, bool))
    or (isinstance(x, float) and math.isfinite(x) and x.is_integer()),
}


class Unsupported(Exception):
    """The schema uses a keyword this module does not implement."""


def compile_check(schema: dict[str, Any]) -> Check | None:
    """A predicate equal to `jsonschema.Draft202012Validator(schema).is_valid`, or None when the schema
    uses a keyword it does not know."""
    try:
        return _Compiler(schema).compile(schema)
    except Unsupported:
        return None


def _always(value: Any) -> bool:
    return True


def _never(value: Any) -> bool:
    return False


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def same(a: Any, b: Any) -> bool:
    """JSON equality as JSON Schema means it (and scenario conditions too): `true` is not `1`, `1` is `1.0`."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


class _Compiler:
    def __init__(self, root: dict[str, Any]) -> None:
        self._root = root
        self._refs: dict[str, Check] = {}

    def compile(self, node: Any) -> Check:
        if node is True or node == {}:
            return _always
        if node is False:
            return _never
        if not isinstance(node, dict):
            raise Unsupported(repr(node))
        checks: list[Check] = []
        keys = set(node) - _ANNOTATIONS
        if "$ref" in keys:
            checks.append(self._ref(node["$ref"]))
        if "type" in keys:
            checks.append(self._type(node["type"]))
        if "const" in keys:
            expected = node["const"]
            checks.append(lambda x: same(x, expected))
        if "enum" in keys:
            options = tuple(node["enum"])
            checks.append(lambda x: any(same(x, option) for option in options))
        if keys & {"properties", "required", "additionalProperties", "maxProperties", "minProperties"}:
            checks.append(self._object(node))
        if keys & {"items", "maxItems", "minItems"}:
            checks.append(self._array(node))
        if keys & {"maxLength", "minLength"}:
            checks.append(self._string(node))
        if keys & {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}:
            checks.append(self._range(node))
        for word in ("anyOf", "oneOf", "allOf"):
            if word in keys:
                checks.append(self._combine(word, [self.compile(branch) for branch in node[word]]))
        known = {"$ref", "type", "const", "enum", "properties", "required", "additionalProperties", "maxProperties",
                 "minProperties", "items", "maxItems", "minItems", "maxLength", "minLength", "minimum", "maximum",
                 "exclusiveMinimum", "exclusiveMaximum", "anyOf", "oneOf", "allOf"}
        if keys - known:
            raise Unsupported(", ".join(sorted(keys - known)))
        return _all(checks)

    def _ref(self, ref: str) -> Check:
        if not ref.startswith("#/"):
            raise Unsupported(ref)
        if ref not in self._refs:
            target: Any = self._root
            for part in ref[2:].split("/"):
                target = target[part]
            cell: list[Check] = []
            self._refs[ref] = lambda x: cell[0](x)  # a recursive schema reaches itself through this
            cell.append(self.compile(target))
            self._refs[ref] = cell[0]  # later references call the check directly
        return self._refs[ref]

    @staticmethod
    def _type(declared: Any) -> Check:
        names = declared if isinstance(declared, list) else [declared]
        tests = [_TYPES[name] for name in names]
        if len(tests) == 1:
            return tests[0]
        return lambda x: any(test(x) for test in tests)

    def _object(self, node: dict[str, Any]) -> Check:
        properties = {name: self.compile(sub) for name, sub in node.get("properties", {}).items()}
        required = tuple(node.get("required", ()))
        extra = node.get("additionalProperties", True)
        additional: Check | None = None if extra is True else self.compile(extra)
        most, least = node.get("maxProperties"), node.get("minProperties")

        def check(value: Any) -> bool:
            if not isinstance(value, dict):
                return True
            for name in required:
                if name not in value:
                    return False
            for name, inner in value.items():
                known = properties.get(name)
                if known is not None:
                    if not known(inner):
                        return False
                elif additional is not None and not additional(inner):
                    return False
            if most is not None and len(value) > most:
                return False
            return least is None or len(value) >= least

        return check

    def _array(self, node: dict[str, Any]) -> Check:
        items = self.compile(node["items"]) if "items" in node else None
        most, least = node.get("maxItems"), node.get("minItems")

        def check(value: Any) -> bool:
            if not isinstance(value, list):
                return True
            if (most is not None and len(value) > most) or (least is not None and len(value) < least):
                return False
            return items is None or all(items(item) for item in value)

        return check

    @staticmethod
    def _string(node: dict[str, Any]) -> Check:
        most, least = node.get("maxLength"), node.get("minLength")

        def check(value: Any) -> bool:
            if not isinstance(value, str):
                return True
            return (most is None or len(value) <= most) and (least is None or len(value) >= least)

        return check

    @staticmethod
    def _range(node: dict[str, Any]) -> Check:
        low, high = node.get("minimum"), node.get("maximum")
        above, below = node.get("exclusiveMinimum"), node.get("exclusiveMaximum")

        def check(value: Any) -> bool:
            if not _number(value):
                return True
            return ((low is None or value >= low) and (high is None or value <= high)
                    and (above is None or value > above) and (below is None or value < below))

        return check

    @staticmethod
    def _combine(word: str, branches: list[Check]) -> Check:
        if word == "anyOf":
            return lambda x: any(branch(x) for branch in branches)
        if word == "allOf":
            return lambda x: all(branch(x) for branch in branches)
        return lambda x: sum(1 for branch in branches if branch(x)) == 1


def _all(checks: list[Check]) -> Check:
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]

    def check(value: Any) -> bool:
        for one in checks:  # noqa: SIM110 - a plain loop: all() over a generator costs twice as much here
            if not one(value):
                return False
        return True

    return check
