"""A session's journal: every client frame and server event, with the time since the session began.

Frames are kept as they crossed the wire (UTF-8 JSON text), so recording costs no parsing; `entries`
parses them when someone reads the journal. The frames sent at one time are kept joined in one bytes
object with their lengths: thousands of small buffers kept alive make the allocator touch fresh memory
for each new one (measured: a page fault per event, 2 us of server CPU), one per batch does not. When
the session has been quiet for a while the runtime `compact`s the journal: what it holds so far is
compressed into one segment (JSON compresses about five times; an idle session keeps little). A
journal is bounded in entries and in bytes: the oldest go first.
"""

from __future__ import annotations

import json
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

Batch = tuple[float, str, bytes, tuple[int, ...]]  # (t, direction, frames joined, their lengths)


@dataclass(frozen=True)
class _Segment:
    """Batches compressed together: their frames in one zlib blob, and each batch without its data."""

    blob: bytes
    batches: tuple[tuple[float, str, tuple[int, ...]], ...]
    count: int

    def unpacked(self) -> list[Batch]:
        data, at, out = zlib.decompress(self.blob), 0, []
        for t, direction, lengths in self.batches:
            size = sum(lengths)
            out.append((t, direction, data[at:at + size], lengths))
            at += size
        return out

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
    kind: str = "realtime"  # the session type: realtime, transcription, translation
    safety_identifier: str | None = None  # `OpenAI-Safety-Identifier` of the handshake (or of its client secret)
    call_id: str | None = None  # the WebRTC or SIP call the session belongs to
    dropped: int = 0  # entries let go to stay within the bounds
    # The frames sent (or received) at one time, as UTF-8 JSON, oldest first; older ones maybe compressed.
    _batches: deque[Batch | _Segment] = field(default_factory=deque)
    _loose: int = 0  # batches at the end not compressed yet
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
        for record in self._batches:
            for t, direction, data, lengths in record.unpacked() if isinstance(record, _Segment) else (record,):
                at = 0
                for length in lengths:
                    found.append({"t": t, "direction": direction, "event": _parsed(data[at:at + length])})
                    at += length
        return found

    def compact(self) -> None:
        """Compress the batches not compressed yet into one segment (a quiet session keeps little)."""
        if not self._loose:
            return
        loose = [record for record in (self._batches.pop() for _ in range(self._loose))
                 if not isinstance(record, _Segment)][::-1]  # the loose ones are batches
        raw = sum(len(data) for _, _, data, _ in loose)
        segment = _Segment(zlib.compress(b"".join(data for _, _, data, _ in loose), 1),
                           tuple((t, direction, lengths) for t, direction, _, lengths in loose),
                           sum(len(lengths) for _, _, _, lengths in loose))
        self._batches.append(segment)
        self._loose = 0
        self._bytes += len(segment.blob) - raw

    def __len__(self) -> int:
        return self._count

    def _add(self, now: float, direction: str, data: bytes, lengths: tuple[int, ...]) -> None:
        self._batches.append((round(now - self.started, 6), direction, data, lengths))
        self._loose += 1
        self._count += len(lengths)
        self._bytes += len(data)
        if self._count > MAX_ENTRIES or self._bytes > MAX_BYTES:
            self._trim()

    def _trim(self) -> None:
        while (self._count > MAX_ENTRIES or self._bytes > MAX_BYTES) and len(self._batches) > 1:
            record = self._batches.popleft()
            if isinstance(record, _Segment):
                count, size = record.count, len(record.blob)
            else:
                count, size = len(record[3]), len(record[2])
                self._loose = min(self._loose, len(self._batches))
            self._count -= count
            self._bytes -= size
            self.dropped += count

    @property
    def size(self) -> int:
        """The bytes it holds (frame text, or compressed frame text)."""
        return self._bytes

    def summary(self) -> dict[str, Any]:
        return {"id": self.session_id, "type": self.kind, "model": self.model, "scope": self.scope,
                "safety_identifier": self.safety_identifier, "call_id": self.call_id, "started": self.started,
                "closed": self.closed, "close_code": self.close_code, "entries": self._count,
                "dropped": self.dropped}


def _parsed(frame: bytes) -> Any:
    text = frame.decode("utf-8", "surrogatepass")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return {"unparsed_text": text[:10_000]}
