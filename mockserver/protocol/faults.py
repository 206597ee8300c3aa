"""Faults: named, deliberate misbehaviour between a session and its socket, like the quirks apps meet live.

A `FaultInjector` sits between `Session.poll()` and the transport (sans-I/O, like the session): it
takes the events the session produced and returns what actually goes out, and it can ask for a
close, a stalled response or an expired session. Faults are read live from a list the server (the
admin API, a scenario file) may change at any time; each session counts its own firings.

- `close` (`code` default 1011, `reason`; `event` or `after_events`): close the connection instead of
  sending the first event of type `event`, or once `after_events` events were sent.
- `drop` (`event`): never send events of that type.
- `delay` (`event`, `ms`): hold events of that type for `ms` milliseconds; later events overtake them.
- `duplicate` (`event`): send events of that type twice (same `event_id`).
- `reorder` (`event`): send an event of that type after the event that follows it.
- `stall` (`event`, default `response.created`): the response stops streaming after that event; a
  `response.cancel` still ends it.
- `expire` (`after_events` or `event`): the session hits its time limit (`session_expired`, close 1001).
- `rate_limits` (`limits`): `rate_limits.updated` events carry these values instead.
- `refuse_handshake` (`code`, `error`): refuse new connections, with HTTP status `code` (400-599) before
  the upgrade, or by upgrading, sending `error` and closing with `code` (3000-4999).

Every fault also takes `count` (how many times it fires over all the sessions of its scope, so that
an app that reconnects is not cut again; default: every time) and `after_events` (it waits until
that many events were sent on the connection), except where `after_events` is its trigger. Without
a `count`, `close` and `expire` end every connection once.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from mockserver.protocol.errors import ApiError
from mockserver.protocol.session import Close

NAMES = ("close", "drop", "delay", "duplicate", "reorder", "stall", "expire", "rate_limits", "refuse_handshake")
_NEEDS_EVENT = ("drop", "delay", "duplicate", "reorder")
_STREAM = ("close", "expire", "drop", "delay", "duplicate", "reorder", "rate_limits")  # applied to each event


@dataclass
class Fault:
    name: str
    event: str | None = None
    after_events: int | None = None
    code: int | None = None
    reason: str | None = None
    ms: float | None = None
    count: int | None = None
    limits: list[dict[str, Any]] | None = None
    error: dict[str, Any] | None = None
    id: str = ""  # set by the server when the fault is added (for switching it off)
    fired: int = 0  # how often it fired, over every session of its scope (what `count` limits)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        """A fault from its JSON form; ValueError names what is wrong."""
        known = {f.name for f in fields(cls)} - {"fired"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"fault: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(known))})")
        name = data.get("name")
        if name not in NAMES:
            raise ValueError(f"fault: name must be one of {', '.join(NAMES)}, not {name!r}")
        fault = cls(**data)
        if name in _NEEDS_EVENT and not fault.event:
            raise ValueError(f"fault {name}: needs `event` (an event type)")
        if name == "delay" and (fault.ms is None or fault.ms < 0):
            raise ValueError("fault delay: needs `ms` >= 0")
        if name == "rate_limits" and not fault.limits:
            raise ValueError("fault rate_limits: needs `limits`")
        if name == "close" and fault.code is not None and not 1000 <= fault.code <= 4999:
            raise ValueError("fault close: `code` must be a WebSocket close code (1000-4999)")
        if name == "refuse_handshake" and not (fault.code is None or 400 <= fault.code <= 599
                                               or 3000 <= fault.code <= 4999):
            raise ValueError("fault refuse_handshake: `code` is an HTTP status (400-599) or a close code (3000-4999)")
        if fault.count is not None and fault.count < 1:
            raise ValueError("fault: `count` must be at least 1")
        return fault

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


def handshake_refusal(faults: Sequence[Fault]) -> tuple[int, ApiError] | None:
    """(HTTP status or close code, error) when a `refuse_handshake` fault is on."""
    for fault in faults:
        if fault.name == "refuse_handshake":
            code = fault.code or 3000
            given = fault.error or {}
            error = ApiError(given.get("message", "The mock refused this connection (fault refuse_handshake)."),
                             type=given.get("type", "invalid_request_error"), code=given.get("code", "mock_fault"),
                             param=given.get("param"))
            return code, error
    return None


@dataclass
class FaultInjector:
    faults: Callable[[], Sequence[Fault]]  # read live: the list may change while the session runs
    close: Close | None = None
    expire: bool = False
    _sent: int = 0
    _fired: dict[str, int] = field(default_factory=dict)
    _held: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    _reordered: dict[str, Any] | None = None

    def next_due(self) -> float | None:
        return min((due for due, _ in self._held), default=None)

    @property
    def active(self) -> bool:
        """Something is held back (a delayed or reordered event): `apply` may release it."""
        return bool(self._held) or self._reordered is not None

    def apply(self, events: list[dict[str, Any]], now: float) -> list[dict[str, Any]]:
        """What goes out now, given what the session produced now (nothing more after a close or expiry)."""
        if not self._held and self._reordered is None and not self.faults():  # no fault: the common case
            self._sent += len(events)
            return events
        out: list[dict[str, Any]] = []
        for due, event in list(self._held):
            if due <= now:
                self._held.remove((due, event))
                out.append(event)
        self._sent += len(out)
        for event in events:
            if self._ended():
                break
            sent = self._one(event, now)
            self._sent += len(sent)
            out += sent
        self._ended()
        return out

    def should_stall(self, event: dict[str, Any]) -> bool:
        """Asked by a response as it releases each event: stop streaming after this one?"""
        if not self.faults():
            return False
        for fault in self._active(event["type"], ("stall",)):
            self._count(fault)
            return True
        return False

    def _ended(self) -> bool:
        """Fire `close`/`expire` faults counted in events; True once the connection is ending."""
        for fault in self._active(None, ("close", "expire")):
            if self._sent >= (fault.after_events or 0):
                self._count(fault)
                self._trigger(fault)
        return self.close is not None or self.expire

    def _one(self, event: dict[str, Any], now: float) -> list[dict[str, Any]]:
        out = [event]
        for fault in self._active(event["type"]):
            self._count(fault)
            if fault.name in ("close", "expire"):
                self._trigger(fault)
                if fault.name == "close":
                    return []
            elif fault.name == "drop":
                return []
            elif fault.name == "delay":
                self._held.append((now + (fault.ms or 0) / 1000, event))
                return []
            elif fault.name == "duplicate":
                out = [event, event]
            elif fault.name == "reorder":
                self._reordered = event
                return []
            elif fault.name == "rate_limits":
                out = [{**event, "rate_limits": copy.deepcopy(fault.limits)}]
        if self._reordered is not None and self._reordered is not event:
            out.append(self._reordered)
            self._reordered = None
        return out

    def _active(self, event_type: str | None, kinds: Sequence[str] = _STREAM) -> list[Fault]:
        """Faults of these kinds that apply now to an event of this type (None: the count-triggered ends)."""
        active = []
        for fault in self.faults():
            if fault.name not in kinds:
                continue
            if fault.count is not None and fault.fired >= fault.count:
                continue
            if fault.name in ("close", "expire") and self._fired.get(fault.id, 0) >= 1:
                continue  # they end the connection: once per connection
            counted_end = fault.name in ("close", "expire") and fault.event is None
            if event_type is None:
                if counted_end:
                    active.append(fault)
                continue
            if counted_end:
                continue
            if fault.name == "rate_limits":
                wanted: str | None = "rate_limits.updated"
            else:
                wanted = fault.event or ("response.created" if fault.name == "stall" else None)
            if wanted != event_type:
                continue
            if fault.after_events is not None and self._sent < fault.after_events:
                continue
            active.append(fault)
        return active

    def _count(self, fault: Fault) -> None:
        fault.fired += 1
        self._fired[fault.id] = self._fired.get(fault.id, 0) + 1

    def _trigger(self, fault: Fault) -> None:
        if fault.name == "close":
            self.close = Close(fault.code or 1011, fault.reason or "")
        else:
            self.expire = True
