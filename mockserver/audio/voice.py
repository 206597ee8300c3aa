"""The mock's voice: deterministic, speech-like PCM16 24 kHz audio for a transcript.

Each word becomes a voiced segment (a harmonic tone whose pitch follows the word's letters, with
an attack and a decay), words are separated by short pauses, and sentences by longer ones. The
length grows with the text at a speaking rate of about 14 characters a second, so audio lengths,
truncation points and audio token counts behave like real speech. Same text, same bytes.
"""

from __future__ import annotations

import re

import numpy as np
from numpy.typing import NDArray

from mockserver.audio.codecs import PCM_RATE, float_to_pcm16

MS_PER_CHAR = 70
WORD_GAP_MS = 40
SENTENCE_GAP_MS = 180
_WORD = re.compile(r"[^\s]+")


def _segment(word: str) -> NDArray[np.float64]:
    length = max(1, len(word)) * MS_PER_CHAR * PCM_RATE // 1000
    t = np.arange(length, dtype=np.float64) / PCM_RATE
    # Pitch between 110 and 220 Hz, drifting from the first letter's to the last letter's.
    start, end = (110 + (ord(c) * 37) % 110 for c in (word[0], word[-1]))
    pitch = np.linspace(start, end, length)
    phase = 2 * np.pi * np.cumsum(pitch) / PCM_RATE
    wave = np.sin(phase) + np.sin(2 * phase) / 2 + np.sin(3 * phase) / 3 + np.sin(4 * phase) / 4
    envelope = np.minimum(1.0, np.minimum(t / 0.02, (t[-1] - t + 1e-9) / 0.04))
    out: NDArray[np.float64] = 0.25 * wave * envelope
    return out


def synthesize(text: str) -> bytes:
    """PCM16 24 kHz mono audio that "says" `text` (empty text gives 200 ms of silence)."""
    pieces: list[NDArray[np.float64]] = []
    for match in _WORD.finditer(text):
        word = match.group()
        pieces.append(_segment(word))
        gap = SENTENCE_GAP_MS if word[-1] in ".!?" else WORD_GAP_MS
        pieces.append(np.zeros(gap * PCM_RATE // 1000))
    if not pieces:
        pieces.append(np.zeros(200 * PCM_RATE // 1000))
    return float_to_pcm16(np.concatenate(pieces))
