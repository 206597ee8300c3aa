"""The input audio of a session: the buffer, turn detection, the idle timeout and input transcription.

Every session kind that takes audio in holds one `InputAudio` (voice-agent and transcription sessions
today). It appends, commits and clears the buffer, runs the VAD of the session's `turn_detection` on
the real signal, streams transcripts of streaming models as the audio arrives, and turns a committed
turn into a user audio item with its transcription (reference 4(d), 4(g)). What differs between kinds
(barge-in, answering a turn) is asked of the `AudioHost`.

Each sample is looked at once: the VAD and the streaming transcription (`speech.Listener`) keep their
state between chunks, and a committed turn is transcribed once, at the commit.
"""

from __future__ import annotations

import base64
from collections import deque
from collections.abc import Mapping
from typing import Any, Protocol

from mockserver.audio import formats
from mockserver.protocol import errors
from mockserver.protocol.conversation import Conversation
from mockserver.protocol.errors import ApiError
from mockserver.protocol.ids import IdSource
from mockserver.protocol.transcription import (
    DEFAULT_DELAY,
    DELAY_MS,
    TranscriptionRun,
    delta_event,
    failed,
    is_streaming,
)

MIN_COMMIT_MS = 100


class AudioHost(Protocol):
    """What the input audio needs from the session that holds it."""

    ids: IdSource
    conversation: Conversation
    config: dict[str, Any]

    def emit(self, event_type: str, **fields: Any) -> None: ...

    def send(self, event: dict[str, Any]) -> None:
        """Queue an event that already has its `event_id`."""
        ...

    def stream(self, run: TranscriptionRun) -> None:
        """Stream a transcription beside whatever else streams."""
        ...

    def unintelligible(self) -> str:
        """What audio without words gives: "empty" (a transcript "") or "fail" (a `failed` event)."""
        ...

    def user_audio_says(self, turn: int) -> str | None:
        """What the n-th committed user audio says when a scenario scripts it (None: what the codec hears)."""
        ...

    def speech_started(self) -> None:
        """The VAD heard speech start (a voice agent stops talking: barge-in)."""
        ...

    def turn_ended(self) -> None:
        """Turn detection committed a turn (a voice agent answers it)."""
        ...


class InputAudio:
    def __init__(self, host: AudioHost) -> None:
        self._host = host
        self._buffer = bytearray()  # wire bytes since the last commit
        self._start_ms = 0.0  # where the buffer starts, in ms of all audio written this session
        self.written_ms = 0.0  # all audio written this session
        self._vad: Any = None  # audio.vad.Vad, built from the session's turn detection
        self._vad_config: dict[str, Any] | None = None
        self._listener: Any = None  # audio.speech.Listener of the turn in progress (streaming models)
        self._turns = 0  # user audio turns committed so far
        self._turn_item: str | None = None  # the id the next user audio item gets (announced by VAD events)
        self._streamed = ""  # what a streaming transcription model already sent for that item
        self._heard: deque[tuple[str, float]] = deque()  # words heard, and when (ms of audio), not yet sent
        self.idle_deadline: float | None = None  # server_vad idle_timeout_ms, on the session's clock
        self.transcribing: TranscriptionRun | None = None  # a streaming model's run of the last committed turn

    @property
    def _settings(self) -> Mapping[str, Any]:
        settings: Mapping[str, Any] = self._host.config["audio"]["input"]
        return settings

    @property
    def format(self) -> formats.Format:
        return formats.format_of(self._settings["format"])

    @property
    def speaking(self) -> bool:
        return self._vad is not None and bool(self._vad.speaking)

    # -- the buffer events ----------------------------------------------------------------------------

    def append(self, data: bytes) -> None:
        fmt = self.format
        vad = self._current_vad()  # before the clock of audio moves: a new VAD starts where this chunk does
        self._buffer += data
        self.written_ms += formats.duration_ms(len(data), fmt)
        streaming = is_streaming(self._transcription_model())
        if streaming or self._listener is not None or (vad is not None and vad.eagerness is not None):
            words = self._listen(data)  # before the VAD: semantic VAD asks what was said so far
            if streaming and words:
                self._heard.append((words, self.written_ms))
        if vad is not None:
            for kind, ms in vad.feed(_samples(data, fmt)):
                self._speech_started(ms) if kind == "speech_started" else self._speech_stopped(ms)
        if streaming:
            self._send_heard()

    def _send_heard(self) -> None:
        """Streaming models send each word `delay` after they heard it, while the user still speaks."""
        settings = self._settings["transcription"] or {}
        lag = DELAY_MS[settings.get("delay") or DEFAULT_DELAY]
        while self._heard and self._heard[0][1] + lag <= self.written_ms:
            words, _ = self._heard.popleft()
            self._turn_item = self._turn_item or self._host.ids.item()
            self._host.send(delta_event(self._host.ids, self._turn_item, words, self._logprobs_wanted()))
            self._streamed += words

    def commit(self) -> ApiError | None:
        """`input_audio_buffer.commit`: the buffer becomes a user item (an error under 100 ms)."""
        ms = formats.duration_ms(len(self._buffer), self.format)
        if ms < MIN_COMMIT_MS:
            return errors.commit_empty(ms)
        self._commit(self._take(None))
        return None

    def clear(self) -> None:
        self._take(None)
        self._host.emit("input_audio_buffer.cleared")

    # -- turn detection -----------------------------------------------------------------------------

    def check_idle(self, now: float) -> None:
        """server_vad `idle_timeout_ms`: nobody spoke after the last answer; commit the quiet and answer."""
        if self.idle_deadline is None or now < self.idle_deadline:
            return
        self.idle_deadline = None
        if self.speaking:
            return
        item_id = self._turn_item = self._turn_item or self._host.ids.item()
        self._host.emit("input_audio_buffer.timeout_triggered", audio_start_ms=int(self._start_ms),
                        audio_end_ms=int(self.written_ms), item_id=item_id)
        self._commit(self._take(None))
        self._host.turn_ended()

    def start_idle_timer(self, now: float) -> None:
        """The last answer finished: server_vad waits `idle_timeout_ms` for the user ("after the last
        response audio finished")."""
        turn_detection = self._settings["turn_detection"] or {}
        idle_ms = turn_detection.get("idle_timeout_ms")
        if idle_ms:
            self.idle_deadline = now + idle_ms / 1000

    def _current_vad(self) -> Any:
        """The VAD for the session's turn detection (rebuilt when it changes; None when it is off)."""
        config = self._settings["turn_detection"]
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
                                offset_ms=round(self.written_ms))
        return self._vad

    def _sentence_complete(self, start_ms: int, end_ms: int) -> bool:
        """Semantic VAD: does the speech heard so far end a sentence? (the speech codec tells)"""
        if self._listener is None:
            self._listen(b"")
        text = self._listener.text() or self._listener.heard
        return bool(text.rstrip().endswith((".", "?", "!")))

    def _speech_started(self, audio_start_ms: int) -> None:
        self._turn_item = self._turn_item or self._host.ids.item()
        self.idle_deadline = None
        self._host.emit("input_audio_buffer.speech_started", audio_start_ms=audio_start_ms, item_id=self._turn_item)
        if (self._settings["turn_detection"] or {}).get("interrupt_response", True):
            self._host.speech_started()

    def _speech_stopped(self, audio_end_ms: int) -> None:
        assert self._turn_item is not None
        self._host.emit("input_audio_buffer.speech_stopped", audio_end_ms=audio_end_ms, item_id=self._turn_item)
        self._commit(self._take(audio_end_ms))
        self._host.turn_ended()

    # -- the user item and its transcription ---------------------------------------------------------

    def _take(self, until_ms: float | None) -> bytes:
        """Remove the buffer's audio up to `until_ms` (all of it when None) and return it."""
        fmt = self.format
        if until_ms is None:
            cut = len(self._buffer)
        else:
            frame = 2 if fmt == "audio/pcm" else 1
            cut = int((until_ms - self._start_ms) * formats.bytes_per_second(fmt) / 1000) // frame * frame
            cut = max(0, min(cut, len(self._buffer)))
        taken = bytes(self._buffer[:cut])
        del self._buffer[:cut]
        self._start_ms += formats.duration_ms(cut, fmt)
        self._listener = None
        return taken

    def _commit(self, audio: bytes) -> None:
        """The user audio item: committed, added, done; then its transcription when the session asks."""
        host = self._host
        item_id = self._turn_item or host.ids.item()
        self._turn_item = None
        streamed, self._streamed = self._streamed, ""
        self._heard.clear()  # what was not sent yet goes with the transcription run
        item: dict[str, Any] = {"id": item_id, "type": "message", "status": "completed", "role": "user",
                                "content": [{"type": "input_audio", "audio": base64.b64encode(audio).decode(),
                                             "transcript": None}]}
        from mockserver.audio.speech import transcribe

        fmt = self.format
        scripted = host.user_audio_says(self._turns)
        self._turns += 1
        # Once per turn: the transcript and what the model hears (a scenario may say what the audio says).
        heard = scripted if scripted is not None else transcribe(to_pcm(audio, fmt))
        model = self._transcription_model()
        if model is not None and not (heard is None and host.unintelligible() == "fail"):
            item["content"][0]["transcript"] = heard or ""
        previous = host.conversation.insert(item)
        host.conversation.hear(item_id, {0: heard or ""})
        host.emit("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
        shown = {**item, "content": [{"type": "input_audio", "transcript": None}]}
        host.emit("conversation.item.added", previous_item_id=previous, item=shown)
        host.emit("conversation.item.done", previous_item_id=previous, item=shown)
        if model is None:
            return
        if heard is None and host.unintelligible() == "fail":
            host.send(failed(host.ids, item_id))
            return
        run = TranscriptionRun(
            item_id=item_id, transcript=heard or "", seconds=formats.duration_ms(len(audio), fmt) / 1000,
            model=model, with_logprobs=self._logprobs_wanted(), ids=host.ids, already_sent=streamed)
        host.stream(run)
        self.transcribing = run if is_streaming(model) else None

    def _listen(self, data: bytes) -> str:
        """Feed the turn's listener the new wire audio (made from the whole buffer when there is none,
        the new audio included); the words it completed."""
        if self._listener is None:
            from mockserver.audio.speech import Listener

            self._listener = Listener()
            data = bytes(self._buffer)
        words: str = self._listener.feed(to_pcm(data, self.format))
        return words

    def hear(self, audio: bytes) -> str:
        """The words in user audio of the session's input format ("" when it carries none)."""
        from mockserver.audio.speech import transcribe

        return transcribe(to_pcm(audio, self.format)) or ""

    def _transcription_model(self) -> str | None:
        transcription = self._settings["transcription"]
        return str(transcription.get("model") or "whisper-1") if transcription else None

    def _logprobs_wanted(self) -> bool:
        return "item.input_audio_transcription.logprobs" in (self._host.config.get("include") or ())


def to_pcm(data: bytes, fmt: formats.Format) -> bytes:
    """Wire audio as PCM16 24 kHz."""
    if fmt == "audio/pcm":
        return data
    from mockserver.audio.codecs import decode

    return decode(data, fmt)


def _samples(data: bytes, fmt: formats.Format) -> Any:
    """Wire audio as float samples at 24 kHz, for the VAD."""
    from mockserver.audio.codecs import pcm16_to_float

    return pcm16_to_float(to_pcm(data, fmt))
