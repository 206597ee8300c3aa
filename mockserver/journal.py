"""A session's journal: every client frame and server event, with the time since the session began."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

MAX_ENTRIES = 50_000  # per session; the oldest go first


@dataclass
class Journal:
    session_id: str
    model: str
    scope: str
    started: float
    closed: float | None = None
    close_code: int | None = None
    entries: list[dict[str, Any]] = field(default_factory=list)

    def client(self, now: float, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            event: Any = {"binary_frame_bytes": len(frame)}
        else:
            try:
                event = json.loads(frame)
            except ValueError:
                event = {"unparsed_text": frame[:10_000]}
        self._add(now, "client", event)

    def server(self, now: float, event: dict[str, Any]) -> None:
        self._add(now, "server", event)

    def _add(self, now: float, direction: str, event: Any) -> None:
        self.entries.append({"t": round(now - self.started, 6), "direction": direction, "event": event})
        if len(self.entries) > MAX_ENTRIES:
            del self.entries[: len(self.entries) - MAX_ENTRIES]

    def summary(self) -> dict[str, Any]:
        return {"id": self.session_id, "model": self.model, "scope": self.scope, "started": self.started,
                "closed": self.closed, "close_code": self.close_code, "entries": len(self.entries)}
