"""Server-wide state shared by every transport: configuration, live sessions, the id seed.

Server mode and in-process mode (tests, the pytest plugin) share this one object; later the admin
API resets and seeds it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mockserver.protocol.clock import Clock, SystemClock
from mockserver.protocol.ids import IdSource
from mockserver.protocol.responder import EchoResponder, Responder
from mockserver.protocol.responses import Pacing
from mockserver.protocol.session import Limits, Session
from mockserver.protocol.session_config import SESSION_SECONDS


@dataclass
class ServerConfig:
    seed: int = 0
    session_seconds: float = SESSION_SECONDS
    pacing: Pacing = field(default_factory=Pacing)
    ping_interval: float = 20.0  # the live server pings every ~20.3 s (reference 1.1)
    key_is_valid: Callable[[str], bool] = lambda key: True  # any bearer key by default


class ServerState:
    def __init__(self, config: ServerConfig | None = None, *, clock: Clock | None = None,
                 responder: Callable[[], Responder] = EchoResponder) -> None:
        self.config = config or ServerConfig()
        self.clock: Clock = clock or SystemClock()
        self.responder_factory = responder
        self.sessions: dict[str, Session] = {}
        # Called with (session, event) for every server event a transport sends (tests, the journal).
        self.observers: list[Callable[[Session, dict[str, Any]], None]] = []
        self._seeds = IdSource(self.config.seed)

    def reset(self, seed: int | None = None) -> None:
        if seed is not None:
            self.config.seed = seed
        self._seeds = IdSource(self.config.seed)

    def open_session(self, model: str) -> Session:
        session = Session(model=model, ids=IdSource(self._seeds.child_seed()), clock=self.clock,
                          responder=self.responder_factory(),
                          limits=Limits(session_seconds=self.config.session_seconds, pacing=self.config.pacing))
        self.sessions[session.config["id"]] = session
        return session

    def close_session(self, session: Session) -> None:
        self.sessions.pop(session.config["id"], None)

    def observe(self, session: Session, event: dict[str, Any]) -> None:
        for observer in self.observers:
            observer(session, event)
