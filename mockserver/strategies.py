"""Hypothesis strategies for property tests of apps (and of the mock) that speak the Realtime API.

They are built from `schemas/` (the JSON Schemas generated from the official SDK, read through
`mockserver.schema_store`) with the live API's extra rules applied (`live_rules.tighten`: the 24 kHz
rate, the token, timeout and speed ranges, `event_id` of at most 512 characters, `format.rate`
required), so what they generate is what the live API and the mock accept:

- `client_events(types=None, *, reasoning=False)`: dicts, valid GA client events of the `/v1/realtime`
  socket (the types of `RealtimeSession.EVENTS`, or some of them), each valid against its schema in
  `schemas/` and against the tightened one. They are generated from the schema itself, small: short
  strings, a few array items, audio as valid base64 of short PCM16. Open strings that the SDK types as "a
  string or one of these" (`model`, `voice`, `conversation`) take one of the named values; references to
  account resources (stored prompts, custom voice ids) are left out, and so is `reasoning`, which only
  reasoning models take, unless `reasoning=True`; transcription options come with a model that takes
  them (`delay`, `keywords`, `prompt`). Ids are syntactically valid but need not exist in a
  session, so a session may still answer an `error` of state (an unknown `item_id`, nothing to cancel, a
  transcription update on a realtime session), never one of shape.
- `invalid_client_events(categories=None, types=None)`: `(frame, expected_error)` pairs. `frame` is what a
  client puts in a WebSocket message: a `str` (usually a valid event with one mutation; sometimes not
  JSON at all) or `bytes` (a binary frame); `expected_error` is the `mockserver.protocol.errors.ApiError`
  the live API answers with (type, code, param, message, and the `event_id` it echoes). The categories
  are `INVALID_CATEGORIES`: invalid JSON, binary frames, a missing `type`, an unknown `type` (answered
  with the live list of supported values), an unknown parameter, a missing required parameter, a wrong
  enum value, a wrong JSON type, a number below its minimum or above its maximum, a string too long.
- `session_configs(*, reasoning=False)`: dicts, valid `session` objects (type `realtime`) for
  `session.update`, accepted by a `gpt-realtime` session (with `reasoning=True`, by reasoning models).
- `conversation_items()`: dicts, valid items for `conversation.item.create`: messages of each role with
  their content kinds (text, audio, image), function calls and function call outputs.
- `audio_chunks(format="audio/pcm", kinds=("silence", "noise", "speech"))`: `(text, audio)` pairs;
  `audio` is bytes in `format` (`audio/pcm`: PCM16 24 kHz mono; `audio/pcmu`, `audio/pcma`: G.711 at
  8 kHz); `text` is what the audio says: the words of speech made with the speech codec
  (`mockserver.audio.speech.speak`), None for silence and for noise (seeded by Hypothesis). So
  `speech.transcribe(codecs.decode(audio, format)) == text` for every chunk.
- `scenarios()`: dicts, scenario documents that `mockserver.scenarios.parse_scenario(json.dumps(doc))`
  loads: a few rules with `when` conditions and replies of every form, timing, faults (of the sockets, of
  a call's data channel: `drop_channel`, `delay_channel`, and of the REST requests: `http_error`,
  `http_rate_limit`, `http_slow_body`, some for one path).

A downstream property test:

    from hypothesis import given
    from mockserver import schema_store, strategies
    from mockserver.protocol.realtime import RealtimeSession

    VALIDATOR = schema_store.schemas().validator(RealtimeSession.EVENTS.schemas)

    @given(strategies.client_events())
    def test_the_validator_accepts_every_valid_event(event):
        assert VALIDATOR.check(event)[1] == []

    @given(strategies.invalid_client_events())
    def test_my_client_reports_the_live_error(case):
        frame, expected = case
        ...  # send `frame` to the mock, expect an `error` event whose `error` is `expected.payload()`

This module needs Hypothesis (the `test` extra); nothing else in the package imports it.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import re
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from mockserver import schema_store
from mockserver.audio import codecs, speech
from mockserver.audio.formats import FORMATS, PCM_RATE, Format
from mockserver.protocol import errors
from mockserver.protocol.errors import ApiError
from mockserver.protocol.live_rules import tighten
from mockserver.protocol.realtime import RealtimeSession
from mockserver.protocol.validation import KIND_OF_TYPE, json_type, next_discriminator
from mockserver.scenarios.engine import ALWAYS_AVAILABLE

__all__ = [
    "AUDIO_KINDS",
    "INVALID_CATEGORIES",
    "audio_chunks",
    "client_events",
    "conversation_items",
    "invalid_client_events",
    "scenarios",
    "session_configs",
]

Path = tuple[str | int, ...]
# A step of a schema path, for forcing one node into a generated value: a property, an array's first
# item, a map's first value, a union's branch.
Step = tuple[str, str | int]

INVALID_CATEGORIES = (
    "invalid_json", "binary_frame", "missing_type", "unknown_type", "unknown_parameter",
    "missing_required_parameter", "invalid_value", "invalid_type", "below_minimum", "above_maximum",
    "string_too_long",
)
AUDIO_KINDS = ("silence", "noise", "speech")

# -- small values ------------------------------------------------------------------------------------

_TEXT_CHARS = st.characters(codec="utf-8", categories=("L", "N", "P", "Zs"))  # letters, digits, punctuation, spaces
_TEXT = st.text(_TEXT_CHARS, max_size=16)
_LOWER = string.ascii_lowercase
_IDENTIFIER = st.builds(lambda head, tail: head + tail, st.sampled_from(_LOWER),
                        st.text(_LOWER + string.digits + "_", max_size=11))
_HEX = st.text("0123456789abcdef", min_size=1, max_size=12)
_LANGUAGES = ("en", "fr", "de", "es", "it", "ja", "pt", "zh")
_SCALARS = st.none() | st.booleans() | st.integers(-1000, 1000) | st.floats(
    -1000, 1000, allow_nan=False, allow_infinity=False, allow_subnormal=False) | _TEXT
_ANY_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                         | st.dictionaries(_IDENTIFIER, inner, max_size=3), max_leaves=6)
# A 1x1 transparent PNG: the smallest image a data URL can carry.
_PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")


def _even(data: bytes) -> bytes:
    return data[: len(data) // 2 * 2]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# Short PCM16 audio as base64: noise-like bytes or silence, at most 48 samples (2 ms).
_AUDIO_B64 = (st.binary(min_size=2, max_size=96).map(_even) | st.integers(1, 48).map(lambda n: bytes(2 * n))).map(_b64)
_JSON_SCHEMA = st.dictionaries(_IDENTIFIER, st.sampled_from(("string", "number", "integer", "boolean")),
                               max_size=3).map(lambda props: {
                                   "type": "object", "properties": {k: {"type": t} for k, t in props.items()},
                                   "required": sorted(props)[:1]})
_ARGUMENTS = st.dictionaries(_IDENTIFIER, _SCALARS, max_size=3).map(json.dumps)


def _id_of(prefix: str) -> st.SearchStrategy[str]:
    return _HEX.map(lambda tail: prefix + tail)


_ID_PREFIXES = {"event_id": "event_", "item_id": "item_", "previous_item_id": "item_", "id": "item_",
                "call_id": "call_", "response_id": "resp_", "approval_request_id": "mcpr_"}

# Values for properties the schema leaves too open to be useful (by property name and JSON type): what
# the live API expects there.
_OVERRIDES: dict[tuple[str, str | None], st.SearchStrategy[Any]] = {
    ("audio", "string"): _AUDIO_B64,
    ("arguments", "string"): _ARGUMENTS,
    ("parameters", None): _JSON_SCHEMA,
    ("input_schema", None): _JSON_SCHEMA,
    ("metadata", None): st.dictionaries(_IDENTIFIER, _TEXT, max_size=2),
    ("name", "string"): _IDENTIFIER,
    ("server_label", "string"): _IDENTIFIER,
    ("image_url", "string"): st.sampled_from((f"data:image/png;base64,{_PNG}", "https://example.com/cat.png")),
    ("language", "string"): st.sampled_from(_LANGUAGES),
    ("languages", "array"): st.lists(st.sampled_from(_LANGUAGES), max_size=2, unique=True),
    # "exactly one of 'text' or 'audio'" (session_config.both_modalities)
    ("output_modalities", "array"): st.sampled_from((["text"], ["audio"])),
    **{(key, "string"): _id_of(prefix) for key, prefix in _ID_PREFIXES.items()},
}
# Union branches that name things that exist only in an account (a custom voice, a stored prompt).
_UNSATISFIABLE = frozenset({"VoiceID", "OutputVoiceID", "ResponsePromptParam"})
# Keys the schema leaves optional that a useful value always has: a function tool's name.
_ALWAYS = {"RealtimeFunctionToolParam": ("type", "name")}
# Transcription options that only some models take (SDK 3.51.0 doc comments: `delay` "Only supported with
# gpt-realtime-whisper in GA Realtime sessions", `keywords` "Supported by gpt-transcribe and gpt-live-transcribe";
# `prompt` is not taken by gpt-realtime-whisper): option -> (model prefixes, taken by them only / by all others).
_TRANSCRIPTION_OPTIONS: dict[str, tuple[tuple[str, ...], bool]] = {
    "delay": (("gpt-realtime-whisper",), True),
    "keywords": (("gpt-transcribe", "gpt-live-transcribe"), True),
    "prompt": (("gpt-realtime-whisper",), False),
}
_DEFAULT_TRANSCRIPTION_MODEL = "whisper-1"


def _takes(model: str, option: str) -> bool:
    prefixes, only = _TRANSCRIPTION_OPTIONS[option]
    return model.startswith(prefixes) == only


# `reasoning` is taken by reasoning models only (gpt-realtime-2 and later); others answer unsupported_parameter.
_NO_REASONING = frozenset({"reasoning"})
# Content parts (one schema per role, every key optional): the keys each kind carries.
_PART_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "input_text": (("text",), ()),
    "input_audio": (("audio",), ("transcript",)),
    "input_image": (("image_url",), ("detail",)),
    "output_text": (("text",), ()),
    "output_audio": (("transcript",), ("audio",)),
}

_PLURALS = {"string": "strings", "integer": "integers", "number": "numbers", "boolean": "booleans",
            "object": "objects", "array": "arrays", "null": "nulls"}


# -- the schemas ------------------------------------------------------------------------------------

class _Schema:
    """One tightened client-event schema: reference resolution, JSON types, the live words for types."""

    def __init__(self, path: str) -> None:
        sdk = schema_store.load(path)
        self.root = tighten(sdk)
        # Union branches the live rules add (a `null` that turns a setting off): valid live, but not for the
        # SDK's types, so they are not generated (a generated event passes both schemas).
        self._live_only: set[int] = set()
        self._mark_live_only(sdk, self.root)

    def _mark_live_only(self, sdk: Any, live: Any) -> None:
        if isinstance(live, dict) and isinstance(sdk, dict):
            if "anyOf" in live and "anyOf" not in sdk:
                allowed = self.kinds(sdk)
                for branch in live["anyOf"]:
                    if allowed and not self.kinds(branch) <= allowed:
                        self._live_only.add(id(branch))
                    else:
                        self._mark_live_only(sdk, branch)
                return
            for key in live.keys() & sdk.keys():
                self._mark_live_only(sdk[key], live[key])
        elif isinstance(live, list) and isinstance(sdk, list) and len(live) == len(sdk):
            for one, other in zip(sdk, live, strict=True):
                self._mark_live_only(one, other)

    def resolve(self, node: Any) -> dict[str, Any]:
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
            target: Any = self.root
            for part in node["$ref"][2:].split("/"):
                target = target[part]
            node = target
        return node if isinstance(node, dict) else {}

    def kinds(self, node: Any) -> set[str]:
        """The JSON types a node accepts; empty: any."""
        node = self.resolve(node)
        if "type" in node:
            declared = node["type"]
            return set(declared) if isinstance(declared, list) else {declared}
        if "const" in node:
            return {json_type(node["const"])}
        if "enum" in node:
            return {json_type(v) for v in node["enum"]}
        if "anyOf" in node:
            found: set[str] = set()
            for branch in node["anyOf"]:
                more = self.kinds(branch)
                if not more:
                    return set()
                found |= more
            return found
        return set()

    def accepts(self, node: Any, value: Any) -> bool:
        kinds = self.kinds(node)
        kind = json_type(value)
        return not kinds or kind in kinds or (kind == "integer" and "number" in kinds)

    def words(self, nodes: Iterable[Any]) -> str:
        """What the live API says a place expects: "a string", "an array of objects", "one of a string or
        an object" (null is never named)."""
        words: list[str] = []
        for raw in nodes:
            node = self.resolve(raw)
            kinds = sorted(self.kinds(node)) or ["object"]
            for kind in kinds:
                if kind == "array":
                    items = self.kinds(node.get("items", {}))
                    word = f"an array of {_PLURALS[next(iter(items))]}" if len(items) == 1 else "an array"
                else:
                    word = KIND_OF_TYPE.get(kind, kind)
                if kind != "null" and word not in words:
                    words.append(word)
        if len(words) == 1:
            return words[0]
        return "one of " + ", ".join(words[:-1]) + f" or {words[-1]}"

    def branches(self, node: dict[str, Any]) -> list[dict[str, Any]]:
        return [self.resolve(b) for b in node["anyOf"]]

    def generated_branches(self, union: dict[str, Any]) -> list[int]:
        """The branches of a union worth generating: not an account's resources, not the plain string beside
        named values (the SDK's "str | Literal[...]": the live API takes the literals), not the live rules'
        additions."""
        branches = self.branches(union)
        named = any("enum" in b or "const" in b for b in branches if self.kinds(b) == {"string"})
        keep = [i for i, b in enumerate(branches) if b.get("title") not in _UNSATISFIABLE
                and id(union["anyOf"][i]) not in self._live_only
                and not (named and b.get("type") == "string" and "enum" not in b and "const" not in b)]
        return keep or list(range(len(branches)))

    def override(self, key: str | None, node: dict[str, Any]) -> st.SearchStrategy[Any] | None:
        if key is None or "const" in node or "enum" in node or "anyOf" in node:
            return None
        declared = node.get("type")
        return _OVERRIDES.get((key, declared if isinstance(declared, str) or declared is None else None))

    def part_kinds(self, node: dict[str, Any]) -> list[str] | None:
        """The kinds of a content-part schema (every key optional, `type` one of _PART_FIELDS), else None."""
        if "required" in node or node.get("type") != "object":
            return None
        kind = node.get("properties", {}).get("type", {})
        values = kind.get("enum") or ([kind["const"]] if "const" in kind else None)
        if values and all(v in _PART_FIELDS for v in values):
            return list(values)
        return None


@functools.cache
def _schema(path: str) -> _Schema:
    return _Schema(path)


@dataclass(frozen=True)
class _Narrowed:
    """How the live API reads a value against a union: the branch it picks, or why it picks none."""

    outcome: str  # "decided", "ambiguous", "no_type", "bad_tag", "missing_tag"
    candidates: tuple[int, ...] = ()
    key: str | None = None
    supported: tuple[Any, ...] = ()


def _narrow(schema: _Schema, branches: Sequence[dict[str, Any]], value: Any) -> _Narrowed:
    """A union is read by JSON type, then by its tags (properties each candidate pins to a constant, at
    least two different ones; `type` first, then in the order of the first candidate): a tag that matches
    no candidate is a wrong value (the candidates' tags are the supported values), a missing tag that
    every candidate requires is a missing parameter."""
    candidates = [i for i, b in enumerate(branches) if schema.accepts(b, value)]
    if not candidates:
        return _Narrowed("no_type")
    used: set[str] = set()
    while isinstance(value, dict) and len(candidates) > 1:
        key = next_discriminator(branches, candidates, used)
        if key is None:
            break
        used.add(key)
        consts = {i: branches[i]["properties"][key]["const"] for i in candidates}
        if key not in value:
            if all(key in branches[i].get("required", ()) for i in candidates):
                return _Narrowed("missing_tag", key=key)
            break
        matching = [i for i in candidates if consts[i] == value[key] and json_type(consts[i]) == json_type(value[key])]
        if not matching:
            return _Narrowed("bad_tag", key=key, supported=tuple(dict.fromkeys(consts[i] for i in candidates)))
        candidates = matching
    return _Narrowed("decided" if len(candidates) == 1 else "ambiguous", tuple(candidates))


# -- the walker: a value from a schema, remembering where each part came from ---------------------------

@dataclass(frozen=True)
class _Union:
    branches: tuple[dict[str, Any], ...]
    chosen: int


@dataclass(frozen=True)
class _Slot:
    """A place in a generated value: the schema node it was made from (a union's chosen branch), and the
    union when it was one."""

    path: Path
    node: dict[str, Any]
    union: _Union | None


class _Walker:
    """Draws one value for a schema node. `force` (a schema path of `Step`s) makes a given node appear:
    its properties are included, arrays and maps get an element, unions take the given branch; the place
    where it ends is `target`."""

    def __init__(self, schema: _Schema, draw: st.DrawFn, omit: frozenset[str] = frozenset()) -> None:
        self.schema = schema
        self.draw = draw
        self.omit = omit  # optional keys never generated (unless forced)
        self.slots: dict[Path, _Slot] = {}
        self.target: Path | None = None

    def value(self, raw: Any, path: Path, key: str | None, force: tuple[Step, ...] | None) -> Any:
        if force == ():
            self.target = path
        node = self.schema.resolve(raw)
        if "anyOf" in node:
            branches = self.schema.branches(node)
            if force:
                chosen, rest = int(force[0][1]), force[1:]
            else:
                chosen, rest = self.draw(st.sampled_from(self.schema.generated_branches(node))), None
            return self._plain(branches[chosen], path, key, rest, _Union(tuple(branches), chosen))
        return self._plain(node, path, key, force or None, None)

    def _plain(self, node: dict[str, Any], path: Path, key: str | None, force: tuple[Step, ...] | None,
               union: _Union | None) -> Any:
        self.slots[path] = _Slot(path, node, union)
        if force == ():
            self.target = path
            force = None
        override = self.schema.override(key, node)
        if override is not None:
            return self.draw(override)
        if "const" in node:
            return node["const"]
        if "enum" in node:
            return self.draw(st.sampled_from(node["enum"]))
        declared = node.get("type")
        kind = self.draw(st.sampled_from(declared)) if isinstance(declared, list) else declared
        if kind == "object":
            return self._object(node, path, force, union)
        if kind == "array":
            return self._array(node, path, key, force)
        if kind == "string":
            low = int(node.get("minLength", 0))
            return self.draw(st.text(_TEXT_CHARS, min_size=low, max_size=max(low, min(node.get("maxLength", 16), 16))))
        if kind == "integer":
            low = int(node.get("minimum", 0))
            return self.draw(st.integers(low, int(node.get("maximum", low + 10_000))))
        if kind == "number":
            bottom = float(node.get("minimum", 0.0))
            return self.draw(st.floats(bottom, float(node.get("maximum", bottom + 1.0)),
                                       allow_nan=False, allow_infinity=False, allow_subnormal=False))
        if kind == "boolean":
            return self.draw(st.booleans())
        if kind == "null":
            return None
        return self.draw(_ANY_JSON)

    def _include(self) -> bool:
        return self.draw(st.booleans())  # an optional key: one time in two

    def _object(self, node: dict[str, Any], path: Path, force: tuple[Step, ...] | None,
                union: _Union | None) -> dict[str, Any]:
        properties: dict[str, Any] = node.get("properties", {})
        forced = str(force[0][1]) if force and force[0][0] == "p" else None
        always = set(node.get("required", ())) | set(_ALWAYS.get(node.get("title", ""), ()))
        if union is not None:  # a union's branch always carries its tags, so that it reads as that branch
            always |= {k for k, v in properties.items() if isinstance(v, dict) and "const" in v}
        chosen: list[str]
        kinds = self.schema.part_kinds(node)
        if kinds is not None:  # a content part: its kind, then the keys of that kind
            fitting = [k for k in kinds if forced in (None, "type") or forced in sum(_PART_FIELDS[k], ())]
            kind = self.draw(st.sampled_from(fitting or kinds))
            needed, optional = _PART_FIELDS[kind]
            chosen = ["type", *needed, *(k for k in optional if k == forced or self._include())]
            chosen += [forced] if forced is not None and forced not in chosen else []
            names = [k for k in chosen if k in properties]
        else:
            kind = None
            names = sorted(properties, key=lambda k: k != "type")
            names = [k for k in names if k in always or k == forced or (k not in self.omit and self._include())]
        out: dict[str, Any] = {}
        for name in names:
            rest = force[1:] if force and name == forced else None
            out[name] = self.value(properties[name], (*path, name), name, rest)
        if kind is not None:
            out["type"] = kind
        if node.get("title") == "AudioTranscriptionParam":
            self._fit_transcription_model(node, out, forced)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and not properties:  # a map: metadata, headers, prompt variables
            count = self.draw(st.integers(1 if force and force[0][0] == "m" else 0, 2))
            for index in range(count):
                name = self.draw(_IDENTIFIER)
                if name in out:
                    continue
                rest = force[1:] if force and index == 0 else None
                out[name] = self.value(extra, (*path, name), None, rest)
        return out

    def _fit_transcription_model(self, node: dict[str, Any], out: dict[str, Any], forced: str | None) -> None:
        """Transcription options that only some models take come with such a model (the option a forced path
        leads to keeps its place; the others go when the model does not take them)."""
        model = out.get("model", _DEFAULT_TRANSCRIPTION_MODEL)
        if forced in _TRANSCRIPTION_OPTIONS and not _takes(model, forced):
            names = [v for b in node["properties"]["model"].get("anyOf", ()) for v in b.get("enum", ())]
            model = out["model"] = self.draw(st.sampled_from([m for m in names if _takes(m, forced)]))
        for option in _TRANSCRIPTION_OPTIONS:
            if option in out and option != forced and not _takes(model, option):
                del out[option]

    def _array(self, node: dict[str, Any], path: Path, key: str | None, force: tuple[Step, ...] | None) -> list[Any]:
        least = int(node.get("minItems", 0))
        most = max(least, min(int(node.get("maxItems", 3)), 3))
        count = self.draw(st.integers(max(least, 1 if force else 0), most))
        items = [self.value(node.get("items", {}), (*path, i), None, force[1:] if force and i == 0 else None)
                 for i in range(count)]
        if key == "tools":  # tool names are unique within a session or response
            seen: set[Any] = set()
            for index, tool in enumerate(items):
                label = "name" if isinstance(tool, dict) and "name" in tool else "server_label"
                if isinstance(tool, dict) and label in tool:
                    if tool[label] in seen:
                        tool[label] = f"{tool[label]}_{index}"
                    seen.add(tool[label])
        return items


# -- valid client events ----------------------------------------------------------------------------

def _event_types() -> tuple[str, ...]:
    return tuple(RealtimeSession.EVENTS.schemas)


def _chosen_types(types: Iterable[str] | None) -> tuple[str, ...]:
    supported = _event_types()
    if types is None:
        return supported
    chosen = tuple(types)
    unknown = [t for t in chosen if t not in supported]
    if unknown or not chosen:
        raise ValueError(f"not client events of the realtime socket: {unknown or chosen!r}; "
                         f"choose from {', '.join(supported)}")
    return chosen


@functools.cache
def _dives(event_type: str, omit: frozenset[str]) -> tuple[tuple[Step, ...], ...]:
    """The schema paths to every node of an event's schema (but those under omitted keys)."""
    schema = _schema(RealtimeSession.EVENTS.schemas[event_type])
    paths = {t.steps for t in _templates(schema) if not any(kind == "p" and key in omit for kind, key in t.steps)}
    return tuple(sorted(paths, key=lambda steps: (len(steps), repr(steps))))


@st.composite
def _generated(draw: st.DrawFn, path: str, force: tuple[Step, ...] | None = None,
               omit: frozenset[str] = frozenset()) -> tuple[Any, _Walker]:
    """A value of the schema at `path` (forced through `force`), and the walker that knows its places."""
    schema = _schema(path)
    walker = _Walker(schema, draw, omit)
    value = walker.value(schema.root, (), None, force)
    return value, walker


@st.composite
def _event(draw: st.DrawFn, types: tuple[str, ...], omit: frozenset[str] = _NO_REASONING) -> dict[str, Any]:
    event_type = draw(st.sampled_from(types))
    # Half the time, a dive: a node of the schema drawn at random is made to appear, however deep.
    force = draw(st.none() | st.sampled_from(_dives(event_type, omit)))
    event, _ = draw(_generated(RealtimeSession.EVENTS.schemas[event_type], force, omit))
    assert isinstance(event, dict)
    return event


def _omitted(reasoning: bool) -> frozenset[str]:
    return frozenset() if reasoning else _NO_REASONING


def client_events(types: Iterable[str] | None = None, *, reasoning: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """Valid client events of the `/v1/realtime` socket (of `types`, default every one), as dicts.
    `reasoning=True`: sessions and responses may set `reasoning`, which only reasoning models take."""
    return _event(_chosen_types(types), _omitted(reasoning))


def _session_update_path() -> str:
    return RealtimeSession.EVENTS.schemas["session.update"]


@st.composite
def _session_config(draw: st.DrawFn, omit: frozenset[str]) -> dict[str, Any]:
    schema = _schema(_session_update_path())
    union = schema.resolve(schema.root["properties"]["session"])
    branch = next(i for i, b in enumerate(schema.branches(union))
                  if b.get("properties", {}).get("type", {}).get("const") == "realtime")
    config, _ = draw(_generated(_session_update_path(), (("p", "session"), ("b", branch)), omit))
    session: dict[str, Any] = config["session"]
    return session


def session_configs(*, reasoning: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """Valid `session` objects of type `realtime` for `session.update`, as dicts. `reasoning=True`: they may
    set `reasoning`, which only reasoning models (`gpt-realtime-2` and later) take."""
    return _session_config(_omitted(reasoning))


_ITEM_KINDS = (("message", "system"), ("message", "user"), ("message", "assistant"), ("function_call", None),
               ("function_call_output", None))


@st.composite
def _conversation_item(draw: st.DrawFn) -> dict[str, Any]:
    path = RealtimeSession.EVENTS.schemas["conversation.item.create"]
    schema = _schema(path)
    branches = schema.branches(schema.resolve(schema.root["properties"]["item"]))

    def is_kind(branch: dict[str, Any], kind: tuple[str, str | None]) -> bool:
        props = branch.get("properties", {})
        return bool(props.get("type", {}).get("const") == kind[0] and props.get("role", {}).get("const") == kind[1])

    wanted = [i for i, b in enumerate(branches) if any(is_kind(b, kind) for kind in _ITEM_KINDS)]
    event, _ = draw(_generated(path, (("p", "item"), ("b", draw(st.sampled_from(wanted))))))
    item: dict[str, Any] = event["item"]
    return item


def conversation_items() -> st.SearchStrategy[dict[str, Any]]:
    """Valid items for `conversation.item.create` (system, user and assistant messages with their content
    kinds, function calls, function call outputs), as dicts."""
    return _conversation_item()


# -- invalid client events ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Template:
    """A node of an event's schema, and how to make it appear: where a mutation (or a dive) aims."""

    steps: tuple[Step, ...]
    node: dict[str, Any]
    is_union: bool
    in_branch: bool  # the node is a union's branch (its type is the union's business)


def _templates(schema: _Schema) -> list[_Template]:
    """Every node of a schema that generation reaches, with the steps that force it (unions: only into the
    branches a value of which reads as that branch)."""
    found: list[_Template] = []

    def walk(raw: Any, steps: tuple[Step, ...], key: str | None, depth: int) -> None:
        if depth > 12:
            return
        node = schema.resolve(raw)
        if "anyOf" in node:
            found.append(_Template(steps, node, True, False))
            branches = schema.branches(node)
            for index in schema.generated_branches(node):
                if _statically_decided(schema, branches, index):
                    visit(branches[index], (*steps, ("b", index)), key, depth, True)
            return
        visit(node, steps, key, depth, False)

    def visit(node: dict[str, Any], steps: tuple[Step, ...], key: str | None, depth: int, in_branch: bool) -> None:
        found.append(_Template(steps, node, False, in_branch))
        if schema.override(key, node) is not None:
            return
        if node.get("type") == "object":
            kinds = schema.part_kinds(node)
            allowed = {"type", *(k for kind in kinds for k in sum(_PART_FIELDS[kind], ()))} if kinds else None
            for name, sub in node.get("properties", {}).items():
                if allowed is None or name in allowed:
                    walk(sub, (*steps, ("p", name)), name, depth + 1)
            extra = node.get("additionalProperties")
            if isinstance(extra, dict) and not node.get("properties"):
                walk(extra, (*steps, ("m", "")), None, depth + 1)
        elif node.get("type") == "array" and "items" in node:
            walk(node["items"], (*steps, ("i", 0)), None, depth + 1)

    walk(schema.root, (), None, 0)
    return found


def _statically_decided(schema: _Schema, branches: Sequence[dict[str, Any]], index: int) -> bool:
    """Whether a value of this branch reads as this branch (so a mutation inside it is explained by it)."""
    branch = branches[index]
    kinds = schema.kinds(branch)
    if kinds - {"object"}:
        samples: list[Any] = [{"string": "x", "integer": 1, "number": 0.5, "boolean": True, "null": None,
                               "array": []}[k] for k in kinds if k != "object"]
    else:
        samples = [{k: v["const"] for k, v in branch.get("properties", {}).items()
                    if isinstance(v, dict) and "const" in v}]
    return all(_narrow(schema, branches, sample).candidates == (index,) for sample in samples)


def _category_of(template: _Template) -> set[str]:
    node, steps = template.node, template.steps
    if not steps:
        found = {"unknown_parameter"} if node.get("additionalProperties") is False else set()
        if set(node.get("required", ())) - {"type"}:
            found.add("missing_required_parameter")
        return found | {"invalid_type"}  # a `type` that is not a string
    if steps == (("p", "type"),):
        return set()  # the event's type: categories of its own
    if template.is_union:
        return {"invalid_type"}
    found = set()
    if node.get("type") == "object":
        if node.get("additionalProperties") is False:
            found.add("unknown_parameter")
        if node.get("required"):
            found.add("missing_required_parameter")
    values = node.get("enum", [node["const"]] if "const" in node else None)
    if values is not None:
        if all(isinstance(v, str) or v is None for v in values):
            found.add("invalid_value")
    elif "type" in node and not template.in_branch:
        found.add("invalid_type")
    if node.get("type") in ("integer", "number"):
        found |= {"below_minimum"} if "minimum" in node else set()
        found |= {"above_maximum"} if "maximum" in node else set()
    if node.get("type") == "string" and "maxLength" in node:
        found.add("string_too_long")
    return found


@functools.cache
def _templates_by_category(event_type: str) -> dict[str, tuple[_Template, ...]]:
    schema = _schema(RealtimeSession.EVENTS.schemas[event_type])
    out: dict[str, list[_Template]] = {}
    for template in _templates(schema):
        for category in _category_of(template):
            out.setdefault(category, []).append(template)
    return {category: tuple(found) for category, found in out.items()}


_FRAME_CATEGORIES = ("invalid_json", "binary_frame", "missing_type", "unknown_type")
_UNKNOWN_KEYS = ("modalities", "input_audio_format", "output_audio_format", "voice", "temperature", "bogus",
                 "extra", "max_response_output_tokens", "turn_detection", "tools", "content", "role", "text")
_UNKNOWN_TYPES = ("transcription_session.update", "output_audio_buffer.clear", "session.created",
                  "response.output_text.delta", "response.done", "conversation.item.created", "Session.Update",
                  "response.create ", "input_audio_buffer.append_", "nope", "")
_WRONG_VALUES: tuple[Any, ...] = ("text", 7, 1.5, True, None, [], {}, ["x"], {"key": 1})
_NOT_A_START = "abcdeghijklmopqrsuvwxyzABCDEFGHJKLMOPQRSTUVWXYZ<'"  # no JSON value starts with these


def _parse_error(message: str, position: int) -> ApiError:
    """The live error for text that is not JSON, with the parser's detail (one-line frames)."""
    return errors.invalid_json(f"{message}: line 1 column {position + 1} (char {position})")


def _get(value: Any, path: Path) -> Any:
    for part in path:
        value = value[part]
    return value


def _param(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _echo(event: dict[str, Any], error: ApiError) -> ApiError:
    event_id = event.get("event_id")
    return error.for_event(event_id if isinstance(event_id, str) else None)


def _frame(draw: st.DrawFn, event: Any) -> str:
    compact = draw(st.booleans())
    return json.dumps(event, separators=(",", ":") if compact else None)


@st.composite
def _invalid(draw: st.DrawFn, categories: tuple[str, ...], types: tuple[str, ...]) -> tuple[str | bytes, ApiError]:
    category = draw(st.sampled_from(categories))
    if category in _FRAME_CATEGORIES:
        return _frame_case(draw, category, draw(_event(types)))
    event_type = draw(st.sampled_from([t for t in types if category in _templates_by_category(t)]))
    template = draw(st.sampled_from(_templates_by_category(event_type)[category]))
    path = RealtimeSession.EVENTS.schemas[event_type]
    event, walker = draw(_generated(path, template.steps, _NO_REASONING))
    assert walker.target is not None
    case = _mutate(draw, walker, event, category, walker.target)
    assume(case is not None)  # a rare shape that reads ambiguously: another example
    assert case is not None
    mutated, expected = case
    return _frame(draw, mutated), _echo(mutated, expected)


def _frame_case(draw: st.DrawFn, category: str, event: dict[str, Any]) -> tuple[str | bytes, ApiError]:
    text = _frame(draw, event)
    if category == "binary_frame":
        data = draw(st.sampled_from(("event", "bytes")))
        return (text.encode() if data == "event" else draw(st.binary(max_size=32))), errors.binary_frame()
    if category == "missing_type":
        if draw(st.booleans()):
            return _frame(draw, {k: v for k, v in event.items() if k != "type"}), _echo(event, errors.missing_type())
        other = draw(st.sampled_from(([event], [], "session.update", 42, None, True)))
        return json.dumps(other), errors.missing_type()
    if category == "unknown_type":
        bad = draw(st.sampled_from(_UNKNOWN_TYPES) | _IDENTIFIER.map(lambda s: f"{s}.update"))
        assume(bad not in _event_types())
        mutated = {**event, "type": bad}
        return _frame(draw, mutated), _echo(mutated, errors.invalid_value("type", bad, _event_types()))
    form = draw(st.sampled_from(("word", "empty", "js_object", "trailing", "two_events", "nan", "truncated")))
    if form == "word":  # plain text, a Python repr, a JS object
        word = draw(st.sampled_from(_NOT_A_START)) + draw(_TEXT)
        return word, _parse_error("Expecting value", 0)
    if form == "empty":
        return "", _parse_error("Expecting value", 0)
    if form == "js_object":
        return f"{{type: {json.dumps(event['type'])}}}", _parse_error(
            "Expecting property name enclosed in double quotes", 1)
    if form == "trailing":
        junk = draw(st.sampled_from(("x", "}", "]", ",", "{}")))
        return text + junk, _parse_error("Extra data", len(text))
    if form == "two_events":
        return text + text, _parse_error("Extra data", len(text))
    if form == "nan":
        constant = draw(st.sampled_from(("NaN", "Infinity", "-Infinity")))
        return f'{text[:-1]}, "{draw(_IDENTIFIER)}": {constant}}}', errors.invalid_json(f"{constant} is not valid JSON")
    cut = text[:-1]  # the closing brace lost
    return cut, _parse_error("Expecting ',' delimiter", len(cut))


def _mutate(draw: st.DrawFn, walker: _Walker, event: dict[str, Any], category: str,
            target: Path) -> tuple[dict[str, Any], ApiError] | None:
    """One mutation at `target` of a valid event, and the error the live API answers it with."""
    slot = walker.slots[target]
    node = slot.node
    mutated = copy.deepcopy(event)
    value = _get(mutated, target)
    where: Path = target  # the place the mutation changes
    expected: ApiError
    if category == "unknown_parameter":
        known = set(node.get("properties", {}))
        name = draw(st.sampled_from(_UNKNOWN_KEYS) | _IDENTIFIER)
        name = name if name not in known else f"{name}_x"
        value[name] = draw(_SCALARS)
        where = (*target, name)
        expected = errors.unknown_parameter(_param(where))
    elif category == "missing_required_parameter":
        keys = [k for k in node.get("required", ()) if k in value and (target, k) != ((), "type")]
        if not keys:
            return None
        name = draw(st.sampled_from(keys))
        del value[name]
        where = (*target, name)
        expected = errors.missing_required_parameter(_param(where))
    elif category == "invalid_value":
        values = node.get("enum", [node.get("const")])
        bad = draw(st.sampled_from(("bogus", "", "none", "default", "AUTO")) | _IDENTIFIER)
        if bad in values:
            bad = f"{bad}_x"
        _put(mutated, target, bad)
        expected = errors.invalid_value(_param(target), bad, [v for v in values if v is not None])
    elif category == "invalid_type":
        if not target:  # the event's type, not a string
            bad = draw(st.sampled_from([v for v in _WRONG_VALUES if not isinstance(v, str)]))
            mutated["type"] = bad
            return mutated, errors.invalid_type("type", "a string", bad)
        nodes = list(slot.union.branches) if slot.union is not None else [node]
        wrong = [v for v in _WRONG_VALUES if not any(walker.schema.accepts(n, v) for n in nodes)]
        if not wrong:
            return None
        bad = copy.deepcopy(draw(st.sampled_from(wrong)))
        _put(mutated, target, bad)
        expected = errors.invalid_type(_param(target), walker.schema.words(nodes), bad)
    elif category in ("below_minimum", "above_maximum"):
        below = category == "below_minimum"
        bound = node["minimum" if below else "maximum"]
        integer = node.get("type") == "integer"
        if integer:
            step: float = draw(st.integers(1, 10_000))
        else:
            step = draw(st.sampled_from((0.5, 1, 0.001, 100)) | st.floats(0.001, 1000, allow_nan=False))
        bad = bound - step if below else bound + step
        bad = int(bad) if integer else round(float(bad), 3)
        if (bad >= bound) if below else (bad <= bound):
            return None
        _put(mutated, target, bad)
        expected = errors.out_of_range(_param(target), bad, bound, integer=integer, below=below)
    else:  # string_too_long
        bound = int(node["maxLength"])
        bad = draw(st.sampled_from(string.ascii_letters)) * (bound + draw(st.integers(1, 100)))
        _put(mutated, target, bad)
        expected = errors.string_length(_param(target), len(bad), bound, too_long=True)
    return _through_unions(walker, mutated, where, expected)


def _put(event: dict[str, Any], path: Path, value: Any) -> None:
    _get(event, path[:-1])[path[-1]] = value


def _through_unions(walker: _Walker, mutated: dict[str, Any], where: Path,
                    expected: ApiError) -> tuple[dict[str, Any], ApiError] | None:
    """The error as the unions on the way to the mutation read it: the outermost union that no longer
    reads as the branch the value was made from answers instead (a wrong or missing tag), if the mutation
    is that tag; anything else reads ambiguously and is not used."""
    for depth in range(len(where) + 1):
        slot = walker.slots.get(where[:depth])
        if slot is None or slot.union is None:
            continue
        try:
            instance = _get(mutated, slot.path)
        except (KeyError, IndexError):
            continue  # the mutation removed it
        narrowed = _narrow(walker.schema, slot.union.branches, instance)
        if narrowed.outcome == "decided" and narrowed.candidates == (slot.union.chosen,):
            continue
        if narrowed.outcome == "no_type" and slot.path == where and expected.code == "invalid_type":
            return mutated, expected
        tag = (*slot.path, narrowed.key) if narrowed.key is not None else None
        if narrowed.outcome == "missing_tag" and tag == where:
            return mutated, errors.missing_required_parameter(_param(where))
        if narrowed.outcome == "bad_tag" and tag == where:
            return mutated, errors.invalid_value(_param(where), _get(mutated, where), narrowed.supported)
        return None
    return mutated, expected


def invalid_client_events(categories: Iterable[str] | None = None,
                          types: Iterable[str] | None = None) -> st.SearchStrategy[tuple[str | bytes, ApiError]]:
    """`(frame, expected_error)` pairs: a WebSocket frame with one mistake, and the error the live API
    answers it with. `categories`: some of `INVALID_CATEGORIES` (default all that `types` allow);
    `types`: the event types to mutate (default every client event type of the socket)."""
    chosen_types = _chosen_types(types)
    possible = _FRAME_CATEGORIES + tuple(c for c in INVALID_CATEGORIES if c not in _FRAME_CATEGORIES and any(
        c in _templates_by_category(t) for t in chosen_types))
    if categories is None:
        chosen = possible
    else:
        chosen = tuple(categories)
        impossible = [c for c in chosen if c not in possible]
        if impossible or not chosen:
            raise ValueError(f"no invalid events of categories {impossible or chosen!r} for these types; "
                             f"possible: {', '.join(possible)}")
    return _invalid(chosen, chosen_types)


# -- audio -------------------------------------------------------------------------------------------

_SPEECH_WORD = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzéüñß"), min_size=1, max_size=7)
_SPEECH = st.builds(lambda words, end, capital: (" ".join(words).capitalize() if capital else " ".join(words)) + end,
                    st.lists(_SPEECH_WORD, min_size=1, max_size=4), st.sampled_from(("", ".", "?", "!")),
                    st.booleans())
_MS = PCM_RATE // 1000  # samples per millisecond


def _noise(seed: int, blocks: int, amplitude: float) -> bytes:
    """Uniform noise, 40 ms per block. Loud throughout, it is one burst of an even number of 20 ms symbols
    to the speech codec, which carries text only in an odd number (a sync symbol and whole bytes), so
    noise never decodes as words, also after a G.711 round trip."""
    samples = np.random.default_rng(seed).uniform(-amplitude, amplitude, blocks * 40 * _MS)
    return codecs.float_to_pcm16(samples)


@st.composite
def _audio_chunk(draw: st.DrawFn, fmt: Format, kinds: tuple[str, ...]) -> tuple[str | None, bytes]:
    kind = draw(st.sampled_from(kinds))
    text: str | None = None
    if kind == "silence":
        pcm = bytes(2 * _MS * draw(st.integers(1, 500)))
    elif kind == "noise":
        pcm = _noise(draw(st.integers(0, 2**32 - 1)), draw(st.integers(1, 12)), draw(st.floats(0.25, 0.9)))
    else:
        text = draw(_SPEECH)
        before, after = (bytes(2 * _MS * 20 * draw(st.integers(0, 10))) for _ in range(2))
        pcm = before + speech.speak(text) + after
    return text, codecs.encode(pcm, fmt)


def audio_chunks(format: Format = "audio/pcm",
                 kinds: Iterable[str] = AUDIO_KINDS) -> st.SearchStrategy[tuple[str | None, bytes]]:
    """`(text, audio)` pairs: `audio` in `format` (silence up to 0.5 s, noise up to 0.48 s, or speech with
    up to 0.2 s of silence around it), `text` the words it says (None for silence and noise)."""
    if format not in FORMATS:
        raise ValueError(f"unknown audio format {format!r}; expected one of {', '.join(FORMATS)}")
    chosen = tuple(kinds)
    if not chosen or set(chosen) - set(AUDIO_KINDS):
        raise ValueError(f"audio kinds are {', '.join(AUDIO_KINDS)}, got {chosen!r}")
    return _audio_chunk(format, chosen)


# -- scenarios ---------------------------------------------------------------------------------------

_PLAIN = st.text(st.sampled_from(string.ascii_letters + string.digits + " .,!?'-é"), min_size=1, max_size=20)
_WORDS = st.lists(st.text(st.sampled_from(_LOWER), min_size=1, max_size=8), min_size=1, max_size=3).map(" ".join)
_SERVER_EVENTS = ("response.created", "response.output_audio.delta", "response.output_text.delta",
                  "response.done", "conversation.item.done", "rate_limits.updated",
                  "response.function_call_arguments.done", "session.updated")


def _template_text(draw: st.DrawFn, names: Sequence[str]) -> str:
    """Text with a `{{variable}}` or two from `names` in it."""
    parts = [draw(_PLAIN)]
    for _ in range(draw(st.integers(0, 2))):
        parts += ["{{" + draw(st.sampled_from(names)) + "}}", draw(_PLAIN)]
    return "".join(parts)


def _regex(draw: st.DrawFn, group: str | None) -> str:
    words = re.escape(draw(_WORDS))
    if group is not None:
        return f"(?i){words} (?P<{group}>\\w+)"
    return draw(st.sampled_from((words, f"(?i)^{words}", f"{words}|{re.escape(draw(_WORDS))}")))


def _when(draw: st.DrawFn, index: int) -> tuple[dict[str, Any], list[str]]:
    """Conditions, and the template variables their named groups add."""
    when: dict[str, Any] = {}
    groups: list[str] = []
    for condition in draw(st.lists(st.sampled_from(("user_text", "instructions", "turn", "tool_result", "tool_named",
                                                    "session", "modality")), min_size=1, max_size=3, unique=True)):
        if condition in ("user_text", "instructions"):
            group = f"{condition[0]}{index}" if draw(st.booleans()) else None
            when[condition] = _regex(draw, group)
            groups += [group] if group else []
        elif condition == "turn":
            when["turn"] = draw(st.integers(0, 5) | st.lists(st.integers(0, 5), min_size=1, max_size=3))
        elif condition == "tool_result":
            if draw(st.booleans()):
                when["tool_result"] = draw(st.booleans())
            else:
                patterns = draw(st.fixed_dictionaries({}, optional={"name": _IDENTIFIER.map(lambda n: f"^{n}$"),
                                                                    "output": _WORDS.map(re.escape)}))
                when["tool_result"] = patterns
        elif condition == "tool_named":
            when["tool_named"] = draw(st.booleans())
        elif condition == "session":
            when["session"] = draw(st.sampled_from(({"audio.output.voice": "alloy"}, {"output_modalities": ["text"]},
                                                    {"tools.0.name": "get_weather"}, {"tool_choice": "auto"})))
        else:
            when["modality"] = draw(st.sampled_from(("text", "audio")))
    return when, groups


def _function_call(draw: st.DrawFn, names: Sequence[str]) -> dict[str, Any]:
    call: dict[str, Any] = {"name": draw(_IDENTIFIER)}
    if draw(st.booleans()):
        if draw(st.booleans()):
            call["arguments"] = {draw(_IDENTIFIER): _template_text(draw, names)}
        else:
            call["arguments"] = json.dumps({draw(_IDENTIFIER): draw(_PLAIN)})
    if draw(st.booleans()):
        call["call_id"] = draw(_id_of("call_"))
    return call


def _mcp_call(draw: st.DrawFn, names: Sequence[str]) -> dict[str, Any]:
    call: dict[str, Any] = {"server_label": draw(_IDENTIFIER), "name": draw(_IDENTIFIER)}
    outcome = draw(st.sampled_from(("output", "error", None)))
    if outcome is not None:
        call[outcome] = _template_text(draw, names)
    return call


def _mcp_list_tools(draw: st.DrawFn) -> dict[str, Any]:
    tools = [{"name": name, **({"description": draw(_PLAIN)} if draw(st.booleans()) else {})}
             for name in draw(st.lists(_IDENTIFIER, max_size=2, unique=True))]
    return {"server_label": draw(_IDENTIFIER), "tools": tools}


_OUTPUT_FORMS = ("string", "text", "refusal", "function_call", "mcp_call", "mcp_list_tools")


def _output(draw: st.DrawFn, names: Sequence[str], form: str | None = None) -> Any:
    """One output of a reply: a string (a message) or a mapping with one of the forms."""
    form = form or draw(st.sampled_from(_OUTPUT_FORMS))
    if form == "string":
        return _template_text(draw, names)
    if form in ("text", "refusal"):
        return {form: _template_text(draw, names)}
    if form == "function_call":
        return {form: _function_call(draw, names)}
    if form == "mcp_call":
        return {form: _mcp_call(draw, names)}
    return {form: _mcp_list_tools(draw)}


def _reply(draw: st.DrawFn, names: Sequence[str]) -> Any:
    form = draw(st.sampled_from((*_OUTPUT_FORMS, "function_calls", "fail", "incomplete", "error", "outputs")))
    if form in _OUTPUT_FORMS:
        return _output(draw, names, form)
    if form == "function_calls":
        return {form: [_function_call(draw, names) for _ in range(draw(st.integers(1, 3)))]}
    if form == "fail":
        if draw(st.booleans()):
            return {form: draw(st.sampled_from(("rate_limit", "insufficient_quota")))}
        return {form: {"type": draw(st.sampled_from(("server_error", "invalid_request_error"))),
                       "code": draw(st.none() | _IDENTIFIER), "message": draw(_PLAIN)}}
    if form == "incomplete":
        incomplete: dict[str, Any] = {"reason": draw(st.sampled_from(("max_output_tokens", "content_filter")))}
        cut = draw(st.sampled_from(("text", "outputs", None)))
        if cut == "text":
            incomplete["text"] = _template_text(draw, names)
        elif cut == "outputs":
            incomplete["outputs"] = [_output(draw, names) for _ in range(draw(st.integers(1, 2)))]
        if draw(st.booleans()):
            incomplete["cut_after_tokens"] = draw(st.integers(0, 20))
        return {form: incomplete}
    if form == "error":
        error: dict[str, Any] = {"message": draw(_PLAIN)}
        error |= draw(st.fixed_dictionaries({}, optional={"type": st.just("invalid_request_error"),
                                                          "code": st.none() | _IDENTIFIER,
                                                          "param": st.none() | _IDENTIFIER}))
        return {form: error}
    return {"outputs": [_output(draw, names) for _ in range(draw(st.integers(1, 3)))]}


_TIMING = st.fixed_dictionaries({}, optional={
    "first_delta_ms": st.none() | st.integers(0, 500),
    "tokens_per_second": st.none() | st.floats(1, 200, allow_nan=False),
    "audio_speed": st.none() | st.sampled_from((0.5, 1.0, 2.0, 50.0)),
    "jitter": st.floats(0, 1, allow_nan=False),
})


_REST_PATHS = ("/v1/audio/speech", "/v1/audio/transcriptions", "/v1/audio/translations", "/v1/chat/completions")


def _rate_limits(draw: st.DrawFn) -> list[dict[str, Any]]:
    return [{"name": limit, "limit": 100, "remaining": draw(st.integers(0, 100)),
             "reset_seconds": draw(st.floats(0, 60, allow_nan=False))}
            for limit in draw(st.lists(st.sampled_from(("requests", "tokens")), min_size=1, max_size=2, unique=True))]


def _http_fault(draw: st.DrawFn, name: str) -> dict[str, Any]:
    """A REST fault (protocol/faults.py): an error status, rate limits, a slow body; for one path or all."""
    fault: dict[str, Any] = {"name": name}
    if name == "http_error":
        if draw(st.booleans()):
            fault["code"] = draw(st.sampled_from((400, 401, 403, 404, 429, 500, 502, 503)))
        if draw(st.booleans()):
            fault["error"] = {"message": draw(_PLAIN), "type": draw(st.sampled_from(("invalid_request_error",
                                                                                     "server_error"))),
                              "code": draw(st.none() | _IDENTIFIER)}
    elif name == "http_rate_limit":
        if draw(st.booleans()):
            fault["limits"] = _rate_limits(draw)
    else:
        fault["ms"] = draw(st.integers(0, 200))
    if draw(st.booleans()):
        fault["path"] = draw(st.sampled_from(_REST_PATHS))
    return fault


def _fault(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(("close", "drop", "delay", "duplicate", "reorder", "stall", "expire", "rate_limits",
                                 "refuse_handshake", "http_error", "http_rate_limit", "http_slow_body",
                                 "drop_channel", "delay_channel")))
    fault: dict[str, Any] = _http_fault(draw, name) if name.startswith("http_") else {"name": name}
    ends = ("close", "expire", "drop_channel")  # at an event, or after a number of events
    if name in ("drop", "delay", "duplicate", "reorder") or (name in ends and draw(st.booleans())):
        fault["event"] = draw(st.sampled_from(_SERVER_EVENTS))
    elif name in ends:
        fault["after_events"] = draw(st.integers(0, 20))
    if name in ("delay", "delay_channel"):
        fault["ms"] = draw(st.integers(0, 500))
    if name == "close":
        fault["code"] = draw(st.sampled_from((1000, 1001, 1011, 4000)))
        fault["reason"] = draw(_PLAIN)
    if name == "rate_limits":
        fault["limits"] = _rate_limits(draw)
    if name == "refuse_handshake":
        fault["code"] = draw(st.sampled_from((400, 429, 503, 3000, 4000)))
        if draw(st.booleans()):
            fault["error"] = {"type": "invalid_request_error", "code": draw(st.none() | _IDENTIFIER),
                              "message": draw(_PLAIN)}
    if draw(st.booleans()):
        fault["count"] = draw(st.integers(1, 3))
    return fault


@st.composite
def _scenario(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": draw(_PLAIN)}
    mode = "matched"
    if draw(st.booleans()):
        mode = doc["mode"] = draw(st.sampled_from(("matched", "ordered")))
    if draw(st.booleans()):
        doc["description"] = draw(_PLAIN)
    if draw(st.booleans()):
        doc["timing"] = draw(_TIMING)
    rules = []
    count = draw(st.integers(1, 4))
    names = draw(st.lists(_IDENTIFIER, min_size=count, max_size=count, unique=True))
    catch_all = False
    for index in range(count):
        rule: dict[str, Any] = {}
        if draw(st.booleans()):
            rule["name"] = names[index]
        last = index == count - 1
        # In matched mode a rule that always matches must come last (rules after it could never answer).
        bare = mode == "ordered" or last
        groups: list[str] = []
        if not bare or draw(st.booleans()):
            rule["when"], groups = _when(draw, index)
        if draw(st.booleans()) or ("when" not in rule and not bare):
            rule["times"] = draw(st.integers(1, 3))
        catch_all = mode == "matched" and "when" not in rule and "times" not in rule
        rule["reply"] = _reply(draw, [*groups, *ALWAYS_AVAILABLE])
        if draw(st.integers(0, 3)) == 0:
            rule["timing"] = draw(_TIMING)
        rules.append(rule)
    doc["rules"] = rules
    if not catch_all and draw(st.booleans()):
        doc["fallback"] = _reply(draw, ALWAYS_AVAILABLE)
    if draw(st.booleans()):
        doc["unintelligible_audio"] = draw(st.sampled_from(("empty", "fail")))
    if draw(st.integers(0, 2)) == 0:
        doc["faults"] = [_fault(draw) for _ in range(draw(st.integers(1, 2)))]
    return doc


def scenarios() -> st.SearchStrategy[dict[str, Any]]:
    """Valid scenario documents (dicts) that `parse_scenario(json.dumps(doc))` loads."""
    return _scenario()

