"""What voice-agent and transcription sessions share: a conversation of items and input audio.

`ConversationSession` holds the handlers of the audio buffer events (`input_audio_buffer.*`) and of the
item events (`conversation.item.*`, reference 2.1). The kinds built on it list these handlers in
their own `EventTable`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from mockserver.audio import formats
from mockserver.protocol import base64_audio, errors, session_config
from mockserver.protocol.clock import Clock
from mockserver.protocol.conversation import Conversation, clone, public
from mockserver.protocol.errors import ApiError
from mockserver.protocol.ids import IdSource
from mockserver.protocol.input_audio import InputAudio
from mockserver.protocol.session import EventTable, Handler, Limits, Session
from mockserver.protocol.validation import Schemas


class ConversationSession(Session):
    def __init__(self, *, ids: IdSource, clock: Clock, schemas: Schemas, limits: Limits | None = None,
                 events: EventTable | None = None) -> None:
        super().__init__(ids=ids, clock=clock, schemas=schemas, limits=limits, events=events)
        self.conversation = Conversation(ids.conversation())
        self.input_audio = InputAudio(self)
        self._audio_formats: dict[str, formats.Format] = {}  # item id -> format of its stored output audio

    # -- the AudioHost interface ----------------------------------------------------------------

    def unintelligible(self) -> str:
        return self.limits.unintelligible

    def hear_call_audio(self, pcm: bytes) -> None:
        """Audio from a call's media track (PCM16 24 kHz mono), as if appended to the input buffer."""
        from mockserver.audio import codecs  # numpy: loaded with the first call, not at start-up

        fmt = self.input_audio.format
        self.input_audio.append(pcm if fmt == "audio/pcm" else codecs.encode(pcm, fmt))

    def user_audio_says(self, turn: int) -> str | None:
        """What the `turn`-th committed user audio of the session says, when a scenario scripts it
        (`user_audio`: for audio the speech codec cannot hear, a recording of a real voice)."""
        script = getattr(getattr(self, "responder", None), "user_audio", None) or ()
        return script[turn] if turn < len(script) else None

    def speech_started(self) -> None:
        """Speech started: nothing to interrupt here (voice agents stop their answer)."""

    def turn_ended(self) -> None:
        """Turn detection committed a turn: nothing to answer here (voice agents answer it)."""

    def stream(self, run: Any) -> None:
        self._streams.append(run)

    # -- timers ---------------------------------------------------------------------------------

    def _tick(self, now: float) -> None:
        self.input_audio.check_idle(now)

    def _deadline(self) -> float | None:
        return self.input_audio.idle_deadline

    def _stopped(self) -> None:
        self.input_audio.idle_deadline = None

    def _apply_update(self, event: dict[str, Any],
                      apply: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]) -> None:
        """`session.update` with the kind's rules (`apply`): the new session, or the error and no change."""
        try:
            self.config = apply(self.config, event["session"])
        except session_config.UpdateRejected as rejected:
            self.error(rejected.error, event)
            return
        self.emit("session.updated", session=self.config)

    # -- the audio buffer -----------------------------------------------------------------------

    def _append(self, event: dict[str, Any]) -> None:
        data = self.appended_audio(event)
        if data is not None:
            self.input_audio.append(data)

    def _commit(self, event: dict[str, Any]) -> None:
        problem = self.input_audio.commit()
        if problem is not None:
            self.error(problem, event)

    def _clear(self, event: dict[str, Any]) -> None:
        self.input_audio.clear()

    # -- conversation items ---------------------------------------------------------------------

    def _item_create(self, event: dict[str, Any]) -> None:
        given = event["item"]
        after = event.get("previous_item_id")
        if after not in (None, "root") and after not in self.conversation:
            self.error(errors.no_previous_item(after), event)
            return
        item_id = given.get("id") or self.ids.item()
        if item_id in self.conversation:
            self.error(errors.duplicate_item(item_id), event)
            return
        problem = audio_problem(given, "item")
        if problem is not None:
            self.error(problem, event)
            return
        item, heard = self.stored_item(given, item_id)
        previous = self.conversation.insert(item, None if after == "root" else after, root=after == "root")
        if heard:
            self.conversation.hear(item_id, heard)
        self.emit("conversation.item.added", previous_item_id=previous, item=public(item))
        self.emit("conversation.item.done", previous_item_id=previous, item=public(item))

    def _item_retrieve(self, event: dict[str, Any]) -> None:
        self._sync_streaming_items()
        item = self.conversation.get(event["item_id"])
        if item is None:
            self.error(errors.no_such_item("retrieving", "item_retrieve_invalid_item_id", event["item_id"]), event)
            return
        self.emit("conversation.item.retrieved", item=clone(item))

    def _item_delete(self, event: dict[str, Any]) -> None:
        if not self.conversation.delete(event["item_id"]):
            self.error(errors.no_such_item("deleting", "item_delete_invalid_item_id", event["item_id"]), event)
            return
        self.emit("conversation.item.deleted", item_id=event["item_id"])

    def _item_truncate(self, event: dict[str, Any]) -> None:
        item_id, index, end_ms = event["item_id"], event["content_index"], event["audio_end_ms"]
        self._sync_streaming_items()
        item = self.conversation.get(item_id)
        if item is None:
            self.error(errors.no_such_item("truncating", "item_truncate_invalid_item_id", item_id), event)
            return
        content = item.get("content") or []
        if item.get("role") != "assistant" or index >= len(content) or content[index].get("type") != "output_audio":
            self.error(errors.not_output_audio(), event)
            return
        fmt = self._audio_formats.get(item_id, "audio/pcm")
        audio = base64.b64decode(content[index].get("audio") or "")
        length_ms = formats.duration_ms(len(audio), fmt)
        if end_ms > length_ms:
            self.error(errors.truncate_too_long(end_ms, length_ms), event)
            return
        frame = 2 if fmt == "audio/pcm" else 1
        keep = int(end_ms * formats.bytes_per_second(fmt) / 1000) // frame * frame
        # The server drops the unplayed audio and the transcript of that part (reference 4f).
        content[index]["audio"] = base64.b64encode(audio[:keep]).decode()
        content[index]["transcript"] = ""
        self.conversation.refresh(item_id)
        self.emit("conversation.item.truncated", item_id=item_id, content_index=index, audio_end_ms=end_ms)

    def stored_item(self, given: dict[str, Any], item_id: str) -> tuple[dict[str, Any], dict[int, str]]:
        """A client item as the conversation keeps it (id first, a status, no `object`, audio kept), and
        the words the model hears in its user audio parts that carry no transcript (by content index).

        `given` comes from a client event parsed for this alone, so its values are taken, not copied.
        User audio is listened to once, here.
        """
        item: dict[str, Any] = {"id": item_id, "type": given["type"]}
        if given["type"] != "function_call_output" or "status" in given:
            item["status"] = given.get("status") or "completed"
        for key, value in given.items():
            if key not in ("id", "type", "status", "object"):
                item[key] = value
        heard: dict[int, str] = {}
        for index, part in enumerate(item.get("content") or ()):
            if isinstance(part, dict) and part.get("type") == "input_audio":
                part.setdefault("transcript", None)
                if part["transcript"] is None:
                    heard[index] = self.input_audio.hear(base64.b64decode(part.get("audio") or ""))
        return item, heard

    def _sync_streaming_items(self) -> None:
        """Before a client event reads stored items: bring those still streaming up to date."""
        for stream in self._streams:
            stream.sync()


def audio_problem(item: dict[str, Any], where: str) -> ApiError | None:
    """The error for audio in an item's content that is not strict base64 (checked before it is stored:
    the audio of an item is decoded later, by a truncation or a response)."""
    for index, part in enumerate(item.get("content") or ()):
        if isinstance(part, dict) and isinstance(part.get("audio"), str) and not base64_audio.is_valid(part["audio"]):
            return errors.bad_base64(f"{where}.content[{index}].audio")
    return None


def realtime_socket_events(*, session_update: Handler, session_close: Handler, response_create: Handler,
                           response_cancel: Handler, output_audio_buffer_clear: Handler | None = None) -> EventTable:
    """The client events of the `/v1/realtime` socket, in the order of the live `invalid_value` message
    [OBS a, 2026-09-18], with the kind's own handlers for those the kinds answer differently.

    The two `session.`-prefixed ones are translation events the live socket lists too (their schemas are
    the translation ones). `output_audio_buffer.clear` is for WebRTC and SIP only: the table of a session on
    a call has it (last: its place in live's list is not captured).
    """
    on_call = (("output_audio_buffer.clear", "realtime/client", output_audio_buffer_clear),) \
        if output_audio_buffer_clear is not None else ()
    return EventTable(
        ("session.update", "realtime/client", session_update),
        ("session.close", "translation/client", session_close),
        ("input_audio_buffer.append", "realtime/client", ConversationSession._append),
        ("session.input_audio_buffer.append", "translation/client", ConversationSession._append),
        ("input_audio_buffer.commit", "realtime/client", ConversationSession._commit),
        ("input_audio_buffer.clear", "realtime/client", ConversationSession._clear),
        ("conversation.item.create", "realtime/client", ConversationSession._item_create),
        ("conversation.item.truncate", "realtime/client", ConversationSession._item_truncate),
        ("conversation.item.delete", "realtime/client", ConversationSession._item_delete),
        ("conversation.item.retrieve", "realtime/client", ConversationSession._item_retrieve),
        ("response.create", "realtime/client", response_create),
        ("response.cancel", "realtime/client", response_cancel),
        *on_call,
    )
