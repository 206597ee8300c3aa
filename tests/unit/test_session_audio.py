"""Audio in the sans-I/O session: server VAD turns, barge-in, idle timeout, input transcription per
model family, transcription sessions (issue 6)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from mockserver.audio import codecs
from mockserver.audio.speech import speak, transcribe
from mockserver.protocol.responses import Pacing
from mockserver.protocol.session import Limits
from tests.unit import sessions
from tests.unit.sessions import Driver, collapse, errors_of, realtime_session, types

SILENCE_1S = bytes(48_000)


def stream(d: Driver, audio: bytes, chunk: int = 4800, fmt: str = "audio/pcm") -> list[dict[str, Any]]:
    if fmt != "audio/pcm":
        audio = codecs.encode(audio, fmt)  # type: ignore[arg-type]
        chunk = chunk // 6
    out: list[dict[str, Any]] = []
    for start in range(0, len(audio), chunk):
        piece = base64.b64encode(audio[start:start + chunk]).decode()
        out += d.send({"type": "input_audio_buffer.append", "audio": piece})
    return out


def transcribe_with(d: Driver, model: str, **input_config: Any) -> None:
    d.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "transcription": {"model": model}, **input_config}}}})


def test_server_vad_turn_in_the_live_order_with_the_exact_transcript() -> None:
    d = Driver()
    transcribe_with(d, "gpt-realtime-whisper")
    events = stream(d, SILENCE_1S + speak("what is the weather") + SILENCE_1S)
    names = [n for n in collapse(types(events)) if "input_audio_transcription" not in n]
    assert names[:6] == ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                         "input_audio_buffer.committed", "conversation.item.added", "conversation.item.done",
                         "response.created"]
    assert names[-3:] == ["response.output_item.done", "response.done", "rate_limits.updated"]
    started, stopped, committed = (next(e for e in events if e["type"] == f"input_audio_buffer.{kind}")
                                   for kind in ("speech_started", "speech_stopped", "committed"))
    assert (started["audio_start_ms"], stopped["audio_end_ms"]) == (740, 2300)
    assert started["item_id"] == stopped["item_id"] == committed["item_id"]
    completed = next(e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed")
    assert completed["transcript"] == "what is the weather"
    assert completed["usage"] == {"type": "duration", "seconds": 3}  # 2.3 s committed, rounded up as live
    answer = next(e for e in events if e["type"] == "response.output_audio_transcript.done")["transcript"]
    assert answer == "You said: what is the weather"  # the model heard the words


def test_a_streaming_model_under_vad_sends_words_while_the_user_speaks() -> None:
    """gpt-realtime-whisper with server VAD: deltas before speech_stopped, more across committed and
    response.created, and completed after the answer's first output item (as live)."""
    d = Driver()
    transcribe_with(d, "gpt-realtime-whisper")
    events = stream(d, SILENCE_1S + speak("what is the weather today in Oslo") + SILENCE_1S)
    order = types(events)
    deltas = [i for i, name in enumerate(order) if name == "conversation.item.input_audio_transcription.delta"]
    stopped, created = order.index("input_audio_buffer.speech_stopped"), order.index("response.created")
    first_output = order.index("response.output_item.added")
    completed = order.index("conversation.item.input_audio_transcription.completed")
    assert deltas[0] < stopped < created < deltas[-1]  # while speaking, and on after the commit
    assert completed > first_output
    assert "".join(events[i]["delta"] for i in deltas) == "what is the weather today in Oslo"
    assert {events[i]["item_id"] for i in deltas} == {events[stopped]["item_id"]}


@pytest.mark.parametrize(("delay", "before_stop"), [("minimal", 6), ("xhigh", 0)])
def test_the_delay_setting_moves_the_words_later(delay: str, before_stop: int) -> None:
    d = Driver()
    d.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "transcription": {"model": "gpt-realtime-whisper", "delay": delay}}}}})
    events = stream(d, SILENCE_1S + speak("what is the weather today in Oslo") + SILENCE_1S)
    order = types(events)
    stopped = order.index("input_audio_buffer.speech_stopped")
    assert order[:stopped].count("conversation.item.input_audio_transcription.delta") == before_stop


@pytest.mark.parametrize("fmt", ["audio/pcmu", "audio/pcma"])
def test_g711_input_is_heard_and_transcribed(fmt: str) -> None:
    d = Driver()
    d.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "format": {"type": fmt}, "transcription": {"model": "whisper-1"}}}}})
    events = stream(d, SILENCE_1S + speak("hello from a phone") + SILENCE_1S, fmt=fmt)
    deltas = [e["delta"] for e in events if e["type"] == "conversation.item.input_audio_transcription.delta"]
    assert deltas == ["hello from a phone"]  # whisper-1: one delta with the whole transcript


def test_gpt_4o_transcribe_streams_word_pieces_after_the_commit_with_logprobs() -> None:
    d = Driver()
    d.send({"type": "session.update", "session": {"type": "realtime", "include": [
        "item.input_audio_transcription.logprobs"], "audio": {"input": {
            "transcription": {"model": "gpt-4o-mini-transcribe"}, "turn_detection": None}}}})
    stream(d, speak("Hey, can you hear me?"))
    events = d.send({"type": "input_audio_buffer.commit"})
    names = types(events)
    first_delta = names.index("conversation.item.input_audio_transcription.delta")
    assert names.index("input_audio_buffer.committed") < first_delta
    deltas = [e for e in events if e["type"] == "conversation.item.input_audio_transcription.delta"]
    assert "".join(e["delta"] for e in deltas) == "Hey, can you hear me?" and len(deltas) > 3
    assert all(e["logprobs"] and e["logprobs"][0]["bytes"] for e in deltas)
    completed = events[-1]
    assert completed["usage"]["type"] == "tokens" and completed["usage"]["input_token_details"]["audio_tokens"] > 0
    assert "response.created" not in names  # no turn detection: no automatic response


def test_streaming_model_sends_deltas_before_the_commit() -> None:
    d = Driver()
    d.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "transcription": {"model": "gpt-realtime-whisper", "delay": "minimal"}, "turn_detection": None}}}})
    before = stream(d, speak("one two three four five"))  # each word as soon as it is heard
    early = [e for e in before if e["type"] == "conversation.item.input_audio_transcription.delta"]
    assert early and "".join(e["delta"] for e in early) == "one two three four "
    after = d.send({"type": "input_audio_buffer.commit"})
    assert after[0]["item_id"] == early[0]["item_id"]  # the final item id, announced early
    late = [e["delta"] for e in after if e["type"] == "conversation.item.input_audio_transcription.delta"]
    assert late == ["five"] and after[-1]["transcript"] == "one two three four five"


def test_audio_without_words_transcribes_empty_or_fails() -> None:
    d = Driver()
    transcribe_with(d, "whisper-1", turn_detection=None)
    stream(d, SILENCE_1S)
    completed = d.send({"type": "input_audio_buffer.commit"})[-1]
    assert (completed["type"], completed["transcript"]) == ("conversation.item.input_audio_transcription.completed", "")
    d.session = realtime_session(1, limits=Limits(unintelligible="fail"))
    transcribe_with(d, "whisper-1", turn_detection=None)
    stream(d, SILENCE_1S)
    assert d.send({"type": "input_audio_buffer.commit"})[-1]["error"]["code"] == "audio_unintelligible"


def test_barge_in_cancels_the_playing_response() -> None:
    d = Driver(pacing=Pacing(realtime_audio=True))  # the answer plays in real time
    stream(d, SILENCE_1S + speak("tell me a long story please") + SILENCE_1S)
    assert d.session.busy  # the answer is still playing
    events = stream(d, speak("stop") + SILENCE_1S)
    names = types(events)
    cancelled = next(e for e in events if e["type"] == "response.done")["response"]
    assert cancelled["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    assert names.index("input_audio_buffer.speech_started") < names.index("response.done")
    assert names.count("response.created") == 1  # and the new turn gets its own answer
    d.clock.advance(60)
    final = [e for e in d.pump() if e["type"] == "response.output_audio_transcript.done"]
    assert final[-1]["transcript"] == "You said: stop"


def test_interrupt_response_false_lets_the_answer_finish() -> None:
    d = Driver(pacing=Pacing(realtime_audio=True))
    d.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": {
        "type": "server_vad", "interrupt_response": False, "create_response": False}}}}})
    d.say("hi")
    d.send({"type": "response.create"})
    events = stream(d, SILENCE_1S + speak("hmm") + SILENCE_1S)
    assert "input_audio_buffer.committed" in types(events)
    assert "response.done" not in types(events) and "response.created" not in types(events)


def test_idle_timeout_commits_the_quiet_and_answers() -> None:
    d = Driver()
    d.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"], "audio": {
        "input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 6000}}}}})
    d.say("hello")
    d.send({"type": "response.create"})
    stream(d, bytes(48 * 500))
    d.clock.advance(5.9)
    assert d.pump() == []
    assert abs(d.session.next_due() - d.clock.now() - 0.1) < 1e-6  # type: ignore[operator]
    d.clock.advance(0.1)
    events = d.pump()
    assert types(events)[:5] == ["input_audio_buffer.timeout_triggered", "input_audio_buffer.committed",
                                 "conversation.item.added", "conversation.item.done", "response.created"]
    triggered = events[0]
    assert (triggered["audio_start_ms"], triggered["audio_end_ms"]) == (0, 500)


def test_semantic_vad_commits_at_the_end_of_a_sentence() -> None:
    d = Driver()
    d.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": {
        "type": "semantic_vad", "eagerness": "low", "create_response": False}}}}})
    events = stream(d, speak("Book a table.") + bytes(48 * 600))
    assert "input_audio_buffer.committed" in types(events)  # a full sentence: no 8 s wait
    events = stream(d, speak("Book a table for") + bytes(48 * 3000))
    assert "input_audio_buffer.committed" not in types(events)  # unfinished: low eagerness waits up to 8 s
    events = stream(d, bytes(48 * 6000))
    assert "input_audio_buffer.committed" in types(events)


def test_the_mock_can_hear_its_own_answer() -> None:
    first, second = Driver(), Driver()
    first.say("echo me")
    answer = b"".join(base64.b64decode(e["delta"]) for e in first.send({"type": "response.create"})
                      if e["type"] == "response.output_audio.delta")
    assert transcribe(answer) == "You said: echo me"
    transcribe_with(second, "whisper-1")
    events = stream(second, SILENCE_1S + answer + SILENCE_1S)
    heard = next(e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed")
    assert heard["transcript"] == "You said: echo me"


def transcription_session() -> Driver:
    d = Driver()
    d.session = sessions.transcription_session(3, d.clock)
    d.sent = []
    d.pump()
    return d


def test_transcription_session_created_and_updated_as_live() -> None:
    d = transcription_session()
    session = d.sent[0]["session"]
    assert (session["type"], session["object"]) == ("transcription", "realtime.transcription_session")
    assert session["audio"]["input"]["turn_detection"] == {"type": "server_vad", "threshold": 0.5,
                                                           "prefix_padding_ms": 300, "silence_duration_ms": 200}
    updated = d.send({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
        "transcription": {"model": "gpt-4o-mini-transcribe"}, "turn_detection": {"type": "server_vad"}}}}})
    assert updated[0]["session"]["audio"]["input"]["transcription"] == {
        "model": "gpt-4o-mini-transcribe", "language": None, "prompt": None}
    (error,) = errors_of(d.send({"type": "session.update", "session": {"type": "realtime"}}))
    assert error["message"] == "Passing a realtime session update event to a transcription session is not allowed."
    (error,) = errors_of(d.send({"type": "response.create"}))
    assert error["message"] == "Responses are not supported in transcription sessions."


def test_transcription_session_streams_transcripts_and_never_answers() -> None:
    d = transcription_session()
    d.send({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
        "transcription": {"model": "gpt-4o-transcribe"}}}}})
    events = stream(d, SILENCE_1S + speak("first sentence.") + SILENCE_1S + speak("and a second one") + SILENCE_1S)
    completed = [e["transcript"] for e in events
                 if e["type"] == "conversation.item.input_audio_transcription.completed"]
    assert completed == ["first sentence.", "and a second one"]
    assert not any(e["type"].startswith(("response.", "rate_limits")) for e in events)


def test_a_scenario_says_how_unintelligible_audio_transcribes() -> None:
    from mockserver.scenarios import ScenarioResponder, parse_scenario

    scenario = parse_scenario("name: strict\nunintelligible_audio: fail\nrules:\n  - reply: ok\n")
    d = Driver(ScenarioResponder(scenario))
    transcribe_with(d, "gpt-4o-transcribe", turn_detection=None)
    stream(d, bytes(48 * 300))  # 300 ms of silence: no words
    failed = d.send({"type": "input_audio_buffer.commit"})[-1]
    assert failed["type"] == "conversation.item.input_audio_transcription.failed"
    assert failed["error"] == {"type": "transcription_error", "code": "audio_unintelligible",
                               "message": "Audio is unintelligible.", "param": None}
    stream(d, speak("but this is heard"))
    assert d.send({"type": "input_audio_buffer.commit"})[-1]["transcript"] == "but this is heard"


@pytest.mark.parametrize(("transcription", "param"), [
    ({"model": "gpt-realtime-whisper", "prompt": "names"}, "prompt"),
    ({"model": "whisper-1", "delay": "low"}, "delay"),
    ({"model": "gpt-4o-transcribe", "keywords": ["Oslo"]}, "keywords"),
])
def test_transcription_options_only_their_models_take(transcription: dict[str, Any], param: str) -> None:
    d = Driver()
    error = d.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "transcription": transcription}}}})[-1]["error"]
    assert (error["code"], error["param"]) == ("unsupported_parameter", f"session.audio.input.transcription.{param}")


def voice(seconds: float) -> bytes:
    """A voiced sound the VAD hears as speech but the speech codec cannot read: a real voice, to the mock."""
    import numpy as np

    t = np.arange(int(24_000 * seconds)) / 24_000
    return codecs.float_to_pcm16(0.3 * np.sin(2 * np.pi * 180 * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t)) / 1.3)


def test_a_scenario_says_what_user_audio_says_turn_by_turn() -> None:
    from mockserver.scenarios import ScenarioResponder, parse_scenario

    scenario = parse_scenario('name: said\nuser_audio: ["Hello, my name is Marcelo.", null]\n', "said.yaml")
    d = Driver(ScenarioResponder(scenario))
    transcribe_with(d, "gpt-4o-transcribe")
    assert transcribe(voice(1.5)) is None  # the codec hears nothing in it
    transcripts, answers = [], []
    for audio in (voice(1.5), speak("what is the weather"), voice(1.5)):
        events = stream(d, SILENCE_1S + audio + SILENCE_1S)
        transcripts.append(next(e["transcript"] for e in events
                                if e["type"] == "conversation.item.input_audio_transcription.completed"))
        answers.append(next(e["transcript"] for e in events if e["type"] == "response.output_audio_transcript.done"))
    # Turn 1 is scripted; turn 2 (null) and turn 3 (past the list) are what the codec hears.
    assert transcripts == ["Hello, my name is Marcelo.", "what is the weather", ""]
    assert answers[0] == "You said: Hello, my name is Marcelo."  # the model hears the scripted words


def test_a_transcription_session_takes_the_scripted_words_too() -> None:
    from mockserver.scenarios import ScenarioResponder, parse_scenario

    d = transcription_session()
    d.session.responder = ScenarioResponder(parse_scenario('name: said\nuser_audio: ["Bonjour."]\n', "s.yaml"))
    d.send({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
        "transcription": {"model": "gpt-4o-transcribe"}}}}})
    events = stream(d, SILENCE_1S + voice(1.2) + SILENCE_1S)
    completed = next(e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed")
    assert completed["transcript"] == "Bonjour."
