"""The fast schema check agrees with jsonschema wherever it answers."""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from mockserver import schema_store
from mockserver.protocol.schema_check import compile_check, same
from tests.conftest import reference_dir

SCHEMAS = schema_store.schemas()
CLIENT_FAMILIES = ("realtime/client", "translation/client", "beta/client")
CLIENT_PATHS = [f"{family}/{t}" for family in CLIENT_FAMILIES for t in schema_store.event_types(family)]
REST_PATHS = ["rest/client_secrets.request", "rest/translations.client_secrets.request",
              "rest/calls.accept.request", "rest/calls.create.request", "rest/calls.refer.request",
              "rest/calls.reject.request",
              "rest/beta.sessions.request", "rest/beta.transcription_sessions.request"]


@pytest.mark.parametrize("path", CLIENT_PATHS + REST_PATHS)
def test_every_request_schema_gets_a_fast_check(path: str) -> None:
    assert SCHEMAS.fast_check(path) is not None


def test_unknown_keywords_get_no_fast_check() -> None:
    assert compile_check({"type": "string", "pattern": "^a"}) is None
    assert compile_check({"type": "object", "patternProperties": {"x": {}}}) is None


@pytest.mark.parametrize(("schema", "value", "valid"), [
    ({"const": 1}, True, False),
    ({"const": 1}, 1.0, True),
    ({"enum": [False]}, 0, False),
    ({"type": "integer"}, 2.0, True),
    ({"type": "integer"}, 2.5, False),
    ({"type": "integer"}, True, False),
    ({"type": "number"}, False, False),
    ({"type": ["string", "null"]}, None, True),
    ({"minimum": 5}, "three", True),  # ranges apply to numbers only
    ({"maxLength": 2}, ["a", "b", "c"], True),  # lengths to strings only
    ({"properties": {"a": {"type": "string"}}}, [1], True),  # properties to objects only
    ({"additionalProperties": False, "properties": {"a": {}}}, {"a": 1, "b": 2}, False),
    ({"additionalProperties": {"type": "string"}}, {"b": "x"}, True),
    ({"required": ["a"]}, {}, False),
    ({"items": {"type": "integer"}, "maxItems": 2}, [1, 2, 3], False),
    ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, 3, True),
    ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, 3, False),
    ({"$defs": {"n": {"anyOf": [{"type": "null"}, {"type": "array", "items": {"$ref": "#/$defs/n"}}]}},
      "$ref": "#/$defs/n"}, [[None], [[None]]], True),
    ({"$defs": {"n": {"anyOf": [{"type": "null"}, {"type": "array", "items": {"$ref": "#/$defs/n"}}]}},
      "$ref": "#/$defs/n"}, [[1]], False),
])
def test_keywords_mean_what_json_schema_says(schema: dict[str, Any], value: Any, valid: bool) -> None:
    check = compile_check(schema)
    assert check is not None
    assert check(value) is valid
    assert Draft202012Validator(schema).is_valid(value) is valid


def test_equality_keeps_booleans_apart() -> None:
    assert same([1, {"a": 1.0}], [1.0, {"a": 1}])
    assert not same([True], [1]) and not same({"a": 0}, {"a": False})


@functools.cache
def _examples() -> list[tuple[str, dict[str, Any]]]:
    """Every client frame the reference holds, with the schema it is checked against."""
    import yaml

    found = []
    for path in sorted(reference_dir().joinpath("recordings").glob("**/*.yaml")):
        for frame in yaml.safe_load(path.read_text())["interactions"]:
            data = frame.get("data")
            if frame["direction"] == "sent" and isinstance(data, dict) and isinstance(data.get("type"), str):
                found.append(data)
    for path in sorted(reference_dir().joinpath("examples").glob("*.json")):
        found.append(json.loads(path.read_text()))
    out: list[tuple[str, dict[str, Any]]] = []
    for event in found:
        for family in CLIENT_FAMILIES:
            if event.get("type") in schema_store.event_types(family):
                out.append((f"{family}/{event['type']}", event))
                break
    return out


def test_both_agree_on_every_recorded_client_frame() -> None:
    examples = _examples()
    assert len(examples) > 20
    for path, event in examples:
        check, (validator, _) = SCHEMAS.fast_check(path), SCHEMAS.compiled(path)
        assert check is not None and check(event) == validator.is_valid(event), (path, event)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 70_000) | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["realtime", "audio/pcm", "message", "user", "input_text", "server_vad", "inf", "x" * 600]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(
        ["type", "text", "role", "rate", "bogus", "audio", "format"]), children, max_size=3),
    max_leaves=12)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, (*prefix, index))
    return found


@st.composite
def mutated_events(draw: st.DrawFn) -> tuple[str, Any]:
    """A recorded event with one place replaced, removed or given an extra key: near-valid documents."""
    path, recorded = draw(st.sampled_from(_examples()))
    event = copy.deepcopy(recorded)
    where = draw(st.sampled_from(_paths(event)[1:] or [()]))
    if not where:
        return path, draw(json_values)
    parent = event
    for part in where[:-1]:
        parent = parent[part]
    action = draw(st.sampled_from(["replace", "remove", "extra"]))
    if action == "replace":
        parent[where[-1]] = draw(json_values)
    elif action == "remove":
        del parent[where[-1]]
    elif isinstance(parent, dict):
        parent[draw(st.sampled_from(["bogus", "type", "id", "rate"]))] = draw(json_values)
    return path, event


@given(mutated_events())
def test_both_agree_on_near_valid_events(case: tuple[str, Any]) -> None:
    path, event = case
    check, (validator, _) = SCHEMAS.fast_check(path), SCHEMAS.compiled(path)
    assert check is not None and check(event) == validator.is_valid(event)
