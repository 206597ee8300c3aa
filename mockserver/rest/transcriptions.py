"""`POST /v1/audio/transcriptions` (the SDK's `client.audio.transcriptions.create`): audio file to text.

The uploaded file is decoded with PyAV and heard with the speech codec, or as the scenario's `user_audio`
says (rest/hearing.py). Every response format: `json` (usage, `logprobs` with `include[]=logprobs`,
`languages` from gpt-transcribe), `text`, `srt`, `vtt`, `verbose_json` (`segments` and `words` per
`timestamp_granularities[]`), `diarized_json`; `stream=true` sends `transcript.text.delta` (and
`transcript.text.segment` for diarized_json) and `transcript.text.done` as server-sent events, except on
whisper-1, which ignores it, as live. The per-model rules are in rest/audio_rules.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from starlette.responses import PlainTextResponse, Response

from mockserver.protocol import errors
from mockserver.protocol.tokens import count_tokens, tokens
from mockserver.protocol.transcription import AUDIO_TOKENS_PER_SECOND, logprobs_of
from mockserver.rest import audio_rules as rules
from mockserver.rest import forms, hearing
from mockserver.rest import transcript_formats as formats
from mockserver.rest.bodies import JsonBody
from mockserver.rest.endpoint import SSE_TYPE, Call, Refused, endpoint, sse, streamed

PATH = "/v1/audio/transcriptions"
COERCE: dict[str, Callable[[str], Any]] = {
    "stream": forms.boolean, "temperature": forms.number, "chunking_strategy.threshold": forms.number,
    "chunking_strategy.prefix_padding_ms": forms.number, "chunking_strategy.silence_duration_ms": forms.number}
MAX_SPEAKERS = 4  # "Up to 4 speakers are supported."


def check(doc: dict[str, Any]) -> str:
    """The model family, once the request follows its model's rules (Refused otherwise)."""
    model = doc["model"]
    family = rules.family_of(model, rules.TRANSCRIBE_MODELS)
    if family is None:
        raise Refused(404, rules.model_not_found(model))
    fmt = doc.get("response_format") or "json"
    supported = rules.transcription_formats(family)
    if fmt not in supported:
        raise Refused(400, rules.incompatible_format(fmt, model, supported))
    only = {"timestamp_granularities": family == rules.WHISPER, "prompt": family != rules.DIARIZE,
            "include": family in rules.LOGPROB_MODELS, "known_speaker_names": family == rules.DIARIZE,
            "known_speaker_references": family == rules.DIARIZE, "keywords": family == rules.GPT_TRANSCRIBE,
            "languages": family == rules.GPT_TRANSCRIBE}
    for param, allowed in only.items():
        if doc.get(param) and not allowed:
            raise Refused(400, rules.unsupported_parameter(param))
    if doc.get("timestamp_granularities") and fmt != "verbose_json":
        raise Refused(400, rules.granularities_need_verbose_json())
    if doc.get("include") and fmt != "json":
        raise Refused(400, rules.logprobs_need_json(fmt))
    names, references = doc.get("known_speaker_names") or [], doc.get("known_speaker_references") or []
    if len(names) > MAX_SPEAKERS:
        raise Refused(400, errors.array_length("known_speaker_names", len(names), MAX_SPEAKERS, too_long=True))
    if len(names) != len(references):
        raise Refused(400, rules.speakers_mismatch(len(names), len(references)))
    return family


class Transcript:
    """What one request's answer is made of."""

    def __init__(self, doc: dict[str, Any], family: str, heard: hearing.Heard) -> None:
        self.doc, self.family, self.heard = doc, family, heard
        self.text = heard.text
        self.words = formats.timed_words(self.text, heard.words, heard.seconds)
        self.sentences = formats.sentences(self.text, self.words, heard.seconds)
        self.logprobs = "logprobs" in (doc.get("include") or [])
        names = doc.get("known_speaker_names") or []
        self.speaker = names[0] if names else "A"

    def usage(self) -> dict[str, Any]:
        if self.family == rules.WHISPER:
            return {"type": "duration", "seconds": math.ceil(self.heard.seconds)}
        prompt = count_tokens(self.doc.get("prompt") or "")
        audio = max(1, round(self.heard.seconds * AUDIO_TOKENS_PER_SECOND))
        output = count_tokens(self.text)
        return {"type": "tokens", "input_tokens": audio + prompt, "output_tokens": output,
                "total_tokens": audio + prompt + output,
                "input_token_details": {"text_tokens": prompt, "audio_tokens": audio}}

    def extras(self) -> dict[str, Any]:
        """What `json` and `transcript.text.done` add: logprobs when asked, the languages gpt-transcribe finds."""
        out: dict[str, Any] = {}
        if self.logprobs:
            out["logprobs"] = logprobs_of(self.text)
        if self.family == rules.GPT_TRANSCRIBE:
            out["languages"] = [{"code": (self.doc.get("language") or "en").lower()}] if self.text else []
        return out

    def segments(self) -> list[dict[str, Any]]:
        return [{"type": "transcript.text.segment", "id": f"seg_{index}", "start": part.start, "end": part.end,
                 "speaker": self.speaker, "text": part.text} for index, part in enumerate(self.sentences)]

    def response(self, fmt: str) -> Response:
        if fmt == "text":
            return PlainTextResponse(self.text + "\n")
        if fmt == "srt":
            return PlainTextResponse(formats.srt(self.sentences))
        if fmt == "vtt":
            return PlainTextResponse(formats.vtt(self.sentences))
        if fmt == "verbose_json":
            return JsonBody(self.verbose())
        if fmt == "diarized_json":
            return JsonBody({"task": "transcribe", "duration": round(self.heard.seconds, 3), "text": self.text,
                             "segments": self.segments(), "usage": self.usage()})
        return JsonBody({"text": self.text, **self.extras(), "usage": self.usage()})

    def verbose(self) -> dict[str, Any]:
        wanted = self.doc.get("timestamp_granularities") or ["segment"]
        body: dict[str, Any] = {"task": "transcribe", "language": formats.language_name(self.doc.get("language")),
                                "duration": round(self.heard.seconds, 3), "text": self.text}
        if "word" in wanted:
            body["words"] = [{"word": w.text, "start": w.start, "end": w.end} for w in self.words]
        if "segment" in wanted:
            body["segments"] = formats.whisper_segments(self.sentences, float(self.doc.get("temperature") or 0.0))
        body["usage"] = self.usage()
        return body

    def events(self, fmt: str) -> list[dict[str, Any]]:
        """The server-sent events of `stream=true`: deltas (per segment, with its id, on the diarize model),
        `transcript.text.segment` after each segment for diarized_json, then `transcript.text.done`."""
        out: list[dict[str, Any]] = []
        if self.family == rules.DIARIZE:
            for segment in self.segments():
                out += [self._delta(piece, segment["id"]) for piece in tokens(segment["text"])]
                if fmt == "diarized_json":
                    out.append(segment)
        else:
            out += [self._delta(piece) for piece in tokens(self.text)]
        usage = self.usage()
        out.append({"type": "transcript.text.done", "text": self.text, **self.extras(), "usage": usage})
        return out

    def _delta(self, piece: str, segment_id: str | None = None) -> dict[str, Any]:
        event: dict[str, Any] = {"type": "transcript.text.delta", "delta": piece}
        if self.logprobs:
            event["logprobs"] = logprobs_of(piece)
        if segment_id is not None:
            event["segment_id"] = segment_id
        return event


async def create(call: Call) -> Response:
    doc, upload = await call.form("rest/audio.transcriptions.request", COERCE)
    family = check(doc)
    call.admit(doc["model"])
    heard = await hearing.hear_file(call, upload.filename, upload.data, family)
    if family == rules.DIARIZE and heard.seconds > 30 and not doc.get("chunking_strategy"):
        raise Refused(400, rules.chunking_needed(heard.seconds))
    transcript = Transcript(doc, family, heard)
    fmt = doc.get("response_format") or "json"
    if doc.get("stream") and family != rules.WHISPER:  # "Streaming is not supported for whisper-1 and will be ignored"
        return streamed(sse(transcript.events(fmt)), SSE_TYPE)
    return transcript.response(fmt)


ROUTES = [endpoint(PATH, create)]
