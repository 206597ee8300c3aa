"""A session on a call (WebRTC, SIP), driven without sockets: answers play on the track, announced with
`output_audio_buffer.started/stopped`, cut by `output_audio_buffer.clear` or by the user speaking."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mockserver import schema_store
from mockserver.audio.speech import speak, transcribe
from mockserver.protocol.clock import FakeClock
from mockserver.protocol.ids import IdSource
from mockserver.protocol.realtime import RealtimeSession
from mockserver.protocol.translation import TranslationSession
from tests.unit.sessions import Driver, errors_of, types

SILENCE_1S = bytes(48_000)


class Call(Driver):
    def __init__(self, *, translation: bool = False) -> None:
        clock = FakeClock()
        ids, schemas = IdSource(11), schema_store.schemas()
        session: Any = (
            TranslationSession(model="gpt-realtime-translate", ids=ids, clock=clock, schemas=schemas,
                               on_call=True) if translation else
            RealtimeSession(model="gpt-realtime", ids=ids, clock=clock, schemas=schemas, on_call=True))
        super().__init__(session=session, clock=clock, family=session.SERVER_EVENTS)

    def until_quiet(self) -> list[dict[str, Any]]:
        """Move the clock to each due time until nothing more is due."""
        out = self.pump()
        while (due := self.session.next_due()) is not None:
            self.clock.time = max(self.clock.time, due)
            out += self.pump()
        return out

    def say(self, text: str) -> list[dict[str, Any]]:
        self.send({"type": "conversation.item.create", "item": {
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}})
        return self.send({"type": "response.create"})

    def track(self) -> bytes:
        """Everything queued for the call's track."""
        return self.session.media.read(10**9)


def test_an_answer_plays_on_the_track_announced_as_live() -> None:
    call = Call()
    first = call.say("hello there")
    assert "response.output_audio.delta" not in types(call.sent)
    assert types(first).count("output_audio_buffer.started") == 1
    # started comes with the audio, after the transcript begins; the done events and response.done follow.
    names = types(first)
    assert names.index("response.output_audio_transcript.delta") < names.index("output_audio_buffer.started")
    assert names[-2:] == ["response.done", "rate_limits.updated"]
    assert "output_audio_buffer.stopped" not in names  # the answer is still playing
    rest = call.until_quiet()
    assert types(rest) == ["output_audio_buffer.stopped"]
    response_id = next(e for e in first if e["type"] == "response.done")["response"]["id"]
    assert {e["response_id"] for e in call.sent if e["type"].startswith("output_audio_buffer.")} == {response_id}
    audio = call.track()
    assert transcribe(audio) == "You said: hello there"
    # stopped is due when the audio has played: its length after the audio started.
    assert call.clock.time - 1_785_000_000.0 == pytest.approx(len(audio) / 48_000)


def test_output_audio_buffer_clear_cuts_the_playback() -> None:
    call = Call()
    call.say("a long enough answer to be cut while it plays")
    response_id = next(e for e in call.sent if e["type"] == "response.done")["response"]["id"]
    call.clock.advance(0.5)
    cleared = call.send({"type": "output_audio_buffer.clear", "event_id": "evt_clear"})
    assert [(e["type"], e["response_id"]) for e in cleared] == [("output_audio_buffer.cleared", response_id)]
    assert call.track() == b""  # what had not played is gone
    assert "output_audio_buffer.stopped" not in types(call.until_quiet())


def test_the_user_speaking_over_the_answer_cuts_it() -> None:
    call = Call()
    call.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "transcription": None}}}})
    call.session.hear_call_audio(SILENCE_1S + speak("what is the weather") + SILENCE_1S)
    call.pump()
    assert "output_audio_buffer.started" in types(call.sent)
    call.session.hear_call_audio(speak("stop"))  # the answer is still playing
    interrupted = call.pump()
    assert "input_audio_buffer.speech_started" in types(interrupted)
    assert "output_audio_buffer.cleared" in types(interrupted)


def test_a_websocket_session_refuses_output_audio_buffer_clear_as_live() -> None:
    session = RealtimeSession(model="gpt-realtime", ids=IdSource(1), clock=FakeClock(), schemas=schema_store.schemas())
    session.poll()
    session.receive_frame(json.dumps({"type": "output_audio_buffer.clear"}))
    (error,) = errors_of(session.poll())
    assert (error["code"], error["param"]) == ("invalid_value", "type")
    assert "'output_audio_buffer.clear'" in error["message"] and "response.cancel'." in error["message"]


def test_call_audio_is_heard_by_the_vad_and_transcribed() -> None:
    call = Call()
    call.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"], "audio": {
        "input": {"transcription": {"model": "gpt-4o-transcribe"}}}}})
    call.session.hear_call_audio(SILENCE_1S + speak("is it raining") + SILENCE_1S)
    events = call.until_quiet()
    completed = next(e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed")
    assert completed["transcript"] == "is it raining"
    assert next(e for e in events if e["type"] == "response.output_text.done")["text"] == "You said: is it raining"


def test_a_translation_on_a_call_speaks_on_the_track_only() -> None:
    call = Call(translation=True)
    call.send({"type": "session.update", "session": {"audio": {"output": {"language": "fr"}}}})
    call.session.hear_call_audio(speak("Good evening.") + bytes(48 * 600))
    events = call.until_quiet()
    assert "session.output_audio.delta" not in types(events)
    assert "".join(e["delta"] for e in events if e["type"] == "session.output_transcript.delta") == \
        "[fr] Good evening."
    assert transcribe(call.track()) == "[fr] Good evening."


# -- the call state machine (protocol/calls.py) and the offer's cleaning (transports/webrtc.py) ----------------

def test_what_each_state_allows() -> None:
    from mockserver.protocol.calls import Call

    webrtc = Call("rtc_1", "webrtc", "default", "active")
    assert webrtc.check("hangup") is None
    for action in ("accept", "reject", "refer"):
        status, error = webrtc.check(action) or (0, None)
        assert status == 400 and error is not None and error.code == "invalid_call_state"
    sip = Call("rtc_2", "sip", "default", "incoming")
    assert [sip.check(a) for a in ("accept", "reject", "hangup")] == [None] * 3
    assert (sip.check("refer") or (0,))[0] == 400  # a REFER goes in the dialog the accept makes
    sip.state = "active"
    assert sip.check("accept") is not None and sip.check("reject") is not None
    assert sip.check("refer") is None and sip.check("hangup") is None
    sip.state = "ended"
    for action in ("accept", "reject", "refer", "hangup"):
        status, error = sip.check(action) or (0, None)
        assert (status, error and error.code) == (404, "call_id_not_found")


def test_mdns_candidates_and_end_of_candidates_leave_the_offer() -> None:
    from mockserver.transports.webrtc import sanitize_offer

    offer = ("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
             "a=candidate:1 1 udp 2122260223 3f1b2c4d-aaaa.local 54321 typ host generation 0\r\n"
             "a=candidate:2 1 udp 2122260223 127.0.0.1 54322 typ host generation 0\r\n"
             "a=end-of-candidates\r\na=mid:0\r\n")
    cleaned = sanitize_offer(offer)
    assert ".local" not in cleaned and "end-of-candidates" not in cleaned
    assert "127.0.0.1 54322" in cleaned and cleaned.endswith("a=mid:0\r\n")
