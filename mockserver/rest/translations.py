"""`POST /v1/audio/translations` (the SDK's `client.audio.translations.create`): audio file to English text.

Only `whisper-1` translates ("Only whisper-1 ... is currently available"). What the file says is heard as
for a transcription (rest/hearing.py) and translated as the realtime translation sessions translate an
utterance (protocol/translation.py): by the scenario's phrase table for `en` (`translations: {en: ...}`),
else into the visible pseudo-translation `[en] <the words>`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import PlainTextResponse, Response

from mockserver.protocol.translation import phrase, pseudo_translation
from mockserver.rest import audio_rules as rules
from mockserver.rest import forms, hearing
from mockserver.rest import transcript_formats as formats
from mockserver.rest.bodies import JsonBody
from mockserver.rest.endpoint import Call, Refused, endpoint

PATH = "/v1/audio/translations"
TARGET = "en"  # translations are always into English
COERCE: dict[str, Callable[[str], Any]] = {"temperature": forms.number}


def translated(call: Call, text: str) -> str:
    if not text:
        return ""
    return phrase(call.responder(), TARGET, text) or pseudo_translation(text, TARGET)


async def create(call: Call) -> Response:
    doc, upload = await call.form("rest/audio.translations.request", COERCE)
    model = doc["model"]
    if not rules.is_model(model, rules.WHISPER):
        raise Refused(400, rules.translation_model(model))
    call.admit(model)
    heard = await hearing.hear_file(call, upload.filename, upload.data)
    text = translated(call, heard.text)
    spoken = formats.timed_words(heard.text, heard.words, heard.seconds)
    parts = [formats.Timed(text, spoken[0].start, spoken[-1].end)] if text and spoken else []
    fmt = doc.get("response_format") or "json"
    if fmt == "text":
        return PlainTextResponse(text + "\n")
    if fmt == "srt":
        return PlainTextResponse(formats.srt(parts))
    if fmt == "vtt":
        return PlainTextResponse(formats.vtt(parts))
    if fmt == "verbose_json":
        return JsonBody({"task": "translate", "language": formats.language_name(TARGET),
                         "duration": round(heard.seconds, 3), "text": text,
                         "segments": formats.whisper_segments(parts, float(doc.get("temperature") or 0.0))})
    return JsonBody({"text": text})


ROUTES = [endpoint(PATH, create)]
