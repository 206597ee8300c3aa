"""Client-event validation answers as the live API does (reference section 5.2)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from mockserver import beta as beta_shim
from mockserver import schema_store
from mockserver.protocol.realtime import RealtimeSession
from tests.conftest import reference_dir

SCHEMAS = schema_store.schemas()
REALTIME = SCHEMAS.validator(RealtimeSession.EVENTS.schemas)
LIVE_TYPES = ("'session.update', 'session.close', 'input_audio_buffer.append', "
              "'session.input_audio_buffer.append', 'input_audio_buffer.commit', 'input_audio_buffer.clear', "
              "'conversation.item.create', 'conversation.item.truncate', 'conversation.item.delete', "
              "'conversation.item.retrieve', 'response.create', and 'response.cancel'")


def session_update(session: dict[str, Any], **extra: Any) -> str:
    return json.dumps({"type": "session.update", "session": session, **extra})


def audio_update(direction: str, **config: Any) -> str:
    return session_update({"type": "realtime", "audio": {direction: config}})


def item_create(**item: Any) -> str:
    return json.dumps({"type": "conversation.item.create", "item": item})


# (case id, frame, code, param, message). Messages marked [OBS] are verbatim from live captures.
CASES: list[tuple[str, str | bytes, str | None, str | None, str]] = [
    ("invalid_json", "not json", "invalid_json", None,
     "Invalid event: failed to parse JSON value. Expecting value: line 1 column 1 (char 0)"),
    ("nan_is_not_json", '{"type": "response.create", "x": NaN}', "invalid_json", None,
     "Invalid event: failed to parse JSON value. NaN is not valid JSON"),
    ("binary_frame", b"\x00\x01\x02", "invalid_event", None,  # [OBS]
     "Expected a text WebSocket message; binary frames are not supported."),
    ("missing_type", '{"event_id": "e"}', "invalid_event", None, "The 'type' field is missing."),  # [SPEC]
    ("not_an_object", "[1, 2]", "invalid_event", None, "The 'type' field is missing."),
    ("type_not_a_string", '{"type": 7}', "invalid_type", "type",
     "Invalid type for 'type': expected a string, but got an integer instead."),
    ("unknown_event_type", '{"type": "nope"}', "invalid_value", "type",  # [OBS]
     f"Invalid value: 'nope'. Supported values are: {LIVE_TYPES}."),
    ("beta_event_type", '{"type": "transcription_session.update", "session": {}}', "invalid_value", "type",
     f"Invalid value: 'transcription_session.update'. Supported values are: {LIVE_TYPES}."),
    ("output_audio_buffer_clear_on_websocket", '{"type": "output_audio_buffer.clear"}', "invalid_value", "type",
     f"Invalid value: 'output_audio_buffer.clear'. Supported values are: {LIVE_TYPES}."),
    ("unknown_parameter", session_update({"type": "realtime", "bogus_field": 1}),  # [OBS]
     "unknown_parameter", "session.bogus_field", "Unknown parameter: 'session.bogus_field'."),
    ("beta_field_modalities", session_update({"type": "realtime", "modalities": ["text"]}),  # [OBS]
     "unknown_parameter", "session.modalities", "Unknown parameter: 'session.modalities'."),
    ("unknown_top_level_parameter", '{"type": "response.cancel", "extra": true}',
     "unknown_parameter", "extra", "Unknown parameter: 'extra'."),
    ("missing_session_type", session_update({"instructions": "hi"}),  # [OBS]
     "missing_required_parameter", "session.type", "Missing required parameter: 'session.type'."),
    ("missing_item_type", '{"type": "conversation.item.create", "item": {"role": "user", "content": []}}',
     "missing_required_parameter", "item.type", "Missing required parameter: 'item.type'."),  # [OBS]
    ("missing_audio", '{"type": "input_audio_buffer.append"}',
     "missing_required_parameter", "audio", "Missing required parameter: 'audio'."),
    ("missing_output_rate", audio_update("output", format={"type": "audio/pcm"}),
     "missing_required_parameter", "session.audio.output.format.rate",  # [OBS]
     "Missing required parameter: 'session.audio.output.format.rate'."),
    ("session_type_enum", session_update({"type": "session"}), "invalid_value", "session.type",  # [OBS]
     "Invalid value: 'session'. Supported values are: 'realtime' and 'transcription'."),
    ("delay_enum", session_update({"type": "transcription", "audio": {"input": {"transcription": {"delay": "bogus"}}}}),
     "invalid_value", "session.audio.input.transcription.delay",  # [OBS]
     "Invalid value: 'bogus'. Supported values are: 'minimal', 'low', 'medium', 'high', and 'xhigh'."),
    ("item_role_enum", item_create(type="message", role="bot", content=[]),
     "invalid_value", "item.role", "Invalid value: 'bot'. Supported values are: 'system', 'user', and 'assistant'."),
    ("content_type_for_role", json.dumps({"type": "conversation.item.create", "item": {
        "type": "message", "role": "assistant", "content": [{"type": "input_text", "text": "x"}]}}),
     "invalid_value", "item.content[0].type",
     "Invalid value: 'input_text'. Supported values are: 'output_text' and 'output_audio'."),
    ("voice_enum", session_update({"type": "realtime", "output_modalities": ["video"]}), "invalid_value",
     "session.output_modalities[0]", "Invalid value: 'video'. Supported values are: 'text' and 'audio'."),
    ("max_output_tokens_string", '{"type": "response.create", "response": {"max_output_tokens": "lots"}}',
     "invalid_value", "response.max_output_tokens", "Invalid value: 'lots'. Value must be 'inf'."),
    ("content_wrong_type", json.dumps({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": "hello"}}), "invalid_type", "item.content",
     "Invalid type for 'item.content': expected an array of objects, but got a string instead."),  # [OBS]
    ("instructions_wrong_type", session_update({"type": "realtime", "instructions": 5}), "invalid_type",
     "session.instructions", "Invalid type for 'session.instructions': expected a string, but got an integer instead."),
    ("nested_wrong_type", json.dumps({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": None}]}}),
     "invalid_type", "item.content[0].text",
     "Invalid type for 'item.content[0].text': expected a string, but got null instead."),
    ("union_wrong_type", '{"type": "response.create", "response": {"tool_choice": 5}}', "invalid_type",
     "response.tool_choice",
     "Invalid type for 'response.tool_choice': expected one of a string or an object, but got an integer instead."),
    ("rate_below_min", audio_update("input", format={"type": "audio/pcm", "rate": 16000}),
     "integer_below_min_value", "session.audio.input.format.rate",  # [OBS]
     "Invalid 'session.audio.input.format.rate': integer below minimum value. "
     "Expected a value >= 24000, but got 16000 instead."),
    ("rate_above_max", audio_update("input", format={"type": "audio/pcm", "rate": 48000}),
     "integer_above_max_value", "session.audio.input.format.rate",
     "Invalid 'session.audio.input.format.rate': integer above maximum value. "
     "Expected a value <= 24000, but got 48000 instead."),
    ("max_output_tokens_above_max", '{"type": "response.create", "response": {"max_output_tokens": 5000}}',
     "integer_above_max_value", "response.max_output_tokens",
     "Invalid 'response.max_output_tokens': integer above maximum value. "
     "Expected a value <= 4096, but got 5000 instead."),
    ("idle_timeout_below_min", session_update({"type": "realtime", "audio": {"input": {"turn_detection": {
        "type": "server_vad", "idle_timeout_ms": 100}}}}), "integer_below_min_value",
     "session.audio.input.turn_detection.idle_timeout_ms",
     "Invalid 'session.audio.input.turn_detection.idle_timeout_ms': integer below minimum value. "
     "Expected a value >= 5000, but got 100 instead."),
    ("speed_above_max", session_update({"type": "realtime", "audio": {"output": {"speed": 2.5}}}),
     "decimal_above_max_value", "session.audio.output.speed",
     "Invalid 'session.audio.output.speed': decimal above maximum value. "
     "Expected a value <= 1.5, but got 2.5 instead."),
    ("threshold_below_min", session_update({"type": "realtime", "audio": {"input": {"turn_detection": {
        "type": "server_vad", "threshold": -0.5}}}}), "decimal_below_min_value",
     "session.audio.input.turn_detection.threshold",
     "Invalid 'session.audio.input.turn_detection.threshold': decimal below minimum value. "
     "Expected a value >= 0, but got -0.5 instead."),
    ("event_id_too_long", json.dumps({"type": "response.cancel", "event_id": "e" * 513}),
     "string_above_max_length", "event_id",
     "Invalid 'event_id': string too long. Expected a string with maximum length 512, "
     "but got a string with length 513 instead."),
]


@pytest.mark.parametrize(("frame", "code", "param", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_event_gets_the_live_error(frame: str | bytes, code: str, param: str | None, message: str) -> None:
    _, problems = REALTIME.check_frame(frame)
    assert problems, "expected a problem"
    first = problems[0].payload()
    assert (first["type"], first["code"], first["param"], first["message"]) == (
        "invalid_request_error", code, param, message)


def test_error_echoes_the_client_event_id() -> None:
    _, problems = REALTIME.check_frame(session_update({"type": "realtime", "bogus": 1}, event_id="evt_42"))
    assert problems[0].event_id == "evt_42"
    _, problems = REALTIME.check_frame(session_update({"type": "realtime", "bogus": 1}))
    assert problems[0].event_id is None
    # An over-long event_id is still echoed: it is the client's handle on the failure.
    _, problems = REALTIME.check_frame(json.dumps({"type": "response.cancel", "event_id": "x" * 600}))
    assert problems[0].event_id == "x" * 600


def test_every_problem_is_reported_in_document_order() -> None:
    tools = [{"type": "function", "name": 2}]
    frame = session_update({"type": "realtime", "instructions": 5, "bogus": 1, "tools": tools})
    _, problems = REALTIME.check_frame(frame)
    assert [p.param for p in problems] == ["session.instructions", "session.bogus", "session.tools[0].name"]


def test_missing_keys_come_after_present_ones() -> None:
    _, problems = REALTIME.check_frame('{"type": "conversation.item.truncate", "bogus": 1, "item_id": 3}')
    assert [p.code for p in problems] == ["unknown_parameter", "invalid_type",
                                          "missing_required_parameter", "missing_required_parameter"]
    # Missing keys in the order of the schema's `required` list.
    assert [p.param for p in problems[2:]] == ["audio_end_ms", "content_index"]


def test_translation_surface_rejects_unprefixed_names() -> None:
    translation = SCHEMAS.validator({t: f"translation/client/{t}" for t in (
        "session.update", "session.input_audio_buffer.append", "session.close")})
    _, problems = translation.check_frame('{"type": "input_audio_buffer.append", "audio": ""}')
    assert problems[0].message == ("Invalid value: 'input_audio_buffer.append'. Supported values are: "
                                   "'session.update', 'session.input_audio_buffer.append', and 'session.close'.")


def test_call_surface_accepts_output_audio_buffer_clear() -> None:
    calls = SCHEMAS.validator({**RealtimeSession.EVENTS.schemas,
                               "output_audio_buffer.clear": "realtime/client/output_audio_buffer.clear"})
    assert calls.check_frame('{"type": "output_audio_buffer.clear"}')[1] == []
    assert REALTIME.check_frame('{"type": "output_audio_buffer.clear"}')[1][0].code == "invalid_value"


def test_beta_surface_accepts_beta_shapes() -> None:
    beta = beta_shim.validator()
    ok = json.dumps({"type": "session.update", "session": {"modalities": ["text"], "input_audio_format": "pcm16"}})
    assert beta.check_frame(ok)[1] == []
    assert REALTIME.check_frame(ok)[1][0].code == "missing_required_parameter"


def _recorded_client_frames() -> list[dict[str, Any]]:
    frames = []
    for path in sorted(reference_dir().joinpath("recordings").glob("*.yaml")):
        frames += [f["data"] for f in yaml.safe_load(path.read_text())["interactions"] if f["direction"] == "sent"]
    for path in sorted(reference_dir().joinpath("examples").glob("*.json")):
        payload = json.loads(path.read_text())
        if not path.name.startswith(("beta.", "translation.", "http.", "webhook.")) and \
                payload["type"] in schema_store.event_types("realtime/client"):
            frames.append(payload)
    return frames


def test_recorded_client_frames_have_no_problems() -> None:
    frames = _recorded_client_frames()
    assert len(frames) > 20
    for frame in frames:
        assert REALTIME.check(frame)[1] == [], frame["type"]


# --- properties --------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20)

# Keys and values the schemas care about, so that generated events reach deep into them.
KEYS = st.sampled_from(["type", "session", "item", "response", "audio", "input", "output", "format", "rate",
                        "turn_detection", "content", "role", "text", "tools", "name", "event_id", "item_id",
                        "max_output_tokens", "instructions", "transcription", "model", "speed", "bogus"])
SCALARS = st.sampled_from(["realtime", "transcription", "message", "user", "assistant", "input_text",
                           "audio/pcm", "audio/pcmu", "server_vad", "inf", "function", 24000, 16000, 0.5, None,
                           True, 5000, -1, "x" * 600])
schema_shaped = st.recursive(
    SCALARS | json_values,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=30)
client_events = st.builds(
    lambda t, body: {"type": t, **body},
    st.sampled_from((*REALTIME.supported, "nope", "output_audio_buffer.clear")),
    st.dictionaries(KEYS.filter(lambda k: k != "type"), schema_shaped, max_size=4))

ERROR_SCHEMA_OK = schema_store.validator("realtime/server/error")
KNOWN_CODES = {"invalid_json", "invalid_event", "invalid_value", "invalid_type", "unknown_parameter",
               "missing_required_parameter", "integer_below_min_value", "integer_above_max_value",
               "decimal_below_min_value", "decimal_above_max_value", "string_above_max_length",
               "string_below_min_length", "array_above_max_length", "array_below_min_length", "empty_array",
               "object_above_max_properties"}


def _assert_well_formed(problems: list[Any]) -> None:
    for problem in problems:
        event = {"type": "error", "event_id": "event_1", "error": problem.payload()}
        assert ERROR_SCHEMA_OK.is_valid(event), event
        assert problem.type == "invalid_request_error"
        assert problem.code in KNOWN_CODES
        assert problem.message
        assert problem.param is None or problem.param in problem.message or problem.code == "invalid_value"


@given(json_values)
def test_arbitrary_json_never_raises(value: Any) -> None:
    _, problems = REALTIME.check(value)
    _assert_well_formed(problems)
    _, problems = REALTIME.check_frame(json.dumps(value))
    _assert_well_formed(problems)


@given(st.binary(max_size=64) | st.text(max_size=64))
def test_arbitrary_frames_never_raise(frame: str | bytes) -> None:
    _, problems = REALTIME.check_frame(frame)
    _assert_well_formed(problems)


@given(client_events)
def test_problems_exactly_when_the_schema_says_invalid(event: dict[str, Any]) -> None:
    _, problems = REALTIME.check(event)
    _assert_well_formed(problems)
    if event["type"] in REALTIME.supported:
        translation = event["type"] in ("session.close", "session.input_audio_buffer.append")
        family = "translation/client" if translation else "realtime/client"
        validator, _ = SCHEMAS.compiled(f"{family}/{event['type']}")
        assert (problems == []) == validator.is_valid(event)
    else:
        assert [p.code for p in problems] == ["invalid_value"]


def test_validators_are_compiled_once() -> None:
    first = SCHEMAS.compiled("realtime/client/session.update")
    REALTIME.check_frame(session_update({"type": "realtime"}))
    assert SCHEMAS.compiled("realtime/client/session.update") is first
    assert schema_store.validator("realtime/server/error") is schema_store.validator("realtime/server/error")
