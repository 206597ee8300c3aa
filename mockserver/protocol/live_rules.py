"""What the live server enforces beyond the SDK's types.

`schemas/` says what the SDK says, and nothing else, so that it can be diffed against the SDK. The
live API is stricter in a few documented or observed ways; each rule below tightens a copy of a
schema before it is compiled for validating client events, and names its evidence.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

# Every client event: "event_id … maxLength 512" [SPEC; reference 5.4].
EVENT_ID_MAX_LENGTH = 512

# Numeric ranges by property name, applied wherever that property takes a number.
NUMERIC_RANGES: dict[str, dict[str, float | int]] = {
    # `audio/pcm` rate: only 24000; 16000 -> integer_below_min_value [OBS a, probe 7d].
    "rate": {"minimum": 24000, "maximum": 24000},
    # max_output_tokens: 1-4096 or "inf" [SPEC; reference 5.4].
    "max_output_tokens": {"minimum": 1, "maximum": 4096},
    "max_response_output_tokens": {"minimum": 1, "maximum": 4096},
    # server_vad idle_timeout_ms: 5000-30000 [SPEC; reference 5.4].
    "idle_timeout_ms": {"minimum": 5000, "maximum": 30000},
    # audio.output.speed: 0.25-1.5 [SPEC; reference 5.4].
    "speed": {"minimum": 0.25, "maximum": 1.5},
    # turn detection threshold and truncation retention ratio: 0-1 [SPEC].
    "threshold": {"minimum": 0, "maximum": 1},
    "retention_ratio": {"minimum": 0, "maximum": 1},
    # client secrets: expires_after.seconds 10-7200 [SPEC; reference 1.6]
    "seconds": {"minimum": 10, "maximum": 7200},
}

# REST bodies (by their schema's title) whose rules differ from the above, top-level properties only.
# The speech endpoint: `speed` 0.25-4.0 and `input` of at most 4096 characters [SPEC; SDK 3.51.0
# speech_create_params.py]; `input` may not be empty [unverified].
BODY_RULES: dict[str, dict[str, dict[str, float | int]]] = {
    "audio.speech.request": {"speed": {"minimum": 0.25, "maximum": 4}, "input": {"minLength": 1, "maxLength": 4096}},
    # Transcriptions and translations: `temperature` "between 0 and 1" [SPEC; SDK 3.51.0].
    "audio.transcriptions.request": {"temperature": {"minimum": 0, "maximum": 1}},
    "audio.translations.request": {"temperature": {"minimum": 0, "maximum": 1}},
}

# The audio format objects: the live API asks for `rate` on `audio/pcm` ("omitting rate on output
# reported as missing_required_parameter session.audio.output.format.rate" [OBS; reference 3.3]),
# and for the `type` that tells the three formats apart.
REQUIRED_KEYS: dict[str, list[str]] = {
    "AudioPCM": ["type", "rate"],
    "AudioPCMU": ["type"],
    "AudioPCMA": ["type"],
}


# `null` turns a setting off, as live takes it though the SDK's types do not say so. Evidence: the SDK's own
# doc comments ("This can be set to `null` to turn off" for noise_reduction; transcription "can be set to
# `null` to turn off once on"; openai 3.51.0 realtime_audio_config_input_param.py and
# realtime_transcription_session_audio_input_param.py), reference 2.1 (`noise_reduction ...|null`,
# `transcription ...|null`), and the JavaScript Agents SDK 0.20.0, which sends `noise_reduction: null` in
# its first session.update by default (transports.md 4c). turn_detection, tracing and prompt already
# allow null in the SDK's types.
NULLABLE: dict[str, list[str]] = {
    "RealtimeAudioConfigInputParam": ["noise_reduction", "transcription"],
    "RealtimeTranscriptionSessionAudioInputParam": ["noise_reduction", "transcription"],
}


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _numeric_branches(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if schema.get("type") in ("integer", "number"):
        yield schema
    for branch in schema.get("anyOf", ()):
        yield from _numeric_branches(branch)


def tighten(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of a client-event schema with the live server's extra rules applied."""
    out = copy.deepcopy(schema)
    event_id = out.get("properties", {}).get("event_id")
    if isinstance(event_id, dict):
        event_id["maxLength"] = EVENT_ID_MAX_LENGTH
    for node in _walk(out):
        for name, prop in node.get("properties", {}).items():
            if name in NUMERIC_RANGES and isinstance(prop, dict):
                for branch in _numeric_branches(prop):
                    branch.pop("const", None)
                    branch.update(NUMERIC_RANGES[name])
    for name, rule in BODY_RULES.get(str(out.get("title")), {}).items():
        prop = out.get("properties", {}).get(name)
        if isinstance(prop, dict):
            for branch in _numeric_branches(prop) if "minimum" in rule else (prop,):
                branch.update(rule)
    for name, keys in REQUIRED_KEYS.items():
        definition = out.get("$defs", {}).get(name)
        if definition is not None:
            definition["required"] = list(keys)
    for name, fields in NULLABLE.items():
        properties = out.get("$defs", {}).get(name, {}).get("properties", {})
        for field in fields:
            if field in properties and "anyOf" not in properties[field]:
                properties[field] = {"anyOf": [properties[field], {"type": "null"}]}
    return out
