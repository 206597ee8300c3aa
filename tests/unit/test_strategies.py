"""The Hypothesis strategies of `mockserver.strategies` generate what the live API (and the mock) accept, and
invalid events with the error the live API answers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample
from jsonschema import Draft202012Validator

from mockserver import schema_store, strategies
from mockserver.audio import codecs, speech
from mockserver.audio.formats import FORMATS, Format
from mockserver.protocol.errors import ApiError
from mockserver.protocol.faults import HTTP_FAULTS, Fault
from mockserver.protocol.live_rules import tighten
from mockserver.protocol.realtime import RealtimeSession
from mockserver.rest import http_faults
from mockserver.scenarios import parse_scenario
from tests.unit.sessions import errors_of, realtime_session, types

SCHEMAS = schema_store.schemas()
REALTIME = SCHEMAS.validator(RealtimeSession.EVENTS.schemas)
SCHEMA_OF = RealtimeSession.EVENTS.schemas  # event type -> path under schemas/ (realtime/client/<type>, ...)
TIGHTENED = {path: Draft202012Validator(tighten(schema_store.load(path))) for path in SCHEMA_OF.values()}


T = TypeVar("T")


def observed(strategy: st.SearchStrategy[T], labels: Callable[[T], Iterable[str]], examples: int) -> set[str]:
    """The labels of a fixed run of examples (derandomized, no shrinking). Hypothesis also draws constants
    from the project's modules already imported, so the run is the same only for the same imports: assert
    on what a few hundred examples reach for sure, and look for rare values with `reached`."""
    seen: set[str] = set()

    @settings(max_examples=examples, derandomize=True, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(value: T) -> None:
        seen.update(labels(value))

    run()
    return seen


def reached(strategy: st.SearchStrategy[T], condition: Callable[[T], bool]) -> bool:
    """Whether derandomized generation finds a value meeting `condition` (stops at the first one)."""
    try:
        find(strategy, condition, settings=settings(max_examples=5000, derandomize=True, database=None,
                                                    phases=[Phase.generate], suppress_health_check=list(HealthCheck)))
    except NoSuchExample:
        return False
    return True


def category_of(case: tuple[str | bytes, ApiError]) -> str:
    """Which of `strategies.INVALID_CATEGORIES` a pair is, read from the frame and the expected error."""
    frame, error = case
    if isinstance(frame, bytes):
        return "binary_frame"
    if error.code == "invalid_event":
        return "missing_type"
    if error.code == "invalid_value" and error.param == "type":
        return "unknown_type"
    return {"integer_below_min_value": "below_minimum", "decimal_below_min_value": "below_minimum",
            "integer_above_max_value": "above_maximum", "decimal_above_max_value": "above_maximum",
            "string_above_max_length": "string_too_long"}.get(str(error.code), str(error.code))


def answer(event: dict[str, Any], model: str = "gpt-realtime") -> list[dict[str, Any]]:
    """What a new realtime session of `model` answers to one event (its server events checked against schemas/)."""
    session = realtime_session(model=model)
    session.poll(1000)
    session.receive_frame(json.dumps(event))
    sent = session.poll(1000)
    for server_event in sent:
        assert schema_store.shape_errors("realtime/server", server_event) == []
    return sent


def assert_valid(event: dict[str, Any]) -> None:
    """Accepted by the mock's validator, and valid against the SDK's schema and the tightened one."""
    assert REALTIME.check(event)[1] == [], REALTIME.check(event)[1]
    assert REALTIME.check_frame(json.dumps(event))[1] == []
    path = SCHEMA_OF[event["type"]]
    assert schema_store.validator(path).is_valid(event)
    assert TIGHTENED[path].is_valid(event)


# -- client_events ------------------------------------------------------------------------------------

@given(strategies.client_events())
def test_client_events_are_valid(event: dict[str, Any]) -> None:
    assert_valid(event)


@pytest.mark.parametrize("event_type", list(SCHEMA_OF))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_client_events_of_each_type(event_type: str, data: st.DataObject) -> None:
    event = data.draw(strategies.client_events(types=[event_type]))
    assert event["type"] == event_type
    assert_valid(event)


def test_client_events_refuse_types_the_socket_does_not_take() -> None:
    with pytest.raises(ValueError, match=r"output_audio_buffer\.clear"):
        strategies.client_events(types=["output_audio_buffer.clear"])


@pytest.mark.parametrize("word", ["threshold", "transcription", '"role": "user"', "input_audio",
                                  "function_call_output", "retention_ratio", "tools"])
def test_client_events_reach_deep_into_the_schema(word: str) -> None:
    # Past the top level: turn detection in a session update, user messages with content in a response.
    strategy = strategies.client_events(types=["session.update", "response.create"])
    assert reached(strategy, lambda event: word in json.dumps(event))


# -- invalid_client_events ----------------------------------------------------------------------------

def assert_expected(case: tuple[str | bytes, ApiError]) -> None:
    frame, expected = case
    _, problems = REALTIME.check_frame(frame)
    assert problems, frame
    first = problems[0]
    assert (first.type, first.code, first.param, first.message) == (
        expected.type, expected.code, expected.param, expected.message), frame
    assert first.event_id == expected.event_id


@given(strategies.invalid_client_events())
def test_invalid_client_events_get_the_expected_error(case: tuple[str | bytes, ApiError]) -> None:
    assert_expected(case)


@pytest.mark.parametrize("category", strategies.INVALID_CATEGORIES)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_each_category_of_invalid_events(category: str, data: st.DataObject) -> None:
    case = data.draw(strategies.invalid_client_events(categories=[category]))
    assert category_of(case) == category
    if category == "unknown_type":
        assert case[1].message.endswith(
            "Supported values are: 'session.update', 'session.close', 'input_audio_buffer.append', "
            "'session.input_audio_buffer.append', 'input_audio_buffer.commit', 'input_audio_buffer.clear', "
            "'conversation.item.create', 'conversation.item.truncate', 'conversation.item.delete', "
            "'conversation.item.retrieve', 'response.create', and 'response.cancel'.")
    assert_expected(case)


def test_every_category_appears_unasked() -> None:
    assert observed(strategies.invalid_client_events(), lambda case: [category_of(case)], 300) == set(
        strategies.INVALID_CATEGORIES)


@pytest.mark.parametrize(("category", "event_type", "param"), [
    ("invalid_value", "conversation.item.create", "item.role"),
    ("invalid_value", "session.update", "session.type"),
    ("missing_required_parameter", "session.update", "session.audio.output.format.rate"),
    ("below_minimum", "session.update", "session.audio.input.format.rate"),
    ("above_maximum", "response.create", "response.max_output_tokens"),
    ("invalid_type", "conversation.item.create", "item.content"),
])
def test_invalid_events_reach_the_live_examples(category: str, event_type: str, param: str) -> None:
    # Places of the live captures (tests/unit/test_validation.py), reached by the generic mutations.
    strategy = strategies.invalid_client_events(categories=[category], types=[event_type])
    assert reached(strategy, lambda case: case[1].param == param)


def test_invalid_client_events_refuse_impossible_categories() -> None:
    with pytest.raises(ValueError, match="below_minimum"):
        strategies.invalid_client_events(categories=["below_minimum"], types=["response.cancel"])


# -- session_configs, conversation_items ------------------------------------------------------------

@settings(max_examples=100, deadline=None)
@given(strategies.session_configs())
def test_session_configs_are_accepted(session: dict[str, Any]) -> None:
    assert session["type"] == "realtime" and "reasoning" not in session
    event = {"type": "session.update", "session": session}
    assert_valid(event)
    sent = answer(event)
    assert errors_of(sent) == [] and types(sent) == ["session.updated"]


@settings(max_examples=50, deadline=None)
@given(strategies.session_configs(reasoning=True))
def test_session_configs_with_reasoning_are_accepted_by_reasoning_models(session: dict[str, Any]) -> None:
    event = {"type": "session.update", "session": session}
    assert_valid(event)
    sent = answer(event, model="gpt-realtime-2")
    assert errors_of(sent) == [] and types(sent) == ["session.updated"]


def test_session_configs_with_reasoning_set_it() -> None:
    assert "reasoning" in observed(strategies.session_configs(reasoning=True), lambda session: list(session), 50)


@settings(max_examples=100, deadline=None)
@given(strategies.conversation_items())
def test_conversation_items_are_accepted(item: dict[str, Any]) -> None:
    assert item["type"] in ("message", "function_call", "function_call_output")
    event = {"type": "conversation.item.create", "item": item}
    assert_valid(event)
    sent = answer(event)
    assert errors_of(sent) == [] and types(sent) == ["conversation.item.added", "conversation.item.done"]


def test_conversation_items_of_every_kind() -> None:
    def kinds(item: dict[str, Any]) -> Iterable[str]:
        if item["type"] != "message":
            return [item["type"]]
        return [f"{item['role']} {part['type']}" for part in item["content"]]

    assert observed(strategies.conversation_items(), kinds, 200) >= {
        "system input_text", "user input_text", "user input_audio", "user input_image", "assistant output_text",
        "assistant output_audio", "function_call", "function_call_output"}


# -- audio_chunks ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_audio_chunks_say_what_they_claim(fmt: Format, data: st.DataObject) -> None:
    text, audio = data.draw(strategies.audio_chunks(fmt))
    pcm = codecs.decode(audio, fmt)
    assert len(audio) % (2 if fmt == "audio/pcm" else 1) == 0 and audio
    assert speech.transcribe(pcm) == text


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_audio_chunks_of_each_kind(fmt: Format, data: st.DataObject) -> None:
    for kind in strategies.AUDIO_KINDS:
        text, audio = data.draw(strategies.audio_chunks(fmt, kinds=[kind]))
        samples = np.frombuffer(codecs.decode(audio, fmt), dtype="<i2")
        assert (text is None) == (kind != "speech")
        assert speech.transcribe(samples.tobytes()) == text
        if kind == "silence":  # zero, or G.711 A-law's quietest step (±8) after resampling
            assert np.abs(samples).max(initial=0) <= 16
        else:  # noise and speech are loud: a VAD hears them
            assert np.abs(samples).max() > 3000


def test_audio_chunks_refuse_unknown_formats() -> None:
    with pytest.raises(ValueError, match="audio/wav"):
        strategies.audio_chunks("audio/wav")  # type: ignore[arg-type]


# -- scenarios ------------------------------------------------------------------------------------------

@settings(max_examples=100, deadline=None)
@given(strategies.scenarios())
def test_scenarios_load(doc: dict[str, Any]) -> None:
    scenario = parse_scenario(json.dumps(doc))
    assert scenario.name == doc["name"]
    assert len(scenario.rules) == len(doc["rules"])


def test_scenarios_have_every_reply_form() -> None:
    def forms(doc: dict[str, Any]) -> Iterable[str]:
        replies = [rule["reply"] for rule in doc["rules"]] + ([doc["fallback"]] if "fallback" in doc else [])
        return [next(iter(r)) if isinstance(r, dict) else "string" for r in replies]

    assert observed(strategies.scenarios(), forms, 200) == {
        "string", "text", "refusal", "function_call", "function_calls", "mcp_call", "mcp_list_tools", "fail",
        "incomplete", "error", "outputs"}


def _faults(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return list(doc.get("faults") or ())


def _has_fault_on_a_path(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda doc: any(f["name"] == name and "path" in f for f in _faults(doc))


def test_scenarios_have_rest_faults_too() -> None:
    for name in ("http_error", "http_rate_limit", "http_slow_body"):
        assert reached(strategies.scenarios(), _has_fault_on_a_path(name)), name


@settings(max_examples=150, deadline=None)
@given(strategies.scenarios())
def test_rest_faults_of_scenarios_apply_to_requests(doc: dict[str, Any]) -> None:
    """Every generated REST fault loads and does what it says to a request on its path (and nothing elsewhere)."""
    for spec in parse_scenario(json.dumps(doc)).faults:
        fault = Fault.from_dict(dict(spec))
        if fault.name not in HTTP_FAULTS:
            assert http_faults.apply([fault], "/v1/audio/speech", "tts-1") == http_faults.Outcome()
            continue
        path = fault.path or "/v1/chat/completions"
        outcome = http_faults.apply([fault], path, "gpt-4o")
        if fault.name == "http_error":
            assert outcome.status == (fault.code or 500) and outcome.error is not None
        elif fault.name == "http_rate_limit":
            limits = fault.limits or list(http_faults.DEFAULT_LIMITS)
            assert all(f"x-ratelimit-limit-{limit['name']}" in outcome.headers for limit in limits)
            assert (outcome.status == 429) == any(limit["remaining"] <= 0 for limit in limits)
        else:
            assert outcome.status is None and outcome.pause == (fault.ms or 0) / 1000
        if fault.path is not None:
            elsewhere = next(p for p in ("/v1/audio/speech", "/v1/audio/translations") if p != fault.path)
            assert http_faults.apply([Fault.from_dict(dict(spec))], elsewhere, "gpt-4o") == http_faults.Outcome()
