"""Validate client events against `schemas/` and report problems as the live API's `error` payloads.

`EventValidator.check_frame(text_or_bytes)` parses one WebSocket frame; `check(event)` validates an
already parsed event. Both return `(event, problems)`; an empty list means the event is valid.
Problems come in the order a streaming deserializer would meet them (document order, missing keys
at the end of their object, a union's discriminator before anything inside it), so `problems[0]`
is the one the live server reports; the rest are there for tools that want them all.

jsonschema decides validity; this module only translates its error tree into live wording. For a
union (`anyOf`) it picks the branch the instance was meant for, by JSON type and then by
discriminator properties (`type`, then `role`, ...), and explains that branch's errors alone.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from mockserver.protocol import errors
from mockserver.protocol.errors import ApiError
from mockserver.protocol.live_rules import tighten
from mockserver.protocol.schema_check import Check, compile_check

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator, ValidationError

JsonPath = tuple[str | int, ...]
Loader = Callable[[str], dict[str, Any]]  # a schema by its path under schemas/, e.g. `realtime/client/session.update`


class Schemas:
    """The wire's JSON Schemas, each compiled once with the live rules applied (`live_rules.tighten`).

    The core reads no files: whoever builds the server gives a loader (`mockserver.schema_store.load`).
    """

    def __init__(self, load: Loader) -> None:
        self._load = load
        self._compiled: dict[str, tuple[Draft202012Validator, dict[str, Any]]] = {}
        self._fast: dict[str, Check | None] = {}
        self._validators: dict[int, tuple[Mapping[str, str], EventValidator]] = {}

    def compiled(self, path: str) -> tuple[Draft202012Validator, dict[str, Any]]:
        found = self._compiled.get(path)
        if found is None:
            from jsonschema import Draft202012Validator  # on first use: keeps start-up light

            schema = tighten(self._load(path))
            found = self._compiled[path] = (Draft202012Validator(schema), schema)
        return found

    def validator(self, accepted: Mapping[str, str]) -> EventValidator:
        """The validator of a session kind's events (`accepted`: event type -> schema path), made once for
        each mapping (a kind's table keeps its mapping for good)."""
        found = self._validators.get(id(accepted))
        if found is None or found[0] is not accepted:  # the mapping is kept too, so its id stays its own
            found = self._validators[id(accepted)] = (accepted, EventValidator(accepted, self))
        return found[1]

    def fast_check(self, path: str) -> Check | None:
        """The yes-or-no check of one schema (schema_check.py), made once; None when it has none."""
        if path not in self._fast:
            self._fast[path] = compile_check(self.compiled(path)[1])
        return self._fast[path]

    def check_document(self, schema_path: str, document: dict[str, Any]) -> list[ApiError]:
        """Every problem of a JSON document (an event, a REST body) against one of `schemas/`, in live words."""
        fast = self.fast_check(schema_path)
        try:
            if fast is not None and fast(document):  # a valid document: the common case, decided fast
                return []
            validator, schema = self.compiled(schema_path)
            if fast is None and validator.is_valid(document):
                return []
            found = [p for e in validator.iter_errors(document) for p in _explain(e, schema)]
        except RecursionError:  # absurdly deep nesting: the parser of the live API gives up too
            return [errors.invalid_json("recursion limit exceeded")]
        found.sort(key=lambda p: _order(document, p))
        unique: dict[tuple[str | None, str | None], ApiError] = {}
        for problem in found:
            unique.setdefault((problem.error.code, problem.error.param), problem.error)
        return list(unique.values())


@dataclass(frozen=True)
class _Problem:
    path: JsonPath  # where in the event, for ordering; the last element may be a key that is absent
    at_end: bool  # a missing key: reported after the keys that are present
    error: ApiError


def param_of(path: Sequence[str | int]) -> str:
    """`('item', 'content', 0, 'text')` -> `item.content[0].text`, the live API's `param`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


class EventValidator:
    """Validates the client events a session kind accepts (`accepted`: event type -> schema path, in the
    order the live API lists them in its `invalid_value` message)."""

    def __init__(self, accepted: Mapping[str, str], schemas: Schemas) -> None:
        self._schema_of = dict(accepted)
        self._schemas = schemas
        self.supported = tuple(self._schema_of)

    # -- public API -----------------------------------------------------------------------------

    def check_frame(self, frame: str | bytes) -> tuple[dict[str, Any] | None, list[ApiError]]:
        """Parse and validate one WebSocket frame."""
        if isinstance(frame, bytes):
            return None, [errors.binary_frame()]
        try:
            event = orjson.loads(frame)
        except orjson.JSONDecodeError:  # the standard library takes what orjson refuses, and words the rest
            try:
                event = _STRICT.decode(frame)
            except (ValueError, RecursionError) as exc:
                return None, [errors.invalid_json(_parse_detail(exc))]
        return self.check(event)

    def check(self, event: Any) -> tuple[dict[str, Any] | None, list[ApiError]]:
        """Validate a parsed event. Returns the event (when it is an object) and its problems."""
        if not isinstance(event, dict):
            return None, [errors.missing_type()]
        event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        return event, [e.for_event(event_id) for e in self._problems(event)]

    def is_supported(self, event_type: str) -> bool:
        return event_type in self._schema_of

    # -- internals ------------------------------------------------------------------------------

    def _problems(self, event: dict[str, Any]) -> list[ApiError]:
        if "type" not in event:
            return [errors.missing_type()]
        event_type = event["type"]
        if not isinstance(event_type, str):
            return [errors.invalid_type("type", "a string", event_type)]
        if event_type not in self._schema_of:
            return [errors.invalid_value("type", event_type, self.supported)]
        return self._schemas.check_document(self._schema_of[event_type], event)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# JSON as the live API takes it: NaN and Infinity are not JSON; lone surrogates and big integers are.
_STRICT = json.JSONDecoder(parse_constant=_reject_constant)


def _parse_detail(exc: Exception) -> str:
    return "recursion limit exceeded" if isinstance(exc, RecursionError) else str(exc)


def _order(event: Any, problem: _Problem) -> tuple[int, ...]:
    """Document order of a problem: the position of each key on its path, missing keys last."""
    key: list[int] = []
    node = event
    for depth, part in enumerate(problem.path):
        last = depth == len(problem.path) - 1
        if isinstance(node, dict):
            keys = list(node)
            if part in node:
                key.append(keys.index(part) * 2)
            else:
                key.append(len(keys) * 2 + 1)
            node = node.get(part) if isinstance(part, str) else None
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            key.append(part * 2)
            node = node[part]
        else:
            key.append(0)
        if last and problem.at_end:
            key[-1] = max(key[-1], 10**9)
    return tuple(key)


# -- translating jsonschema errors ------------------------------------------------------------

def _resolve(schema: dict[str, Any], node: Any) -> dict[str, Any]:
    """Follow local `$ref`s (pydantic only writes `#/$defs/Name`)."""
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            break
        target: Any = schema
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node if isinstance(node, dict) else {}


def _explain(error: ValidationError, root: dict[str, Any]) -> Iterator[_Problem]:
    path: JsonPath = tuple(error.absolute_path)
    keyword = error.validator
    instance: Any = error.instance
    value: Any = error.validator_value
    schema = error.schema if isinstance(error.schema, dict) else {}
    if keyword in ("anyOf", "oneOf"):
        yield from _explain_union(error, root)
    elif keyword == "required":
        for name in value:
            if isinstance(instance, dict) and name not in instance:
                at = (*path, name)
                yield _Problem(at, True, errors.missing_required_parameter(param_of(at)))
    elif keyword == "additionalProperties":
        known = set(schema.get("properties", {}))
        for name in instance:
            if name not in known:
                at = (*path, name)
                yield _Problem(at, False, errors.unknown_parameter(param_of(at)))
    elif keyword == "const":
        yield _Problem(path, False, errors.invalid_value(param_of(path), instance, [value]))
    elif keyword == "enum":
        yield _Problem(path, False, errors.invalid_value(param_of(path), instance,
                                                         [v for v in value if v is not None]))
    elif keyword == "type":
        yield _Problem(path, False, errors.invalid_type(param_of(path), _describe(schema, root), instance))
    elif keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        integer = schema.get("type") == "integer"
        below = keyword in ("minimum", "exclusiveMinimum")
        yield _Problem(path, False, errors.out_of_range(param_of(path), instance, value,
                                                        integer=integer, below=below))
    elif keyword in ("minLength", "maxLength"):
        yield _Problem(path, False, errors.string_length(param_of(path), len(instance), value,
                                                         too_long=keyword == "maxLength"))
    elif keyword in ("minItems", "maxItems"):
        yield _Problem(path, False, errors.array_length(param_of(path), len(instance), value,
                                                        too_long=keyword == "maxItems"))
    elif keyword == "maxProperties":
        yield _Problem(path, False, errors.too_many_properties(param_of(path), len(instance), value))
    else:  # a keyword the SDK's schemas do not use today: still an error, in generic words
        yield _Problem(path, False, ApiError(f"Invalid value for '{param_of(path)}'.",
                                             code="invalid_value", param=param_of(path)))


def _explain_union(error: ValidationError, root: dict[str, Any]) -> Iterator[_Problem]:
    path: JsonPath = tuple(error.absolute_path)
    instance: Any = error.instance
    union: Any = error.validator_value
    branches = [_resolve(root, b) for b in union]
    candidates = [i for i, b in enumerate(branches) if _accepts_type(b, instance, root)]
    if not candidates:
        expected = _describe_many([branches[i] for i in range(len(branches))], root)
        yield _Problem(path, False, errors.invalid_type(param_of(path), expected, instance))
        return
    used: set[str] = set()
    while isinstance(instance, dict):
        key = next_discriminator(branches, candidates, used)
        if key is None:
            break
        used.add(key)
        consts = {i: branches[i]["properties"][key]["const"] for i in candidates}
        if key in instance:
            matching = [i for i in candidates if consts[i] == instance[key]]
            if not matching:
                at = (*path, key)
                supported = list(dict.fromkeys(consts[i] for i in candidates))
                yield _Problem(at, False, errors.invalid_value(param_of(at), instance[key], supported))
                return
            candidates = matching
        elif all(key in branches[i].get("required", ()) for i in candidates):
            at = (*path, key)
            yield _Problem(at, True, errors.missing_required_parameter(param_of(at)))
            return
    by_branch: dict[int, list[ValidationError]] = {i: [] for i in candidates}
    for sub in error.context or ():
        branch = sub.relative_schema_path[0]
        if isinstance(branch, int) and branch in by_branch:
            by_branch[branch].append(sub)
    # The branch the instance comes closest to: fewest errors, then the SDK's order.
    chosen = min(candidates, key=lambda i: (len(by_branch[i]) == 0, len(by_branch[i]), i))
    if not by_branch[chosen]:  # `oneOf` matched several branches; the SDK's schemas never do this
        yield _Problem(path, False, ApiError(f"Invalid value for '{param_of(path)}'.",
                                             code="invalid_value", param=param_of(path)))
        return
    for sub in by_branch[chosen]:
        yield from _explain(sub, root)


def next_discriminator(branches: Sequence[dict[str, Any]], candidates: list[int], used: set[str]) -> str | None:
    """A property every candidate branch pins to a constant, with at least two constants; `type` first."""
    if len(candidates) < 2:
        return None
    first = list(branches[candidates[0]].get("properties", {}))
    for key in sorted(first, key=lambda k: (k != "type", first.index(k))):
        if key in used:
            continue
        consts = []
        for i in candidates:
            prop = branches[i].get("properties", {}).get(key)
            if not isinstance(prop, dict) or "const" not in prop:
                break
            consts.append(json.dumps(prop["const"]))
        else:
            if len(set(consts)) > 1:
                return str(key)
    return None


KIND_OF_TYPE = {"string": "a string", "integer": "an integer", "number": "a number",
                 "boolean": "a boolean", "object": "an object", "array": "an array", "null": "null"}


def _json_types(schema: dict[str, Any], root: dict[str, Any]) -> set[str]:
    """The JSON types a schema can accept (an empty set means: any)."""
    schema = _resolve(root, schema)
    if "type" in schema:
        declared = schema["type"]
        return set(declared) if isinstance(declared, list) else {declared}
    if "const" in schema:
        return {json_type(schema["const"])}
    if "enum" in schema:
        return {json_type(v) for v in schema["enum"]}
    union = schema.get("anyOf") or schema.get("oneOf")
    if union:
        found: set[str] = set()
        for branch in union:
            more = _json_types(branch, root)
            if not more:
                return set()
            found |= more
        return found
    return set()


def json_type(value: Any) -> str:
    """The JSON type of a value as JSON Schema sees it (2.0 is an integer)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if math.isfinite(value) and value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _accepts_type(schema: dict[str, Any], instance: Any, root: dict[str, Any]) -> bool:
    types = _json_types(schema, root)
    if not types:
        return True
    kind = json_type(instance)
    return kind in types or (kind == "integer" and "number" in types)


def _describe(schema: dict[str, Any], root: dict[str, Any]) -> str:
    """"a string", "an array of objects", "one of a string or an array of objects"."""
    return _describe_many([schema], root)


def _describe_many(schemas: Iterable[dict[str, Any]], root: dict[str, Any]) -> str:
    words: list[str] = []
    for schema in schemas:
        schema = _resolve(root, schema)
        union = schema.get("anyOf") or schema.get("oneOf")
        if union and "type" not in schema:
            words.append(_describe_many(union, root).removeprefix("one of "))
            continue
        for kind in sorted(_json_types(schema, root)) or ["object"]:
            if kind == "array":
                items = _json_types(schema.get("items", {}), root)
                word = "an array" if len(items) != 1 else f"an array of {_plural(next(iter(items)))}"
            else:
                word = KIND_OF_TYPE.get(kind, kind)
            if word not in words and kind != "null":
                words.append(word)
    if len(words) == 1:
        return words[0]
    return "one of " + ", ".join(words[:-1]) + f" or {words[-1]}"


def _plural(kind: str) -> str:
    return {"string": "strings", "integer": "integers", "number": "numbers", "boolean": "booleans",
            "object": "objects", "array": "arrays", "null": "nulls"}[kind]
