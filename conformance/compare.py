"""Compare the server events of a recording with those a target sent for the same client frames.

(a) **Order**: both sides become an outline of event types in which each run of delta events between two
    structural (non-delta) events is folded into the *set* of its delta types (audio and transcript
    deltas interleave freely). The outlines are aligned (difflib); what one side lacks is a
    `missing_event` or `extra_event`, an event found on both sides at different places is an `order`
    finding, different delta sets are `delta_types`.
(b) **Shape** of every pair of aligned events (the first delta of each type stands for its run), after
    normalisation (normalize.py): keys (`missing_key`, `extra_key`), JSON types (`json_type`), array
    lengths (`array_length`), the values of discriminators (`type`, `status`, `role`, `object`, `code`,
    `reason`, the modalities: `value`), and id references: a recorded id must pair with one target id
    everywhere (`reference`). Wording, numbers and audio are compared by shape only.
(c) **Schemas**: every frame of both sides is validated against the GA families of `schemas/`
    (`schema_store`): recorded client frames against `realtime/client`, server events against
    `realtime/server` (the `translation/...` families for a translation cassette).

Every mismatch is yielded; nothing stops at the first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from difflib import SequenceMatcher
from typing import Any

from conformance.cassette import Frame
from conformance.findings import Finding
from conformance.normalize import is_placeholder, normalize, placeholder_kind
from mockserver import schema_store

VALUE_KEYS = frozenset({"type", "status", "role", "object", "code", "reason"})
VALUE_ARRAYS = frozenset({"output_modalities", "modalities"})
Token = tuple[str, Any]  # ("event", type) or ("deltas", frozenset of delta types)


def is_delta(event_type: str) -> bool:
    return event_type.endswith(".delta")


def outline(events: Sequence[dict[str, Any]]) -> list[tuple[Token, list[int]]]:
    """Structural event types in order, with the set of delta types between two of them; each token with
    the positions (in `events`) of the events it stands for."""
    out: list[tuple[Token, list[int]]] = []
    run: list[int] = []
    for position, event in enumerate(events):
        event_type = str(event.get("type"))
        if is_delta(event_type):
            run.append(position)
            continue
        if run:
            out.append((("deltas", frozenset(str(events[p].get("type")) for p in run)), run))
            run = []
        out.append((("event", event_type), [position]))
    if run:
        out.append((("deltas", frozenset(str(events[p].get("type")) for p in run)), run))
    return out


def describe(value: Any) -> str:
    """A short text for a value: its JSON type and a glimpse of it."""
    kind = json_type(value)
    if kind == "object":
        keys = ", ".join(sorted(value))
        return f"object{{{keys[:60] + '...' if len(keys) > 60 else keys}}}"
    if kind == "array":
        return f"array({len(value)})"
    if kind == "null":
        return "null"
    text = json.dumps(value, ensure_ascii=False)
    return f"{kind} {text[:60] + '...' if len(text) > 60 else text}"


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class _Pairing:
    """Compares one recorded session with one target session; holds the id bijection."""

    def __init__(self, name: str, recorded: Sequence[tuple[int, dict[str, Any]]], target: Sequence[dict[str, Any]]):
        self.name = name
        self.rec_index = [index for index, _ in recorded]
        self.rec = [event for _, event in recorded]
        self.tgt = list(target)
        self.rec_norm = normalize(self.rec)
        self.tgt_norm = normalize(self.tgt)
        self.forward: dict[str, tuple[str, str]] = {}  # recorded placeholder -> (target placeholder, where)
        self.backward: dict[str, tuple[str, str]] = {}

    def finding(self, kind: str, message: str, rec: int | None, tgt: int | None, **fields: Any) -> Finding:
        event = self.rec[rec]["type"] if rec is not None else self.tgt[tgt]["type"] if tgt is not None else None
        return Finding(self.name, kind, message, event=str(event) if event is not None else None,
                       index=self.rec_index[rec] if rec is not None else None, target_index=tgt, **fields)

    def run(self) -> Iterator[Finding]:
        rec_outline, tgt_outline = outline(self.rec), outline(self.tgt)
        matcher = SequenceMatcher(None, [t for t, _ in rec_outline], [t for t, _ in tgt_outline], autojunk=False)
        missing: list[int] = []  # positions of recorded structural events the target did not send in place
        extra: list[int] = []
        for op, i1, i2, j1, j2 in matcher.get_opcodes():
            rec_block, tgt_block = rec_outline[i1:i2], tgt_outline[j1:j2]
            if op == "equal":
                for (token, rec_positions), (_, tgt_positions) in zip(rec_block, tgt_block, strict=True):
                    if token[0] == "event":
                        yield from self.pair(rec_positions[0], tgt_positions[0])
                    else:
                        yield from self.delta_sets(rec_positions, tgt_positions)
                continue
            rec_deltas = [p for t, p in rec_block if t[0] == "deltas"]
            tgt_deltas = [p for t, p in tgt_block if t[0] == "deltas"]
            for number in range(max(len(rec_deltas), len(tgt_deltas))):
                yield from self.delta_sets(rec_deltas[number] if number < len(rec_deltas) else [],
                                           tgt_deltas[number] if number < len(tgt_deltas) else [])
            missing += [p[0] for t, p in rec_block if t[0] == "event"]
            extra += [p[0] for t, p in tgt_block if t[0] == "event"]
        yield from self.unmatched(missing, extra)

    def unmatched(self, missing: list[int], extra: list[int]) -> Iterator[Finding]:
        """Events on one side only; one of a type on each side is the same event, moved."""
        for rec in missing:
            event_type = self.rec[rec]["type"]
            tgt = next((t for t in extra if self.tgt[t]["type"] == event_type), None)
            if tgt is None:
                yield self.finding("missing_event", f"{event_type}: recorded, not sent by the target", rec, None,
                                   recorded=event_type, target="absent")
                continue
            extra.remove(tgt)
            yield self.finding("order", f"{event_type}: at another place in the target's sequence (recorded at "
                               f"frame #{self.rec_index[rec]}, sent as target event #{tgt})", rec, tgt,
                               recorded=f"frame #{self.rec_index[rec]}", target=f"target event #{tgt}")
            yield from self.pair(rec, tgt)
        for tgt in extra:
            event_type = self.tgt[tgt]["type"]
            yield self.finding("extra_event", f"{event_type}: sent by the target, not recorded", None, tgt,
                               recorded="absent", target=event_type)

    def delta_sets(self, rec_positions: list[int], tgt_positions: list[int]) -> Iterator[Finding]:
        rec_types = {self.rec[p]["type"]: p for p in reversed(rec_positions)}
        tgt_types = {self.tgt[p]["type"]: p for p in reversed(tgt_positions)}
        for event_type in sorted(rec_types.keys() - tgt_types.keys()):
            yield self.finding("delta_types", f"{event_type}: recorded in this stretch of deltas, not sent by the "
                               "target", rec_types[event_type], None, recorded=event_type, target="absent")
        for event_type in sorted(tgt_types.keys() - rec_types.keys()):
            yield self.finding("delta_types", f"{event_type}: sent by the target in this stretch of deltas, not "
                               "recorded", None, tgt_types[event_type], recorded="absent", target=event_type)
        for event_type in sorted(rec_types.keys() & tgt_types.keys()):
            yield from self.pair(rec_types[event_type], tgt_types[event_type])

    def pair(self, rec: int, tgt: int) -> Iterator[Finding]:
        for kind, path, recorded, target, message in self.shape(self.rec_norm[rec], self.tgt_norm[tgt], "$", ""):
            yield self.finding(kind, f"{self.rec[rec]['type']} {path}: {message}", rec, tgt, path=path,
                               recorded=recorded, target=target)

    def shape(self, rec: Any, tgt: Any, path: str, key: str) -> Iterator[tuple[str, str, str, str, str]]:
        rec_kind, tgt_kind = json_type(rec), json_type(tgt)
        if rec_kind != tgt_kind:
            yield ("json_type", path, describe(rec), describe(tgt), f"{rec_kind} recorded, {tgt_kind} from the target")
            return
        if isinstance(rec, dict):
            for name in sorted(rec.keys() - tgt.keys()):
                yield ("missing_key", f"{path}.{name}", describe(rec[name]), "absent",
                       "recorded, absent from the target")
            for name in sorted(tgt.keys() - rec.keys()):
                yield ("extra_key", f"{path}.{name}", "absent", describe(tgt[name]), "sent by the target, not recorded")
            for name in sorted(rec.keys() & tgt.keys()):
                yield from self.shape(rec[name], tgt[name], f"{path}.{name}", name)
        elif isinstance(rec, list):
            if len(rec) != len(tgt):
                yield ("array_length", path, f"array({len(rec)})", f"array({len(tgt)})",
                       f"{len(rec)} items recorded, {len(tgt)} from the target")
            for number, (a, b) in enumerate(zip(rec, tgt, strict=False)):
                yield from self.shape(a, b, f"{path}[{number}]", key)
        elif isinstance(rec, str):
            yield from self.strings(rec, tgt, path, key)

    def strings(self, rec: str, tgt: str, path: str, key: str) -> Iterator[tuple[str, str, str, str, str]]:
        rec_id, tgt_id = is_placeholder(rec), is_placeholder(tgt)
        if (rec_id and placeholder_kind(rec) == "event") or (tgt_id and placeholder_kind(tgt) == "event"):
            return  # every event has its own event_id; nothing refers to one
        if rec_id and tgt_id:
            yield from self.reference(rec, tgt, path)
        elif rec_id != tgt_id or ((key in VALUE_KEYS or key in VALUE_ARRAYS) and rec != tgt):
            yield ("value", path, json.dumps(rec), json.dumps(tgt), f"{json.dumps(rec)} recorded, {json.dumps(tgt)} "
                   "from the target")

    def reference(self, rec: str, tgt: str, path: str) -> Iterator[tuple[str, str, str, str, str]]:
        if placeholder_kind(rec) != placeholder_kind(tgt):
            yield ("value", path, rec, tgt, f"a {placeholder_kind(rec)} id recorded, a {placeholder_kind(tgt)} id "
                   "from the target")
            return
        known = self.forward.get(rec)
        if known is not None and known[0] != tgt:
            yield ("reference", path, rec, tgt, f"the recorded {rec} pairs with the target's {known[0]} at "
                   f"{known[1]}, but with the target's {tgt} here")
            return
        back = self.backward.get(tgt)
        if back is not None and back[0] != rec:
            yield ("reference", path, rec, tgt, f"the target's {tgt} pairs with the recorded {back[0]} at "
                   f"{back[1]}, but with the recorded {rec} here")
            return
        self.forward.setdefault(rec, (tgt, path))
        self.backward.setdefault(tgt, (rec, path))


def compare(name: str, recorded: Sequence[tuple[int, dict[str, Any]]],
            target: Sequence[dict[str, Any]]) -> Iterator[Finding]:
    """(a) and (b): `recorded` is (frame index in the cassette, server event); `target` the events received."""
    yield from _Pairing(name, recorded, target).run()


def families(endpoint: str) -> dict[str, str]:
    """The GA schema families of a cassette's endpoint, by direction."""
    if "translations" in endpoint:
        return {"client": "translation/client", "server": "translation/server"}
    return {"client": "realtime/client", "server": "realtime/server"}


def schema_problems(family: str, event: dict[str, Any]) -> list[tuple[str, str]]:
    """(JSON path, message) for each way the event fails its schema in `family`."""
    from jsonschema.exceptions import best_match

    if not isinstance(event.get("type"), str):
        return [("$.type", "not an event object with a string 'type'")]
    check = schema_store.event_validator(family, event["type"])
    if check is None:
        return [("$.type", f"{event['type']!r} is not a {family} event type")]
    problems = []
    for error in check.iter_errors(event):
        deepest = best_match(error.context) if error.context else error
        if deepest is None:  # pragma: no cover - context is non-empty here
            deepest = error
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in deepest.absolute_path)
        message = deepest.message if len(deepest.message) <= 200 else deepest.message[:200] + "..."
        problems.append((where, message))
    return problems


def schema_findings(name: str, frames: Sequence[Frame], target: Sequence[dict[str, Any]],
                    endpoint: str = "/v1/realtime") -> Iterator[Finding]:
    """(c): every recorded frame and every target event against the GA schemas."""
    family = families(endpoint)
    for index, frame in enumerate(frames):
        for path, message in schema_problems(family[frame.direction], frame.event):
            yield Finding(name, "schema", f"recorded {frame.direction} frame {frame.event.get('type')} {path}: "
                          f"{message} ({family[frame.direction]})", event=_type(frame.event), index=index,
                          path=path, recorded=message, side="recorded")
    for number, event in enumerate(target):
        for path, message in schema_problems(family["server"], event):
            yield Finding(name, "schema", f"target's {event.get('type')} {path}: {message} ({family['server']})",
                          event=_type(event), target_index=number, path=path, target=message, side="target")


def _type(event: dict[str, Any]) -> str | None:
    value = event.get("type")
    return value if isinstance(value, str) else None
