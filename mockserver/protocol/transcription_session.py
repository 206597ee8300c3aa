"""The transcription session (`?intent=transcription`, `session.type: "transcription"`): input audio,
turn detection and transcripts, and no responses (reference 2.4, 4(g))."""

from __future__ import annotations

from typing import Any, ClassVar

from mockserver.protocol import errors, session_config
from mockserver.protocol.clock import Clock
from mockserver.protocol.conversation_session import ConversationSession, realtime_socket_events
from mockserver.protocol.ids import IdSource
from mockserver.protocol.session import EventTable, Limits
from mockserver.protocol.validation import Schemas


class TranscriptionSession(ConversationSession):
    def __init__(self, *, ids: IdSource, clock: Clock, schemas: Schemas, limits: Limits | None = None,
                 initial: dict[str, Any] | None = None, responder: Any = None) -> None:
        super().__init__(ids=ids, clock=clock, schemas=schemas, limits=limits)
        expires = int(clock.now() + session_config.SESSION_SECONDS)
        self.config = session_config.new_transcription_session(session_id=ids.session(), expires_at=expires)
        if initial is not None and initial.get("type") == "transcription":  # a client secret's session
            self.config = session_config.apply_transcription_update(self.config, initial)
        self.responder = responder  # a scenario's: what audio without words gives, what user audio says
        self.emit("session.created", session=self.config)

    def unintelligible(self) -> str:
        return getattr(self.responder, "unintelligible_audio", None) or self.limits.unintelligible

    def _session_update(self, event: dict[str, Any]) -> None:
        self._apply_update(event, session_config.apply_transcription_update)

    def _session_close(self, event: dict[str, Any]) -> None:
        self.error(errors.close_not_supported(), event)

    def _no_responses(self, event: dict[str, Any]) -> None:
        self.error(errors.no_responses_here(), event)

    # The socket is the realtime one: it accepts (and validates) the same event types; responses are refused.
    EVENTS: ClassVar[EventTable] = realtime_socket_events(
        session_update=_session_update, session_close=_session_close, response_create=_no_responses,
        response_cancel=_no_responses)
