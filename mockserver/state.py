"""Server-wide state shared by every transport and the admin API.

Everything a test may configure lives in a `Scope`: the scenario, the faults, the id seed, the live
sessions and the journals. A connection or admin request names its scope with the `X-Mock-Scope`
header or the `mock_scope` query parameter (default `default`), so parallel tests on one server do
not see each other. Server mode and in-process mode (tests, the pytest plugin) share this object.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from mockserver.journal import Journal
from mockserver.protocol.clock import Clock, SystemClock
from mockserver.protocol.faults import Fault
from mockserver.protocol.ids import IdSource
from mockserver.protocol.responder import Responder
from mockserver.protocol.responses import Pacing
from mockserver.protocol.session import Limits, Session
from mockserver.protocol.session_config import SESSION_SECONDS
from mockserver.rest.client_secrets import ClientSecret

DEFAULT_SCOPE = "default"
SCOPE_HEADER = "x-mock-scope"
SCOPE_QUERY = "mock_scope"
KEPT_JOURNALS = 200  # per scope: the journals of closed sessions stay readable, the oldest go first


@dataclass
class ServerConfig:
    seed: int = 0
    session_seconds: float = SESSION_SECONDS
    pacing: Pacing = field(default_factory=Pacing)
    ping_interval: float = 20.0  # the live server pings every ~20.3 s (reference 1.1)
    key_is_valid: Callable[[str], bool] = lambda key: True  # any bearer key by default
    admin_token: str | None = None  # None: the admin API answers loopback clients only
    # The retired beta interface (`OpenAI-Beta: realtime=v1`): "reject" it as live does now
    # (`beta_api_shape_disabled`, close 4000), or "shim" it over the GA session (mockserver/beta.py).
    beta: Literal["reject", "shim"] = "reject"


def builtin_scenario() -> Responder:
    """The default "model": the built-in scenario (scenarios/builtin/default.yaml), loaded on first use."""
    from mockserver.scenarios import ScenarioResponder, builtin_default

    return ScenarioResponder(builtin_default())


class Scope:
    def __init__(self, name: str, seed: int, default_responder: Callable[[], Responder]) -> None:
        self.name = name
        self.default_responder = default_responder
        self.responder_factory: Callable[[], Responder] = default_responder
        self.scenario_name: str | None = None
        self.faults: list[Fault] = []
        self.sessions: dict[str, Session] = {}
        self.journals: OrderedDict[str, Journal] = OrderedDict()
        self.seed = seed
        self._seeds = IdSource(seed)
        self._fault_ids = itertools.count(1)

    def reset(self, seed: int | None = None) -> None:
        """Back to a fresh scope: default responder, no faults, journals of closed sessions gone, ids reseeded."""
        if seed is not None:
            self.seed = seed
        self._seeds = IdSource(self.seed)
        self.responder_factory, self.scenario_name = self.default_responder, None
        self.faults.clear()
        for session_id in [s for s in self.journals if s not in self.sessions]:
            del self.journals[session_id]

    def reseed(self, seed: int) -> None:
        """New sessions of this scope draw their ids from `seed` (scenario, faults and journals stay)."""
        self.seed = seed
        self._seeds = IdSource(seed)

    def child_seed(self) -> int:
        return self._seeds.child_seed()

    def add_fault(self, fault: Fault) -> Fault:
        fault.id = fault.id or f"fault_{next(self._fault_ids)}"
        self.faults.append(fault)
        return fault

    def remove_fault(self, fault_id: str) -> bool:
        before = len(self.faults)
        self.faults[:] = [f for f in self.faults if f.id != fault_id]
        return len(self.faults) != before

    def use_responder(self, factory: Callable[[], Responder], name: str | None) -> None:
        self.responder_factory, self.scenario_name = factory, name


class ServerState:
    def __init__(self, config: ServerConfig | None = None, *, clock: Clock | None = None,
                 responder: Callable[[], Responder] = builtin_scenario) -> None:
        self.config = config or ServerConfig()
        self.clock: Clock = clock or SystemClock()
        self.default_responder = responder
        self.scopes: dict[str, Scope] = {}
        # Called with (session, event) for every server event a transport sends.
        self.observers: list[Callable[[Session, dict[str, Any]], None]] = []
        self._wakers: dict[str, Callable[[], None]] = {}  # session id -> wake its transport
        self.client_secrets: dict[str, ClientSecret] = {}  # ek_ value -> what it was minted for

    @property
    def sessions(self) -> dict[str, Session]:
        """Live sessions of every scope."""
        return {sid: s for scope in self.scopes.values() for sid, s in scope.sessions.items()}

    def scope(self, name: str | None = None) -> Scope:
        name = name or DEFAULT_SCOPE
        if name not in self.scopes:
            self.scopes[name] = Scope(name, self.config.seed, self.default_responder)
        return self.scopes[name]

    def reset(self, seed: int | None = None) -> None:
        for scope in self.scopes.values():
            scope.reset(seed)

    def open_session(self, model: str, scope_name: str | None = None, kind: str = "realtime",
                     initial: dict[str, Any] | None = None) -> tuple[Session, Journal]:
        """A new session ("realtime", or "transcription" for `?intent=transcription`) in a scope,
        configured with `initial` (a client secret's session) before `session.created`."""
        scope = self.scope(scope_name)
        session = Session(model=model, ids=IdSource(scope.child_seed()), clock=self.clock,
                          responder=scope.responder_factory(), kind=kind, initial=initial,
                          limits=Limits(session_seconds=self.config.session_seconds, pacing=self.config.pacing))
        session_id = session.config["id"]
        scope.sessions[session_id] = session
        journal = Journal(session_id, model, scope.name, self.clock.now())
        scope.journals[session_id] = journal
        while len(scope.journals) > KEPT_JOURNALS:
            oldest = next(iter(scope.journals))
            if oldest in scope.sessions:
                break
            del scope.journals[oldest]
        return session, journal

    def close_session(self, session: Session, journal: Journal, code: int | None = None) -> None:
        scope = self.scope(journal.scope)
        scope.sessions.pop(session.config["id"], None)
        journal.closed, journal.close_code = self.clock.now(), code

    def find(self, session_id: str) -> tuple[Scope, Session | None, Journal] | None:
        for scope in self.scopes.values():
            if session_id in scope.journals:
                return scope, scope.sessions.get(session_id), scope.journals[session_id]
        return None

    def secret(self, key: str) -> ClientSecret | None:
        """The client secret behind an `ek_` key, while it has not expired."""
        found = self.client_secrets.get(key)
        return found if found is not None and self.clock.now() < found.expires_at else None

    def key_is_valid(self, key: str) -> bool:
        """Ephemeral keys must have been minted here and not have expired; other keys as configured."""
        return self.secret(key) is not None if key.startswith("ek_") else self.config.key_is_valid(key)

    def register_waker(self, session_id: str, wake: Callable[[], None] | None) -> None:
        if wake is None:
            self._wakers.pop(session_id, None)
        else:
            self._wakers[session_id] = wake

    def inject(self, session_id: str, event: dict[str, Any]) -> dict[str, Any] | None:
        """Send a server event into a live session now; None when there is no such live session."""
        found = self.find(session_id)
        if found is None or found[1] is None:
            return None
        sent = found[1].inject(event)
        self._wakers.get(session_id, lambda: None)()
        return sent

    def observe(self, session: Session, event: dict[str, Any]) -> None:
        for observer in self.observers:
            observer(session, event)
