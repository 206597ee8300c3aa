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

The data channel of a WebRTC call (`oai-events`; applied by transports/webrtc.py through `ChannelFaults`,
never to a socket, a sideband or a SIP call), `count` being the calls it fires on:

- `drop_channel` (`event` or `after_events`): the server closes the call's data channel instead of sending
  the first event of type `event`, or once `after_events` events went out on it (default 0: as soon as it
  opens). The call goes on without it: audio on the track, the session on its sidebands.
- `delay_channel` (`ms`): every message on the data channel, both ways, takes `ms` milliseconds longer
  (in order: a slow link, not a reordering one).

REST requests (`/v1/audio/*`, `/v1/chat/completions`; applied by rest/http_faults.py, never to a socket),
each optionally for one `path` only:

- `http_error` (`code` 400-599, default 500; `error`): answer with that status and error body.
- `http_rate_limit` (`limits`, default: no requests left for 1 s): the live `x-ratelimit-*` headers, and
  a 429 `rate_limit_exceeded` with `retry-after` while a limit has nothing `remaining`.
- `http_slow_body` (`ms`): wait `ms` milliseconds between the chunks of a response body.

Every fault also takes `count` (how many times it fires over all the sessions of its scope, so that
an app that reconnects is not cut again; default: every time) and `after_events` (it waits until
that many events were sent on the connection), except where `after_events` is its trigger. Without
a `count`, `close` and `expire` end every connection once.

`Fault.from_dict` checks every field's type and range (close codes a server may send, a reason that fits
a close frame, UTF-8 text), so a fault it accepts cannot break the sessions of its scope; `FaultError`
names the field that is wrong.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from mockserver.protocol.errors import ApiError
from mockserver.protocol.session import Close

NAMES = ("close", "drop", "delay", "duplicate", "reorder", "stall", "expire", "rate_limits", "refuse_handshake",
         "http_error", "http_rate_limit", "http_slow_body", "drop_channel", "delay_channel")
HTTP_FAULTS = ("http_error", "http_rate_limit", "http_slow_body")  # REST requests only (rest/http_faults.py)
CHANNEL_FAULTS = ("drop_channel", "delay_channel")  # a WebRTC call's data channel only (transports/webrtc.py)
_NEEDS_EVENT = ("drop", "delay", "duplicate", "reorder")
_STREAM = ("close", "expire", "drop", "delay", "duplicate", "reorder", "rate_limits")  # applied to each event


class FaultError(ValueError):
    """A fault that cannot be used; `field` names the key that is wrong (None: the fault as a whole)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# A close frame carries at most 125 bytes: the 2-byte code and a reason of at most 123 bytes of UTF-8.
MAX_REASON_BYTES = 123
SENDABLE_CLOSE_CODES = "1000-1003, 1007-1014 or 3000-4999"
_RATE_LIMIT_NAMES = ("requests", "tokens")
_ERROR_KEYS = ("message", "type", "code", "param")


def is_sendable_close_code(code: int) -> bool:
    """A close code an endpoint may put in a close frame (RFC 6455 7.4): 1004-1006 and 1015 are reserved for
    reporting, 1016-2999 are unassigned."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def _shown(value: Any) -> str:
    """A value as an error message quotes it (repr escapes what is not printable, lone surrogates too)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is not 1


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _is_text(value: Any) -> bool:
    """A string that can go on the wire as UTF-8 (no lone surrogate)."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _int_at_least(low: int) -> Callable[[Any], str | None]:
    def problem(value: Any) -> str | None:
        return None if _is_int(value) and value >= low else f"must be an integer >= {low}, not {_shown(value)}"
    return problem


def _event_problem(value: Any) -> str | None:
    return None if _is_text(value) and value else f"must be an event type (a non-empty string), not {_shown(value)}"


def _code_problem(value: Any) -> str | None:
    return None if _is_int(value) else f"must be an integer, not {_shown(value)}"


def _reason_problem(value: Any) -> str | None:
    if not _is_text(value):
        return f"must be UTF-8 text (a string without lone surrogates), not {_shown(value)}"
    size = len(value.encode("utf-8"))
    return None if size <= MAX_REASON_BYTES else f"is {size} bytes of UTF-8; a close frame holds {MAX_REASON_BYTES}"


def _ms_problem(value: Any) -> str | None:
    return None if _is_number(value) and value >= 0 else f"must be a number of milliseconds >= 0, not {_shown(value)}"


def _limits_problem(value: Any) -> str | None:
    if not isinstance(value, list):
        return f"must be a list of rate limits, not {_shown(value)}"
    for index, limit in enumerate(value):
        problem = _rate_limit_problem(limit)
        if problem:
            return f"[{index}] {problem}"
    return None


def _rate_limit_problem(limit: Any) -> str | None:
    """One `rate_limits.updated` entry, as the scenario schema has it."""
    valid = (isinstance(limit, dict) and set(limit) == {"name", "limit", "remaining", "reset_seconds"}
             and limit["name"] in _RATE_LIMIT_NAMES
             and all(_is_int(limit[key]) and limit[key] >= 0 for key in ("limit", "remaining"))
             and _is_number(limit["reset_seconds"]) and limit["reset_seconds"] >= 0)
    return None if valid else ("must be {name: requests|tokens, limit: int >= 0, remaining: int >= 0, "
                               f"reset_seconds: number >= 0}}, not {_shown(limit)}")


def _error_problem(value: Any) -> str | None:
    """The error a refused handshake sends: strings `message` and `type`, `code` and `param` strings or null."""
    if not isinstance(value, dict) or not set(value) <= set(_ERROR_KEYS):
        return f"must be an object with keys among {', '.join(_ERROR_KEYS)}, not {_shown(value)}"
    for key, item in value.items():
        nullable = key in ("code", "param")
        if not (_is_text(item) or (nullable and item is None)):
            kind = "a string or null" if nullable else "a string"
            return f"{key} must be {kind} (UTF-8 text), not {_shown(item)}"
    return None


_FIELD_PROBLEMS: dict[str, Callable[[Any], str | None]] = {
    "event": _event_problem,
    "after_events": _int_at_least(0),
    "code": _code_problem,
    "reason": _reason_problem,
    "ms": _ms_problem,
    "count": _int_at_least(1),
    "limits": _limits_problem,
    "error": _error_problem,
    "id": lambda value: None if _is_text(value) else f"must be a string, not {_shown(value)}",
    "path": lambda value: None if _is_text(value) and value.startswith("/v1/") else (
        f"must be a REST path such as '/v1/audio/speech', not {_shown(value)}"),
}


def _check_needs(name: str, given: dict[str, Any]) -> None:
    """The fields a fault cannot do without."""
    if name in _NEEDS_EVENT and "event" not in given:
        raise FaultError(f"fault {name}: needs `event` (an event type)", "event")
    if name in ("delay", "http_slow_body", "delay_channel") and "ms" not in given:
        raise FaultError(f"fault {name}: needs `ms` >= 0", "ms")
    if name == "rate_limits" and not given.get("limits"):
        raise FaultError("fault rate_limits: needs `limits` (a non-empty list)", "limits")


def _check_code(name: str, code: int | None) -> None:
    if code is None:
        return
    if name == "http_error":
        if not 400 <= code <= 599:
            raise FaultError(f"fault http_error: `code` is an HTTP error status (400-599), not {code}", "code")
    elif name == "refuse_handshake":
        if not (400 <= code <= 599 or 3000 <= code <= 4999):
            raise FaultError("fault refuse_handshake: `code` is an HTTP status (400-599) or a close code "
                             f"(3000-4999), not {code}", "code")
    elif name not in HTTP_FAULTS and not is_sendable_close_code(code):
        raise FaultError(f"fault {name}: `code` must be a WebSocket close code a server may send "
                         f"({SENDABLE_CLOSE_CODES}), not {code}", "code")


def _check_refusal_reason(name: str, given: dict[str, Any]) -> None:
    """A handshake refused with a close code closes with the reason `type.code` (transports/websocket.py)."""
    if name != "refuse_handshake" or given.get("code", 3000) < 1000:
        return
    refusal = _refusal_error(given.get("error"))
    reason = f"{refusal.type}.{refusal.code}" if refusal.code else refusal.type
    if len(reason.encode("utf-8")) > MAX_REASON_BYTES:
        raise FaultError(f"fault refuse_handshake: `error` type and code make the close reason {_shown(reason)}, "
                         f"longer than {MAX_REASON_BYTES} bytes", "error")


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
    path: str | None = None  # REST faults: only requests to this path (None: every REST request)
    id: str = ""  # set by the server when the fault is added (for switching it off)
    fired: int = 0  # how often it fired, over every session of its scope (what `count` limits)

    @classmethod
    def from_dict(cls, data: Any) -> Fault:
        """A fault from its JSON form, every field checked (a fault accepted here cannot break the sessions
        it applies to); FaultError names the field that is wrong."""
        if not isinstance(data, dict):
            raise FaultError(f"fault: expected an object, not {_shown(data)}")
        known = {f.name for f in fields(cls)} - {"fired"}
        unknown = sorted(str(key) for key in set(data) - known)
        if unknown:
            raise FaultError(f"fault: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(known))})",
                             unknown[0])
        name = data.get("name")
        if name not in NAMES:
            raise FaultError(f"fault: name must be one of {', '.join(NAMES)}, not {_shown(name)}", "name")
        given = {key: value for key, value in data.items() if value is not None}  # null: the default
        for key, value in given.items():
            problem = _FIELD_PROBLEMS[key](value) if key in _FIELD_PROBLEMS else None
            if problem:
                raise FaultError(f"fault {name}: `{key}` {problem}", key)
        _check_needs(name, given)
        _check_code(name, given.get("code"))
        _check_refusal_reason(name, given)
        return cls(**copy.deepcopy(given))

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


def handshake_refusal(faults: Sequence[Fault]) -> tuple[int, ApiError] | None:
    """(HTTP status or close code, error) when a `refuse_handshake` fault is on."""
    for fault in faults:
        if fault.name == "refuse_handshake":
            return fault.code or 3000, _refusal_error(fault.error)
    return None


def _refusal_error(given: dict[str, Any] | None) -> ApiError:
    given = given or {}
    return ApiError(given.get("message", "The mock refused this connection (fault refuse_handshake)."),
                    type=given.get("type", "invalid_request_error"), code=given.get("code", "mock_fault"),
                    param=given.get("param"))


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


@dataclass
class ChannelFaults:
    """The `drop_channel` and `delay_channel` faults of one call's data channel (sans-I/O: the transport asks,
    and does what it is told). Faults are read live, as the injector reads them."""

    faults: Callable[[], Sequence[Fault]]
    sent: int = 0  # events that went out on the channel
    dropped: bool = False
    _fired: set[str] = field(default_factory=set)  # ids of the faults that fired on this call

    def drop_before(self, event_type: str) -> bool:
        """Close the channel instead of sending this event? (Counts it as sent otherwise.)"""
        if self.dropped:
            return True
        for fault in self._active("drop_channel"):
            if fault.event is None:
                due = self.sent >= (fault.after_events or 0)
            else:
                due = fault.event == event_type and self.sent >= (fault.after_events or 0)
            if due:
                self._fire(fault)
                self.dropped = True
                return True
        self.sent += 1
        return False

    def delay(self) -> float:
        """Seconds every message on the channel takes now (0: none)."""
        slowest = 0.0
        for fault in self._active("delay_channel"):
            if self.sent >= (fault.after_events or 0):
                self._fire(fault)
                slowest = max(slowest, (fault.ms or 0) / 1000)
        return slowest

    def _active(self, name: str) -> list[Fault]:
        return [fault for fault in self.faults() if fault.name == name
                and (fault.id in self._fired or fault.count is None or fault.fired < fault.count)]

    def _fire(self, fault: Fault) -> None:
        if fault.id not in self._fired:  # `count` counts calls: once per call
            self._fired.add(fault.id)
            fault.fired += 1
