"""A session's journal: every client frame and server event, with the time since the session began.

Frames are kept as they crossed the wire (text), so recording costs no parsing; `entries` parses them
when someone reads the journal. A journal is bounded in entries and in bytes: the oldest go first.
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
    _frames: deque[tuple[float, str, str | bytes]] = field(default_factory=deque)
    _bytes: int = 0

    def client(self, now: float, frame: str | bytes) -> None:
        self._add(now, "client", frame)

    def server(self, now: float, frames: list[str]) -> None:
        for frame in frames:
            self._add(now, "server", frame)

    @property
    def entries(self) -> list[dict[str, Any]]:
        """Every entry as `{"t", "direction", "event"}`, the event parsed (or described, when it is not JSON)."""
        return [{"t": t, "direction": direction, "event": _parsed(frame)} for t, direction, frame in self._frames]

    def __len__(self) -> int:
        return len(self._frames)

    def _add(self, now: float, direction: str, frame: str | bytes) -> None:
        self._frames.append((round(now - self.started, 6), direction, frame))
        self._bytes += len(frame)
        while len(self._frames) > MAX_ENTRIES or (self._bytes > MAX_BYTES and len(self._frames) > 1):
            self._bytes -= len(self._frames.popleft()[2])
            self.dropped += 1

    def summary(self) -> dict[str, Any]:
        return {"id": self.session_id, "model": self.model, "scope": self.scope, "started": self.started,
                "closed": self.closed, "close_code": self.close_code, "entries": len(self._frames),
                "dropped": self.dropped}


def _parsed(frame: str | bytes) -> Any:
    if isinstance(frame, bytes):
        return {"binary_frame_bytes": len(frame)}
    try:
        return json.loads(frame)
    except (ValueError, RecursionError):
        return {"unparsed_text": frame[:10_000]}
