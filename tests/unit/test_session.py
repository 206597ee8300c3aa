"""The sans-I/O realtime session: live event order, client events, errors, limits (no sockets)."""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.audio import codecs
from mockserver.audio.speech import transcribe
from mockserver.protocol.responder import (
    ErrorReply,
    FunctionCall,
    McpCall,
    McpListTools,
    Message,
    Reply,
    ScriptedResponder,
    Timing,
    insufficient_quota,
    rate_limited,
)
from mockserver.protocol.responses import Pacing
from tests.unit.sessions import Driver, collapse, errors_of, types

TEXT_TURN = [
    "conversation.item.added", "conversation.item.done", "response.created", "response.output_item.added",
    "conversation.item.added", "response.content_part.added", "response.output_text.delta",
    "response.output_text.done", "response.content_part.done", "conversation.item.done",
    "response.output_item.done", "response.done", "rate_limits.updated",
]


def pcm(ms: int) -> str:
    return base64.b64encode(bytes(48 * ms)).decode()


def test_session_created_is_first_with_the_live_defaults() -> None:
    d = Driver()
    (created,) = d.sent
    assert created["type"] == "session.created"
    session = created["session"]
    assert list(session) == ["type", "object", "id", "model", "output_modalities", "instructions", "tools",
                             "tool_choice", "max_output_tokens", "tracing", "truncation", "prompt", "expires_at",
                             "audio", "include"]
    assert session["audio"]["input"]["turn_detection"]["silence_duration_ms"] == 200
    assert session["expires_at"] == int(d.clock.now()) + 3600
    assert session["id"].startswith("sess_") and len(session["id"]) == 26


def test_ids_are_seeded() -> None:
    assert Driver(seed=3).sent == Driver(seed=3).sent
    assert Driver(seed=3).sent != Driver(seed=4).sent


def test_text_turn_in_the_live_order() -> None:
    d = Driver()
    d.text_mode()
    events = d.say("Say hi") + d.send({"type": "response.create"})
    assert collapse(types(events)) == TEXT_TURN
    user, assistant = events[0]["item"], events[4]["item"]
    assert events[4]["previous_item_id"] == user["id"]
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == "You said: Say hi"
    done = events[-2]["response"]
    assert done["status"] == "completed" and done["output"][0]["content"] == [{"type": "output_text", "text": text}]
    assert done["usage"]["output_tokens"] == done["usage"]["output_token_details"]["text_tokens"] > 0
    item_done = next(e for e in events if e["type"] == "conversation.item.done" and e["item"]["id"] == assistant["id"])
    assert item_done["previous_item_id"] == user["id"]  # conversation.item.done of a written message
    assert all("obfuscation" in e for e in events if e["type"].endswith(".delta"))
    assert assistant["status"] == "in_progress" and assistant["content"] == []


def test_audio_turn_streams_real_pcm_with_a_matching_transcript() -> None:
    d = Driver()
    d.say("Hello there")
    events = d.send({"type": "response.create"})
    names = types(events)
    assert names[names.index("response.content_part.added") + 1] == "response.output_audio_transcript.delta"
    tail = ["response.output_audio.done", "response.output_audio_transcript.done", "response.content_part.done",
            "conversation.item.done", "response.output_item.done", "response.done", "rate_limits.updated"]
    assert names[-7:] == tail
    audio = b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta")
    transcript = "".join(e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta")
    assert transcript == "You said: Hello there"
    assert transcribe(audio) == transcript  # the audio carries its transcript (the speech codec)
    assert len(audio) % 2 == 0 and codecs.duration_ms(len(audio), "audio/pcm") > 1000
    assert max(abs(s) for s in memoryview(audio).cast("h")) > 3000  # audible, not silence
    sizes = {len(base64.b64decode(e["delta"])) for e in events if e["type"] == "response.output_audio.delta"}
    assert len(sizes) > 1  # deltas vary in size, like live
    item_done = next(e for e in events if e["type"] == "conversation.item.done" and e["item"]["role"] == "assistant")
    assert item_done["previous_item_id"] is None  # live quirk for spoken messages
    assert item_done["item"]["content"] == [{"type": "output_audio", "transcript": transcript}]
    usage = events[-2]["response"]["usage"]
    assert usage["output_token_details"]["audio_tokens"] > 0


@pytest.mark.parametrize("fmt", ["audio/pcmu", "audio/pcma"])
def test_g711_output_when_the_session_asks(fmt: str) -> None:
    d = Driver()
    d.send({"type": "session.update", "session": {"type": "realtime", "audio": {"output": {"format": {"type": fmt}}}}})
    d.say("testing one two three")
    events = d.send({"type": "response.create"})
    audio = b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta")
    pcm24 = codecs.decode(audio, fmt)  # type: ignore[arg-type]
    assert len(audio) * 6 == len(pcm24)  # 8-bit 8 kHz on the wire, 16-bit 24 kHz after decoding
    assert transcribe(pcm24) == "You said: testing one two three"
    assert events[-2]["response"]["audio"]["output"]["format"] == {"type": fmt}


def test_function_call_round_trip_through_the_responder() -> None:
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]
    d = Driver(ScriptedResponder([Reply((FunctionCall("get_weather", '{"city": "London"}'),))]))
    d.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"], "tools": tools}})
    events = d.say("weather in London?") + d.send({"type": "response.create"})
    assert collapse(types(events)) == [
        "conversation.item.added", "conversation.item.done", "response.created", "response.output_item.added",
        "conversation.item.added", "response.function_call_arguments.delta", "response.function_call_arguments.done",
        "conversation.item.done", "response.output_item.done", "response.done", "rate_limits.updated"]
    call = events[-2]["response"]["output"][0]
    assert call["type"] == "function_call" and call["name"] == "get_weather"
    assert json.loads(call["arguments"]) == {"city": "London"}
    assert call["call_id"].startswith("call_")
    d.send({"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": call["call_id"], "output": "foggy, 12 C"}})
    events = d.send({"type": "response.create"})
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == "The get_weather tool returned: foggy, 12 C"


def test_echo_responder_calls_a_tool_the_user_names() -> None:
    tools = [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}]
    d = Driver()
    d.send({"type": "session.update", "session": {"type": "realtime", "tools": tools}})
    d.say('please run lookup with {"id": 7}')
    done = d.send({"type": "response.create"})[-2]["response"]
    assert done["output"][0]["name"] == "lookup" and json.loads(done["output"][0]["arguments"]) == {"id": 7}


def test_parallel_function_calls_in_one_response() -> None:
    reply = Reply((Message("Checking both."), FunctionCall("a", "{}"), FunctionCall("b", '{"x": 1}')))
    d = Driver(ScriptedResponder([reply]))
    d.text_mode()
    d.say("go")
    done = d.send({"type": "response.create"})[-2]["response"]
    assert [o["type"] for o in done["output"]] == ["message", "function_call", "function_call"]
    assert len({o["call_id"] for o in done["output"][1:]}) == 2


def test_one_active_response_per_conversation() -> None:
    d = Driver(pacing=Pacing(first_delta=10))
    d.text_mode()
    d.say("hi")
    first = d.send({"type": "response.create"})
    rid = next(e for e in first if e["type"] == "response.created")["response"]["id"]
    events = d.send({"type": "response.create", "event_id": "evt_2"})
    assert errors_of(events) == [{
        "type": "invalid_request_error", "code": "conversation_already_has_active_response",
        "message": f"Conversation already has an active response in progress: {rid}. Wait until the response "
                   "is finished before creating a new one.", "param": None, "event_id": "evt_2"}]
    assert "response.created" not in types(events)


def test_cancel_ends_the_response_with_status_cancelled() -> None:
    d = Driver(pacing=Pacing(first_delta=10))
    d.text_mode()
    d.say("hi")
    d.send({"type": "response.create"})  # held before its first delta
    events = d.send({"type": "response.cancel"})
    assert types(events) == ["response.output_text.done", "response.content_part.done", "conversation.item.done",
                             "response.output_item.done", "response.done", "rate_limits.updated"]
    done = events[-2]["response"]
    assert done["status"] == "cancelled"
    assert done["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    assert done["output"][0]["status"] == "incomplete"
    d.clock.advance(20)
    assert d.pump() == []  # nothing more from the cancelled response
    d.say("again")
    assert types(d.send({"type": "response.create"}))[0] == "response.created"  # the conversation is free again
    d.clock.advance(20)
    assert "response.done" in types(d.pump())


def test_cancel_mid_stream_keeps_what_was_sent() -> None:
    d = Driver(pacing=Pacing(between_deltas=1))
    d.text_mode()
    d.say("one two three four five")
    d.send({"type": "response.create"})
    d.clock.advance(2.5)
    d.pump()
    partial = "".join(e["delta"] for e in d.sent if e["type"] == "response.output_text.delta")
    events = d.send({"type": "response.cancel"})
    assert events[0]["text"] == partial and partial and partial != "You said: one two three four five"


def test_cancel_with_nothing_active() -> None:
    d = Driver()
    events = d.send({"type": "response.cancel", "event_id": "c1"})
    assert errors_of(events) == [{"type": "invalid_request_error", "code": "response_cancel_not_active",
                                  "message": "Cancellation failed: no active response found", "param": None,
                                  "event_id": "c1"}]


def test_out_of_band_responses_run_in_parallel_and_stay_out_of_the_conversation() -> None:
    d = Driver(pacing=Pacing(first_delta=5))
    d.text_mode()
    d.say("hi")
    d.send({"type": "response.create"})
    events = d.send({"type": "response.create", "response": {"conversation": "none", "metadata": {"topic": "x"}}})
    created = next(e for e in events if e["type"] == "response.created")["response"]
    assert created["conversation_id"] is None and created["metadata"] == {"topic": "x"}
    d.clock.advance(10)
    rest = d.pump()
    assert types(rest).count("response.done") == 2
    oob = [e for e in rest if e.get("response_id") == created["id"]]
    assert "conversation.item.added" not in types(oob)
    assert len(d.session.conversation) == 2  # the user item and the in-band answer only


def test_response_create_input_with_item_reference() -> None:
    d = Driver()
    d.text_mode()
    first = d.say("first message")[0]["item"]["id"]
    d.say("second message")
    events = d.send({"type": "response.create", "response": {
        "conversation": "none", "input": [{"type": "item_reference", "id": first}]}})
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == "You said: first message"
    bad = d.send({"type": "response.create", "response": {"input": [{"type": "item_reference", "id": "nope"}]}})
    assert errors_of(bad)[0]["param"] == "response.input[0].id"


def test_response_overrides_and_max_output_tokens() -> None:
    d = Driver()
    d.say("a b c d e f g h")
    events = d.send({"type": "response.create", "response": {
        "output_modalities": ["text"], "instructions": "terse", "max_output_tokens": 3}})
    done = events[-2]["response"]
    assert done["status"] == "incomplete"
    assert done["status_details"] == {"type": "incomplete", "reason": "max_output_tokens"}
    assert done["output"][0]["status"] == "incomplete"
    assert done["usage"]["output_tokens"] == 3 and done["max_output_tokens"] == 3
    assert done["output_modalities"] == ["text"]


def test_item_create_with_previous_item_id() -> None:
    d = Driver()
    a = d.say("a")[0]
    b = d.say("b")[0]
    assert a["previous_item_id"] is None and b["previous_item_id"] == a["item"]["id"]
    root = d.say("r", previous_item_id="root")[0]
    assert root["previous_item_id"] is None
    after_a = d.say("x", previous_item_id=a["item"]["id"])[0]
    assert after_a["previous_item_id"] == a["item"]["id"]
    order = [i["content"][0]["text"] for i in d.session.conversation.items()]
    assert order == ["r", "a", "x", "b"]
    events = d.say("y", previous_item_id="item_missing", event_id="e9")
    assert errors_of(events)[0]["code"] == "item_create_invalid_previous_item_id"
    assert errors_of(events)[0]["event_id"] == "e9"


def test_item_create_keeps_client_ids_and_rejects_duplicates() -> None:
    d = Driver()
    item = {"id": "my_item", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]}
    assert d.send({"type": "conversation.item.create", "item": item})[0]["item"]["id"] == "my_item"
    assert errors_of(d.send({"type": "conversation.item.create", "item": item}))[0]["param"] == "item.id"


def test_history_seeding_shapes_match_the_recording() -> None:
    d = Driver()
    d.text_mode()
    events = d.send({"type": "conversation.item.create", "item": {
        "type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hi Alice"}]}})
    assert events[0]["item"] == {"id": events[0]["item"]["id"], "type": "message", "status": "completed",
                                 "role": "assistant", "content": [{"type": "output_text", "text": "Hi Alice"}]}
    fco = d.send({"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": "call_1", "output": "ok"}})[0]["item"]
    assert list(fco) == ["id", "type", "call_id", "output"]  # no status, as live


def test_retrieve_delete_and_their_errors() -> None:
    d = Driver()
    d.send({"type": "input_audio_buffer.append", "audio": pcm(200)})
    committed = d.send({"type": "input_audio_buffer.commit"})
    item_id = committed[0]["item_id"]
    retrieved = d.send({"type": "conversation.item.retrieve", "item_id": item_id})[0]
    assert retrieved["type"] == "conversation.item.retrieved"
    assert len(base64.b64decode(retrieved["item"]["content"][0]["audio"])) == 48 * 200
    assert "audio" not in committed[1]["item"]["content"][0]  # item.added never carries audio bytes
    assert d.send({"type": "conversation.item.delete", "item_id": item_id})[0] == {
        "type": "conversation.item.deleted", "event_id": d.sent[-1]["event_id"], "item_id": item_id}
    for kind, verb, code in (("retrieve", "retrieving", "item_retrieve_invalid_item_id"),
                             ("delete", "deleting", "item_delete_invalid_item_id")):
        (error,) = errors_of(d.send({"type": f"conversation.item.{kind}", "item_id": item_id}))
        assert error["code"] == code
        assert error["message"] == f"Error {verb} item: the item with id '{item_id}' does not exist."


def test_commit_needs_100_ms() -> None:
    d = Driver()
    d.send({"type": "input_audio_buffer.append", "audio": pcm(50)})
    (error,) = errors_of(d.send({"type": "input_audio_buffer.commit", "event_id": "k"}))
    assert error == {"type": "invalid_request_error", "code": "input_audio_buffer_commit_empty",
                     "message": "Error committing input audio buffer: buffer too small. Expected at least 100ms of "
                                "audio, but buffer only has 50.00ms of audio.", "param": None, "event_id": "k"}
    d.send({"type": "input_audio_buffer.append", "audio": pcm(60)})
    events = d.send({"type": "input_audio_buffer.commit"})
    assert types(events) == ["input_audio_buffer.committed", "conversation.item.added", "conversation.item.done"]
    assert events[1]["item"]["content"] == [{"type": "input_audio", "transcript": None}]
    assert d.send({"type": "input_audio_buffer.clear"})[0]["type"] == "input_audio_buffer.cleared"


def test_g711_input_duration_counts_8_bytes_per_ms() -> None:
    d = Driver()
    pcmu = {"format": {"type": "audio/pcmu"}}
    d.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": pcmu}}})
    d.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(800)).decode()})
    assert types(d.send({"type": "input_audio_buffer.commit"}))[0] == "input_audio_buffer.committed"


def test_append_errors_keep_the_session() -> None:
    d = Driver()
    (error,) = errors_of(d.send({"type": "input_audio_buffer.append", "audio": "not base64!"}))
    assert (error["code"], error["param"]) == ("invalid_value", "audio")
    d.session.limits = type(d.session.limits)(max_append_bytes=3000)
    (error,) = errors_of(d.send({"type": "input_audio_buffer.append", "audio": pcm(100)}))
    assert error["code"] == "string_above_max_length"
    d.send({"type": "input_audio_buffer.append", "audio": pcm(50)})
    d.send({"type": "input_audio_buffer.append", "audio": pcm(50)})
    assert types(d.send({"type": "input_audio_buffer.commit"}))[0] == "input_audio_buffer.committed"


def test_truncate_checks_audio_length_and_drops_the_transcript() -> None:
    d = Driver()
    d.say("Hello there general Kenobi")
    events = d.send({"type": "response.create"})
    item_id = events[-2]["response"]["output"][0]["id"]
    audio = b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta")
    length_ms = codecs.duration_ms(len(audio), "audio/pcm")
    (error,) = errors_of(d.send({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0,
                                 "audio_end_ms": int(length_ms) + 500}))
    assert error["param"] == "audio_end_ms"
    ok = d.send({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 300})
    assert ok[0] == {"type": "conversation.item.truncated", "event_id": ok[0]["event_id"], "item_id": item_id,
                     "content_index": 0, "audio_end_ms": 300}
    item = d.send({"type": "conversation.item.retrieve", "item_id": item_id})[0]["item"]
    assert len(base64.b64decode(item["content"][0]["audio"])) == 300 * 48
    assert item["content"][0]["transcript"] == ""
    user_item = d.sent[1]["item"]["id"]
    (error,) = errors_of(d.send({"type": "conversation.item.truncate", "item_id": user_item, "content_index": 0,
                                 "audio_end_ms": 0}))
    assert error["message"] == "Only model output audio messages can be truncated" and error["code"] is None
    (error,) = errors_of(d.send({"type": "conversation.item.truncate", "item_id": "nope", "content_index": 0,
                                 "audio_end_ms": 0}))
    assert error["code"] == "item_truncate_invalid_item_id"


def test_session_update_is_partial_and_discarded_whole_on_error() -> None:
    d = Driver()
    d.send({"type": "session.update", "session": {"type": "realtime", "instructions": "be brief"}})
    before = d.session.config
    events = d.send({"type": "session.update", "event_id": "u2", "session": {
        "type": "realtime", "instructions": "changed", "bogus_field": 1}})
    assert errors_of(events)[0]["code"] == "unknown_parameter" and errors_of(events)[0]["event_id"] == "u2"
    assert d.session.config == before and before["instructions"] == "be brief"
    updated = d.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "turn_detection": None, "transcription": {"model": "gpt-4o-mini-transcribe"}}}}})[0]["session"]
    assert updated["instructions"] == "be brief"
    assert updated["audio"]["input"]["turn_detection"] is None
    assert updated["audio"]["input"]["transcription"] == {"model": "gpt-4o-mini-transcribe", "language": None,
                                                          "prompt": None}
    assert "event_id" in d.sent[-1] and d.sent[-1]["event_id"] != "u2"  # session.updated does not echo it
    vad = d.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "turn_detection": {"type": "semantic_vad", "eagerness": "high"}}}}})[0]["session"]
    assert vad["audio"]["input"]["turn_detection"] == {"type": "semantic_vad", "eagerness": "high",
                                                       "create_response": True, "interrupt_response": True}


def test_session_update_errors_of_the_live_api() -> None:
    d = Driver()
    (error,) = errors_of(d.send({"type": "session.update", "session": {"type": "transcription"}}))
    assert error["message"] == "Passing a transcription session update event to a realtime session is not allowed."
    (error,) = errors_of(d.send({"type": "session.update", "session": {"instructions": "x"}}))
    assert error["param"] == "session.type"
    d.say("hi")
    d.send({"type": "response.create"})  # the model speaks: the voice is now fixed
    (error,) = errors_of(d.send({"type": "session.update", "session": {
        "type": "realtime", "audio": {"output": {"voice": "marin"}}}}))
    assert (error["code"], error["message"]) == (
        "cannot_update_voice", "Cannot update a conversation's voice if assistant audio is present.")
    same = d.send({"type": "session.update", "session": {"type": "realtime", "audio": {"output": {"voice": "alloy"}}}})
    assert same[0]["type"] == "session.updated"


def test_model_in_an_update_is_accepted_and_unchanged() -> None:
    d = Driver()
    events = d.send({"type": "session.update", "session": {"type": "realtime", "model": "gpt-realtime-mini",
                                                           "tracing": "auto"}})
    assert events[0]["session"]["model"] == "gpt-realtime" and events[0]["session"]["tracing"] == "auto"


def test_expiry_sends_session_expired_then_close_1001() -> None:
    d = Driver(session_seconds=5)
    d.clock.advance(4)
    d.session.check_expiry()
    assert d.session.close is None
    d.clock.advance(1)
    d.session.check_expiry()
    (error,) = errors_of(d.pump())
    assert error["code"] == "session_expired"
    assert d.session.close is not None and d.session.close.code == 1001
    assert d.session.close.reason == "Your session hit the maximum duration of 60 minutes."
    d.say("ignored")
    assert d.pump() == []


def test_invalid_events_get_errors_and_the_session_keeps_working() -> None:
    d = Driver()
    for frame in ("not json", b"\x01", '{"type":"nope"}', '{"type":"output_audio_buffer.clear"}',
                  '{"type":"session.close"}'):
        assert len(errors_of(d.send(frame))) == 1
    d.text_mode()
    d.say("still here")
    assert types(d.send({"type": "response.create"}))[-1] == "rate_limits.updated"


client_frames = st.lists(st.one_of(
    st.sampled_from([
        {"type": "response.create"}, {"type": "response.cancel"}, {"type": "input_audio_buffer.commit"},
        {"type": "input_audio_buffer.clear"}, {"type": "input_audio_buffer.append", "audio": pcm(40)},
        {"type": "response.create", "response": {"conversation": "none"}},
        {"type": "conversation.item.create", "item": {"type": "message", "role": "user",
                                                      "content": [{"type": "input_text", "text": "hey"}]}},
        {"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}},
    ]),
    st.builds(lambda i: {"type": "conversation.item.delete", "item_id": f"item_{i}"}, st.integers(0, 3)),
    st.text(max_size=30),
), max_size=25)


@settings(max_examples=60)
@given(client_frames, st.lists(st.floats(0, 3), max_size=25))
def test_any_sequence_of_client_frames_keeps_the_session_consistent(frames: list[Any], waits: list[float]) -> None:
    d = Driver(pacing=Pacing(between_deltas=0.5))
    for index, frame in enumerate(frames):
        d.send(frame if isinstance(frame, str) else json.dumps(frame))
        d.clock.advance(waits[index] if index < len(waits) else 0)
        d.pump()
    d.clock.advance(10_000)
    d.pump()
    created = [e["response"]["id"] for e in d.sent if e["type"] == "response.created"]
    done = [e["response"]["id"] for e in d.sent if e["type"] == "response.done"]
    assert sorted(created) == sorted(done)  # every created response ends exactly once
    assert not d.session.busy


# --- reply forms scenarios use (issue 4) ---------------------------------------------------------

def test_failed_reply_rate_limit() -> None:
    d = Driver(ScriptedResponder([rate_limited("gpt-realtime")]))
    events = d.send({"type": "response.create"})
    assert types(events) == ["response.created", "response.done", "rate_limits.updated"]
    done = events[1]["response"]
    assert done["status"] == "failed" and done["output"] == []
    assert done["status_details"]["type"] == "failed"
    assert done["status_details"]["error"]["type"] == "tokens"
    assert done["status_details"]["error"]["message"].startswith("Rate limit reached for gpt-realtime")


def test_quota_failure() -> None:
    d = Driver(ScriptedResponder([insufficient_quota()]))
    done = d.send({"type": "response.create"})[1]["response"]
    assert done["status_details"]["error"]["code"] == "insufficient_quota"


def test_incomplete_by_content_filter_cuts_the_output() -> None:
    reply = Reply((Message("one two three four five six"),), status="incomplete", reason="content_filter",
                  cut_after_tokens=2)
    d = Driver(ScriptedResponder([reply]))
    d.text_mode()
    events = d.send({"type": "response.create"})
    done = events[-2]["response"]
    assert done["status"] == "incomplete"
    assert done["status_details"] == {"type": "incomplete", "reason": "content_filter"}
    assert done["output"][0]["content"][0]["text"] == "one two"


def test_error_reply_sends_an_error_and_no_response() -> None:
    d = Driver(ScriptedResponder([ErrorReply("The server had an error.", type="server_error")]))
    events = d.send({"type": "response.create", "event_id": "rc"})
    assert types(events) == ["error"]
    assert events[0]["error"] == {"type": "server_error", "code": None, "message": "The server had an error.",
                                  "param": None, "event_id": "rc"}
    assert types(d.send({"type": "response.create"}))[0] == "response.created"  # next one is the default


def test_mcp_call_and_list_tools() -> None:
    tools = ({"name": "ask", "input_schema": {"type": "object"}},)
    reply = Reply((McpListTools("wiki", tools), McpCall("wiki", "ask", '{"q": "x"}', output="42"),
                   McpCall("wiki", "ask", "{}", error="boom")))
    d = Driver(ScriptedResponder([reply]))
    d.text_mode()
    events = d.send({"type": "response.create"})
    names = collapse(types(events))
    assert names[:6] == ["response.created", "conversation.item.added", "mcp_list_tools.in_progress",
                         "mcp_list_tools.completed", "conversation.item.done", "response.output_item.added"]
    assert names.count("response.mcp_call.completed") == 1 and names.count("response.mcp_call.failed") == 1
    assert "response.mcp_call_arguments.delta" in names and "response.mcp_call_arguments.done" in names
    done = events[-2]["response"]
    assert [o["type"] for o in done["output"]] == ["mcp_call", "mcp_call"]
    assert done["output"][0]["output"] == "42" and done["output"][1]["error"]["message"] == "boom"
    listed = next(i for i in d.session.conversation.items() if i["type"] == "mcp_list_tools")
    assert listed["tools"] == [dict(tools[0])]


def test_reply_timing_paces_deltas_with_seeded_jitter() -> None:
    def run(seed: int) -> list[float]:
        timing = Timing(first_delta_ms=500, tokens_per_second=10, jitter=0.2)
        d = Driver(ScriptedResponder([Reply((Message("a b c d"),), timing=timing)]), seed=seed)
        d.text_mode()
        d.send({"type": "response.create"})
        times = []
        for _ in range(200):
            for event in d.pump():
                if event["type"] == "response.output_text.delta":
                    times.append(round(d.clock.now() - 1_785_000_000.0, 3))
            d.clock.advance(0.01)
        return times

    first = run(1)
    assert len(first) == 4
    assert 0.39 <= first[0] <= 0.61  # 500 ms +-20 %
    gaps = [b - a for a, b in itertools.pairwise(first)]
    assert all(0.07 <= g <= 0.13 for g in gaps)  # 10 tokens/s +-20 %
    assert run(1) == first and run(2) != first  # the jitter is seeded


def test_audio_speed_paces_audio_at_its_play_rate() -> None:
    text = "hello there my good friend, how are you today?"
    d = Driver(ScriptedResponder([Reply((Message(text),), timing=Timing(audio_speed=2.0))]))
    d.send({"type": "response.create"})
    chunks_ms: list[float] = []
    arrivals: list[float] = []
    for _ in range(5000):
        for event in d.pump():
            if event["type"] == "response.output_audio.delta":
                chunks_ms.append(codecs.duration_ms(len(base64.b64decode(event["delta"])), "audio/pcm"))
                arrivals.append((d.clock.now() - 1_785_000_000.0) * 1000)
        if not d.session.busy:
            break
        d.clock.advance(0.001)
    assert sum(chunks_ms) > 1000
    # Each chunk goes out when the one before it has played, at twice the playing speed.
    for k in range(1, len(chunks_ms)):
        assert abs((arrivals[k] - arrivals[k - 1]) - chunks_ms[k - 1] / 2) <= 2


def test_empty_instructions_keep_the_current_ones_as_live() -> None:
    # Docs: "" clears; recording openai_ws.test_message_history_seeding: the defaults come back. It wins.
    d = Driver()
    before = d.session.config["instructions"]
    updated = d.send({"type": "session.update", "session": {"type": "realtime", "instructions": ""}})[0]
    assert updated["session"]["instructions"] == before


def test_null_turns_noise_reduction_and_transcription_off() -> None:
    """As live takes it (the SDK's doc comments; the JS Agents SDK sends noise_reduction: null by default)."""
    d = Driver()
    on = d.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "noise_reduction": {"type": "near_field"}, "transcription": {"model": "whisper-1"}}}}})[-1]
    assert on["session"]["audio"]["input"]["noise_reduction"] == {"type": "near_field"}
    off = d.send({"type": "session.update", "session": {"type": "realtime", "instructions": "be brief", "audio": {
        "input": {"noise_reduction": None, "transcription": None}}}})[-1]
    assert off["type"] == "session.updated" and off["session"]["instructions"] == "be brief"
    assert off["session"]["audio"]["input"]["noise_reduction"] is None
    assert off["session"]["audio"]["input"]["transcription"] is None


def test_deleting_the_item_a_response_is_streaming_does_not_break_it() -> None:
    """Found by the state machine: the response goes on to its response.done."""
    d = Driver(pacing=Pacing(between_deltas=0.01))
    d.text_mode()
    d.say("hello there")
    started = d.send({"type": "response.create"})
    assistant = next(e["item"]["id"] for e in started if e["type"] == "response.output_item.added")
    assert d.send({"type": "conversation.item.delete", "item_id": assistant})[-1]["type"] == "conversation.item.deleted"
    for _ in range(100):
        d.clock.advance(0.05)
        if "response.done" in types(d.pump()):
            break
    assert d.sent[-1]["type"] == "rate_limits.updated" and d.session.close is None
