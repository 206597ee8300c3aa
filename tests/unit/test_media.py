"""mockserver/media.py (PyAV encode/decode) and audio/speed.py: the files the request-based audio endpoints
make and take carry the speech codec's words through every format."""

from __future__ import annotations

import io
import wave

import av
import numpy as np
import pytest

from mockserver import media
from mockserver.audio import speech
from mockserver.audio.codecs import PCM_RATE
from mockserver.audio.speed import speak_at

TEXT = "Hello there, this is a round trip. Does it survive?"


@pytest.mark.parametrize("fmt", [f for f in media.FORMATS if f != "pcm"])
def test_every_format_round_trips_the_words(fmt: str) -> None:
    data = media.encode(speech.speak(TEXT), fmt)
    assert speech.transcribe(media.decode(data)) == TEXT


@pytest.mark.parametrize("fmt,container,codec", [("mp3", "mp3", "mp3"), ("opus", "ogg", "opus"),
                                                 ("aac", "aac", "aac"), ("flac", "flac", "flac"),
                                                 ("wav", "wav", "pcm_s16le")])
def test_each_file_is_what_its_format_says(fmt: str, container: str, codec: str) -> None:
    with av.open(io.BytesIO(media.encode(speech.speak("hi"), fmt))) as opened:
        assert container in opened.format.name
        (stream,) = opened.streams.audio
        assert stream.codec_context.name.startswith(codec) and stream.codec_context.layout.nb_channels == 1


def test_wav_is_a_proper_wav_file_of_24_khz_16_bit_mono() -> None:
    pcm = speech.speak("a proper wav")
    with wave.open(io.BytesIO(media.encode(pcm, "wav"))) as read:
        assert (read.getframerate(), read.getsampwidth(), read.getnchannels()) == (PCM_RATE, 2, 1)
        assert read.readframes(read.getnframes()) == pcm


def test_pcm_is_the_raw_samples() -> None:
    pcm = speech.speak("raw")
    assert media.encode(pcm, "pcm") == pcm
    assert media.content_type("pcm") == "audio/pcm" and media.content_type("mp3") == "audio/mpeg"


def test_decode_downmixes_and_resamples_to_24_khz_mono() -> None:
    """A 44.1 kHz stereo file (as a phone or browser records) comes back as 24 kHz mono, words intact."""
    mono = np.frombuffer(speech.speak(TEXT), dtype="<i2")
    out = io.BytesIO()
    with av.open(out, "w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=44_100, layout="stereo")
        frame = av.AudioFrame.from_ndarray(np.stack([mono, mono], axis=1).reshape(1, -1),  # interleaved
                                           format="s16", layout="stereo")
        frame.sample_rate = PCM_RATE
        resampler = av.AudioResampler(format="s16", layout="stereo", rate=44_100)
        for piece in (*resampler.resample(frame), *resampler.resample(None)):
            container.mux(stream.encode(piece))
        container.mux(stream.encode(None))
    pcm = media.decode(out.getvalue())
    assert abs(media.duration(pcm) - len(mono) / PCM_RATE) < 0.01
    assert speech.transcribe(pcm) == TEXT


@pytest.mark.parametrize("data", [b"", b"not audio at all", b"RIFF\x00\x00\x00\x00WAVEjunk", bytes(range(256)) * 40])
def test_what_is_not_audio_is_a_media_error(data: bytes) -> None:
    with pytest.raises(media.MediaError):
        media.decode(data)


def test_a_file_without_an_audio_stream_is_a_media_error() -> None:
    out = io.BytesIO()
    with av.open(out, "w", format="webm") as container:
        stream = container.add_stream("libvpx", rate=10)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), dtype=np.uint8), format="rgb24")
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(media.MediaError, match="no audio stream"):
        media.decode(out.getvalue())


@pytest.mark.parametrize("speed", [0.25, 0.5, 2.0, 4.0])
def test_speed_scales_the_pauses_and_keeps_the_words(speed: float) -> None:
    normal, paced = speech.speak(TEXT), speak_at(TEXT, speed)
    assert speech.transcribe(paced) == TEXT
    assert (len(paced) > len(normal)) if speed < 1 else (len(paced) < len(normal))
    assert speech.transcribe(media.decode(media.encode(paced, "mp3"))) == TEXT


def test_speed_one_is_the_codec_itself() -> None:
    assert speak_at(TEXT, 1.0) == speech.speak(TEXT)


def test_word_times_find_each_word() -> None:
    times = speech.word_times(speech.speak("one two three"))
    assert len(times) == 3 and all(a < b for a, b in times) and times[0][1] < times[1][0]


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac"])
def test_lossy_formats_keep_every_word_of_many_texts(fmt: str) -> None:
    """A seeded sweep of texts (letters, digits, punctuation, accents): the lossy encoders at the mock's bit
    rates keep every tone of the speech codec (opus at 32 kbit/s did not)."""
    import random
    import string

    rng = random.Random(11)
    alphabet = string.ascii_letters + string.digits + ",.!?éß"
    for _ in range(30):
        words = ("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 9))) for _ in range(rng.randint(1, 8)))
        text = " ".join(words)
        assert speech.transcribe(media.decode(media.encode(speech.speak(text), fmt))) == text
