"""The deterministic speech codec and the VAD, on real signals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.audio import codecs
from mockserver.audio.speech import speak, transcribe, word_times
from mockserver.audio.vad import Vad, rms_threshold


def feed_all(vad: Vad, audio: np.ndarray, chunk: int = 2400) -> list[tuple[str, int]]:
    events = []
    for start in range(0, len(audio), chunk):
        events += vad.feed(audio[start:start + chunk].astype(np.float32))
    return events


def silence(ms: int) -> np.ndarray:
    return np.zeros(ms * 24, dtype=np.float32)


@settings(max_examples=80, deadline=None)
@given(st.text(min_size=1, max_size=60))
def test_speak_then_transcribe_gives_back_the_text(text: str) -> None:
    assert transcribe(speak(text)) == text


@settings(max_examples=40, deadline=None)
@given(st.text(min_size=1, max_size=40), st.sampled_from(["audio/pcmu", "audio/pcma"]))
def test_the_text_survives_a_g711_round_trip(text: str, fmt: codecs.Format) -> None:
    assert transcribe(codecs.decode(codecs.encode(speak(text), fmt), fmt)) == text


def test_speech_is_speech_like() -> None:
    samples = codecs.pcm16_to_float(speak("what is the weather today? It is sunny."))
    frames = samples[: len(samples) // 240 * 240].reshape(-1, 240)
    loud = np.sqrt(np.mean(frames**2, axis=1)) > rms_threshold(0.5)
    assert 0.5 < loud.mean() < 0.95  # mostly voiced, with pauses
    assert np.abs(samples).max() < 0.5  # not clipped


@pytest.mark.parametrize("audio", [b"", bytes(48_000), codecs.float_to_pcm16(
    np.random.default_rng(7).normal(0, 0.2, 24_000))], ids=["empty", "silence", "noise"])
def test_audio_without_text_transcribes_as_none(audio: bytes) -> None:
    assert transcribe(audio) is None


@pytest.mark.parametrize("widen_ms", [2, 4, 5])
def test_words_widened_at_both_ends_are_still_read(widen_ms: int) -> None:
    # A browser's noise suppression and gain control stretch each word by ~5 ms at both ends (tests/functional/
    # test_browser.py): a quieter tone before and after each burst stands for that.
    text = "what is the weather in Paris"
    pcm = codecs.pcm16_to_float(speak(text)).astype(np.float64)
    pad = widen_ms * codecs.PCM_RATE // 1000
    edge = 0.1 * np.sin(2 * np.pi * 1000.0 * np.arange(pad) / codecs.PCM_RATE)
    for start, end in word_times(speak(text)):
        first, last = round(start * codecs.PCM_RATE), round(end * codecs.PCM_RATE)
        pcm[first - pad: first] += edge
        pcm[last: last + pad] += edge
    assert transcribe(codecs.float_to_pcm16(pcm)) == text


def test_damaged_audio_is_not_misread() -> None:
    pcm = bytearray(speak("the secret is 42"))
    middle = len(pcm) // 2 // 2 * 2
    pcm[middle: middle + 4800] = bytes(4800)  # 50 ms of the speech cut out
    assert transcribe(bytes(pcm)) != "the secret is 42"


def test_server_vad_timing_follows_the_session_settings() -> None:
    speech = codecs.pcm16_to_float(speak("what is the weather"))
    audio = np.concatenate([silence(1000), speech, silence(1000)])
    assert feed_all(Vad(), audio) == [("speech_started", 740), ("speech_stopped", 2300)]
    assert feed_all(Vad(prefix_padding_ms=100, silence_duration_ms=500), audio) == [
        ("speech_started", 940), ("speech_stopped", 2600)]
    assert feed_all(Vad(threshold=0.95), audio) == []  # too quiet for that threshold
    assert feed_all(Vad(), silence(3000)) == []


def test_vad_does_not_depend_on_chunking() -> None:
    audio = np.concatenate([silence(500), codecs.pcm16_to_float(speak("hello there. how are you?")), silence(800)])
    assert feed_all(Vad(), audio, chunk=240) == feed_all(Vad(), audio, chunk=24_000) == feed_all(Vad(), audio, 977)


def test_semantic_vad_waits_for_a_finished_sentence() -> None:
    def heard(audio: np.ndarray) -> Vad:
        def complete(start_ms: int, end_ms: int) -> bool:
            text = transcribe(codecs.float_to_pcm16(audio[start_ms * 24:end_ms * 24])) or ""
            return text.rstrip().endswith((".", "?", "!"))
        return Vad(eagerness="high", complete=complete)

    finished = np.concatenate([silence(300), codecs.pcm16_to_float(speak("Book a table.")), silence(3000)])
    unfinished = np.concatenate([silence(300), codecs.pcm16_to_float(speak("Book a table for")), silence(3000)])
    stop_finished = feed_all(heard(finished), finished)[-1]
    stop_unfinished = feed_all(heard(unfinished), unfinished)[-1]
    assert stop_finished[0] == stop_unfinished[0] == "speech_stopped"
    speech_end = lambda t: 300 + len(speak(t)) // 48 - 40 - 60  # noqa: E731 - lead-out and word gap
    assert abs(stop_finished[1] - (speech_end("Book a table.") - 80 + 200)) <= 100  # a short pause is enough
    assert stop_unfinished[1] >= speech_end("Book a table for") + 1900  # waits for "high" eagerness: 2 s
