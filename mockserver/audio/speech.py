"""A deterministic speech codec: `speak(text)` makes speech-like audio that carries the text, and
`transcribe(audio)` recovers exactly that text (also after a G.711 round trip), or None when the
audio carries none.

How it carries text: the UTF-8 bytes become 4-bit symbols, each a 20 ms tone at one of 16
frequencies between 600 and 3000 Hz (inside the telephone band, so G.711 at 8 kHz keeps them),
with a soft attack and release so it sounds voiced rather than clicked. Words are separate bursts
with short pauses between them (longer after a sentence), like speech, and stay well under the
200 ms of silence that ends a server-VAD turn. Each burst starts with a sync tone (340 Hz), and the
utterance ends with a CRC-8 of the text, so noise or real speech decode to None instead of garbage.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

from mockserver.audio.codecs import PCM_RATE, float_to_pcm16, pcm16_to_float

SYMBOL_MS = 20
WORD_GAP_MS = 60
SENTENCE_GAP_MS = 140
LEAD_MS = 40  # silence before the first burst and after the last
AMPLITUDE = 0.3
SYNC_HZ = 340.0
TONES_HZ = tuple(600.0 + 160.0 * i for i in range(16))
_SILENCE_RMS = 0.02  # below this a 5 ms window is a pause (speech tones are ~0.2 RMS)
_WORDS = re.compile(r"\S+\s*|\s+")
# Text is carried as UTF-8, lone surrogates included (a client may send "\ud800" in JSON, and the mock
# answers in words it heard): they go through as their three-byte form and come back as they were.
_LONE = "surrogatepass"


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _tone(freq: float, samples: int) -> NDArray[np.float64]:
    t = np.arange(samples) / PCM_RATE
    ramp = max(1, samples // 8)
    envelope = np.minimum(1.0, np.minimum(np.arange(samples) + 1, samples - np.arange(samples)) / ramp)
    out: NDArray[np.float64] = AMPLITUDE * envelope * np.sin(2 * np.pi * freq * t)
    return out


def _burst(payload: bytes) -> NDArray[np.float64]:
    samples = SYMBOL_MS * PCM_RATE // 1000
    symbols = [SYNC_HZ] + [TONES_HZ[n] for byte in payload for n in (byte >> 4, byte & 0x0F)]
    return np.concatenate([_tone(f, samples) for f in symbols])


def _silence(ms: int) -> NDArray[np.float64]:
    return np.zeros(ms * PCM_RATE // 1000)


def speak(text: str) -> bytes:
    """PCM16 24 kHz mono speech-like audio carrying `text` (the empty text gives 200 ms of silence)."""
    return b"".join(pcm for _, pcm in speak_stream(text))


def speak_stream(text: str) -> Iterator[tuple[str, bytes]]:
    """`speak(text)` a word at a time: (the words, the PCM16 saying them), so that a long answer can
    start playing before it is all synthesised. The first piece is the lead-in and says nothing."""
    if not text:
        yield "", float_to_pcm16(_silence(200))
        return
    yield "", float_to_pcm16(_silence(LEAD_MS))
    chunks = _WORDS.findall(text)
    for index, chunk in enumerate(chunks):
        payload = chunk.encode("utf-8", _LONE)
        last = index == len(chunks) - 1
        if last:
            payload += bytes([_crc8(text.encode("utf-8", _LONE))])
        gap = SENTENCE_GAP_MS if chunk.rstrip()[-1:] in (".", "!", "?") else WORD_GAP_MS
        pieces = [_burst(payload), _silence(gap + (LEAD_MS if last else 0))]
        yield chunk, float_to_pcm16(np.concatenate(pieces))


def _bursts(signal: NDArray[np.float32]) -> list[tuple[int, int]]:
    """(start, end) sample ranges of the non-silent stretches."""
    window = PCM_RATE // 200  # 5 ms
    count = len(signal) // window
    if count == 0:
        return []
    rms = np.sqrt(np.mean(signal[: count * window].reshape(count, window) ** 2, axis=1))
    loud = rms > _SILENCE_RMS
    edges = np.flatnonzero(np.diff(np.concatenate(([0], loud.astype(np.int8), [0]))))
    return [(int(a) * window, int(b) * window) for a, b in zip(edges[::2], edges[1::2], strict=True)]


_SAMPLES = SYMBOL_MS * PCM_RATE // 1000
_CORE = slice(_SAMPLES // 5, _SAMPLES - _SAMPLES // 5)  # the middle of a symbol, clear of its ramps
_BASIS = np.exp(-2j * np.pi * np.outer((SYNC_HZ, *TONES_HZ), np.arange(_CORE.stop - _CORE.start) / PCM_RATE)).T


def _symbols(burst: NDArray[np.float32]) -> list[int]:
    """For each symbol of a burst, the index of the strongest candidate tone (0 is the sync tone)."""
    frames = burst.reshape(-1, _SAMPLES)[:, _CORE]
    return [int(i) for i in np.argmax(np.abs(frames @ _BASIS), axis=1)]


def transcribe(audio: bytes) -> str | None:
    """The text that `speak` put in PCM16 24 kHz `audio`, or None when it carries none (or is damaged)."""
    data = _decode(pcm16_to_float(audio), len(audio) // 2)
    if data is None or len(data) < 2 or _crc8(bytes(data[:-1])) != data[-1]:
        return None
    try:
        return bytes(data[:-1]).decode("utf-8", _LONE)
    except UnicodeDecodeError:
        return None


def word_times(audio: bytes) -> list[tuple[float, float]]:
    """(start, end) in seconds of each burst of PCM16 24 kHz `audio`: the words of speech made by `speak`, one
    burst each (other sounds make bursts too)."""
    return [(start / PCM_RATE, end / PCM_RATE) for start, end in _bursts(pcm16_to_float(audio))]


def heard_so_far(audio: bytes) -> str:
    """The words of an utterance still arriving: every burst but the last one heard (which may carry the
    checksum, or still be growing), for streaming transcription. A prefix of what `transcribe` gives."""
    listener = Listener()
    listener.feed(audio)
    return listener.heard


def is_quiet(audio: bytes) -> bool:
    """Whether PCM16 24 kHz `audio` has no burst at all: a pause, whatever speech surrounds it."""
    return not _bursts(pcm16_to_float(audio))


class Listener:
    """Hears an utterance as it arrives, going over each sample once: `feed` takes the next PCM16 24 kHz
    chunk and returns the words it completed (as `heard_so_far` on all the audio so far would, a word at
    a time); `text()` is the whole utterance when its checksum already holds, else None.

    It keeps only the audio from the first burst not yet decoded; cuts fall on the 5 ms windows of
    `_bursts`, so the bursts it finds are those a scan of all the audio finds.
    """

    _WINDOW = PCM_RATE // 200

    def __init__(self) -> None:
        self._pending: NDArray[np.float32] = np.zeros(0, dtype=np.float32)
        self._data = bytearray()  # the bytes of the bursts decoded so far
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors=_LONE)
        self._lost = False  # a burst was not speech: nothing more is heard
        self.heard = ""

    def feed(self, audio: bytes) -> str:
        if self._lost:
            return ""
        signal = np.concatenate((self._pending, pcm16_to_float(audio)))
        bursts = _bursts(signal)
        complete = bursts[:-1] if bursts and bursts[-1][1] >= len(signal) - _SAMPLES else bursts
        ready = complete[:-1]  # the last complete burst may carry the checksum: it waits for the next one
        data = _decode_bursts(signal, ready)
        if data is None:
            self._lost, self._pending = True, np.zeros(0, dtype=np.float32)
            return ""
        if complete:
            keep = complete[-1][0]
        elif bursts:
            keep = bursts[-1][0]
        else:  # silence: keep only the last window's worth, on a window boundary
            keep = max(0, (len(signal) - self._WINDOW) // self._WINDOW * self._WINDOW)
        self._pending = signal[keep:]
        self._data += data
        try:
            words = self._utf8.decode(bytes(data))
        except UnicodeDecodeError:  # bytes no speech would carry (damaged audio): keep what reads
            self._utf8.reset()
            words = bytes(data).decode("utf-8", "ignore")
        self.heard += words
        return words

    @property
    def lost(self) -> bool:
        """A burst was not speech (noise, damaged audio): this utterance can no longer be heard."""
        return self._lost

    def text(self, *, settled: bool = False) -> str | None:
        """The utterance, when the audio so far ends it (its checksum holds), else None. `settled`: only once
        its last burst is followed by quiet (a burst still growing might pass the checksum by chance)."""
        if self._lost:
            return None
        bursts = _bursts(self._pending)
        if settled and (not bursts or bursts[-1][1] >= len(self._pending) - _SAMPLES):
            return None
        rest = _decode_bursts(self._pending, bursts)
        if rest is None:
            return None
        data = self._data + rest
        if len(data) < 2 or _crc8(bytes(data[:-1])) != data[-1]:
            return None
        try:
            return bytes(data[:-1]).decode("utf-8", _LONE)
        except UnicodeDecodeError:
            return None


def _decode(signal: NDArray[np.float32], until: int) -> bytearray | None:
    """The bytes carried by the bursts that end before sample `until`; None when a burst is not speech."""
    return _decode_bursts(signal, _bursts(signal[:until]))


def _symbol_count(samples: int) -> int | None:
    """How many symbols a burst this long holds: a sync symbol and whole bytes (two symbols each), so an odd
    number of at least 3; a burst widened by up to half a symbol counts as the shorter one. None: not speech."""
    ratio = samples / _SAMPLES
    count = int(ratio + 0.5) if int(ratio + 0.5) % 2 else int(ratio - 0.5)  # the nearest odd, ties to the shorter
    if count < 3 or abs(ratio - count) > 0.6:
        return None
    return count


def _decode_bursts(signal: NDArray[np.float32], bursts: list[tuple[int, int]]) -> bytearray | None:
    """The bytes carried by these bursts of `signal`; None when one is not speech."""
    data = bytearray()
    for start, end in bursts:
        count = _symbol_count(end - start)
        if count is None:
            return None
        # Energy detection finds the burst to within one 5 ms window, and processing on the way (a browser's
        # noise suppression and gain control) may widen it at both ends: the symbols sit in its middle.
        first = max(0, start + (end - start - count * _SAMPLES) // 2)
        burst = signal[first: first + count * _SAMPLES]
        if len(burst) < count * _SAMPLES:
            return None
        symbols = _symbols(burst)
        if symbols[0] != 0 or 0 in symbols[1:]:
            return None
        nibbles = [s - 1 for s in symbols[1:]]
        data += bytes((hi << 4) | lo for hi, lo in zip(nibbles[::2], nibbles[1::2], strict=True))
    return data
