"""Server-wide state shared by every transport and the admin API.

Everything a test may configure lives in a `Scope`: the scenario, the faults, the id seed, the live
sessions and the journals. A connection or admin request names its scope with the `X-Mock-Scope`
header or the `mock_scope` query parameter (default `default`), so parallel tests on one server do
not see each other. Server mode and in-process mode (tests, the pytest plugin) share this object.

Live sessions are `SessionRuntime`s (runtime/), opened here and found through the `Registry`.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mockserver import schema_store
from mockserver.journal import Journal
from mockserver.protocol.clock import Clock, SystemClock
from mockserver.protocol.faults import Fault
from mockserver.protocol.ids import IdSource
from mockserver.protocol.realtime import RealtimeSession
from mockserver.protocol.responder import Responder
from mockserver.protocol.responses import Pacing
from mockserver.protocol.session import Limits
from mockserver.protocol.session_config import SESSION_SECONDS
from mockserver.protocol.transcription_session import TranscriptionSession
from mockserver.protocol.translation import TranslationSession
from mockserver.rest.requests_journal import RestScope
from mockserver.runtime import Registry, SessionRuntime

if TYPE_CHECKING:
    from mockserver.scenarios import Scenario

DEFAULT_SCOPE = "default"
SCOPE_HEADER = "x-mock-scope"
SCOPE_QUERY = "mock_scope"
SAFETY_HEADER = "openai-safety-identifier"  # the end user an app vouches for (reference 1.2; kept, not judged)
# The journals of closed sessions stay readable, over all scopes, up to these bounds (the oldest go first).
KEPT_JOURNALS = 1000
KEPT_JOURNAL_BYTES = 64 * 1024 * 1024


@dataclass
class ServerConfig:
    seed: int = 0
    session_seconds: float = SESSION_SECONDS
    pacing: Pacing = field(default_factory=Pacing)
    ping_interval: float = 20.0  # the live server pings every ~20.3 s (reference 1.1)
    key_is_valid: Callable[[str], bool] = lambda key: True  # any bearer key by default
    admin_token: str | None = None  # None: the admin API answers loopback clients only
    # Names the admin API also answers as (its `Host`), besides localhost, loopback and its own address:
    # e.g. a Docker service name. Other names are refused, so a web page cannot rebind its DNS to the mock.
    admin_hosts: tuple[str, ...] = ()
    # Folders `PUT /_mock/scenario {"path": ...}` may read files in (None: the working directory at start).
    scenario_dirs: tuple[str | Path, ...] | None = None
    # The retired beta interface (`OpenAI-Beta: realtime=v1`): "reject" it as live does now
    # (`beta_api_shape_disabled`, close 4000), or "shim" it over the GA session (mockserver/beta.py).
    beta: Literal["reject", "shim"] = "reject"
    # permessage-deflate costs ~50 KiB per session and ~14 us per event, and the official SDKs do not
    # ask for it; `serve --permessage-deflate` offers it.
    per_message_deflate: bool = False
    # A client that does not read: while the bytes waiting to be sent to it exceed `write_buffer_bytes`,
    # nothing more is released or read; after `slow_reader_seconds` of that, its connection is closed 1008.
    write_buffer_bytes: int = 1024 * 1024
    slow_reader_seconds: float = 30.0
    # SIP calls (transports/sip.py): the UDP port INVITEs come in on (None: no SIP endpoint; the mock's own
    # simulated callers then open one on loopback when first used), and where `realtime.call.incoming` goes,
    # signed with `webhook_secret` (`whsec_...`). A scope may name its own (`PUT /_mock/webhook`).
    sip_port: int | None = None
    sip_host: str = "127.0.0.1"
    webhook_url: str | None = None
    webhook_secret: str | None = None


@dataclass(frozen=True)
class ClientSecret:
    """What an `ek_` key was minted for (rest/client_secrets.py)."""

    value: str
    expires_at: float
    kind: str  # "realtime" | "transcription" | "translation"
    model: str | None
    session: dict[str, Any]  # the session configuration asked for, as a session.update would carry it
    safety_identifier: str | None = None  # `OpenAI-Safety-Identifier` of the request that minted it


def builtin_scenario() -> Responder:
    """The default "model": the built-in scenario (scenarios/builtin/default.yaml), loaded on first use."""
    from mockserver.scenarios import ScenarioResponder, builtin_default

    return ScenarioResponder(builtin_default())


def scenario_responder(scenario: Scenario) -> Callable[[], Responder]:
    """A responder per session for a scenario (each counts which of its rules answered)."""
    from mockserver.scenarios import ScenarioResponder

    return lambda: ScenarioResponder(scenario)


@dataclass
class Defaults:
    """What every scope starts with and returns to on reset: the server's responder, its scenario's faults."""

    responder: Callable[[], Responder]
    scenario_name: str | None = None
    faults: tuple[dict[str, Any], ...] = ()


class Scope:
    def __init__(self, name: str, seed: int, defaults: Defaults) -> None:
        self.name = name
        self._defaults = defaults
        self.responder_factory: Callable[[], Responder] = defaults.responder
        self.scenario_name: str | None = defaults.scenario_name
        self.faults: list[Fault] = []
        self.sessions: dict[str, SessionRuntime] = {}  # live ones
        self.journals: OrderedDict[str, Journal] = OrderedDict()
        self.seed = seed
        self._seeds = IdSource(seed)
        self._fault_ids = itertools.count(1)
        self.rest = RestScope()  # REST requests: their journal, and what the audio endpoints remember
        self.webhook: tuple[str, str] | None = None  # this scope's (url, secret) for SIP calls (else the server's)
        self._add_default_faults()

    def reset(self, seed: int | None = None) -> None:
        """Back to the server's defaults (responder, faults), journals of closed sessions gone, ids reseeded."""
        if seed is not None:
            self.seed = seed
        self._seeds = IdSource(self.seed)
        self.responder_factory, self.scenario_name = self._defaults.responder, self._defaults.scenario_name
        self.faults.clear()
        self._add_default_faults()
        for session_id in [s for s in self.journals if s not in self.sessions]:
            del self.journals[session_id]
        self.rest.reset()
        self.webhook = None

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

    def use_scenario(self, scenario: Scenario) -> list[Fault]:
        """The one way a scenario is applied: it answers new sessions, and its faults are switched on.
        Raises ValueError (and changes nothing) when one of its faults is invalid."""
        faults = [Fault.from_dict(dict(spec)) for spec in scenario.faults]
        self.responder_factory, self.scenario_name = scenario_responder(scenario), scenario.name
        return [self.add_fault(fault) for fault in faults]

    def use_default_responder(self) -> None:
        self.responder_factory, self.scenario_name = self._defaults.responder, self._defaults.scenario_name

    def _add_default_faults(self) -> None:
        for spec in self._defaults.faults:
            self.add_fault(Fault.from_dict(dict(spec)))


class ServerState:
    def __init__(self, config: ServerConfig | None = None, *, clock: Clock | None = None,
                 responder: Callable[[], Responder] = builtin_scenario) -> None:
        self.config = config or ServerConfig()
        self.limits = Limits(session_seconds=self.config.session_seconds, pacing=self.config.pacing)
        self.clock: Clock = clock or SystemClock()
        self.defaults = Defaults(responder)
        self.scopes: dict[str, Scope] = {}
        self.registry = Registry()
        # Called with (session, event) for every server event a transport sends.
        self.observers: list[Callable[[Any, dict[str, Any]], None]] = []
        self.calls: dict[str, Any] = {}  # live WebRTC and SIP calls by call id (transports/webrtc.py, sip.py)
        self.sip: Any = None  # the SIP endpoint, once one listens (transports/sip.py)
        self.client_secrets: dict[str, ClientSecret] = {}  # ek_ value -> what it was minted for
        self._closed: deque[tuple[Scope, Journal]] = deque()  # journals of closed sessions, oldest first
        self._closed_bytes = 0

    @property
    def sessions(self) -> dict[str, Any]:
        """Live sessions of every scope (the session kinds, by session id)."""
        return {runtime.session_id: runtime.core for runtime in self.registry.all()}

    def scope(self, name: str | None = None) -> Scope:
        name = name or DEFAULT_SCOPE
        if name not in self.scopes:
            self.scopes[name] = Scope(name, self.config.seed, self.defaults)
        return self.scopes[name]

    def reset(self, seed: int | None = None) -> None:
        for scope in self.scopes.values():
            scope.reset(seed)

    def use_scenario(self, scenario: Scenario) -> None:
        """The server's own scenario (`serve --scenario`): every scope starts with it, now and after a reset."""
        for spec in scenario.faults:
            Fault.from_dict(dict(spec))  # refuse it whole when a fault is invalid
        self.defaults.responder = scenario_responder(scenario)
        self.defaults.scenario_name, self.defaults.faults = scenario.name, tuple(scenario.faults)
        for scope in self.scopes.values():
            scope.reset()

    # -- live sessions --------------------------------------------------------------------------

    def open_session(self, kind: str, model: str, scope_name: str | None = None, *,
                     initial: dict[str, Any] | None = None, beta: bool = False,
                     safety_identifier: str | None = None, on_call: bool = False,
                     call_id: str | None = None) -> SessionRuntime:
        """A new live session ("realtime", "transcription" for `?intent=transcription`, or "translation") in a scope,
        configured with `initial` (a client secret's session) before `session.created`; `safety_identifier`
        (the end user's, `OpenAI-Safety-Identifier`) is kept in its journal. `on_call`: the session of a
        WebRTC or SIP call, reached by its call id (`runtime.call_id`: `call_id`, or a new one), its answers
        played on the call's track."""
        scope = self.scope(scope_name)
        ids = IdSource(scope.child_seed())
        responder = scope.responder_factory()
        core: Any
        if kind == "translation":
            core = TranslationSession(model=model, ids=ids, clock=self.clock, schemas=schema_store.schemas(),
                                      limits=self.limits, initial=initial, responder=responder, on_call=on_call)
        elif kind == "transcription":
            core = TranscriptionSession(ids=ids, clock=self.clock, schemas=schema_store.schemas(), limits=self.limits,
                                        initial=initial,
                                        responder=responder)
        else:
            core = RealtimeSession(model=model, ids=ids, clock=self.clock, schemas=schema_store.schemas(),
                                   responder=responder, limits=self.limits, initial=initial, on_call=on_call)
        wire: Any = core
        if beta:
            from mockserver.beta import BetaSession

            wire = BetaSession(core)
        session_id = core.config["id"]
        call_id = (call_id or ids.rtc()) if on_call else None
        journal = Journal(session_id, model, scope.name, self.clock.now(), kind=kind,
                          safety_identifier=safety_identifier, call_id=call_id)
        scope.journals[session_id] = journal
        runtime = SessionRuntime(wire, core=core, journal=journal, scope=scope.name, clock=self.clock,
                                 faults=lambda: scope.faults, observers=self.observers, on_end=self._ended,
                                 call_id=call_id,
                                 write_buffer_bytes=self.config.write_buffer_bytes,
                                 slow_reader_seconds=self.config.slow_reader_seconds)
        scope.sessions[session_id] = runtime
        self.registry.add(runtime)
        return runtime

    async def hang_up_calls(self) -> None:
        """End every live call and wait for its peer connection to close (the server is stopping)."""
        calls = list(self.calls.values())
        for call in calls:
            call.end("the server is stopping")
        for call in calls:
            await call.closed()

    def _ended(self, runtime: SessionRuntime) -> None:
        self.registry.remove(runtime)
        scope = self.scopes.get(runtime.scope)
        if scope is None:
            return
        scope.sessions.pop(runtime.session_id, None)
        self._closed.append((scope, runtime.journal))
        self._closed_bytes += runtime.journal.size
        while len(self._closed) > KEPT_JOURNALS or (self._closed_bytes > KEPT_JOURNAL_BYTES
                                                     and len(self._closed) > 1):
            old_scope, journal = self._closed.popleft()
            self._closed_bytes -= journal.size
            if old_scope.journals.get(journal.session_id) is journal:
                del old_scope.journals[journal.session_id]

    def find(self, session_id: str) -> tuple[Scope, SessionRuntime | None, Journal] | None:
        for scope in self.scopes.values():
            if session_id in scope.journals:
                return scope, scope.sessions.get(session_id), scope.journals[session_id]
        return None

    def inject(self, session_id: str, event: dict[str, Any]) -> dict[str, Any] | None:
        """Send a server event into a live session now; None when there is no such live session."""
        runtime = self.registry.session(session_id)
        return runtime.inject(event) if runtime is not None else None

    def beta_models(self) -> tuple[str, ...] | None:
        """The models the beta shim serves, or None when the server rejects the beta interface (as live)."""
        if self.config.beta != "shim":
            return None
        from mockserver.beta import BETA_MODELS

        return BETA_MODELS

    # -- keys -------------------------------------------------------------------------------------

    def secret(self, key: str) -> ClientSecret | None:
        """The client secret behind an `ek_` key, while it has not expired."""
        found = self.client_secrets.get(key)
        return found if found is not None and self.clock.now() < found.expires_at else None

    def secret_kind(self, key: str) -> tuple[str, str | None] | None:
        """(session type, model) of a live client secret (what the handshake needs to know)."""
        found = self.secret(key)
        return (found.kind, found.model) if found is not None else None

    def key_is_valid(self, key: str) -> bool:
        """Ephemeral keys must have been minted here and not have expired; other keys as configured."""
        return self.secret(key) is not None if key.startswith("ek_") else self.config.key_is_valid(key)
