"""The translation session core (`/v1/realtime/translations`), driven without sockets: what it hears, what
it says back, in which frames and when, and how it refuses what live refuses."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from mockserver import schema_store
from mockserver.audio import speech
from mockserver.protocol.clock import FakeClock
from mockserver.protocol.ids import IdSource
from mockserver.protocol.responses import Pacing
from mockserver.protocol.session import Limits
from mockserver.protocol.translation import ENGINE_FRAME, LATENCY, OUTPUT_FRAME, TranslationSession
from tests.unit.sessions import Driver, errors_of, types


class Translator(Driver):
    """A translation session plus everything it sent, each event checked against schemas/translation."""

    def __init__(self, *, realtime: bool = False, **options: Any) -> None:
        clock = FakeClock()
        session = TranslationSession(
            model=options.pop("model", "gpt-realtime-translate"), ids=IdSource(5), clock=clock,
            schemas=schema_store.schemas(), limits=Limits(pacing=Pacing(realtime_audio=realtime)), **options)
        super().__init__(session=session, clock=clock, family="translation/server")

    def append(self, pcm: bytes, chunk: int = 4_800) -> list[dict[str, Any]]:
        """Append audio in `chunk`-byte pieces (100 ms by default), as a microphone would."""
        out: list[dict[str, Any]] = []
        for start in range(0, len(pcm), chunk):
            out += self.send({"type": "session.input_audio_buffer.append",
                              "audio": base64.b64encode(pcm[start:start + chunk]).decode()})
        return out

    def configure(self, language: str = "es", transcription: bool = True) -> None:
        sent = self.send({"type": "session.update", "session": {"audio": {
            "output": {"language": language},
            "input": {"transcription": {"model": "gpt-realtime-whisper"} if transcription else None}}}})
        assert types(sent) == ["session.updated"]


class Phrases:
    """What a translation session reads of a scenario's responder: its phrase tables."""

    def __init__(self, phrases: dict[str, dict[str, str]]) -> None:
        self.phrases = phrases


def text_of(events: list[dict[str, Any]], event_type: str) -> str:
    return "".join(e["delta"] for e in events if e["type"] == event_type)


def audio_of(events: list[dict[str, Any]]) -> bytes:
    return b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == "session.output_audio.delta")


def silence(ms: int) -> bytes:
    return bytes(48 * ms)


def test_session_created_has_the_keys_of_the_live_example(reference: Path) -> None:
    t = Translator()
    (created,) = t.sent
    assert created["type"] == "session.created"
    session = created["session"]
    assert session["type"] == "translation" and session["model"] == "gpt-realtime-translate"
    assert session["id"].startswith("sess_") and session["expires_at"] == int(t.clock.now()) + 3600
    example = json.loads((reference / "examples" / "translation.session.created.json").read_text())["session"]
    assert list(session) == list(example) and list(session["audio"]) == list(example["audio"])
    assert list(session["audio"]["input"]) == list(example["audio"]["input"])


def test_session_update_changes_the_audio_settings_and_keeps_the_rest() -> None:
    t = Translator()
    sent = t.send({"type": "session.update", "session": {"audio": {"output": {"language": "fr"}}}})
    assert types(sent) == ["session.updated"]
    session = sent[0]["session"]
    assert session["audio"]["output"] == {"language": "fr"}
    assert session["audio"]["input"] == {"transcription": None, "noise_reduction": None}
    sent = t.send({"type": "session.update", "session": {"audio": {"input": {
        "noise_reduction": {"type": "far_field"}}}}})
    assert sent[0]["session"]["audio"] == {"input": {"transcription": None, "noise_reduction": {"type": "far_field"}},
                                           "output": {"language": "fr"}}
    assert sent[0]["session"]["id"] == t.sent[0]["session"]["id"]


def test_a_client_secrets_session_configures_the_session_before_created() -> None:
    t = Translator(initial={"type": "translation", "model": "gpt-realtime-translate",
                            "audio": {"output": {"language": "de"}}})
    assert t.sent[0]["session"]["audio"]["output"] == {"language": "de"}


def test_speech_is_heard_translated_and_spoken_back() -> None:
    t = Translator()
    t.configure("es")
    out = t.append(silence(400) + speech.speak("Where is the station?") + silence(600))
    assert text_of(out, "session.input_transcript.delta") == "Where is the station?"
    assert text_of(out, "session.output_transcript.delta") == "[es] Where is the station?"
    # The audio says what the transcript says, in the codec a test can decode.
    assert speech.transcribe(audio_of(out)) == "[es] Where is the station?"
    assert errors_of(out) == []


def test_input_transcript_only_when_transcription_is_on() -> None:
    t = Translator()
    t.configure("fr", transcription=False)
    out = t.append(speech.speak("Good morning.") + silence(600))
    assert "session.input_transcript.delta" not in types(out)
    assert text_of(out, "session.output_transcript.delta") == "[fr] Good morning."


def test_source_words_stream_while_the_speaker_talks() -> None:
    t = Translator()
    t.configure()
    pcm = speech.speak("one two three four five six")
    before_end = t.append(pcm[: len(pcm) // 2])
    heard = text_of(before_end, "session.input_transcript.delta")
    assert heard and "one two three four five six".startswith(heard) and heard != "one two three four five six"
    assert "session.output_transcript.delta" not in types(before_end)  # translated once the utterance ends


def test_a_phrase_table_gives_the_translation() -> None:
    t = Translator(responder=Phrases({"es": {"where is  the Station?": "¿Dónde está la estación?"}}))
    t.configure("es")
    out = t.append(speech.speak("Where is the station?") + silence(600))
    assert text_of(out, "session.output_transcript.delta") == "¿Dónde está la estación?"
    assert speech.transcribe(audio_of(out)) == "¿Dónde está la estación?"


def test_the_engine_takes_200_ms_frames_whatever_the_chunk_size() -> None:
    pcm = silence(200) + speech.speak("Tiny chunks.") + silence(600)
    outputs = []
    for chunk in (2, 960, ENGINE_FRAME, 3 * ENGINE_FRAME + 2):
        t = Translator()
        t.configure()
        outputs.append([(e["type"], e["delta"], e.get("elapsed_ms")) for e in t.append(pcm, chunk)])
    assert all(out == outputs[0] for out in outputs)
    # Nothing is heard of a partial engine frame until it completes.
    t = Translator()
    assert t.append(speech.speak("Hello.")[: ENGINE_FRAME - 2], ENGINE_FRAME - 2) == []


def test_output_audio_comes_in_400_ms_frames_with_live_metadata() -> None:
    t = Translator()
    t.configure()
    out = t.append(speech.speak("A sentence long enough to need several output frames.") + silence(600))
    frames = [e for e in out if e["type"] == "session.output_audio.delta"]
    assert len(frames) > 2
    assert all(len(base64.b64decode(f["delta"])) == OUTPUT_FRAME for f in frames[:-1])
    assert 0 < len(base64.b64decode(frames[-1]["delta"])) <= OUTPUT_FRAME
    assert all((f["sample_rate"], f["channels"], f["format"]) == (24000, 1, "pcm16") for f in frames)
    assert all(e["elapsed_ms"] % 200 == 0 for e in out if "elapsed_ms" in e and e["type"].startswith("session.output"))


def test_two_utterances_are_translated_one_after_the_other() -> None:
    t = Translator()
    t.configure("it")
    out = t.append(speech.speak("First one.") + silence(600) + speech.speak("Second one.") + silence(600))
    assert text_of(out, "session.output_transcript.delta") == "[it] First one.[it] Second one."


def test_noise_is_not_heard_and_listening_resumes_after_a_pause() -> None:
    import numpy as np

    from mockserver.audio import codecs

    noise = codecs.float_to_pcm16(np.random.default_rng(1).uniform(-0.6, 0.6, 24_000))  # one second
    t = Translator()
    t.configure()
    out = t.append(noise + silence(600) + speech.speak("After the noise.") + silence(600))
    assert text_of(out, "session.output_transcript.delta") == "[es] After the noise."


def test_session_close_flushes_what_is_pending_then_closed() -> None:
    t = Translator()
    t.configure()
    pcm = speech.speak("Cut at the end.")[: -48 * (speech.SENTENCE_GAP_MS + speech.LEAD_MS)]  # no quiet after it
    out = t.append(pcm)
    assert "session.output_transcript.delta" not in types(out)
    out = t.send({"type": "session.close"})
    assert text_of(out, "session.output_transcript.delta") == "[es] Cut at the end."
    assert types(out)[-1] == "session.closed"
    assert t.session.close is None  # the client closes the socket; the server waits for it
    # After session.close, audio is refused (the session stays to answer), and a second close does nothing.
    after = t.append(silence(200), ENGINE_FRAME)
    assert [e["code"] for e in errors_of(after)] == ["session_closed"]
    assert t.send({"type": "session.close"}) == []


def test_session_close_translates_what_was_heard_of_an_unfinished_utterance() -> None:
    t = Translator()
    t.configure()
    pcm = speech.speak("one two three four five six")
    t.append(pcm[: len(pcm) * 2 // 3], ENGINE_FRAME)
    out = t.send({"type": "session.close"})
    heard = text_of(t.sent, "session.input_transcript.delta")
    assert heard and text_of(out, "session.output_transcript.delta") == f"[es] {heard}"
    assert types(out)[-1] == "session.closed"


def test_in_real_time_output_starts_after_the_latency_and_plays_at_its_rate() -> None:
    t = Translator(realtime=True)
    t.configure()
    out = t.append(speech.speak("Paced output, frame after frame, as it plays.") + silence(400))
    assert "session.output_audio.delta" not in types(out) and "session.output_transcript.delta" not in types(out)
    assert t.session.next_due() == pytest.approx(t.clock.now() + LATENCY)
    t.clock.advance(LATENCY)
    first = t.pump()
    assert types(first)[0] == "session.output_transcript.delta"
    assert types(first).count("session.output_audio.delta") == 1
    played = len(audio_of(first)) / 48_000
    t.clock.advance(played - 0.01)
    assert "session.output_audio.delta" not in types(t.pump())
    t.clock.advance(0.02)
    assert types(t.pump()).count("session.output_audio.delta") == 1
    # session.close waits for the last frame, then says closed.
    t.send({"type": "session.close"})
    while t.session.busy:
        due = t.session.next_due()
        assert due is not None
        t.clock.time = max(t.clock.time, due)
        t.pump()
    assert types(t.sent)[-1] == "session.closed"
    assert speech.transcribe(audio_of(t.sent)) == "[es] Paced output, frame after frame, as it plays."


@pytest.mark.parametrize(("event", "code", "param", "message"), [
    ({"type": "input_audio_buffer.append", "audio": ""}, "invalid_value", "type",
     "Invalid value: 'input_audio_buffer.append'. Supported values are: 'session.update', "
     "'session.input_audio_buffer.append', and 'session.close'."),
    ({"type": "response.create"}, "invalid_value", "type",
     "Invalid value: 'response.create'. Supported values are: 'session.update', "
     "'session.input_audio_buffer.append', and 'session.close'."),
    ({"type": "session.update", "session": {"type": "realtime"}}, "unknown_parameter", "session.type",
     "Unknown parameter: 'session.type'."),
    ({"type": "session.update", "session": {"audio": {"output": {"language": 7}}}}, "invalid_type",
     "session.audio.output.language",
     "Invalid type for 'session.audio.output.language': expected a string, but got an integer instead."),
    ({"type": "session.input_audio_buffer.append"}, "missing_required_parameter", "audio",
     "Missing required parameter: 'audio'."),
])
def test_bad_events_get_the_live_errors_and_the_session_goes_on(event: dict[str, Any], code: str, param: str,
                                                                message: str) -> None:
    t = Translator()
    (error,) = errors_of(t.send(event))
    assert (error["type"], error["code"], error["param"], error["message"]) == (
        "invalid_request_error", code, param, message)
    t.configure()
    out = t.append(speech.speak("Still here.") + silence(600))
    assert text_of(out, "session.output_transcript.delta") == "[es] Still here."


def test_bad_audio_is_refused_and_nothing_before_it_is_lost() -> None:
    t = Translator()
    t.configure()
    pcm = speech.speak("Nothing lost.") + silence(600)
    half = len(pcm) // 2 // ENGINE_FRAME * ENGINE_FRAME + 4_800
    t.append(pcm[:half])
    (error,) = errors_of(t.send({"type": "session.input_audio_buffer.append", "audio": "not base64!"}))
    assert (error["code"], error["param"]) == ("invalid_value", "audio")  # as the realtime socket words it
    out = t.append(pcm[half:])
    assert text_of(t.sent, "session.output_transcript.delta") == "[es] Nothing lost."
    assert errors_of(out) == []


# -- the handshake of /v1/realtime/translations (protocol/handshake.py) ----------------------------------------

def judge(query: dict[str, str], key: str = "sk-test", offered: tuple[str, ...] = ("realtime",),
          minted: dict[str, tuple[str, str | None]] | None = None) -> Any:
    from mockserver.protocol.handshake import check_translation

    return check_translation(query, {"authorization": f"Bearer {key}"} if key else {}, offered,
                             secret=lambda given: (minted or {}).get(given))


def test_a_good_handshake_gives_the_model_and_the_subprotocol() -> None:
    judged = judge({"model": "gpt-realtime-translate"})
    assert (judged.error, judged.model, judged.subprotocol) == (None, "gpt-realtime-translate", "realtime")
    assert judge({"model": "gpt-realtime-translate-2026-05-01"}).error is None  # a snapshot


def test_a_browser_key_subprotocol_is_a_key() -> None:
    judged = judge({"model": "gpt-realtime-translate"}, key="",
                   offered=("realtime", "openai-insecure-api-key.ek_abc"),
                   minted={"ek_abc": ("translation", "gpt-realtime-translate")})
    assert judged.error is None and judged.api_key == "ek_abc"
    missing = judge({"model": "gpt-realtime-translate"}, key="")
    assert (missing.error.message, missing.close_code) == ("Missing bearer or basic authentication in header", 3000)


def test_a_translation_secret_stands_in_for_the_model_and_others_are_refused() -> None:
    minted = {"ek_t": ("translation", "gpt-realtime-translate"), "ek_r": ("realtime", "gpt-realtime")}
    assert judge({}, key="ek_t", minted=minted).model == "gpt-realtime-translate"
    refused = judge({"model": "gpt-realtime-translate"}, key="ek_r", minted=minted)
    assert (refused.error.code, refused.close_code) == ("invalid_client_secret", 3000)


@pytest.mark.parametrize(("query", "code", "param"), [
    ({}, "missing_model", None),
    ({"model": "gpt-realtime-translate", "intent": "transcription"}, "unknown_parameter", "intent"),
    ({"model": "gpt-realtime"}, "invalid_model", None),
])
def test_refusals_close_4000(query: dict[str, str], code: str, param: str | None) -> None:
    judged = judge(query)
    assert (judged.error.code, judged.error.param, judged.close_code) == (code, param, 4000)
