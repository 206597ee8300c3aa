"""The server's playback of answers on a call (WebRTC, SIP): audio goes to the call's media track, not to
the client as `response.output_audio.delta` events (reference 2.2, 4(c); transports.md 1.3).

`OutputAudioBuffer.filter` takes the events a session released: it keeps every audio delta's PCM for the
track (the transport `read`s it at the rate it plays) and drops the delta; the first audio of a response
becomes `output_audio_buffer.started`. Playback runs on the session's clock: each chunk plays after the
ones before it, so `output_audio_buffer.stopped` is due when the last chunk of a finished response has
played (after `response.done` and `rate_limits.updated`, as the live sideband recording shows).
`clear` (the client's `output_audio_buffer.clear`, or a barge-in) drops what has not played and answers
`output_audio_buffer.cleared`.

Translation sessions on a call use it without the announcements: their audio only goes to the track.
"""

from __future__ import annotations

import base64
from collections import deque
from collections.abc import Callable
from typing import Any

from mockserver.audio import formats
from mockserver.protocol.clock import Clock
from mockserver.protocol.ids import IdSource

PCM_BYTES_PER_SECOND = 48_000  # PCM16 24 kHz mono: what the track is fed
AUDIO_DELTAS = ("response.output_audio.delta", "session.output_audio.delta")


class OutputAudioBuffer:
    def __init__(self, clock: Clock, ids: IdSource, output_format: Callable[[], dict[str, Any] | None], *,
                 announce: bool = True) -> None:
        self._clock = clock
        self._ids = ids
        self._output_format = output_format  # the session's `audio.output.format` (deltas are encoded in it)
        self._announce = announce  # realtime sessions say started/stopped/cleared; translation sessions do not
        self._chunks: deque[bytes] = deque()  # PCM16 24 kHz not yet read by the track
        self._offset = 0  # bytes of the first chunk already read
        self.playing: str | None = None  # the response whose audio is in the buffer
        self._plays_until = 0.0  # clock time the queued audio has played out
        self._produced_all = False  # the playing response is done: `stopped` is due when its audio has played
        self._queued_ms = 0.0  # the playing response's audio so far

    # -- what the session does with it --------------------------------------------------------------

    def filter(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The events for the client: audio deltas taken for the track (the first one of a response
        announced), the rest as they are."""
        if not any(e["type"] in AUDIO_DELTAS or e["type"] == "response.done" for e in events):
            return events
        now = self._clock.now()
        out: list[dict[str, Any]] = []
        for event in events:
            kind = event["type"]
            if kind in AUDIO_DELTAS:
                started = self._take(event, now)
                if started is not None:
                    out.append(started)
                continue
            if kind == "response.done" and event["response"]["id"] == self.playing:
                self._produced_all = True
            out.append(event)
        return out

    def poll(self) -> list[dict[str, Any]]:
        """`output_audio_buffer.stopped` once a finished response's audio has played."""
        if self.playing is None or not self._produced_all or self._clock.now() < self._plays_until:
            return []
        response_id, self.playing = self.playing, None
        self._produced_all = False
        return [self._event("output_audio_buffer.stopped", response_id)] if self._announce else []

    def next_due(self) -> float | None:
        return self._plays_until if self.playing is not None and self._produced_all else None

    def clear(self) -> list[dict[str, Any]]:
        """Cut the audio that has not played (`output_audio_buffer.clear`, or the user speaking over it)."""
        response_id, self.playing = self.playing, None
        self._chunks.clear()
        self._offset = 0
        self._plays_until = self._clock.now()
        self._produced_all = False
        if not self._announce or response_id is None:
            return []
        return [self._event("output_audio_buffer.cleared", response_id)]

    @property
    def played_ms(self) -> float:
        """How much of the playing response's audio has played (for truncating it on a barge-in)."""
        left = max(0.0, self._plays_until - self._clock.now())
        return max(0.0, self._queued_ms - left * 1000)

    # -- what the transport does with it ------------------------------------------------------------

    def read(self, size: int) -> bytes:
        """Up to `size` bytes of PCM16 24 kHz to play now (fewer, or none, when the buffer runs dry)."""
        out = bytearray()
        while self._chunks and len(out) < size:
            chunk = self._chunks[0]
            take = chunk[self._offset:self._offset + size - len(out)]
            out += take
            self._offset += len(take)
            if self._offset >= len(chunk):
                self._chunks.popleft()
                self._offset = 0
        return bytes(out)

    # -- inside -------------------------------------------------------------------------------------

    def _take(self, event: dict[str, Any], now: float) -> dict[str, Any] | None:
        fmt = formats.format_of(self._output_format()) if event["type"] == "response.output_audio.delta" \
            else "audio/pcm"  # a translation's deltas are PCM16 24 kHz
        from mockserver.audio import codecs  # numpy: loaded with the first call, not at start-up

        pcm = codecs.decode(base64.b64decode(event["delta"]), fmt)
        response_id = event.get("response_id")
        started = None
        if self.playing is None or (response_id is not None and response_id != self.playing):
            self.playing = response_id or "translation"
            self._produced_all = False
            self._queued_ms = 0.0
            if self._announce and response_id is not None:
                started = self._event("output_audio_buffer.started", response_id)
        self._plays_until = max(self._plays_until, now) + len(pcm) / PCM_BYTES_PER_SECOND
        self._queued_ms += len(pcm) / PCM_BYTES_PER_SECOND * 1000
        self._chunks.append(pcm)
        return started

    def _event(self, kind: str, response_id: str) -> dict[str, Any]:
        return {"type": kind, "event_id": self._ids.event(), "response_id": response_id}
