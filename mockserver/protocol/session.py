"""The sans-I/O session core that every session kind shares: client frames in, server events out.

A session never awaits, never touches a socket and never reads the wall clock: the runtime feeds it
frames (`receive_frame`), takes what it produced (`poll`), asks when the next paced event is due
(`next_due`), and closes the connections when `close` is set.

Each kind (`realtime.RealtimeSession`, `transcription_session.TranscriptionSession`) declares one
`EventTable`: the client events it accepts, in the order the live API lists them, each with its
schema and its handler. Validation and dispatch both come from that table, so an event type can
never be accepted and then find no handler. Invalid events get the validator's error and change
nothing; the session stays open except on expiry.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from mockserver.protocol import base64_audio, errors, session_config
from mockserver.protocol.clock import Clock
from mockserver.protocol.errors import ApiError
from mockserver.protocol.ids import IdSource
from mockserver.protocol.responses import Pacing
from mockserver.protocol.validation import Schemas

if TYPE_CHECKING:  # only sessions on calls have one (realtime.py makes it); numpy stays out of start-up
    from mockserver.protocol.output_audio import OutputAudioBuffer

MAX_APPEND_BYTES = 15 * 1024 * 1024  # "cannot exceed 15 MB" per append (reference 5.4)
# Out-of-band responses (`conversation: "none"`) in progress at once, per session. The live limit is not
# documented; the mock keeps a client from running hundreds in parallel (each holds its whole reply).
MAX_PARALLEL_RESPONSES = 16


@dataclass(frozen=True)
class Limits:
    session_seconds: float = session_config.SESSION_SECONDS
    max_append_bytes: int = MAX_APPEND_BYTES
    max_parallel_responses: int = MAX_PARALLEL_RESPONSES
    pacing: Pacing = field(default_factory=Pacing)
    unintelligible: str = "empty"  # audio carrying no words transcribes as "" ("empty") or fails ("fail")


@dataclass(frozen=True)
class Close:
    """The transport must close the connection with this code and reason."""

    code: int
    reason: str


Handler = Callable[[Any, dict[str, Any]], None]


class EventTable:
    """The client events of one session kind: (type, schema family, handler), in the live API's order."""

    def __init__(self, *entries: tuple[str, str, Handler]) -> None:
        self.entries = entries
        self.schemas = {event_type: f"{family}/{event_type}" for event_type, family, _ in entries}
        self.handlers = {event_type: handler for event_type, _, handler in entries}


class Stream(Protocol):
    """Something that releases events over time: a response, a transcription."""

    due_at: float
    stalled: bool
    finished: bool

    def release(self, now: float, limit: int) -> list[dict[str, Any]]: ...

    def sync(self) -> None:
        """Bring what it stores (an item in flight) up to date, before a client event reads it."""
        ...


class Session:
    """The machinery of a live session: the outbox, paced streams, expiry and errors."""

    EVENTS: ClassVar[EventTable]
    SERVER_EVENTS: ClassVar[str] = "realtime/server"  # the schema family of what it sends (schemas/)

    def __init__(self, *, ids: IdSource, clock: Clock, schemas: Schemas, limits: Limits | None = None,
                 events: EventTable | None = None) -> None:
        self.ids = ids
        self.clock = clock
        self.limits = limits or Limits()
        table = events or self.EVENTS  # a kind on a call takes the call's events (e.g. output_audio_buffer.clear)
        self.validator = schemas.validator(table.schemas)
        self._handlers = table.handlers
        self.expires_at = clock.now() + self.limits.session_seconds
        self.close: Close | None = None
        self.config: dict[str, Any] = {}  # replaced, never changed in place: events may share it
        self._outbox: deque[dict[str, Any]] = deque()
        self._streams: list[Stream] = []  # responses and transcriptions, released in turn by `poll`
        # Asked for each event a response releases: stall the response after it? (fault `stall`)
        self.stall_when: Callable[[dict[str, Any]], bool] | None = None
        # On a call (WebRTC, SIP) the answers' audio plays on the media track (output_audio.py).
        self.media: OutputAudioBuffer | None = None

    # -- what the runtime calls -----------------------------------------------------------------

    def receive_frame(self, frame: str | bytes) -> None:
        """One WebSocket (or data channel) message from the client."""
        if self.close is not None:
            return
        event, problems = self.validator.check_frame(frame)
        if problems:
            self.error(problems[0])
            return
        assert event is not None
        self._handlers[event["type"]](self, event)

    def poll(self, limit: int = 64) -> list[dict[str, Any]]:
        """Server events ready now, in order (at most `limit` from the streams)."""
        now = self.clock.now()
        self._tick(now)
        out = list(self._outbox)
        self._outbox.clear()
        streams = self._streams
        if streams:
            out = self._release(out, now, limit)
        if self.media is not None:
            out = self.media.filter(out) + self.media.poll()
        return out

    def _release(self, out: list[dict[str, Any]], now: float, limit: int) -> list[dict[str, Any]]:
        """`out` and the streams' events ready now (at most `limit`), the finished streams forgotten."""
        streams = self._streams
        if len(streams) == 1:  # the common case, kept cheap
            out += streams[0].release(now, limit)
        else:
            released = True
            while released and len(out) < limit:  # one event from each stream in turn
                released = False
                for stream in streams:
                    if not stream.finished:
                        events = stream.release(now, 1)
                        if events:
                            out += events
                            released = True
        for stream in [s for s in streams if s.finished]:
            self._end_stream(stream)
        return out

    def next_due(self) -> float | None:
        """When a paced event will be ready (clock time), or None when nothing is due."""
        if self._outbox:
            return self.clock.now()
        due = [stream.due_at for stream in self._streams if not stream.stalled]
        deadline = self._deadline()
        if deadline is not None:
            due.append(deadline)
        played = self.media.next_due() if self.media is not None else None
        if played is not None:
            due.append(played)
        return min(due, default=None)

    @property
    def busy(self) -> bool:
        return bool(self._outbox) or any(not stream.stalled for stream in self._streams)

    def inject(self, event: dict[str, Any]) -> dict[str, Any]:
        """Queue a server event from outside (the admin API); it gets an event_id when it has none."""
        event = {"event_id": self.ids.event(), **event} if "event_id" not in event else dict(event)
        self._outbox.append(event)
        return event

    def expire(self) -> None:
        """The session hit its maximum duration: `session_expired`, then close 1001 (reference 5.2)."""
        if self.close is not None:
            return
        error = errors.session_expired()
        self._streams.clear()  # the close cuts whatever was streaming
        self._stopped()
        self.error(error)
        self.close = Close(1001, error.message)

    def check_expiry(self) -> None:
        if self.clock.now() >= self.expires_at:
            self.expire()

    # -- for the session kinds ----------------------------------------------------------------------

    def emit(self, event_type: str, **fields: Any) -> None:
        self._outbox.append({"type": event_type, "event_id": self.ids.event(), **fields})

    def send(self, event: dict[str, Any]) -> None:
        self._outbox.append(event)

    def stream(self, stream: Stream) -> None:
        self._streams.append(stream)

    def appended_audio(self, event: dict[str, Any]) -> bytes | None:
        """The audio an append event carries, or None once the error saying why it is not taken is sent
        (longer than the append limit, or not strict base64)."""
        text = event["audio"]
        limit = (self.limits.max_append_bytes + 2) // 3 * 4  # base64 length of the byte limit
        if len(text) > limit:
            self.error(errors.append_too_large(len(text), limit), event)
            return None
        try:
            return base64_audio.decode(text)
        except ValueError:
            self.error(errors.bad_base64(), event)
            return None

    def error(self, error: ApiError, client_event: dict[str, Any] | None = None) -> None:
        if client_event is not None and isinstance(client_event.get("event_id"), str):
            error = error.for_event(client_event["event_id"])
        self.emit("error", error=error.payload())

    def _end_stream(self, stream: Stream) -> None:
        """A stream finished (or was cut): forget it. Kinds add their bookkeeping."""
        self._streams.remove(stream)

    def _tick(self, now: float) -> None:
        """Called at each poll: timers of the kind (an idle timeout) fire here."""

    def _deadline(self) -> float | None:
        """When a timer of the kind fires next (clock time), if one is set."""
        return None

    def _stopped(self) -> None:
        """The session ended early (expiry): forget what was in flight."""
