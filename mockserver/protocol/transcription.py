"""Input audio transcription: the `conversation.item.input_audio_transcription.*` events of one user
audio item, per model family (reference 4(g)):

- `whisper-1`: one delta holding the whole transcript, then `completed` (usage by duration);
- `gpt-4o-transcribe`, `gpt-4o-mini-transcribe` (and other models): word-piece deltas after the commit,
  then `completed` (usage in tokens);
- streaming models (`gpt-realtime-whisper`, `gpt-live-transcribe`): deltas as the audio arrives, a word
  at a time, `delay` behind it (input_audio.py sends those, with or without turn detection), the rest
  after the commit; `completed` comes once the turn's response has added its first output item (live
  recording `openai_ws.test_audio_in_server_vad_turn`); usage by duration.

A `TranscriptionRun` streams like a response (the session interleaves the two), because live
transcription is asynchronous: it "may arrive before, during or after the response events".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from mockserver.protocol.ids import IdSource
from mockserver.protocol.tokens import count_tokens, tokens

STREAMING_MODELS = ("gpt-realtime-whisper", "gpt-live-transcribe")
# How far behind the audio a streaming model sends a word, by `transcription.delay` ("Controls how long
# the model waits before emitting transcription text", SDK 3.51.0; the values are the mock's own).
DELAY_MS = {"minimal": 0, "low": 200, "medium": 400, "high": 800, "xhigh": 1600}
DEFAULT_DELAY = "medium"
AUDIO_TOKENS_PER_SECOND = 10


def is_streaming(model: str | None) -> bool:
    return bool(model) and str(model).startswith(STREAMING_MODELS)


def logprobs_of(text: str) -> list[dict[str, Any]]:
    """Deterministic log-probabilities, one per token (the mock is sure of what its codec carried)."""
    return [{"token": piece, "logprob": -0.0001 * (1 + index % 7), "bytes": list(piece.encode("utf-8"))}
            for index, piece in enumerate(tokens(text))]


class TranscriptionRun:
    def __init__(self, *, item_id: str, transcript: str, seconds: float, model: str, with_logprobs: bool,
                 ids: IdSource, already_sent: str = "") -> None:
        # Set by the session: `completed` waits until this says so (the turn's response has begun).
        self.completed_after: Callable[[], bool] | None = None
        self.item_id = item_id
        self.transcript = transcript
        self._model = model
        self._seconds = seconds
        self._logprobs = with_logprobs
        self._ids = ids
        rest = transcript[len(already_sent):] if transcript.startswith(already_sent) else transcript
        if model.startswith("whisper-1"):
            pieces = [transcript] if transcript else []
        elif is_streaming(model):
            pieces = tokens(rest)
        else:
            pieces = tokens(transcript)
        self._events = [self._delta(piece) for piece in pieces] + [self._completed()]
        self.due_at = 0.0
        self.stalled = False
        self.finished = False

    def release(self, now: float, limit: int) -> list[dict[str, Any]]:
        waiting = self.completed_after is not None and not self.completed_after()
        ready = len(self._events) - 1 if waiting else len(self._events)  # `completed` is the last event
        out, self._events = self._events[:min(limit, ready)], self._events[min(limit, ready):]
        self.finished = not self._events
        self.stalled = waiting and len(self._events) == 1  # nothing due until the response begins
        return out

    def sync(self) -> None:
        """Nothing stored is in flight: the item's transcript was set at the commit."""

    def _delta(self, piece: str) -> dict[str, Any]:
        return delta_event(self._ids, self.item_id, piece, self._logprobs)

    def _completed(self) -> dict[str, Any]:
        event: dict[str, Any] = {"type": "conversation.item.input_audio_transcription.completed",
                                 "event_id": self._ids.event(), "item_id": self.item_id, "content_index": 0,
                                 "transcript": self.transcript, "usage": self._usage()}
        if self._logprobs:
            event["logprobs"] = logprobs_of(self.transcript)
        return event

    def _usage(self) -> dict[str, Any]:
        if self._model.startswith("whisper-1") or is_streaming(self._model):
            return {"type": "duration", "seconds": math.ceil(self._seconds)}
        audio = max(1, round(self._seconds * AUDIO_TOKENS_PER_SECOND))
        output = count_tokens(self.transcript)
        return {"type": "tokens", "total_tokens": audio + output, "input_tokens": audio,
                "input_token_details": {"text_tokens": 0, "audio_tokens": audio}, "output_tokens": output}


def delta_event(ids: IdSource, item_id: str, piece: str, with_logprobs: bool) -> dict[str, Any]:
    """One transcription delta (also sent while the audio still arrives, for streaming models)."""
    event: dict[str, Any] = {"type": "conversation.item.input_audio_transcription.delta", "event_id": ids.event(),
                             "item_id": item_id, "content_index": 0, "delta": piece}
    if with_logprobs:
        event["logprobs"] = logprobs_of(piece)
    event["obfuscation"] = ids.obfuscation()
    return event


def failed(ids: IdSource, item_id: str) -> dict[str, Any]:
    """The audio carried nothing to transcribe (used when the server is told to fail such audio)."""
    return {"type": "conversation.item.input_audio_transcription.failed", "event_id": ids.event(),
            "item_id": item_id, "content_index": 0,
            "error": {"type": "transcription_error", "code": "audio_unintelligible",
                      "message": "Audio is unintelligible.", "param": None}}
