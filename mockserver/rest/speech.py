"""`POST /v1/audio/speech` (the SDK's `client.audio.speech.create`): text to speech.

The audio is the speech codec's rendering of `input` (audio/speech.py, pauses scaled by `speed`:
audio/speed.py), encoded in `response_format` (mockserver/media.py): so `speech.transcribe` of the
decoded file, or this mock's transcription endpoint, gives `input` back exactly. `stream_format: "audio"` (the
default) streams the file in chunks; `"sse"` streams `speech.audio.delta` events (base64 pieces of the
same file) and `speech.audio.done` with usage, on the models that take it: tts-1 and tts-1-hd ignore it and
send the file, as live (a 200 of raw audio for each, sfortis/openai_tts#73, checked against the live API).
`instructions` and the voice do not change the audio (one voice says everything).
"""

from __future__ import annotations

import base64
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from mockserver import media
from mockserver.protocol.tokens import count_tokens
from mockserver.protocol.transcription import AUDIO_TOKENS_PER_SECOND
from mockserver.rest import audio_rules as rules
from mockserver.rest.endpoint import SSE_TYPE, Call, Refused, chunked, endpoint, sse, streamed

PATH = "/v1/audio/speech"


def check(body: dict[str, Any]) -> str:
    """The model family, once the body follows its model's rules (Refused otherwise)."""
    model = body["model"]
    family = rules.family_of(model, rules.TTS_MODELS)
    if family is None:
        raise Refused(404, rules.model_not_found(model))
    classic = family in rules.TTS_CLASSIC
    voice = body["voice"]
    voices = rules.CLASSIC_VOICES if classic else rules.VOICES
    if isinstance(voice, str) and voice not in voices:
        raise Refused(400, rules.invalid_voice(voice, voices))
    if classic and body.get("instructions"):
        raise Refused(400, rules.unsupported_parameter("instructions"))
    return family


def render(text: str, speed: float, fmt: str) -> tuple[float, bytes]:
    """(seconds, the file) saying `text` (run on a worker thread: encoding takes a while)."""
    from mockserver.audio.speed import speak_at

    pcm = speak_at(text, speed)
    return media.duration(pcm), media.encode(pcm, fmt)


def usage(text: str, audio_seconds: float) -> dict[str, int]:
    audio = max(1, round(audio_seconds * AUDIO_TOKENS_PER_SECOND))
    words = count_tokens(text)
    return {"input_tokens": words, "output_tokens": audio, "total_tokens": words + audio}


async def create(call: Call) -> Response:
    body = await call.json("rest/audio.speech.request")
    family = check(body)
    call.admit(body["model"])
    fmt = body.get("response_format") or "mp3"
    speed = float(body.get("speed") or 1.0)
    seconds, data = await run_in_threadpool(render, body["input"], speed, fmt)
    if body.get("stream_format") == "sse" and family not in rules.TTS_CLASSIC:
        events: list[dict[str, Any]] = [{"type": "speech.audio.delta", "audio": base64.b64encode(piece).decode()}
                                        for piece in chunked(data)]
        events.append({"type": "speech.audio.done", "usage": usage(body["input"], seconds)})
        return streamed(sse(events), SSE_TYPE)
    return streamed(chunked(data), media.content_type(fmt))


ROUTES = [endpoint(PATH, create)]
