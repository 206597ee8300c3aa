"""`SessionRuntime`: one live session, its faults, journal and expiry, and the connections attached to it.

A transport only adapts: it attaches a `Sink` (something that takes the frames the session sends) and
feeds the client frames it reads to `receive`. The runtime does the rest, with no task of its own: each
`receive` runs the session and sends what it produced at once; paced events and timers go through the
event loop's timers (`_pump`). A batch of ready events goes to each sink in one call, so a transport can
write it with one system call. While a sink is paused (its buffer is full: the client reads slowly) no
event is released, so a response streams as fast as the slowest attached client reads it.

Several sinks may be attached (a call's data channel and its sideband sockets); each gets every event.
A crash in the session core is reported, never silent: logged with its traceback, answered with an
`error` of type `server_error`, and every connection closed with 1011.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from mockserver import memory
from mockserver.journal import Journal
from mockserver.protocol import errors
from mockserver.protocol.clock import Clock
from mockserver.protocol.faults import Fault, FaultInjector
from mockserver.protocol.ids import IdSource
from mockserver.protocol.session import Close
from mockserver.wire import dumps

log = logging.getLogger("realtime_mock")

BATCH = 256  # events released per pump; the loop reads client frames between batches (a cancel lands)
QUIET = 0.5  # seconds without a frame either way after which the journal is compacted (journal.py)
SERVER_ERROR_CLOSE = 1011


class Sink(Protocol):
    """A connection attached to a session."""

    @property
    def paused(self) -> bool:
        """Its outgoing buffer is full: hold events back until it calls `on_resume`."""
        ...

    on_resume: Callable[[], None] | None

    def deliver(self, frames: list[bytes]) -> None:
        """Send these frames (UTF-8 JSON text) in order, without blocking."""
        ...

    def close(self, code: int, reason: str) -> None:
        """Close the connection (the runtime has ended)."""
        ...


class LiveSession(Protocol):
    """What the runtime drives: a session kind (`protocol/`), or the beta shim wrapping one."""

    close: Close | None
    expires_at: float
    stall_when: Callable[[dict[str, Any]], bool] | None

    @property
    def config(self) -> dict[str, Any]: ...

    @property
    def busy(self) -> bool: ...

    def receive_frame(self, frame: str | bytes) -> None: ...

    def poll(self, limit: int = 64) -> list[dict[str, Any]]: ...

    def next_due(self) -> float | None: ...

    def expire(self) -> None: ...


Observer = Callable[[Any, dict[str, Any]], None]


class SessionRuntime:
    def __init__(self, session: LiveSession, *, core: Any, journal: Journal, scope: str, clock: Clock,
                 faults: Callable[[], Sequence[Fault]], observers: Sequence[Observer] = (),
                 on_end: Callable[[SessionRuntime], None] | None = None, call_id: str | None = None,
                 write_buffer_bytes: int = 1024 * 1024, slow_reader_seconds: float = 30.0) -> None:
        self.session = session  # what the wire speaks (the beta shim over `core` on a beta connection)
        self.core = core  # the session kind itself (admin injection, observers, per-session scenarios)
        self.session_id: str = core.config["id"]
        self.call_id = call_id
        self.scope = scope
        self.journal = journal
        self.clock = clock
        self.sinks: list[Sink] = []
        # What a connection may hold unsent before it stops the session, and how long before it is dropped.
        self.write_buffer_bytes = write_buffer_bytes
        self.slow_reader_seconds = slow_reader_seconds
        self.ended = False
        self.close_code: int | None = None
        self._observers = observers
        self._on_end = on_end
        self._faults = faults
        self._injector = FaultInjector(faults)
        session.stall_when = self._injector.should_stall
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self._timer_due = 0.0  # loop time the timer fires at
        self._expiry = self._loop.call_later(max(0.0, session.expires_at - clock.now()), self._expire)
        self._active_at = self._loop.time()  # the last frame either way
        self._compactor: asyncio.TimerHandle | None = None
        self._ended_callbacks: list[Callable[[], None]] = []

    # -- connections ------------------------------------------------------------------------------

    def attach(self, sink: Sink) -> None:
        """Attach a connection: it gets every event from now on (the first one gets `session.created`)."""
        sink.on_resume = self.wake
        self.sinks.append(sink)
        self._pump()

    def detach(self, sink: Sink, code: int | None = None) -> None:
        """A connection went away (`code`: the close code the server sent it, if it closed it). The session
        ends with its last connection (a WebSocket session)."""
        if sink in self.sinks:
            self.sinks.remove(sink)
        if not self.sinks and not self.ended:
            self._finish(code)

    # -- input ------------------------------------------------------------------------------------

    def receive(self, frame: str | bytes) -> None:
        """A client frame from any attached connection: journal it, run it, send what it produced."""
        if self.ended:
            return
        self._active_at = self._loop.time()
        self.journal.client(self.clock.now(), frame)
        try:
            self.session.receive_frame(frame)
        except Exception:
            self._crash()
            return
        self._pump()

    def on_ended(self, callback: Callable[[], None]) -> None:
        """Call `callback` when the session ends (a call forgets its id then)."""
        self._ended_callbacks.append(callback)

    def hear(self, pcm: bytes) -> None:
        """Audio from the call's media track (PCM16 24 kHz): into the session's input, as an append is."""
        if self.ended:
            return
        self._active_at = self._loop.time()
        try:
            self.core.hear_call_audio(pcm)
        except Exception:
            self._crash()
            return
        self._pump()

    def inject(self, event: dict[str, Any]) -> dict[str, Any]:
        """A server event from outside (the admin API), sent in its turn."""
        sent: dict[str, Any] = self.core.inject(event)
        self.wake()
        return sent

    def wake(self) -> None:
        """Run the session soon (something changed outside a client frame: a sink resumed, an injection)."""
        if self.ended:
            return
        now = self._loop.time()
        if self._timer is not None:
            if self._timer_due <= now:
                return
            self._timer.cancel()
        self._timer, self._timer_due = self._loop.call_soon(self._on_timer), now

    def end(self, code: int, reason: str) -> None:
        """Close every connection with this code and end the session."""
        if self.ended:
            return
        sinks = list(self.sinks)
        self._finish(code)
        for sink in sinks:
            sink.close(code, reason)

    # -- the pump ---------------------------------------------------------------------------------

    def _on_timer(self) -> None:
        self._timer = None
        self._pump()

    def _pump(self) -> None:
        if self.ended or not self.sinks or any(sink.paused for sink in self.sinks):
            return  # a paused sink calls `wake` when it drains
        session, injector = self.session, self._injector
        now = self.clock.now()
        try:
            produced = session.poll(BATCH)
        except Exception:
            self._crash()
            return
        events = injector.apply(produced, now) if produced or injector.active else produced
        if events:
            self._send(events, now)
        if injector.expire:
            injector.expire = False
            session.expire()
            self.wake()  # the session_expired error goes out on the next pump, then the close
            return
        close = injector.close or (session.close if not session.busy else None)
        if close is not None:
            self.end(close.code, close.reason)
            return
        if produced and session.busy:
            self.wake()  # more is ready: continue after the loop has read what clients sent
            return
        due = session.next_due()
        held = injector.next_due()
        if held is not None and (due is None or held < due):
            due = held
        if due is not None:
            self._schedule(due - self.clock.now())

    def _schedule(self, delay: float) -> None:
        at = self._loop.time() + max(0.0, delay)
        if self._timer is not None:
            if self._timer_due <= at:
                return
            self._timer.cancel()
        self._timer, self._timer_due = self._loop.call_at(at, self._on_timer), at

    def _send(self, events: list[dict[str, Any]], now: float) -> None:
        frames = [dumps(event) for event in events]
        self.journal.server(now, frames)
        if self._observers:
            for event in events:
                for observer in self._observers:
                    observer(self.core, event)
        for sink in self.sinks:
            sink.deliver(frames)
        self._active_at = self._loop.time()
        if self._compactor is None:
            self._compactor = self._loop.call_at(self._active_at + QUIET, self._compact_when_quiet)

    def _compact_when_quiet(self) -> None:
        quiet_at = self._active_at + QUIET
        if self._loop.time() < quiet_at:
            self._compactor = self._loop.call_at(quiet_at, self._compact_when_quiet)
            return
        self._compactor = None
        self.journal.compact()
        memory.release_soon()

    def _expire(self) -> None:
        if not self.ended:
            self.session.expire()
            self._pump()

    def _crash(self) -> None:
        log.exception("realtime-mock: session %s failed; closing it with 1011", self.session_id)
        error = errors.server_error(self.session_id)
        self._send([{"type": "error", "event_id": IdSource().event(), "error": error.payload()}], self.clock.now())
        self.end(SERVER_ERROR_CLOSE, error.type)

    def _finish(self, code: int | None) -> None:
        self.ended = True
        self.close_code = code
        self.sinks.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._expiry.cancel()
        if self._compactor is not None:
            self._compactor.cancel()
        self.journal.closed, self.journal.close_code = self.clock.now(), code
        if self._on_end is not None:
            self._on_end(self)
        for callback in self._ended_callbacks:
            callback()
