"""A session's journal: every client frame and server event, with the time since the session began.

Frames are kept as they crossed the wire (UTF-8 JSON text), so recording costs no parsing; `entries`
parses them when someone reads the journal. The frames sent at one time are kept joined in one bytes
object with their lengths: thousands of small buffers kept alive make the allocator touch fresh memory
for each new one (measured: a page fault per event, 2 us of server CPU), one per batch does not. A
journal is bounded in entries and in bytes: the oldest go first.
"""
from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

MAX_ENTRIES = 50_000  # per session
MAX_BYTES = 16 * 1024 * 1024  # per session: frame text (audio included)


@dataclass
class Journal:
    session_id: str
    model: str
    scope: str
    started: float
    closed: float | None = None
    close_code: int | None = None
    dropped: int = 0  # entries let go to stay within the bounds
    # (t, direction, frames joined, their lengths): the frames sent (or received) at one time, as UTF-8 JSON
    _batches: deque[tuple[float, str, bytes, tuple[int, ...]]] = field(default_factory=deque)
    _count: int = 0
    _bytes: int = 0

    def client(self, now: float, frame: str | bytes) -> None:
        """A client frame: text as it came; a binary frame (an error live) described by its size."""
        data = frame.encode("utf-8", "surrogatepass") if isinstance(frame, str) else (
            b'{"binary_frame_bytes":%d}' % len(frame))
        self._add(now, "client", data, (len(data),))

    def server(self, now: float, frames: list[bytes]) -> None:
        """Server events sent together (one time for all)."""
        # Joined, or copied when alone (`join` hands a lone item back, and an encoder's buffer may be larger
        # than its frame: a kept buffer should be exactly the frame).
        data = b"".join(frames) if len(frames) > 1 else bytes(memoryview(frames[0]))
        self._add(now, "server", data, tuple(map(len, frames)))

    @property
    def entries(self) -> list[dict[str, Any]]:
        """Every entry as `{"t", "direction", "event"}`, the event parsed (or described, when it is not JSON)."""
        found = []
        for t, direction, data, lengths in self._batches:
            at = 0
            for length in lengths:
                found.append({"t": t, "direction": direction, "event": _parsed(data[at:at + length])})
                at += length
        return found

    def __len__(self) -> int:
        return self._count

    def _add(self, now: float, direction: str, data: bytes, lengths: tuple[int, ...]) -> None:
        self._batches.append((round(now - self.started, 6), direction, data, lengths))
        self._count += len(lengths)
        self._bytes += len(data)
        if self._count > MAX_ENTRIES or self._bytes > MAX_BYTES:
            self._trim()

    def _trim(self) -> None:
        while (self._count > MAX_ENTRIES or self._bytes > MAX_BYTES) and len(self._batches) > 1:
            _, _, data, lengths = self._batches.popleft()
            self._count -= len(lengths)
            self._bytes -= len(data)
            self.dropped += len(lengths)

    @property
    def size(self) -> int:
        """The bytes of frame text it holds."""
        return self._bytes

    def summary(self) -> dict[str, Any]:
        return {"id": self.session_id, "model": self.model, "scope": self.scope, "started": self.started,
                "closed": self.closed, "close_code": self.close_code, "entries": self._count,
                "dropped": self.dropped}


def _parsed(frame: bytes) -> Any:
    text = frame.decode("utf-8", "surrogatepass")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return {"unparsed_text": text[:10_000]}
