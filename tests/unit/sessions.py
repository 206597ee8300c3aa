"""Helpers for driving a sans-I/O Session in tests: a fake clock, seeded ids, schema checks."""

from __future__ import annotations

import json
from typing import Any

from mockserver import schema_store
from mockserver.protocol.clock import Clock, FakeClock
from mockserver.protocol.ids import IdSource
from mockserver.protocol.realtime import RealtimeSession
from mockserver.protocol.responder import Responder
from mockserver.protocol.responses import Pacing
from mockserver.protocol.session import Limits
from mockserver.protocol.transcription_session import TranscriptionSession


def realtime_session(seed: int = 7, clock: Clock | None = None, **options: Any) -> RealtimeSession:
    return RealtimeSession(model=options.pop("model", "gpt-realtime"), ids=IdSource(seed), clock=clock or FakeClock(),
                           schemas=schema_store.schemas(), **options)


def transcription_session(seed: int = 3, clock: Clock | None = None, **options: Any) -> TranscriptionSession:
    return TranscriptionSession(ids=IdSource(seed), clock=clock or FakeClock(), schemas=schema_store.schemas(),
                                **options)


class Driver:
    """A session plus everything it sent; every server event is checked against schemas/."""

    def __init__(self, responder: Responder | None = None, *, pacing: Pacing | None = None,
                 session_seconds: float = 3600, seed: int = 7, session: Any = None, clock: FakeClock | None = None,
                 family: str = "realtime/server") -> None:
        """A realtime session made here, or `session` (made on `clock`) whose events are of schema `family`."""
        self.clock = clock or FakeClock()
        self.session: Any = session if session is not None else realtime_session(
            seed, self.clock, responder=responder, limits=Limits(session_seconds=session_seconds,
                                                                 pacing=pacing or Pacing()))
        self.family = family
        self.sent: list[dict[str, Any]] = []
        self.pump()

    def send(self, event: dict[str, Any] | str | bytes) -> list[dict[str, Any]]:
        frame = event if isinstance(event, (str, bytes)) else json.dumps(event)
        self.session.receive_frame(frame)
        return self.pump()

    def pump(self, limit: int = 100_000) -> list[dict[str, Any]]:
        out = self.session.poll(limit)
        for event in out:
            problems = schema_store.shape_errors(self.family, event)
            assert not problems, (event["type"], problems)
        self.sent += out
        return out

    def text_mode(self) -> None:
        self.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})

    def say(self, text: str, **extra: Any) -> list[dict[str, Any]]:
        return self.send({"type": "conversation.item.create", **extra, "item": {
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}})


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def collapse(names: list[str]) -> list[str]:
    """Event types with runs of the same delta type folded into one."""
    out: list[str] = []
    for name in names:
        if not (name.endswith(".delta") and out and out[-1] == name):
            out.append(name)
    return out


def errors_of(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["error"] for e in events if e["type"] == "error"]
