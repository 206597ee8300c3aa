"""A transcript in the response formats of the transcription and translation endpoints: timed words and
segments (verbose_json, diarized_json), SubRip (srt) and WebVTT (vtt).

Times come from the audio: each word of speech-codec audio is one burst (speech.word_times), so the words
get their own start and end; a transcript the codec did not hear (a scenario's `user_audio`) is spread
evenly over the audio. A segment is a sentence.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mockserver.protocol.tokens import tokens

_WORD = re.compile(r"\S+")
_SENTENCE = re.compile(r"[^.!?]+[.!?]*\s*")
# Whisper's tokenizer starts its timestamp tokens at 50364 ("<|0.00|>"); text tokens are below 50257.
_TEXT_TOKENS = 50257


@dataclass(frozen=True)
class Timed:
    text: str
    start: float
    end: float


def timed_words(text: str, words: Sequence[tuple[float, float]], seconds: float) -> list[Timed]:
    """Each word of `text` with its time: the codec's bursts when they match the words one to one, else
    spread evenly over `seconds`."""
    found = _WORD.findall(text)
    if len(words) == len(found):
        return [Timed(word, round(start, 3), round(end, 3)) for word, (start, end) in zip(found, words, strict=True)]
    step = seconds / len(found) if found else 0.0
    return [Timed(word, round(i * step, 3), round((i + 1) * step, 3)) for i, word in enumerate(found)]


def sentences(text: str, words: list[Timed], seconds: float) -> list[Timed]:
    """The sentences of `text`, timed from their first word's start to their last word's end."""
    out: list[Timed] = []
    at = 0
    for sentence in _SENTENCE.findall(text):
        count = len(_WORD.findall(sentence))
        if not count or at >= len(words):  # "3.5" is one word but two sentence pieces: the last takes none
            continue
        first, last = words[at], words[min(at + count, len(words)) - 1]
        out.append(Timed(sentence.strip(), first.start, last.end))
        at += count
    if not out and text.strip():
        out.append(Timed(text.strip(), 0.0, round(seconds, 3)))
    return out


def token_ids(text: str) -> list[int]:
    """Deterministic stand-ins for the token ids of a segment (the mock has no tokenizer)."""
    return [zlib.crc32(piece.encode("utf-8", "surrogatepass")) % _TEXT_TOKENS for piece in tokens(text)]


def whisper_segments(parts: list[Timed], temperature: float) -> list[dict[str, Any]]:
    """verbose_json `segments`, with the fields Whisper reports (the text with its leading space, as live)."""
    out = []
    for index, part in enumerate(parts):
        text = " " + part.text
        encoded = text.encode("utf-8", "surrogatepass")
        out.append({"id": index, "seek": 0, "start": part.start, "end": part.end, "text": text,
                    "tokens": token_ids(text), "temperature": temperature, "avg_logprob": -0.2,
                    "compression_ratio": round(len(encoded) / max(1, len(zlib.compress(encoded))), 3),
                    "no_speech_prob": 0.01})
    return out


def _clock(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def srt(parts: list[Timed]) -> str:
    return "".join(f"{i}\n{_clock(p.start, ',')} --> {_clock(p.end, ',')}\n{p.text}\n\n"
                   for i, p in enumerate(parts, 1))


def vtt(parts: list[Timed]) -> str:
    return "WEBVTT\n\n" + "".join(f"{_clock(p.start, '.')} --> {_clock(p.end, '.')}\n{p.text}\n\n" for p in parts)


# ISO-639-1 codes to the names verbose_json reports ("language": "english"); others are reported as given.
LANGUAGE_NAMES = {"en": "english", "es": "spanish", "fr": "french", "de": "german", "it": "italian",
                  "pt": "portuguese", "nl": "dutch", "ja": "japanese", "zh": "chinese", "ko": "korean",
                  "ru": "russian", "ar": "arabic", "hi": "hindi", "pl": "polish", "sv": "swedish", "tr": "turkish"}


def language_name(code: str | None) -> str:
    return LANGUAGE_NAMES.get((code or "en").lower(), (code or "en").lower())
