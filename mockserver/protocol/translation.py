"""The translation session (`/v1/realtime/translations`, `session.type: "translation"`): a continuous
interpreter (reference 2.3, 4(h)).

Audio goes in without turns (`session.input_audio_buffer.append`, 24 kHz PCM16, taken in 200 ms engine
frames); out come `session.input_transcript.delta` (when input transcription is on),
`session.output_transcript.delta` and `session.output_audio.delta` (400 ms frames of PCM16, as live
sends them). The translation is deterministic:

- what was said is heard with the speech codec (audio/speech.py), exactly; other audio says nothing, and
  after a pause (400 ms of quiet) the engine listens afresh;
- each utterance (a sentence spoken with the codec) is translated as soon as it ends: by the scenario's
  phrase table for the target language (`audio.output.language`) when it has the sentence, else into a
  visible pseudo-translation, `[<language>] <the words>`;
- the translated words are spoken with the speech codec, so a test can decode what was "said".

Output goes out as fast as the client reads it, or, with real-time pacing (`Pacing.realtime_audio`), as
live does: an utterance's output starts `LATENCY` after it ended and its audio frames come at the rate
they play. `session.close` translates what is pending, sends the rest, then `session.closed`.
"""

from __future__ import annotations

import base64
from collections import deque
from collections.abc import Mapping
from typing import Any, ClassVar

from mockserver.protocol import errors
from mockserver.protocol.clock import Clock
from mockserver.protocol.ids import IdSource
from mockserver.protocol.output_audio import OutputAudioBuffer
from mockserver.protocol.session import EventTable, Limits, Session
from mockserver.protocol.session_config import SESSION_SECONDS
from mockserver.protocol.tokens import tokens
from mockserver.protocol.validation import Schemas

ENGINE_FRAME = 9_600  # bytes: 200 ms of PCM16 24 kHz, the unit the engine takes input in
PAUSE_FRAMES = 2  # quiet engine frames that end an utterance never heard whole (noise, a cut): it is dropped
OUTPUT_FRAME = 19_200  # bytes: 400 ms, the size of live's output audio deltas [OBS d]
LATENCY = 1.5  # seconds from the end of an utterance to its first output, in real-time mode
DEFAULT_LANGUAGE = "en"  # the target when `audio.output.language` is not set (live's default is not captured)


def new_translation_session(*, session_id: str, model: str, expires_at: int) -> dict[str, Any]:
    """The session of `session.created`, key for key as the reference's example (examples/translation.*)."""
    return {"id": session_id, "type": "translation", "model": model, "expires_at": expires_at,
            "audio": {"input": {"transcription": None, "noise_reduction": None}, "output": {"language": None}}}


def apply_translation_update(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """The session after a (schema-valid) `session.update`: only the audio settings change (type and
    model are fixed at creation); the parts it does not name are shared with the session before it."""
    audio = update.get("audio") or {}
    session = dict(current)
    session["audio"] = dict(current["audio"])
    if "input" in audio:
        session["audio"]["input"] = {**current["audio"]["input"], **audio["input"]}
    if "output" in audio:
        session["audio"]["output"] = {**current["audio"]["output"], **audio["output"]}
    return session


def pseudo_translation(text: str, language: str) -> str:
    return f"[{language}] {text}"


def closed_session() -> errors.ApiError:  # [unverified] the mock's own wording for audio after session.close
    return errors.ApiError("The translation session is closing: no more audio is taken after session.close.",
                           code="session_closed")


class TranslationSession(Session):
    SERVER_EVENTS: ClassVar[str] = "translation/server"

    def __init__(self, *, model: str, ids: IdSource, clock: Clock, schemas: Schemas, limits: Limits | None = None,
                 initial: dict[str, Any] | None = None, responder: Any = None, on_call: bool = False) -> None:
        super().__init__(ids=ids, clock=clock, schemas=schemas, limits=limits)
        if on_call:  # the translation plays on the call's track (output_audio.py), unannounced
            self.media = OutputAudioBuffer(clock, ids, lambda: None, announce=False)
        expires = int(clock.now() + SESSION_SECONDS)
        self.config = new_translation_session(session_id=ids.session(), model=model, expires_at=expires)
        if initial is not None:  # a translation client secret's session
            self.config = apply_translation_update(self.config, initial)
        # The scenario's: its `phrases` (target language -> sentence -> translation) are read per utterance,
        # so a scenario loaded into the live session (`PUT /_mock/scenario?session_id=`) applies at once.
        self.responder = responder
        self._frames = bytearray()  # input not yet a whole engine frame
        self._elapsed_ms = 0  # input audio taken by the engine, in ms
        self._listener: Any = None  # audio.speech.Listener of the utterance in progress
        self._quiet = 0  # quiet engine frames in a row
        self._output: deque[tuple[float, dict[str, Any]]] = deque()  # (due, event): paced output
        self._closing = False
        self._closed_sent = False
        self.emit("session.created", session=self.config)

    # -- what the runtime calls -----------------------------------------------------------------

    def poll(self, limit: int = 64) -> list[dict[str, Any]]:
        out = super().poll(limit)
        now = self.clock.now()
        while self._output and len(out) < limit and self._output[0][0] <= now:
            out.append(self._output.popleft()[1])
        if self._closing and not self._output and self.close is None and not self._closed_sent:
            self._closed_sent = True
            out.append({"type": "session.closed", "event_id": self.ids.event()})
        return self.media.filter(out) if self.media is not None else out

    def next_due(self) -> float | None:
        due = super().next_due()
        if self._output:
            due = self._output[0][0] if due is None else min(due, self._output[0][0])
        elif self._closing and not self._closed_sent:
            due = self.clock.now()
        return due

    @property
    def busy(self) -> bool:
        return super().busy or bool(self._output) or (self._closing and not self._closed_sent)

    def _stopped(self) -> None:
        self._output.clear()

    # -- one handler per client event type ------------------------------------------------------

    def _session_update(self, event: dict[str, Any]) -> None:
        self.config = apply_translation_update(self.config, event["session"])
        self.emit("session.updated", session=self.config)

    def _append(self, event: dict[str, Any]) -> None:
        if self._closing:
            self.error(closed_session(), event)
            return
        data = self.appended_audio(event)
        if data is not None:
            self.hear_call_audio(data)

    def hear_call_audio(self, pcm: bytes) -> None:
        """Input audio, PCM16 24 kHz: appended over the socket, or from a call's media track."""
        if self._closing:
            return
        self._frames += pcm
        while len(self._frames) >= ENGINE_FRAME:  # the engine takes 200 ms at a time
            frame = bytes(self._frames[:ENGINE_FRAME])
            del self._frames[:ENGINE_FRAME]
            self._take(frame)

    def _close(self, event: dict[str, Any]) -> None:
        if self._closing:
            return
        if self._frames:  # what is left of the input, flushed
            self._take(bytes(self._frames))
            self._frames.clear()
        if self._listener is not None:  # an utterance cut short: what was heard of it is translated
            words = self._listener.text() or self._listener.heard
            self._listener = None
            if words:
                self._translate(words)
        self._closing = True

    # -- the engine -----------------------------------------------------------------------------

    def _take(self, frame: bytes) -> None:
        """One engine frame: hear it, send its source words, translate an utterance that ended."""
        from mockserver.audio.speech import Listener, is_quiet

        self._quiet = self._quiet + 1 if is_quiet(frame) else 0
        if self._quiet >= PAUSE_FRAMES:
            # Speech pauses for at most 140 ms inside an utterance: after 400 ms of quiet, what was heard and
            # never made a whole utterance (noise, damaged or cut audio) is dropped, and listening starts over.
            self._listener = None
        if self._listener is None:
            self._listener = Listener()
        words = self._listener.feed(frame)
        self._elapsed_ms += round(len(frame) / 48)
        if words and self.config["audio"]["input"]["transcription"] is not None:
            self.emit("session.input_transcript.delta", delta=words, elapsed_ms=self._elapsed_ms)
        sentence = self._listener.text(settled=True)
        if sentence is not None:
            rest = sentence[len(self._listener.heard):]
            if rest and self.config["audio"]["input"]["transcription"] is not None:
                self.emit("session.input_transcript.delta", delta=rest, elapsed_ms=self._elapsed_ms)
            self._listener = None  # the next utterance starts afresh
            self._translate(sentence)

    def _translate(self, sentence: str) -> None:
        """Queue the output of one utterance: the translated words, spoken in 400 ms frames."""
        from mockserver.audio.speech import speak_stream

        language = self.config["audio"]["output"].get("language") or DEFAULT_LANGUAGE
        translated = self._phrase(language, sentence) or pseudo_translation(sentence, language)
        pacing = self.limits.pacing
        due = self.clock.now() + (LATENCY if pacing.realtime_audio else 0.0)
        if self._output:
            due = max(due, self._output[-1][0])
        elapsed = self._elapsed_ms // 200 * 200  # live reports it in 200 ms steps
        buffered = bytearray()
        pieces = iter(tokens(translated))
        for chunk_words, pcm in speak_stream(translated):
            for piece in _pieces_of(chunk_words, pieces):
                self._output.append((due, {"type": "session.output_transcript.delta", "event_id": self.ids.event(),
                                           "delta": piece, "elapsed_ms": elapsed}))
            buffered += pcm
            while len(buffered) >= OUTPUT_FRAME:
                due = self._audio(bytes(buffered[:OUTPUT_FRAME]), due, elapsed)
                del buffered[:OUTPUT_FRAME]
        for piece in pieces:  # words the speech chunks did not cover (none, as they carry the same text)
            self._output.append((due, {"type": "session.output_transcript.delta", "event_id": self.ids.event(),
                                       "delta": piece, "elapsed_ms": elapsed}))
        if buffered:
            self._audio(bytes(buffered), due, elapsed)

    def _phrase(self, language: str, sentence: str) -> str | None:
        return phrase(self.responder, language, sentence)

    def _audio(self, pcm: bytes, due: float, elapsed: int) -> float:
        """Queue one output audio frame at `due`; when the next one is due (real time: once it has played)."""
        self._output.append((due, {"type": "session.output_audio.delta", "event_id": self.ids.event(),
                                   "delta": base64.b64encode(pcm).decode(), "sample_rate": 24000, "channels": 1,
                                   "format": "pcm16", "elapsed_ms": elapsed}))
        return due + (len(pcm) / 48_000 if self.limits.pacing.realtime_audio else 0.0)

    EVENTS: ClassVar[EventTable] = EventTable(
        # "Supported values are: 'session.update', 'session.input_audio_buffer.append', and 'session.close'."
        # [OBS d]: in this order.
        ("session.update", "translation/client", _session_update),
        ("session.input_audio_buffer.append", "translation/client", _append),
        ("session.close", "translation/client", _close),
    )


def phrase(responder: Any, language: str, sentence: str) -> str | None:
    """The translation of `sentence` into `language` in the responder's phrase tables (a scenario's
    `translations`), case and surrounding space aside; None when it has none."""
    tables: Mapping[str, Mapping[str, str]] = getattr(responder, "phrases", None) or {}
    wanted = _key(sentence)
    return next((said for heard, said in tables.get(language, {}).items() if _key(heard) == wanted), None)


def _key(sentence: str) -> str:
    """How a sentence is looked up in a phrase table: case and surrounding space aside."""
    return " ".join(sentence.split()).casefold()


def _pieces_of(words: str, pieces: Any) -> list[str]:
    """The next word pieces of the translation that make up `words` (a chunk `speak_stream` spoke)."""
    out, length = [], 0
    while length < len(words):
        piece = next(pieces, None)
        if piece is None:
            break
        out.append(piece)
        length += len(piece)
    return out
