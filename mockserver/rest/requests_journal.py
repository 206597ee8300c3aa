"""What a scope keeps of its REST requests: the journal of requests, and what the request-based audio
endpoints remember between requests (the scenario's responder, which scripted user audio comes next, the
audio of chat answers a later request may refer to by id).

A journal entry is `{"id", "t", "method", "path", "model", "status", "stream", "request", "response"}`:
`request` and `response` summarise the bodies without audio (file uploads, base64 audio and binary
bodies become `{"audio_bytes": n}`-like summaries), so a journal stays small and readable. A streamed
response's entry is completed when its stream ends (`response` then says how many chunks and bytes went
out). A scope keeps its last MAX_ENTRIES requests.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_ENTRIES = 1000  # per scope: the oldest go first
# Keys whose string values are base64 audio in the JSON bodies of these endpoints (chat `input_audio.data`,
# `message.audio.data`, streamed `delta.audio.data`, `speech.audio.delta`'s `audio`).
AUDIO_KEYS = ("data", "audio")


def without_audio(value: Any, key: str = "") -> Any:
    """A JSON value with every base64 audio string replaced by `{"base64_bytes": <its length>}`."""
    if isinstance(value, Mapping):
        return {k: without_audio(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [without_audio(v, key) for v in value]
    if isinstance(value, str) and key in AUDIO_KEYS and len(value) > 64:
        return {"base64_bytes": len(value)}
    return value


@dataclass
class StoredAudio:
    """An assistant answer's audio in Chat Completions, which a later request may refer to by id."""

    transcript: str
    expires_at: int


class RestScope:
    """One scope's REST state (held by `state.Scope`, cleared by its reset)."""

    def __init__(self) -> None:
        self.entries: deque[dict[str, Any]] = deque(maxlen=MAX_ENTRIES)
        self.audio: dict[str, StoredAudio] = {}  # chat answers' audio, by id
        self._ids = itertools.count(1)
        self._responder: Any = None
        self._factory: Callable[[], Any] | None = None
        self._audio_turns = 0  # user audio heard so far (the index into the scenario's `user_audio`)

    def reset(self) -> None:
        self.entries.clear()
        self.audio.clear()
        self._responder, self._factory, self._audio_turns = None, None, 0

    def responder(self, factory: Callable[[], Any]) -> Any:
        """The responder that answers this scope's REST requests: one for as long as the scope's scenario
        stays (a new scenario brings a new one, its rule counts and `user_audio` script afresh)."""
        if self._factory is not factory:
            self._responder, self._factory, self._audio_turns = factory(), factory, 0
        return self._responder

    def scripted_audio(self, factory: Callable[[], Any]) -> tuple[bool, str | None]:
        """Take the next entry of the scenario's `user_audio` script: (True, what it says) while the script
        lasts (None: what the speech codec hears), (False, None) once it is used up."""
        script = getattr(self.responder(factory), "user_audio", None) or ()
        turn, self._audio_turns = self._audio_turns, self._audio_turns + 1
        return (True, script[turn]) if turn < len(script) else (False, None)

    def record(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Add an entry (its `id` is given here); the dict stays live, so a stream can complete it."""
        entry = {"id": f"req_{next(self._ids)}", **entry}
        self.entries.append(entry)
        return entry

    def list(self, path: str | None = None, model: str | None = None) -> list[dict[str, Any]]:
        return [dict(e) for e in self.entries
                if (path is None or e["path"] == path) and (model is None or e.get("model") == model)]
