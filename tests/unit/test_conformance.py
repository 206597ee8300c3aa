"""The conformance engine without sockets: normalisation, comparison, the beta -> GA table, the allowlist,
classification, the mock's script and the reports."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance import allowlist as allowlists
from conformance import beta, report, script, target
from conformance.allowlist import Allowlist, AllowlistError, Entry
from conformance.cassette import Cassette, Frame, HttpLeg
from conformance.classify import classify
from conformance.compare import compare, outline, schema_findings
from conformance.findings import Finding
from conformance.normalize import Normalizer, normalize
from conformance.suite import CassetteResult, SuiteResult
from conformance.target import Replay
from mockserver.protocol.responder import FunctionCall, McpCall, Message


def _cassette(name: str, *frames: tuple[str, dict[str, Any]], http: list[HttpLeg] | None = None) -> Cassette:
    return Cassette(source=name, frames=[Frame(i / 1000, d, e) for i, (d, e) in enumerate(frames)],
                    http=http or [])


def _server(events: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    return list(enumerate(events))


def _kinds(found: list[Finding]) -> list[tuple[str, str | None, str]]:
    return sorted((f.kind, f.event, f.path) for f in found)


# --- normalisation ------------------------------------------------------------------------------------

def test_the_same_id_gets_the_same_placeholder_everywhere_and_different_ids_different_ones() -> None:
    events = normalize([
        {"type": "conversation.item.added", "event_id": "event_A1", "previous_item_id": None,
         "item": {"id": "item_U1", "type": "message"}},
        {"type": "response.output_item.added", "event_id": "event_A2", "response_id": "resp_R1",
         "item": {"id": "item_M1", "type": "function_call", "call_id": "call_C1", "name": "call_weather"}},
        {"type": "conversation.item.added", "event_id": "event_A3", "previous_item_id": "item_U1",
         "item": {"id": "item_M1"}},
        {"type": "response.done", "event_id": "event_A4",
         "response": {"id": "resp_R1", "conversation_id": "conv_X",
                      "output": [{"id": "item_M1", "call_id": "call_C1"}]}},
    ])
    assert events[0]["item"]["id"] == "<item_1>"
    assert events[1]["item"]["id"] == "<item_2>"
    assert events[2]["previous_item_id"] == "<item_1>" and events[2]["item"]["id"] == "<item_2>"
    assert events[3]["response"]["output"][0] == {"id": "<item_2>", "call_id": "<call_1>"}
    assert events[1]["response_id"] == events[3]["response"]["id"] == "<resp_1>"
    assert events[3]["response"]["conversation_id"] == "<conv_1>"
    assert [e["event_id"] for e in events] == ["<event_1>", "<event_2>", "<event_3>", "<event_4>"]
    assert events[1]["item"]["name"] == "call_weather"  # a name, not an id


def test_volatile_fields_are_replaced_and_stream_positions_kept() -> None:
    session, audio, transcript, speech = normalize([
        {"type": "session.created", "session": {"id": "sess_1", "expires_at": 1785217648, "instructions": "Be brief."}},
        {"type": "response.output_audio.delta", "delta": "AgD9/wQA", "obfuscation": "xyz"},
        {"type": "response.output_audio_transcript.delta", "delta": "Hi", "obfuscation": "abcdef"},
        {"type": "input_audio_buffer.speech_started", "audio_start_ms": 1460, "item_id": "item_1"},
    ])
    assert session["session"] == {"id": "<sess_1>", "expires_at": "<expires_at>", "instructions": "Be brief."}
    assert audio["delta"] == "<audio 8 chars>" and audio["obfuscation"] == "<obfuscation>"
    assert transcript["delta"] == "Hi"  # wording stays for display
    assert speech["audio_start_ms"] == 1460
    item = normalize([{"type": "conversation.item.retrieved", "item": {"content": [{"audio": "AAAA", "type": "x"}]}}])
    assert item[0]["item"]["content"][0]["audio"] == "<audio 4 chars>"
    assert normalize([{"type": "x", "expires_at": None}])[0]["expires_at"] is None


@given(st.lists(st.sampled_from(["item_a", "item_b", "item_c", "resp_a", "call_a", "call_b"]), min_size=1))
def test_placeholders_are_a_consistent_one_to_one_renaming(ids: list[str]) -> None:
    normalizer = Normalizer()
    placeholders = [normalizer.event({"type": "x", "item_id": value})["item_id"] for value in ids]
    table = dict(zip(ids, placeholders, strict=True))
    assert len(set(table.values())) == len(table)  # different ids, different placeholders
    assert all(table[value] == placeholder for value, placeholder in zip(ids, placeholders, strict=True))
    for value, placeholder in table.items():
        assert placeholder.startswith(f"<{value.split('_')[0]}_")
    firsts = {kind: [p for v, p in table.items() if v.startswith(kind)] for kind in ("item", "resp", "call")}
    for kind, seen in firsts.items():  # numbered in order of first appearance, per kind
        assert sorted(seen, key=lambda p: int(p[1:-1].rsplit("_", 1)[1])) == \
            [table[v] for v in dict.fromkeys(ids) if v.startswith(kind)]


# --- comparison --------------------------------------------------------------------------------------

def _text_turn(text_deltas: int = 2) -> list[dict[str, Any]]:
    ids = {"response_id": "resp_1", "item_id": "item_1", "output_index": 0, "content_index": 0}
    return [
        {"type": "response.created", "event_id": "event_1", "response": {"id": "resp_1", "status": "in_progress"}},
        *({"type": "response.output_text.delta", "event_id": f"event_d{i}", **ids, "delta": "a", "obfuscation": "q"}
          for i in range(text_deltas)),
        {"type": "response.done", "event_id": "event_2",
         "response": {"id": "resp_1", "status": "completed", "output": [{"id": "item_1", "type": "message"}],
                      "usage": {"total_tokens": 3}}},
    ]


def test_identical_sessions_differ_in_nothing_even_with_other_ids_wording_and_delta_counts() -> None:
    recorded = _text_turn(2)
    other = json.loads(json.dumps(_text_turn(5)).replace("resp_1", "resp_Z").replace("item_1", "item_Q")
                       .replace('"a"', '"bbb"'))
    other[-1]["response"]["usage"]["total_tokens"] = 99
    assert list(compare("c", _server(recorded), other)) == []


def test_deltas_are_folded_and_compared_as_a_set() -> None:
    events = [{"type": "x.delta"}, {"type": "y"}, {"type": "z.delta"}, {"type": "a.delta"}, {"type": "z.delta"}]
    assert [token for token, _ in outline(events)] == [
        ("deltas", frozenset({"x.delta"})), ("event", "y"), ("deltas", frozenset({"a.delta", "z.delta"}))]
    audio = {"type": "response.output_audio.delta", "delta": "AAAA"}
    words = {"type": "response.output_audio_transcript.delta", "delta": "Hi"}
    recorded = [{"type": "a"}, audio, words, audio, words, {"type": "b"}]
    interleaved_otherwise = [{"type": "a"}, words, words, words, audio, {"type": "b"}]
    assert list(compare("c", _server(recorded), interleaved_otherwise)) == []
    found = list(compare("c", _server(recorded), [{"type": "a"}, words, {"type": "b"}]))
    assert _kinds(found) == [("delta_types", "response.output_audio.delta", "$")]
    assert found[0].index == 1 and found[0].target_index is None


def test_the_order_of_event_types_missing_extra_and_moved_events() -> None:
    recorded = [{"type": "a"}, {"type": "b"}, {"type": "c"}, {"type": "d"}]
    assert _kinds(list(compare("c", _server(recorded), [{"type": "a"}, {"type": "c"}, {"type": "d"}]))) == [
        ("missing_event", "b", "$")]
    extra = list(compare("c", _server(recorded), [{"type": "a"}, {"type": "b"}, {"type": "b"}, {"type": "c"},
                                                  {"type": "d"}]))
    assert _kinds(extra) == [("extra_event", "b", "$")] and extra[0].target_index in (1, 2)
    moved = list(compare("c", _server(recorded), [{"type": "a"}, {"type": "c"}, {"type": "b"}, {"type": "d"}]))
    assert [f.kind for f in moved] == ["order"]
    assert moved[0].message.startswith(moved[0].event or "?")


def test_shape_differences_each_with_its_json_path() -> None:
    recorded = {"type": "response.done", "response": {"status": "completed", "output": [{"type": "message"}],
                                                       "usage": {"total_tokens": 1}, "voice": "alloy"}}
    mocked = {"type": "response.done", "response": {"status": None, "output": [{"type": "function_call"}, {}],
                                                     "extra": 1, "voice": 5}}
    found = list(compare("c", _server([recorded]), [mocked]))
    by_path = {f.path: f for f in found}
    assert _kinds(found) == [
        ("array_length", "response.done", "$.response.output"),
        ("extra_key", "response.done", "$.response.extra"),
        ("json_type", "response.done", "$.response.status"),
        ("json_type", "response.done", "$.response.voice"),
        ("missing_key", "response.done", "$.response.usage"),
        ("value", "response.done", "$.response.output[0].type"),
    ]
    status = by_path["$.response.status"]
    assert status.recorded == 'string "completed"' and status.target == "null"
    assert by_path["$.response.output"].recorded == "array(1)" and by_path["$.response.output"].target == "array(2)"
    assert by_path["$.response.usage"].target == "absent"
    assert all(f.index == 0 and f.target_index == 0 and f.cassette == "c" for f in found)


def test_references_must_pair_one_to_one() -> None:
    recorded = [{"type": "a", "item": {"id": "item_1"}}, {"type": "b", "previous_item_id": "item_1",
                                                           "item": {"id": "item_2"}}]
    same_links = [{"type": "a", "item": {"id": "item_X"}}, {"type": "b", "previous_item_id": "item_X",
                                                             "item": {"id": "item_Y"}}]
    assert list(compare("c", _server(recorded), same_links)) == []
    broken = [{"type": "a", "item": {"id": "item_X"}}, {"type": "b", "previous_item_id": "item_Y",
                                                         "item": {"id": "item_Y"}}]
    found = list(compare("c", _server(recorded), broken))
    assert [(f.kind, f.event, f.path) for f in found] == [("reference", "b", "$.previous_item_id")]
    assert found[0].message == ("b $.previous_item_id: the recorded <item_1> pairs with the target's <item_1> at "
                                "$.item.id, but with the target's <item_2> here")


def test_every_frame_is_validated_against_the_ga_schemas() -> None:
    cassette = _cassette("c", ("client", {"type": "session.update", "session": {"type": "realtime", "bogus": 1}}),
                         ("server", {"type": "response.text.delta", "event_id": "event_1"}))
    bad_done = {"type": "response.done", "event_id": "event_2", "response": {"status": 5}}
    found = list(schema_findings("c", cassette.frames, [bad_done]))
    assert {(f.side, f.event, f.index, f.target_index) for f in found} == {
        ("recorded", "session.update", 0, None), ("recorded", "response.text.delta", 1, None),
        ("target", "response.done", None, 0)}
    assert any(f.path == "$.response.status" for f in found if f.side == "target")
    assert any("not a realtime/server event type" in f.message for f in found)
    assert all(f.kind == "schema" for f in found)


# --- the beta -> GA table ---------------------------------------------------------------------------

def _client(event: dict[str, Any]) -> Cassette:
    return _cassette("beta-app", ("client", event))


SESSION = {"type": "realtime"}
EXAMPLES: dict[str, tuple[Cassette, str]] = {
    "header.openai-beta": (_cassette("b", http=[HttpLeg(0, "GET", "/v1/realtime", 101, request_headers={
        "OpenAI-Beta": "realtime=v1"})]), "send no OpenAI-Beta header"),
    "rest.sessions": (_cassette("b", http=[HttpLeg(0, "POST", "/v1/realtime/sessions", 200, {"model": "m"})]),
                      "POST /v1/realtime/client_secrets"),
    "rest.transcription_sessions": (_cassette("b", http=[HttpLeg(0, "POST", "/v1/realtime/transcription_sessions",
                                                                 200, {})]), "session.type \"transcription\""),
    "rest.webrtc_sdp": (_cassette("b", http=[HttpLeg(0, "POST", "/v1/realtime?model=gpt-realtime", 201, "v=0")]),
                        "POST /v1/realtime/calls"),
    "event.transcription_session.update": (_client({"type": "transcription_session.update", "session": {}}),
                                           "session.update with session.type \"transcription\""),
    "event.response.text": (_cassette("b", ("server", {"type": "response.text.delta"})), "response.output_text.delta"),
    "event.response.audio": (_cassette("b", ("server", {"type": "response.audio.done"})),
                             "response.output_audio.done"),
    "event.response.audio_transcript": (_cassette("b", ("server", {"type": "response.audio_transcript.delta"})),
                                        "response.output_audio_transcript.delta"),
    "event.conversation.item.created": (_cassette("b", ("server", {"type": "conversation.item.created"})),
                                        "conversation.item.added and conversation.item.done"),
    "event.transcription_session.created": (_cassette("b", ("server", {"type": "transcription_session.updated"})),
                                            "session.updated"),
    "session.type": (_client({"type": "session.update", "session": {"instructions": "x"}}), "session.type is required"),
    "session.modalities": (_client({"type": "session.update", "session": {**SESSION, "modalities": ["text"]}}),
                           "in GA use session.output_modalities"),
    "session.voice": (_client({"type": "session.update", "session": {**SESSION, "voice": "alloy"}}),
                      "session.audio.output.voice"),
    "session.input_audio_format": (_client({"type": "session.update", "session": {
        **SESSION, "input_audio_format": "pcm16"}}),
        'session.audio.input.format: {"type": "audio/pcm", "rate": 24000}'),
    "session.output_audio_format": (_client({"type": "session.update", "session": {
        **SESSION, "output_audio_format": "g711_ulaw"}}), 'session.audio.output.format: {"type": "audio/pcmu"}'),
    "session.input_audio_transcription": (_client({"type": "session.update", "session": {
        **SESSION, "input_audio_transcription": {"model": "whisper-1"}}}), "session.audio.input.transcription"),
    "session.input_audio_noise_reduction": (_client({"type": "session.update", "session": {
        **SESSION, "input_audio_noise_reduction": {"type": "near_field"}}}), "session.audio.input.noise_reduction"),
    "session.turn_detection": (_client({"type": "session.update", "session": {**SESSION, "turn_detection": None}}),
                               "session.audio.input.turn_detection"),
    "session.speed": (_client({"type": "session.update", "session": {**SESSION, "speed": 1.1}}),
                      "session.audio.output.speed"),
    "session.max_response_output_tokens": (_client({"type": "session.update", "session": {
        **SESSION, "max_response_output_tokens": "inf"}}), "session.max_output_tokens"),
    "session.temperature": (_client({"type": "session.update", "session": {**SESSION, "temperature": 0.8}}),
                            "GA has no temperature"),
    "session.tool_choice": (_client({"type": "session.update", "session": {**SESSION, "tool_choice": "get_weather"}}),
                            '{"type": "function", "name": "get_weather"}'),
    "session.client_secret": (_cassette("b", http=[HttpLeg(0, "POST", "/v1/realtime/sessions", 200, {
        "client_secret": {"expires_after": {"anchor": "created_at", "seconds": 60}}})]),
        "client sent POST /v1/realtime/sessions with client_secret: in GA use the top-level expires_after"),
    "response.modalities": (_client({"type": "response.create", "response": {"modalities": ["text"]}}),
                            "response.output_modalities"),
    "response.voice": (_client({"type": "response.create", "response": {"voice": "ash"}}),
                       "response.audio.output.voice"),
    "response.output_audio_format": (_client({"type": "response.create", "response": {
        "output_audio_format": "g711_alaw"}}), 'response.audio.output.format: {"type": "audio/pcma"}'),
    "response.max_response_output_tokens": (_client({"type": "response.create", "response": {
        "max_response_output_tokens": 50}}), "response.max_output_tokens"),
    "response.temperature": (_client({"type": "response.create", "response": {"temperature": 1}}),
                             "GA has no temperature"),
    "response.tool_choice": (_client({"type": "response.create", "response": {"tool_choice": "lookup"}}),
                             '{"type": "function", "name": "lookup"}'),
    "content.text": (_client({"type": "conversation.item.create", "item": {
        "type": "message", "role": "assistant", "content": [{"type": "text", "text": "Hi"}]}}), '"output_text"'),
    "content.audio": (_client({"type": "response.create", "response": {"input": [{
        "type": "message", "role": "assistant", "content": [{"type": "audio", "transcript": "Hi"}]}]}}),
        '"output_audio"'),
    "content.item_reference": (_client({"type": "response.create", "response": {"input": [{
        "type": "message", "role": "user", "content": [{"type": "item_reference", "id": "item_1"}]}]}}),
        "response.input as an item"),
    "format.string": (_client({"type": "session.update", "session": {**SESSION, "audio": {
        "input": {"format": "pcm16"}}}}), '{"type": "audio/pcm", "rate": 24000}'),
}


def test_every_row_of_the_table_has_an_example_here() -> None:
    assert set(EXAMPLES) == set(beta.RULES)
    assert len(beta.RULES) == len(beta.TABLE)


@pytest.mark.parametrize("rule", sorted(EXAMPLES))
def test_beta_detection_names_the_ga_replacement(rule: str) -> None:
    cassette, replacement = EXAMPLES[rule]
    found = [f for f in beta.beta_findings(cassette) if f.rule == rule]
    assert found, f"{rule} not detected"
    assert replacement in found[0].message, found[0].message
    assert found[0].kind == "beta" and found[0].target == beta.RULES[rule].ga
    assert classify(found, target_is_mock=True)[0].category == "beta_shape"


def test_beta_messages_read_as_instructions() -> None:
    found = beta.beta_findings(_client({"type": "session.update", "session": {"modalities": ["text", "audio"]}}))
    messages = [f.message for f in found]
    assert ("client sent session.update with session.modalities: in GA use session.output_modalities "
            "([\"audio\"]: GA does not allow both; audio responses carry a transcript)") in messages
    assert found[0].path == "$.session.type" and found[1].path == "$.session.modalities"
    transcription = beta.beta_findings(_client({"type": "transcription_session.update", "session": {
        "modalities": ["text"], "input_audio_format": "g711_alaw"}}))
    assert [f.message for f in transcription] == [
        "client sent transcription_session.update: in GA use session.update with session.type \"transcription\"",
        "client sent transcription_session.update with session.modalities: a GA transcription session has no "
        "modalities; remove it",
        "client sent transcription_session.update with session.input_audio_format: \"g711_alaw\": in GA use "
        "session.audio.input.format: {\"type\": \"audio/pcma\"}"]
    refused = _cassette("b", ("server", {"type": "error", "error": {"code": "beta_api_shape_disabled"}}))
    assert [f.rule for f in beta.beta_findings(refused)] == ["header.openai-beta"]


def test_event_renames_go_both_ways() -> None:
    for old, new in beta.BETA_TO_GA_EVENTS.items():
        assert beta.GA_TO_BETA_EVENTS[new] in (old, "conversation.item.created", "transcription_session.update")


def test_ga_traffic_has_no_beta_findings() -> None:
    ga = _cassette("ga", ("client", {"type": "session.update", "session": {
        "type": "realtime", "output_modalities": ["audio"], "tool_choice": "auto",
        "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}}}}}),
        ("client", {"type": "conversation.item.create", "item": {
            "type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hi"}]}}),
        ("server", {"type": "response.output_text.delta"}))
    assert beta.beta_findings(ga) == []


def test_migration_report_groups_counts_and_deduplicates() -> None:
    update = {"type": "session.update", "session": {"modalities": ["text"], "voice": "alloy"}}
    one = _cassette("app-one", ("client", update), ("client", update), ("server", {"type": "response.text.delta"}))
    two = _cassette("app-two", ("client", update))
    text = beta.migration_report([one, two])
    assert text.startswith("Migration report: 2 cassette(s), 4 change(s) for GA (10 occurrence(s) of beta shapes)")
    assert ("- `session.modalities` ([\"text\", \"audio\"] by default) -> GA: `session.output_modalities`: "
            "[\"audio\"] (default) or [\"text\"], not both (3x in app-one, app-two)\n"
            "  - client sent session.update with session.modalities: in GA use session.output_modalities "
            "(3x in app-one, app-two)\n") in text
    assert "  - server sent response.text.delta: the GA server sends response.output_text.delta (1x in app-one)" in text
    assert text.count("session.modalities: in GA use") == 1
    assert text.index("## Server events") < text.index("## Session fields")
    assert "- `session.voice` -> GA: `session.audio.output.voice` (3x in app-one, app-two)" in text
    assert "No beta shapes found" in beta.migration_report([_cassette("ga", ("client", {"type": "response.create"}))])


# --- allowlist and classification --------------------------------------------------------------------

def _finding(**fields: Any) -> Finding:
    base: dict[str, Any] = {"cassette": "openai_ws.test_tool_call_round", "kind": "extra_event", "message": "m",
                            "event": "rate_limits.updated", "category": "mock_drift"}
    return Finding(**{**base, **fields})


def test_allowlist_entries_match_by_cassette_kind_event_and_path() -> None:
    allow = allowlists.parse({"allow": [
        {"cassette": "openai_ws.*", "kind": "mock_drift", "event": "rate_limits.updated", "reason": "not recorded"},
        {"cassette": "*", "kind": "spec_drift", "path": "$.response.output[*].status", "reason": "live adds it"},
        {"cassette": "other", "kind": "live_drift", "reason": "never used"},
    ]}, "test")
    hit, wrong_kind, wrong_event = _finding(), _finding(category="live_drift"), _finding(event="response.done")
    on_path = _finding(category="spec_drift", path="$.response.output[0].status", event="response.done")
    off_path = _finding(category="spec_drift", path="$.response.output0.status", event="response.done")
    allow.apply([hit, wrong_kind, wrong_event, on_path, off_path])
    assert hit.classification == "allowed" and hit.allowed_reason == "not recorded"
    assert [f.classification for f in (wrong_kind, wrong_event, off_path)] == ["live_drift", "mock_drift",
                                                                                "spec_drift"]
    assert on_path.allowed_reason == "live adds it"  # brackets are literal, `*` spans anything
    assert [e.number for e in allow.stale(["other"], target_is_mock=False)] == [3]
    assert allow.stale(["other"], target_is_mock=True) == []  # live_drift cannot happen against the mock
    assert allow.stale(["unrelated"], target_is_mock=False) == []  # did not apply to this run


@pytest.mark.parametrize(("data", "message"), [
    ({"allow": [{"cassette": "*", "kind": "mock_drift"}]}, "`reason` is required"),
    ({"allow": [{"cassette": "*", "kind": "mock_drift", "reason": "  "}]}, "`reason` is required"),
    ({"allow": [{"cassette": "*", "kind": "drift", "reason": "r"}]}, "kind must be one of"),
    ({"allow": [{"kind": "mock_drift", "reason": "r"}]}, "`cassette` is required"),
    ({"allow": [{"cassette": "*", "kind": "mock_drift", "reason": "r", "why": 1}]}, "unknown key(s) why"),
    ({"allowed": []}, "one key, `allow`"),
    ({"allow": ["x"]}, "entry 1: expected a mapping"),
])
def test_allowlist_mistakes_are_named(data: Any, message: str) -> None:
    with pytest.raises(AllowlistError, match=None) as caught:
        allowlists.parse(data, "a.yaml")
    assert message in str(caught.value) and str(caught.value).startswith("a.yaml")


def test_the_shipped_allowlist_loads_and_every_entry_has_a_specific_reason(tmp_path: Path) -> None:
    shipped = allowlists.load(allowlists.DEFAULT)
    assert shipped.entries and all(len(e.reason) > 80 for e in shipped.entries)
    (tmp_path / "bad.yaml").write_text("allow: [\n")
    with pytest.raises(AllowlistError, match="not valid YAML"):
        allowlists.load(tmp_path / "bad.yaml")
    with pytest.raises(AllowlistError, match="cannot read it"):
        allowlists.load(tmp_path / "missing.yaml")
    assert allowlists.parse(None).entries == []


def test_classification_by_kind_side_and_target() -> None:
    def category(target_is_mock: bool, **fields: Any) -> str:
        return classify([_finding(category="", **fields)], target_is_mock=target_is_mock)[0].category

    assert category(True, kind="missing_event") == "mock_drift"
    assert category(False, kind="missing_event") == "live_drift"
    assert category(True, kind="schema", side="recorded", event="session.update") == "spec_drift"
    assert category(True, kind="schema", side="recorded", event="response.text.delta") == "beta_shape"
    assert category(True, kind="schema", side="target") == "mock_drift"
    assert category(False, kind="schema", side="target") == "spec_drift"
    beta_frame = [_finding(kind="beta", index=3, category=""), _finding(kind="schema", side="recorded", index=3,
                                                                       event="session.update", category="")]
    assert [f.category for f in classify(beta_frame, target_is_mock=True)] == ["beta_shape", "beta_shape"]


# --- the mock's script and the replay plan -----------------------------------------------------------

def test_the_script_answers_what_each_recorded_response_contained() -> None:
    def done(rid: str, status: str, output: list[dict[str, Any]], details: Any = None) -> dict[str, Any]:
        return {"type": "response.done", "response": {"id": rid, "status": status, "output": output,
                                                      "status_details": details}}

    def text(words: str) -> list[dict[str, Any]]:
        return [{"type": "message", "content": [{"type": "output_text", "text": words}]}]

    cassette = _cassette(
        "s",
        ("server", {"type": "response.created", "response": {"id": "resp_1"}}),
        ("server", {"type": "response.created", "response": {"id": "resp_2"}}),
        ("server", done("resp_2", "completed", text("B"))),
        ("server", done("resp_1", "completed", [
            {"type": "message", "content": [{"type": "output_audio", "transcript": "Hi there!"}]},
            {"type": "function_call", "name": "get_weather", "arguments": "{\"city\": \"London\"}", "call_id": "c"},
            {"type": "mcp_call", "server_label": "s", "name": "t", "arguments": "{}", "error": {"message": "boom"}}])),
        ("server", {"type": "response.created", "response": {"id": "resp_3"}}),
        ("server", done("resp_3", "failed", [], {"type": "failed", "error": {"type": "tokens", "code": "x"}})),
        ("server", done("resp_4", "incomplete", text("Cut"), {"type": "incomplete", "reason": "content_filter"})),
        ("server", done("resp_5", "cancelled", text("So"), {"type": "cancelled", "reason": "client_cancelled"})),
    )
    first, second, failed, cut, cancelled = script.replies(cassette)
    assert first.outputs == (Message("Hi there!"), FunctionCall("get_weather", "{\"city\": \"London\"}"),
                             McpCall("s", "t", "{}", None, "boom"))
    assert second.outputs == (Message("B"),)  # replies follow the order responses were created in
    assert failed.status == "failed" and failed.error == {"type": "tokens", "code": "x"}
    assert cut.status == "incomplete" and cut.reason == "content_filter" and cut.cut_after_tokens == 1
    assert isinstance(cut.outputs[0], Message) and cut.outputs[0].text.startswith("Cut ")
    assert cancelled.status == "completed" and cancelled.timing == script.CANCELLED_TIMING
    assert isinstance(cancelled.outputs[0], Message) and len(cancelled.outputs[0].text) > 1000
    fresh = script.responder_factory(cassette)
    assert fresh() is not fresh()


def test_client_frames_wait_for_the_recorded_structural_events_and_use_the_targets_ids() -> None:
    cassette = _cassette(
        "p", ("server", {"type": "session.created"}), ("client", {"type": "session.update"}),
        ("server", {"type": "session.updated"}), ("server", {"type": "response.output_text.delta"}),
        ("server", {"type": "response.output_item.added", "item": {"id": "item_R", "call_id": "call_R"}}),
        ("client", {"type": "conversation.item.create", "item": {"call_id": "call_R", "id": "mine"}}))
    steps, everything = target.plan(cassette)
    assert [(s.index, dict(s.needed)) for s in steps] == [
        (1, {"session.created": 1}),
        (5, {"session.created": 1, "session.updated": 1, "response.output_item.added": 1})]
    assert everything == Counter({"session.created": 1, "session.updated": 1, "response.output_item.added": 1})
    ids: dict[str, str] = {}
    target.map_ids({"item": {"id": "item_R", "call_id": "call_R", "name": "call_me"}, "event_id": "event_1"},
                   {"item": {"id": "item_T", "call_id": "call_T", "name": "call_you"}, "event_id": "event_2"}, ids)
    assert ids == {"item_R": "item_T", "call_R": "call_T"}
    assert target.rename(steps[1].event, ids) == {"type": "conversation.item.create",
                                                  "item": {"call_id": "call_T", "id": "mine"}}
    assert target.target_url("wss://api.openai.com/v1/realtime", Cassette(query={"model": "gpt-realtime"})) == \
        "wss://api.openai.com/v1/realtime?model=gpt-realtime"
    assert target.target_url("ws://h/v1/realtime?model=x", Cassette(query={"model": "y"})) == "ws://h/v1/realtime?model=x"


# --- reports -----------------------------------------------------------------------------------------

def _suite() -> SuiteResult:
    drift = _finding(kind="missing_event", event="response.done", index=23, path="$", recorded="response.done",
                     target="absent", message="response.done: recorded, not sent by the target")
    allowed = _finding(target_index=22, allowed_reason="rate_limits.updated is not in the shared copies | really")
    piped = _finding(kind="value", event="x", path="$.a|b", message="a | b", recorded='"p"', target='"q"')
    replay = Replay(events=[{"type": "session.created"}] * 3, notes=["gave up waiting for 1 x response.done"])
    return SuiteResult("mock", [
        CassetteResult("good", "passed", [allowed], Replay(events=[{"type": "a"}]), seconds=0.5,
                       recorded_events=1),
        CassetteResult("bad", "failed", [drift, piped], replay, seconds=1.25, recorded_events=24),
        CassetteResult("live", target.NO_KEY),
        CassetteResult("broken", "error: cannot connect to ws://x: refused"),
    ], [Entry("old*", "mock_drift", "no longer needed", number=4)], "allow.yaml")


def test_junit_has_one_testcase_per_cassette_and_fails_on_unexplained_findings() -> None:
    root = ET.fromstring(report.junit(_suite()))
    cases = {case.get("name"): case for case in root.iter("testcase")}
    assert list(cases) == ["good", "bad", "live", "broken"]
    assert root.get("tests") == "4" and root.get("failures") == "1" and root.get("errors") == "1"
    failure = cases["bad"].find("failure")
    assert failure is not None and failure.get("message") == "2 unexplained finding(s)"
    assert "missing_event response.done frame #23 $" in (failure.text or "")
    assert cases["good"].find("failure") is None
    assert "rate_limits.updated" in (cases["good"].findtext("system-out") or "")
    assert cases["live"].find("skipped") is not None and cases["broken"].find("error") is not None
    assert "stale allowlist entry #4" in (root.findtext("testsuite/system-err") or "")


def test_json_round_trips() -> None:
    suite = _suite()
    data = json.loads(report.as_json(suite))
    assert data == json.loads(json.dumps(report.as_dict(suite)))
    assert data["totals"] == {"cassettes": 4, "passed": 1, "failed": 1, "skipped": 1, "errors": 1, "unexplained": 2,
                              "allowed": 1, "stale_allowlist_entries": 1}
    findings = [Finding.from_dict(f) for f in data["cassettes"][1]["findings"]]
    assert findings == suite.results[1].findings
    assert data["cassettes"][0]["findings"][0]["classification"] == "allowed" and data["ok"] is False


def test_markdown_has_tables_with_escaped_cells() -> None:
    text = report.markdown(_suite())
    assert ("| cassette | status | unexplained | allowed | events received/recorded | seconds |\n"
            "|---|---|---|---|---|---|") in text
    assert "| bad | failed | 2 | 0 | 3/24 | 1.2 |" in text  # coverage: a short run is visible
    assert "## Unexplained findings" in text and "a \\| b" in text and "$.a\\|b" in text
    assert "## Stale allowlist entries" in text and "## Replay notes" in text


def test_the_terminal_table_and_the_progress_bar() -> None:
    text = report.table(_suite())
    assert "\ncassette  status   unexplained  allowed  events received/recorded  seconds\n" in text
    assert "\nbad       failed   2            0        3/24                      1.2\n" in text
    assert "  bad  mock_drift  missing_event  response.done  frame #23  $" in text
    assert "live: skipped: --target URL needs --api-key or OPENAI_API_KEY" in text
    assert text.rstrip().endswith("1 stale allowlist entry")
    plain = io.StringIO()
    bar = report.ProgressBar(plain, width=4)
    bar(0, 2, "good", None)
    bar(1, 2, "good", _suite().results[0])
    assert plain.getvalue() == ("[----] 0/2 good ...\n[##--] 1/2 good: passed "
                                "(1/1 events received/recorded, 0 unexplained, 1 allowed, 0.5 s)\n")

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    bar = report.ProgressBar(tty, width=4)
    bar(0, 1, "good", None)
    bar(1, 1, "good", _suite().results[0])
    assert tty.getvalue().startswith("\r[----] 0/1 good ...\r[####] 1/1 good: passed") and tty.getvalue().endswith("\n")
    with pytest.raises(ValueError, match="unknown format"):
        report.render(_suite(), "html")


def test_allowlist_is_a_list_of_entries() -> None:
    assert Allowlist().entries == [] and Allowlist().source == "<none>"


def test_the_commands_name_the_same_targets_as_the_engine() -> None:
    from conformance import commands

    assert (commands.MOCK, commands.LIVE_URL) == (target.MOCK, target.LIVE_URL)


def test_the_script_says_what_each_recorded_user_audio_turn_said() -> None:
    def committed(item_id: str) -> tuple[str, dict[str, Any]]:
        return "server", {"type": "input_audio_buffer.committed", "item_id": item_id}

    def completed(item_id: str, transcript: str) -> tuple[str, dict[str, Any]]:
        return "server", {"type": "conversation.item.input_audio_transcription.completed", "item_id": item_id,
                          "transcript": transcript}

    # Completions may arrive out of commit order; a turn without one is left to the codec (None).
    cassette = _cassette("voice", committed("a"), committed("b"), completed("b", "Second."), committed("c"),
                         completed("a", "First."))
    assert script.user_audio(cassette) == ["First.", "Second.", None]
    responder = script.responder_factory(cassette)()
    assert responder.user_audio == ("First.", "Second.", None)  # type: ignore[attr-defined]


def test_the_progress_bar_shows_a_running_cassette_as_it_goes() -> None:
    plain = io.StringIO()
    bar = report.ProgressBar(plain, width=4, every=0.0)  # every tick shown
    bar(0, 1, "long", None)
    bar.tick(3, 10, 41)
    assert plain.getvalue() == "[----] 0/1 long ...\n[----] 0/1 long: 3/10 client frames sent, 41 events received\n"
    quiet = io.StringIO()
    bar = report.ProgressBar(quiet, width=4, every=3600.0)
    bar(0, 1, "long", None)
    bar.tick(3, 10, 41)  # too soon after the start line: not shown
    assert quiet.getvalue() == "[----] 0/1 long ...\n"
