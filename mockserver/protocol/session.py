"""The sans-I/O realtime session: client events in, server events out.

A `Session` never awaits, never touches a socket and never reads the wall clock: the transport
feeds it frames (`receive_frame`), takes what it produced (`poll`), asks when the next paced event
is due (`next_due`), and closes the socket when `close` is set. The WebSocket endpoint, the WebRTC
data channel and the SIP sideband all drive the same object.

One handler per client event type (`_HANDLERS`); invalid events get the validator's error and
change nothing; the session stays open except on expiry.
"""

from __future__ import annotations

import base64
import binascii
import copy
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from mockserver.audio import formats
from mockserver.protocol import session_config
from mockserver.protocol.clock import Clock
from mockserver.protocol.conversation import Conversation, public
from mockserver.protocol.errors import ApiError
from mockserver.protocol.ids import IdSource
from mockserver.protocol.responder import EchoResponder, ErrorReply, Responder, Turn
from mockserver.protocol.responses import Pacing, ResponseRun, ResponseSettings
from mockserver.protocol.transcription import TranscriptionRun, delta_event, failed, is_streaming
from mockserver.protocol.validation import EventValidator

MAX_APPEND_BYTES = 15 * 1024 * 1024  # "cannot exceed 15 MB" per append (reference 5.4)
MIN_COMMIT_MS = 100


@dataclass(frozen=True)
class Limits:
    session_seconds: float = session_config.SESSION_SECONDS
    max_append_bytes: int = MAX_APPEND_BYTES
    pacing: Pacing = field(default_factory=Pacing)
    unintelligible: str = "empty"  # audio carrying no words transcribes as "" ("empty") or fails ("fail")


@dataclass(frozen=True)
class Close:
    """The transport must close the connection with this code and reason."""

    code: int
    reason: str


# --- errors of the session (reference 4f, 5.2); [unverified] marks wording no capture shows ----------

def commit_empty(ms: float) -> ApiError:
    return ApiError("Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, "
                    f"but buffer only has {ms:.2f}ms of audio.", code="input_audio_buffer_commit_empty")


def active_response(response_id: str) -> ApiError:
    return ApiError(f"Conversation already has an active response in progress: {response_id}. Wait until the "
                    "response is finished before creating a new one.", code="conversation_already_has_active_response")


def cancel_not_active() -> ApiError:
    return ApiError("Cancellation failed: no active response found", code="response_cancel_not_active")


def session_expired() -> ApiError:
    return ApiError("Your session hit the maximum duration of 60 minutes.", code="session_expired")


def no_such_item(verb: str, code: str, item_id: str) -> ApiError:
    # "Error deleting item: the item with id '…' does not exist." [OBS]; truncate/retrieve by analogy.
    return ApiError(f"Error {verb} item: the item with id '{item_id}' does not exist.", code=code)


def no_previous_item(item_id: str) -> ApiError:  # [unverified]
    return ApiError(f"Error adding item: the previous item with id '{item_id}' does not exist.",
                    code="item_create_invalid_previous_item_id", param="previous_item_id")


def duplicate_item(item_id: str) -> ApiError:  # [unverified]
    return ApiError(f"Error adding item: an item with id '{item_id}' already exists.",
                    code="item_create_duplicate_item_id", param="item.id")


def not_output_audio() -> ApiError:  # reported wording, code null
    return ApiError("Only model output audio messages can be truncated")


def truncate_too_long(end_ms: int, length_ms: float) -> ApiError:  # [unverified] documented, code unknown
    return ApiError(f"Audio content of {length_ms:.0f}ms is shorter than audio_end_ms {end_ms}ms.",
                    code="invalid_value", param="audio_end_ms")


def bad_base64() -> ApiError:  # [unverified]
    return ApiError("Invalid 'audio': expected a base64-encoded string.", code="invalid_value", param="audio")


def append_too_large(length: int, limit: int) -> ApiError:  # documented limit, error not captured
    return ApiError(f"Invalid 'audio': string too long. Expected a string with maximum length {limit}, "
                    f"but got a string with length {length} instead.", code="string_above_max_length", param="audio")


def unknown_reference(index: int, item_id: str) -> ApiError:  # [unverified]
    return ApiError(f"Error creating response: the item with id '{item_id}' does not exist.",
                    code="invalid_value", param=f"response.input[{index}].id")


def not_a_conversation(value: str) -> ApiError:
    return ApiError(f"Invalid value: '{value}'. Supported values are: 'auto' and 'none'.", code="invalid_value",
                    param="response.conversation")


def no_responses_here() -> ApiError:  # [unverified] transcription sessions have no responses (reference 2.4)
    return ApiError("Responses are not supported in transcription sessions.", code="invalid_value", param="type")


def close_not_supported() -> ApiError:  # "only supported for translation sessions" [DOCS]
    return ApiError("session.close is only supported for translation sessions.", code="invalid_value", param="type")


class Session:
    def __init__(self, *, model: str, ids: IdSource, clock: Clock, responder: Responder | None = None,
                 limits: Limits | None = None, surface: str = "realtime", kind: str = "realtime",
                 initial: dict[str, Any] | None = None) -> None:
        self.ids = ids
        self.clock = clock
        self.responder: Responder = responder or EchoResponder()
        self.limits = limits or Limits()
        self.validator = EventValidator(surface)
        started = clock.now()
        self.expires_at = started + self.limits.session_seconds
        self.kind = kind  # "realtime" or "transcription"
        expires = int(started + session_config.SESSION_SECONDS)
        self.config = (session_config.new_transcription_session(session_id=ids.session(), expires_at=expires)
                       if kind == "transcription" else
                       session_config.new_realtime_session(session_id=ids.session(), model=model, expires_at=expires))
        if initial is not None and initial.get("type", "realtime") == kind:  # a client secret's configuration
            if kind == "transcription":
                self.config = session_config.apply_transcription_update(self.config, initial)
            else:
                self.config = session_config.apply_update(self.config, initial, audio_produced=False)
        self.conversation = Conversation(ids.conversation())
        self.close: Close | None = None
        self._outbox: deque[dict[str, Any]] = deque()
        self._runs: list[ResponseRun] = []
        self._default_run: ResponseRun | None = None
        self._input_audio = bytearray()  # wire bytes since the last commit
        self._input_start_ms = 0.0  # where the buffer starts, in ms of all audio written this session
        self._audio_ms = 0.0  # all audio written this session
        self._vad: Any = None  # audio.vad.Vad, built from the session's turn detection
        self._vad_config: dict[str, Any] | None = None
        self._turn_item: str | None = None  # the id the next user audio item gets (announced by VAD events)
        self._streamed = ""  # what a streaming transcription model already sent for that item
        self._transcriptions: list[TranscriptionRun] = []
        self._idle_deadline: float | None = None  # server_vad idle_timeout_ms, on the session's clock
        self._audio_produced = False
        self._audio_formats: dict[str, formats.Format] = {}  # item id -> format of its stored output audio
        self._responses = 0
        self._last_input_tokens = 0
        # Asked for each event a response releases: stall the response after it? (fault `stall`)
        self.stall_when: Callable[[dict[str, Any]], bool] | None = None
        # `self.config` is replaced, never mutated (apply_update returns a new dict), so events may share it.
        self._emit("session.created", session=self.config)

    # -- what the transport calls ---------------------------------------------------------------

    def receive_frame(self, frame: str | bytes) -> None:
        """One WebSocket (or data channel) message from the client."""
        if self.close is not None:
            return
        event, problems = self.validator.check_frame(frame)
        if problems:
            self._error(problems[0])
            return
        assert event is not None
        self._HANDLERS[event["type"]](self, event)

    def poll(self, limit: int = 64) -> list[dict[str, Any]]:
        """Server events ready now, in order (at most `limit` from streaming responses and transcriptions)."""
        now = self.clock.now()
        self._check_idle(now)
        out = list(self._outbox)
        self._outbox.clear()
        if len(self._runs) == 1 and not self._transcriptions:  # the common case, kept cheap
            run = self._runs[0]
            out += run.release(now, limit)
            if run.finished:
                self._retire(run)
            return out
        streams: list[ResponseRun | TranscriptionRun] = [*self._runs, *self._transcriptions]
        released = True
        while released and len(out) < limit:  # one event from each stream in turn
            released = False
            for stream in streams:
                if not stream.finished:
                    events = stream.release(now, 1)
                    out += events
                    released = released or bool(events)
        for run in [r for r in self._runs if r.finished]:
            self._retire(run)
        self._transcriptions = [t for t in self._transcriptions if not t.finished]
        return out

    def next_due(self) -> float | None:
        """When a paced event will be ready (clock time), or None when nothing is due."""
        if self._outbox or self._transcriptions:
            return self.clock.now()
        due = [run.due_at for run in self._runs if not run.stalled]
        if self._idle_deadline is not None:
            due.append(self._idle_deadline)
        return min(due, default=None)

    def inject(self, event: dict[str, Any]) -> dict[str, Any]:
        """Queue a server event from outside (the admin API); it gets an event_id when it has none."""
        event = {"event_id": self.ids.event(), **event} if "event_id" not in event else dict(event)
        self._outbox.append(event)
        return event

    @property
    def busy(self) -> bool:
        return bool(self._outbox or self._transcriptions or any(not run.stalled for run in self._runs))

    def expire(self) -> None:
        """The session hit its maximum duration: `session_expired`, then close 1001 (reference 5.2)."""
        if self.close is not None:
            return
        error = session_expired()
        self._runs.clear()  # the close cuts whatever was streaming
        self._transcriptions.clear()
        self._default_run = None
        self._idle_deadline = None
        self._error(error)
        self.close = Close(1001, error.message)

    def check_expiry(self) -> None:
        if self.clock.now() >= self.expires_at:
            self.expire()

    # -- helpers --------------------------------------------------------------------------------

    def _emit(self, event_type: str, **fields: Any) -> None:
        self._outbox.append({"type": event_type, "event_id": self.ids.event(), **fields})

    def _error(self, error: ApiError, client_event: dict[str, Any] | None = None) -> None:
        if client_event is not None and isinstance(client_event.get("event_id"), str):
            error = error.for_event(client_event["event_id"])
        self._emit("error", error=error.payload())

    def _retire(self, run: ResponseRun) -> None:
        self._runs.remove(run)
        if run is self._default_run:
            self._default_run = None
            idle_ms = (self.config["audio"]["input"]["turn_detection"] or {}).get("idle_timeout_ms")
            if idle_ms:  # server_vad: "idle_timeout_ms after the last response audio finished"
                self._idle_deadline = self.clock.now() + idle_ms / 1000
        self._last_input_tokens = run.input_tokens

    def _input_format(self) -> formats.Format:
        return formats.format_of(self.config["audio"]["input"]["format"])

    # -- one handler per client event type ------------------------------------------------------

    def _session_update(self, event: dict[str, Any]) -> None:
        try:
            if self.kind == "transcription":
                self.config = session_config.apply_transcription_update(self.config, event["session"])
            else:
                self.config = session_config.apply_update(self.config, event["session"],
                                                          audio_produced=self._audio_produced)
        except session_config.UpdateRejected as rejected:
            self._error(rejected.error, event)
            return
        self._emit("session.updated", session=self.config)

    def _session_close(self, event: dict[str, Any]) -> None:
        self._error(close_not_supported(), event)

    def _append(self, event: dict[str, Any]) -> None:
        text = event["audio"]
        limit = (self.limits.max_append_bytes + 2) // 3 * 4  # base64 length of the byte limit
        if len(text) > limit:
            self._error(append_too_large(len(text), limit), event)
            return
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            self._error(bad_base64(), event)
            return
        fmt = self._input_format()
        vad = self._current_vad()  # before the clock of audio moves: a new VAD starts where this chunk does
        self._input_audio += data
        self._audio_ms += formats.duration_ms(len(data), fmt)
        if vad is not None:
            for kind, ms in vad.feed(_samples(data, fmt)):
                self._speech_started(ms) if kind == "speech_started" else self._speech_stopped(ms)
        model = self._transcription_model()
        if is_streaming(model) and vad is None:  # streaming models transcribe as the audio arrives
            from mockserver.audio.speech import heard_so_far

            heard = heard_so_far(_pcm(bytes(self._input_audio), fmt))
            if len(heard) > len(self._streamed) and heard.startswith(self._streamed):
                self._turn_item = self._turn_item or self.ids.item()
                self._outbox.append(delta_event(self.ids, self._turn_item, heard[len(self._streamed):],
                                                self._logprobs_wanted()))
                self._streamed = heard

    def _commit(self, event: dict[str, Any]) -> None:
        ms = formats.duration_ms(len(self._input_audio), self._input_format())
        if ms < MIN_COMMIT_MS:
            self._error(commit_empty(ms), event)
            return
        self._commit_audio(self._take_audio(None))

    def _clear(self, event: dict[str, Any]) -> None:
        self._take_audio(None)
        self._emit("input_audio_buffer.cleared")

    # -- input audio: the buffer, turn detection, transcription ---------------------------------

    def _take_audio(self, until_ms: float | None) -> bytes:
        """Remove the buffer's audio up to `until_ms` (all of it when None) and return it."""
        fmt = self._input_format()
        if until_ms is None:
            cut = len(self._input_audio)
        else:
            frame = 2 if fmt == "audio/pcm" else 1
            cut = int((until_ms - self._input_start_ms) * formats.bytes_per_second(fmt) / 1000) // frame * frame
            cut = max(0, min(cut, len(self._input_audio)))
        taken = bytes(self._input_audio[:cut])
        del self._input_audio[:cut]
        self._input_start_ms += formats.duration_ms(cut, fmt)
        return taken

    def _commit_audio(self, audio: bytes) -> None:
        """The user audio item: committed, added, done; then its transcription when the session asks."""
        item_id = self._turn_item or self.ids.item()
        self._turn_item = None
        streamed, self._streamed = self._streamed, ""
        item: dict[str, Any] = {"id": item_id, "type": "message", "status": "completed", "role": "user",
                                "content": [{"type": "input_audio", "audio": base64.b64encode(audio).decode(),
                                             "transcript": None}]}
        previous = self.conversation.insert(item)
        self._emit("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
        self._emit("conversation.item.added", previous_item_id=previous, item=public(item))
        self._emit("conversation.item.done", previous_item_id=previous, item=public(item))
        model = self._transcription_model()
        if model is None:
            return
        from mockserver.audio.speech import transcribe

        fmt = self._input_format()
        text = transcribe(_pcm(audio, fmt))
        # What audio without words gives: the scenario's say (`unintelligible_audio`), else the server's.
        unintelligible = getattr(self.responder, "unintelligible_audio", None) or self.limits.unintelligible
        if text is None and unintelligible == "fail":
            self._outbox.append(failed(self.ids, item_id))
            return
        item["content"][0]["transcript"] = text or ""
        self._transcriptions.append(TranscriptionRun(
            item_id=item_id, transcript=text or "", seconds=formats.duration_ms(len(audio), fmt) / 1000, model=model,
            with_logprobs=self._logprobs_wanted(), ids=self.ids, already_sent=streamed))

    def _transcription_model(self) -> str | None:
        transcription = self.config["audio"]["input"]["transcription"]
        return str(transcription.get("model") or "whisper-1") if transcription else None

    def _logprobs_wanted(self) -> bool:
        return "item.input_audio_transcription.logprobs" in (self.config.get("include") or ())

    def _current_vad(self) -> Any:
        """The VAD for the session's turn detection (rebuilt when it changes; None when it is off)."""
        config = self.config["audio"]["input"]["turn_detection"]
        if config != self._vad_config:
            self._vad_config = config
            self._vad = None
            if config is not None:
                from mockserver.audio.vad import Vad

                semantic = config.get("type") == "semantic_vad"
                self._vad = Vad(threshold=config.get("threshold", 0.5),
                                prefix_padding_ms=config.get("prefix_padding_ms", 300),
                                silence_duration_ms=config.get("silence_duration_ms", 200),
                                eagerness=config.get("eagerness", "auto") if semantic else None,
                                complete=self._sentence_complete if semantic else None,
                                offset_ms=round(self._audio_ms))
        return self._vad

    def _sentence_complete(self, start_ms: int, end_ms: int) -> bool:
        """Semantic VAD: does the speech heard so far end a sentence? (the speech codec tells)"""
        from mockserver.audio.speech import heard_so_far, transcribe

        audio = _pcm(bytes(self._input_audio), self._input_format())
        text = transcribe(audio) or heard_so_far(audio)
        return text.rstrip().endswith((".", "?", "!"))

    def _speech_started(self, audio_start_ms: int) -> None:
        self._turn_item = self._turn_item or self.ids.item()
        self._idle_deadline = None
        self._emit("input_audio_buffer.speech_started", audio_start_ms=audio_start_ms, item_id=self._turn_item)
        config = self.config["audio"]["input"]["turn_detection"] or {}
        if self._default_run is not None and config.get("interrupt_response", True):
            # Barge-in: "speech that starts while a response is playing cancels it" (reference 4(d)).
            run = self._default_run
            self._outbox.extend(run.cancel("turn_detected"))
            self._retire(run)
            self._idle_deadline = None

    def _speech_stopped(self, audio_end_ms: int) -> None:
        assert self._turn_item is not None
        self._emit("input_audio_buffer.speech_stopped", audio_end_ms=audio_end_ms, item_id=self._turn_item)
        self._commit_audio(self._take_audio(audio_end_ms))
        self._respond_to_turn()

    def _respond_to_turn(self) -> None:
        config = self.config["audio"]["input"]["turn_detection"] or {}
        if self.kind == "realtime" and config.get("create_response", True) and self._default_run is None:
            self._start_response({}, None)

    def _check_idle(self, now: float) -> None:
        """server_vad `idle_timeout_ms`: nobody spoke after the last answer; commit the quiet and answer."""
        if self._idle_deadline is None or now < self._idle_deadline or self._default_run is not None:
            return
        self._idle_deadline = None
        if self._vad is not None and self._vad.speaking:
            return
        item_id = self._turn_item = self._turn_item or self.ids.item()
        self._emit("input_audio_buffer.timeout_triggered", audio_start_ms=int(self._input_start_ms),
                   audio_end_ms=int(self._audio_ms), item_id=item_id)
        self._commit_audio(self._take_audio(None))
        self._respond_to_turn()

    def _item_create(self, event: dict[str, Any]) -> None:
        given = event["item"]
        after = event.get("previous_item_id")
        if after not in (None, "root") and after not in self.conversation:
            self._error(no_previous_item(after), event)
            return
        item_id = given.get("id") or self.ids.item()
        if item_id in self.conversation:
            self._error(duplicate_item(item_id), event)
            return
        item = _stored_item(given, item_id)
        previous = self.conversation.insert(item, None if after == "root" else after, root=after == "root")
        self._emit("conversation.item.added", previous_item_id=previous, item=public(item))
        self._emit("conversation.item.done", previous_item_id=previous, item=public(item))

    def _item_retrieve(self, event: dict[str, Any]) -> None:
        item = self.conversation.get(event["item_id"])
        if item is None:
            self._error(no_such_item("retrieving", "item_retrieve_invalid_item_id", event["item_id"]), event)
            return
        self._emit("conversation.item.retrieved", item=copy.deepcopy(item))

    def _item_delete(self, event: dict[str, Any]) -> None:
        if not self.conversation.delete(event["item_id"]):
            self._error(no_such_item("deleting", "item_delete_invalid_item_id", event["item_id"]), event)
            return
        self._emit("conversation.item.deleted", item_id=event["item_id"])

    def _item_truncate(self, event: dict[str, Any]) -> None:
        item_id, index, end_ms = event["item_id"], event["content_index"], event["audio_end_ms"]
        item = self.conversation.get(item_id)
        if item is None:
            self._error(no_such_item("truncating", "item_truncate_invalid_item_id", item_id), event)
            return
        content = item.get("content") or []
        if item.get("role") != "assistant" or index >= len(content) or content[index].get("type") != "output_audio":
            self._error(not_output_audio(), event)
            return
        fmt = self._audio_formats.get(item_id, "audio/pcm")
        audio = base64.b64decode(content[index].get("audio") or "")
        length_ms = formats.duration_ms(len(audio), fmt)
        if end_ms > length_ms:
            self._error(truncate_too_long(end_ms, length_ms), event)
            return
        frame = 2 if fmt == "audio/pcm" else 1
        keep = int(end_ms * formats.bytes_per_second(fmt) / 1000) // frame * frame
        # The server drops the unplayed audio and the transcript of that part (reference 4f).
        content[index]["audio"] = base64.b64encode(audio[:keep]).decode()
        content[index]["transcript"] = ""
        self._emit("conversation.item.truncated", item_id=item_id, content_index=index, audio_end_ms=end_ms)

    def _response_create(self, event: dict[str, Any]) -> None:
        if self.kind == "transcription":
            self._error(no_responses_here(), event)
            return
        self._start_response(event.get("response") or {}, event)

    def _start_response(self, params: dict[str, Any], event: dict[str, Any] | None) -> None:
        """A response for `response.create` (event) or for a turn the VAD detected (event None)."""
        mode = params.get("conversation", "auto")
        if mode not in ("auto", "none"):
            self._error(not_a_conversation(mode), event)
            return
        in_conversation = mode == "auto"
        if in_conversation and self._default_run is not None:
            self._error(active_response(self._default_run.id), event)
            return
        context = self._context(params, event)
        if context is None:
            return
        session = self.config
        output = params.get("audio", {}).get("output", {})
        settings = ResponseSettings(
            output_modalities=list(params.get("output_modalities") or session["output_modalities"]),
            instructions=params.get("instructions", session["instructions"]),
            tools=[session_config.normalize_tool(t) for t in params.get("tools", session["tools"])],
            tool_choice=params.get("tool_choice", session["tool_choice"]),
            max_output_tokens=params.get("max_output_tokens", session["max_output_tokens"]),
            output_format=copy.deepcopy(output.get("format", session["audio"]["output"]["format"])),
            voice=copy.deepcopy(output.get("voice", session["audio"]["output"]["voice"])),
            metadata=copy.deepcopy(params.get("metadata")),
            in_conversation=in_conversation,
            context=context,
        )
        reply = self.responder.reply(Turn(
            items=self._heard(context), instructions=settings.instructions, tools=settings.tools,
            tool_choice=settings.tool_choice, output_modalities=settings.output_modalities,
            metadata=settings.metadata, index=self._responses, session=copy.deepcopy(session)))
        self._responses += 1
        if isinstance(reply, ErrorReply):
            self._error(ApiError(reply.message, type=reply.type, code=reply.code, param=reply.param), event)
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
        self._runs.append(run)
        if in_conversation:
            self._default_run = run

    def _heard(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The items as the model takes them in: it hears the words of user audio even when the session
        transcribes nothing (the transcript field stays as the client sees it in the conversation)."""
        heard = copy.deepcopy(items)
        for item in heard:
            for part in item.get("content") or ():
                if isinstance(part, dict) and part.get("type") == "input_audio" and part.get("transcript") is None:
                    from mockserver.audio.speech import transcribe

                    audio = _pcm(base64.b64decode(part.get("audio") or ""), self._input_format())
                    part["transcript"] = transcribe(audio) or ""
        return heard

    def _audio_started(self, item_id: str, fmt: formats.Format) -> None:
        self._audio_produced = True
        self._audio_formats[item_id] = fmt

    def _context(self, params: dict[str, Any], event: dict[str, Any] | None) -> list[dict[str, Any]] | None:
        """The items the model sees: `response.input` when given (references resolved), else the conversation."""
        if "input" not in params:
            return self.conversation.items()
        items = []
        for index, given in enumerate(params["input"]):
            if given.get("type") == "item_reference":
                found = self.conversation.get(given["id"])
                if found is None:
                    self._error(unknown_reference(index, given["id"]), event)
                    return None
                items.append(found)
            else:
                items.append(_stored_item(given, given.get("id") or self.ids.item()))
        return items

    def _response_cancel(self, event: dict[str, Any]) -> None:
        if self.kind == "transcription":
            self._error(no_responses_here(), event)
            return
        wanted = event.get("response_id")
        run = next((r for r in self._runs if r.id == wanted), None) if wanted else self._default_run
        if run is None:
            self._error(cancel_not_active(), event)
            return
        self._outbox.extend(run.cancel("client_cancelled"))
        self._retire(run)

    _HANDLERS: ClassVar[dict[str, Callable[[Session, dict[str, Any]], None]]] = {
        "session.update": _session_update,
        "session.close": _session_close,
        "input_audio_buffer.append": _append,
        "session.input_audio_buffer.append": _append,
        "input_audio_buffer.commit": _commit,
        "input_audio_buffer.clear": _clear,
        "conversation.item.create": _item_create,
        "conversation.item.retrieve": _item_retrieve,
        "conversation.item.delete": _item_delete,
        "conversation.item.truncate": _item_truncate,
        "response.create": _response_create,
        "response.cancel": _response_cancel,
    }


def _stored_item(given: dict[str, Any], item_id: str) -> dict[str, Any]:
    """A client item as the conversation keeps it: id first, a status, no `object`, audio kept."""
    item: dict[str, Any] = {"id": item_id, "type": given["type"]}
    if given["type"] != "function_call_output" or "status" in given:
        item["status"] = given.get("status") or "completed"
    for key, value in given.items():
        if key not in ("id", "type", "status", "object"):
            item[key] = copy.deepcopy(value)
    for part in item.get("content") or ():
        if isinstance(part, dict) and part.get("type") == "input_audio":
            part.setdefault("transcript", None)
    return item


def _pcm(data: bytes, fmt: formats.Format) -> bytes:
    """Wire audio as PCM16 24 kHz."""
    if fmt == "audio/pcm":
        return data
    from mockserver.audio.codecs import decode

    return decode(data, fmt)


def _samples(data: bytes, fmt: formats.Format) -> Any:
    """Wire audio as float samples at 24 kHz, for the VAD."""
    from mockserver.audio.codecs import pcm16_to_float

    return pcm16_to_float(_pcm(data, fmt))
