"""Audio files in and out, with PyAV (FFmpeg): what the request-based audio endpoints send and take.

- `encode(pcm, fmt)`: PCM16 24 kHz mono to a whole file in one of the speech endpoint's formats
  (`mp3`, `opus` in Ogg, `aac` in ADTS, `flac`, `wav`, or `pcm`: the raw samples, 24 kHz 16-bit LE mono).
- `decode(data)`: any file FFmpeg reads (wav, mp3, m4a/mp4, ogg/opus, webm, flac, ...) to PCM16 24 kHz
  mono, downmixed and resampled by FFmpeg's resampler; `MediaError` when it holds no audio it can read.

Lossy codecs keep what the speech codec (speech.py) carries: its tones sit in the telephone band and last
20 ms each, so `speech.transcribe(decode(encode(speak(text), fmt)))` is `text` for every format here
(tests/unit/test_media.py holds it). PyAV is imported on first use, so the server starts without it.
It lives outside the sans-I/O core (`mockserver/audio/`): FFmpeg can open files, and the core opens none.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mockserver.audio.formats import PCM_RATE

if TYPE_CHECKING:
    import av

MAX_SECONDS = 3600  # the most audio `decode` gives (the mock's own bound: 173 MB of PCM)


@dataclass(frozen=True)
class Encoding:
    container: str  # FFmpeg muxer
    codec: str  # FFmpeg encoder
    rate: int  # the encoder's sample rate
    content_type: str  # what the speech endpoint answers with
    bit_rate: int | None = None


ENCODINGS: dict[str, Encoding] = {
    "mp3": Encoding("mp3", "libmp3lame", PCM_RATE, "audio/mpeg", 64_000),
    "opus": Encoding("ogg", "libopus", 48_000, "audio/opus", 64_000),  # 32 kbit/s blurs some tones
    "aac": Encoding("adts", "aac", PCM_RATE, "audio/aac", 64_000),
    "flac": Encoding("flac", "flac", PCM_RATE, "audio/flac"),
    "wav": Encoding("wav", "pcm_s16le", PCM_RATE, "audio/wav"),
}
# [unverified] the content types: the MIME type of each format (the live API's are not captured here).
FORMATS = (*ENCODINGS, "pcm")  # the speech endpoint's order: mp3, opus, aac, flac, wav, pcm
PCM_CONTENT_TYPE = "audio/pcm"


class MediaError(ValueError):
    """A file that holds no audio FFmpeg can read (or more than MAX_SECONDS of it)."""


def content_type(fmt: str) -> str:
    return ENCODINGS[fmt].content_type if fmt in ENCODINGS else PCM_CONTENT_TYPE


def encode(pcm: bytes, fmt: str) -> bytes:
    """PCM16 24 kHz mono to a whole file of `fmt` (one of FORMATS); `pcm` gives the samples back."""
    if fmt == "pcm":
        return bytes(pcm)
    import av
    import numpy as np

    spec = ENCODINGS[fmt]
    out = io.BytesIO()
    with av.open(out, "w", format=spec.container) as container:
        stream: Any = container.add_stream(spec.codec, rate=spec.rate, layout="mono")
        if spec.bit_rate:
            stream.bit_rate = spec.bit_rate
        frame = av.AudioFrame.from_ndarray(np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").reshape(1, -1),
                                           format="s16", layout="mono")
        frame.sample_rate = PCM_RATE
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=spec.rate)
        for piece in (*resampler.resample(frame), *resampler.resample(None)):
            container.mux(stream.encode(piece))
        container.mux(stream.encode(None))
    return out.getvalue()


def decode(data: bytes) -> bytes:
    """The first audio stream of a file as PCM16 24 kHz mono; MediaError when there is none to read."""
    import av

    try:
        with av.open(io.BytesIO(data), "r") as container:
            if not container.streams.audio:
                raise MediaError("the file has no audio stream")
            return _samples(container)
    except (av.FFmpegError, UnicodeDecodeError, ValueError, IndexError) as error:
        if isinstance(error, MediaError):
            raise
        raise MediaError(f"FFmpeg cannot read it: {error}") from None


def _samples(container: av.container.InputContainer) -> bytes:
    import av

    resampler = av.AudioResampler(format="s16", layout="mono", rate=PCM_RATE)
    out = bytearray()
    limit = MAX_SECONDS * PCM_RATE * 2
    for frame in container.decode(audio=0):
        for piece in resampler.resample(frame):
            out += piece.to_ndarray().tobytes()
        if len(out) > limit:
            raise MediaError(f"it holds more than {MAX_SECONDS} s of audio")
    for piece in resampler.resample(None):
        out += piece.to_ndarray().tobytes()
    return bytes(out)


def duration(pcm: bytes) -> float:
    """Seconds of PCM16 24 kHz mono."""
    return len(pcm) / (2 * PCM_RATE)
