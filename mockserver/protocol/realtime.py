"""The voice-agent session (`session.type: "realtime"`): the conversation, input audio and responses.

Responses are `ResponseRun`s (responses.py) released by `poll`; one at a time in the default
conversation, any number out of band (`conversation: "none"`). Server VAD answers each committed
turn and cuts the answer when the user speaks over it (barge-in).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from mockserver.audio import formats
from mockserver.protocol import errors, models, session_config
from mockserver.protocol.clock import Clock
from mockserver.protocol.conversation import Items, cost
from mockserver.protocol.conversation_session import ConversationSession, audio_problem, realtime_socket_events
from mockserver.protocol.errors import ApiError
from mockserver.protocol.ids import IdSource
from mockserver.protocol.output_audio import OutputAudioBuffer
from mockserver.protocol.responder import EchoResponder, ErrorReply, Responder, Turn
from mockserver.protocol.responses import ResponseRun, ResponseSettings
from mockserver.protocol.session import EventTable, Limits, Stream
from mockserver.protocol.tokens import count_tokens
from mockserver.protocol.validation import Schemas


class RealtimeSession(ConversationSession):
    def __init__(self, *, model: str, ids: IdSource, clock: Clock, schemas: Schemas,
                 responder: Responder | None = None, limits: Limits | None = None,
                 initial: dict[str, Any] | None = None, on_call: bool = False) -> None:
        super().__init__(ids=ids, clock=clock, schemas=schemas, limits=limits,
                         events=self.CALL_EVENTS if on_call else None)
        if on_call:  # answers play on the call's track (output_audio.py)
            self.media = OutputAudioBuffer(clock, ids, lambda: self.config["audio"]["output"]["format"])
        self.responder: Responder = responder or EchoResponder()
        expires = int(clock.now() + session_config.SESSION_SECONDS)
        self.config = session_config.new_realtime_session(session_id=ids.session(), model=model, expires_at=expires)
        if initial is not None and initial.get("type", "realtime") == "realtime":  # a client secret's session
            self.config = session_config.apply_update(self.config, initial, audio_produced=False)
        self._default_run: ResponseRun | None = None
        self._responses = 0
        self._last_input_tokens = 0
        self._audio_produced = False
        self._prompt: tuple[str | None, list[dict[str, Any]] | None, int] = (None, None, 0)
        self.emit("session.created", session=self.config)

    # -- the AudioHost interface ----------------------------------------------------------------

    def unintelligible(self) -> str:
        # What audio without words gives: the scenario's say (`unintelligible_audio`), else the server's.
        return getattr(self.responder, "unintelligible_audio", None) or self.limits.unintelligible

    def speech_started(self) -> None:
        if self._default_run is not None:
            # Barge-in: "speech that starts while a response is playing cancels it" (reference 4(d)).
            run = self._default_run
            self._outbox.extend(run.cancel("turn_detected"))
            self._end_stream(run)
            self.input_audio.idle_deadline = None
        if self.media is not None and self.media.playing is not None:
            self._outbox.extend(self.media.clear())  # on a call the server cuts its own playback (4(d))

    def turn_ended(self) -> None:
        turn_detection = self.config["audio"]["input"]["turn_detection"] or {}
        if turn_detection.get("create_response", True) and self._default_run is None:
            self._start_response({}, None)
            transcription, response = self.input_audio.transcribing, self._default_run
            if transcription is not None and response is not None:
                # A streaming model's `completed` follows the answer's first output item (live recording
                # openai_ws.test_audio_in_server_vad_turn).
                transcription.completed_after = lambda: response.has_output or response.finished

    # -- streams --------------------------------------------------------------------------------

    def _end_stream(self, stream: Stream) -> None:
        super()._end_stream(stream)
        if not isinstance(stream, ResponseRun):
            return
        if stream is self._default_run:
            self._default_run = None
            self.input_audio.start_idle_timer(self.clock.now())
        self._last_input_tokens = stream.input_tokens

    def _tick(self, now: float) -> None:
        if self._default_run is None:  # the idle timeout waits while an answer plays
            super()._tick(now)

    def _stopped(self) -> None:
        super()._stopped()
        self._default_run = None

    # -- one handler per client event type ------------------------------------------------------

    def _session_update(self, event: dict[str, Any]) -> None:
        self._apply_update(event, lambda current, update: session_config.apply_update(
            current, update, audio_produced=self._audio_produced))

    def _session_close(self, event: dict[str, Any]) -> None:
        self.error(errors.close_not_supported(), event)

    def _response_create(self, event: dict[str, Any]) -> None:
        self._start_response(event.get("response") or {}, event)

    def dtmf(self, key: str) -> None:
        """A telephone keypad press on a SIP call (RFC 4733 in the RTP stream): live sends it without an
        event_id (reference 2.2), stamped with when it arrived (Unix seconds)."""
        self._outbox.append({"type": "input_audio_buffer.dtmf_event_received", "event": key,
                             "received_at": int(self.clock.now())})

    def _output_audio_buffer_clear(self, event: dict[str, Any]) -> None:
        assert self.media is not None  # only a session on a call takes this event
        self._outbox.extend(self.media.clear())

    def _response_cancel(self, event: dict[str, Any]) -> None:
        wanted = event.get("response_id")
        runs = (s for s in self._streams if isinstance(s, ResponseRun) and s.id == wanted)
        run = next(runs, None) if wanted else self._default_run
        if run is None:
            self.error(errors.cancel_not_active(), event)
            return
        self._outbox.extend(run.cancel("client_cancelled"))
        self._end_stream(run)

    # -- responses ------------------------------------------------------------------------------

    def _start_response(self, params: dict[str, Any], event: dict[str, Any] | None) -> None:
        """A response for `response.create` (event) or for a turn the VAD detected (event None)."""
        mode = params.get("conversation", "auto")
        if mode not in ("auto", "none"):
            self.error(errors.not_a_conversation(mode), event)
            return
        in_conversation = mode == "auto"
        if in_conversation and self._default_run is not None:
            self.error(errors.active_response(self._default_run.id), event)
            return
        out_of_band = sum(1 for s in self._streams if isinstance(s, ResponseRun) and s is not self._default_run)
        if not in_conversation and out_of_band >= self.limits.max_parallel_responses:
            self.error(errors.too_many_responses(self.limits.max_parallel_responses), event)
            return
        profile = models.profile(self.config["model"])
        if "reasoning" in params and not profile.reasoning:
            self.error(session_config.reasoning_unsupported("response.reasoning"), event)
            return
        context = self._context(params, event)
        if context is None:
            return
        items, (context_tokens, audio_ms) = context
        session = self.config
        output = params.get("audio", {}).get("output", {})
        instructions = params.get("instructions", session["instructions"])
        # The session's tools were put in order when it was updated; a response's own, here.
        tools = [session_config.normalize_tool(t) for t in params["tools"]] if "tools" in params else session["tools"]
        settings = ResponseSettings(
            output_modalities=list(params.get("output_modalities") or session["output_modalities"]),
            instructions=instructions,
            tools=tools,
            tool_choice=params.get("tool_choice", session["tool_choice"]),
            max_output_tokens=params.get("max_output_tokens", session["max_output_tokens"]),
            # The session config is replaced, never changed in place: its parts may be shared.
            output_format=output.get("format", session["audio"]["output"]["format"]),
            voice=output.get("voice", session["audio"]["output"]["voice"]),
            metadata=params.get("metadata"),
            in_conversation=in_conversation,
            context_cost=(self._prompt_tokens(instructions, tools) + context_tokens, audio_ms),
            profile=profile,
            reasoning_effort=((params.get("reasoning") or session.get("reasoning") or {}).get("effort")
                              if profile.reasoning else None),
            on_call=self.media is not None,
        )
        reply = self.responder.reply(Turn(
            items=items, instructions=settings.instructions, tools=settings.tools,
            tool_choice=settings.tool_choice, output_modalities=settings.output_modalities,
            metadata=settings.metadata, index=self._responses, session=session))
        self._responses += 1
        if isinstance(reply, ErrorReply):
            self.error(ApiError(reply.message, type=reply.type, code=reply.code, param=reply.param), event)
            return
        run = ResponseRun(response_id=self.ids.response(), settings=settings, reply=reply,
                          conversation=self.conversation, ids=self.ids, pacing=self.limits.pacing,
                          previous_input_tokens=self._last_input_tokens, on_audio=self._audio_started)
        run.due_at = self.clock.now()
        run.stall_when = self.stall_when
        created = run.created_event()
        self._outbox.append(created)
        if self.stall_when is not None and self.stall_when(created):
            run.stalled = True
        self._streams.append(run)
        if in_conversation:
            self._default_run = run

    def _prompt_tokens(self, instructions: str, tools: list[dict[str, Any]]) -> int:
        """Tokens of the instructions and tools, counted again only when they change."""
        if instructions is not self._prompt[0] or tools is not self._prompt[1]:
            self._prompt = (instructions, tools, count_tokens(instructions) + count_tokens(json.dumps(tools)))
        return self._prompt[2]

    def _audio_started(self, item_id: str, fmt: formats.Format) -> None:
        self._audio_produced = True
        self._audio_formats[item_id] = fmt

    def _context(self, params: dict[str, Any],
                 event: dict[str, Any] | None) -> tuple[Items, tuple[int, float]] | None:
        """The items the model sees and what they cost: `response.input` when given (references resolved),
        else the conversation."""
        if "input" not in params:
            conversation = self.conversation
            return conversation.view(), (conversation.text_tokens, conversation.audio_ms)
        items, heard = [], {}
        for index, given in enumerate(params["input"]):
            if given.get("type") == "item_reference":
                found = self.conversation.get(given["id"])
                if found is None:
                    self.error(errors.unknown_reference(index, given["id"]), event)
                    return None
                items.append(found)
            else:
                problem = audio_problem(given, f"response.input[{index}]")
                if problem is not None:
                    self.error(problem, event)
                    return None
                item, words = self.stored_item(given, given.get("id") or self.ids.item())
                items.append(item)
                if words:
                    heard[item["id"]] = words
        tokens, audio_ms = 0, 0.0
        for item in items:
            item_tokens, item_ms = cost(item)
            tokens, audio_ms = tokens + item_tokens, audio_ms + item_ms
        return Items(items, {**self.conversation.heard_of(items), **heard}), (tokens, audio_ms)

    EVENTS: ClassVar[EventTable] = realtime_socket_events(
        session_update=_session_update, session_close=_session_close, response_create=_response_create,
        response_cancel=_response_cancel)
    CALL_EVENTS: ClassVar[EventTable] = realtime_socket_events(
        session_update=_session_update, session_close=_session_close, response_create=_response_create,
        response_cancel=_response_cancel, output_audio_buffer_clear=_output_audio_buffer_clear)
