"""Normalise events before comparing them: what varies from run to run is replaced, what a run means is kept.

- **Ids** (`event_`, `item_`, `resp_`, `call_`, `conv_`, `sess_`, `rtc_`, `ek_`, `evt_`) become numbered
  placeholders per kind in order of first appearance (`<item_1>`, `<item_2>`). One `Normalizer` is fed a
  whole session in order, so the same id gets the same placeholder everywhere and references stay intact.
  A value is an id when it sits under `id`, `value` (client secrets) or a key ending in `_id`
  (`item_id`, `previous_item_id`, `call_id`, ...) and starts with a known prefix: a function named
  `call_weather` stays a name.
- **Wall-clock timings** (`expires_at`, `created_at`, `received_at`) become `"<expires_at>"` and so on.
  The key stays, so a missing or extra field is still found (the value's JSON type is checked by the
  schema validation, not here).
- **Audio bytes** (the `delta` of `response.output_audio.delta` and other audio deltas, every `audio`
  field) become `"<audio N chars>"`, and **`obfuscation`** (random padding on deltas) becomes
  `"<obfuscation>"`: again the key stays, the bytes go.
- **Kept as they are**: `audio_start_ms`, `audio_end_ms` and `elapsed_ms` are positions in the audio
  stream, not timings of the wire (the same audio gives the same values); token counts and rate limits.
  Wording (text, transcripts, instructions, arguments) is kept for display; the comparison looks at its
  shape only (a string is a string).
"""

from __future__ import annotations

import re
from typing import Any

ID_KINDS = ("event", "item", "resp", "call", "conv", "sess", "rtc", "ek", "evt")
_ID = re.compile(r"^(event|item|resp|call|conv|sess|rtc|ek|evt)_[A-Za-z0-9_]+$")
_PLACEHOLDER = re.compile(r"^<(event|item|resp|call|conv|sess|rtc|ek|evt)_\d+>$")
TIMESTAMP_KEYS = frozenset({"expires_at", "created_at", "received_at"})
AUDIO_DELTA_TYPES = frozenset({"response.output_audio.delta", "response.audio.delta", "session.output_audio.delta"})


def is_id_key(key: str) -> bool:
    return key in ("id", "value") or key.endswith("_id")


def id_kind(value: str) -> str | None:
    """The kind of a server id (`item` for `item_E6U0...`), or None when the string is no id."""
    match = _ID.match(value)
    return match.group(1) if match else None


def is_placeholder(value: Any) -> bool:
    return isinstance(value, str) and _PLACEHOLDER.match(value) is not None


def placeholder_kind(value: str) -> str:
    return value[1:].rsplit("_", 1)[0]


class Normalizer:
    """Normalises the events of one session, fed in order; keeps the id -> placeholder table."""

    def __init__(self) -> None:
        self.placeholders: dict[str, str] = {}
        self._counts: dict[str, int] = {}

    def placeholder(self, value: str, kind: str) -> str:
        if value not in self.placeholders:
            self._counts[kind] = self._counts.get(kind, 0) + 1
            self.placeholders[value] = f"<{kind}_{self._counts[kind]}>"
        return self.placeholders[value]

    def event(self, event: dict[str, Any]) -> dict[str, Any]:
        audio_delta = event.get("type") in AUDIO_DELTA_TYPES
        out: dict[str, Any] = {}
        for key, value in event.items():
            if key == "delta" and audio_delta and isinstance(value, str):
                out[key] = _audio(value)
            else:
                out[key] = self._value(key, value)
        return out

    def _value(self, key: str, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self._value(k, v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._value(key, v) for v in value]
        if value is None or isinstance(value, bool):
            return value
        if key in TIMESTAMP_KEYS and isinstance(value, (int, float)):
            return f"<{key}>"
        if not isinstance(value, str):
            return value
        if key == "obfuscation":
            return "<obfuscation>"
        if key == "audio":
            return _audio(value)
        kind = id_kind(value) if is_id_key(key) else None
        return self.placeholder(value, kind) if kind is not None else value


def _audio(value: str) -> str:
    return f"<audio {len(value)} chars>"


def normalize(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events of one session, normalised with one placeholder table."""
    normalizer = Normalizer()
    return [normalizer.event(event) for event in events]
