"""What an uploaded audio file says (the transcription and translation endpoints, and `input_audio` in Chat
Completions): decoded with PyAV (mockserver/media.py), heard with the speech codec, or as the scope's
scenario says (`user_audio`: one entry per request, in order; null: what the codec hears). Audio that carries no
words and no script says "".
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from mockserver import media
from mockserver.protocol.errors import ApiError
from mockserver.rest import audio_rules as rules
from mockserver.rest.endpoint import Call, Refused


@dataclass(frozen=True)
class Heard:
    text: str
    seconds: float  # how long the audio plays
    words: tuple[tuple[float, float], ...]  # (start, end) of each word the codec found (none when scripted)


def extension(filename: str) -> str:
    return filename.rpartition(".")[2].lower() if "." in filename else ""


def _listen(data: bytes) -> tuple[float, str | None, tuple[tuple[float, float], ...]]:
    from mockserver.audio.speech import transcribe, word_times

    pcm = media.decode(data)
    text = transcribe(pcm)
    return media.duration(pcm), text, tuple(word_times(pcm)) if text else ()


async def hear_file(call: Call, filename: str, data: bytes, model: str = rules.WHISPER) -> Heard:
    """What an uploaded file says; Refused when its name or content is not audio the live API takes (content
    it cannot read is refused in the words of `model`'s family: whisper-1's, or the gpt-4o models')."""
    if extension(filename) not in rules.FILE_FORMATS:
        raise Refused(400, rules.invalid_file_format())
    unreadable = rules.unreadable_audio() if rules.is_model(model, rules.WHISPER) else rules.unsupported_format()
    return await hear(call, data, unreadable=unreadable)


async def hear(call: Call, data: bytes, *, new: bool = True, param: str = "file",
               unreadable: ApiError | None = None) -> Heard:
    """What audio file bytes say (any format FFmpeg reads); Refused when they are not audio (`unreadable`, by
    default whisper-1's words for `param`). Only `new` audio takes the scenario's next `user_audio` entry (Chat
    Completions sends earlier turns' audio again)."""
    try:
        seconds, text, words = await run_in_threadpool(_listen, data)
    except media.MediaError:
        raise Refused(400, unreadable or rules.unreadable_audio(param)) from None
    if not new:
        return Heard(text or "", seconds, words)
    scripted, said = call.scope.rest.scripted_audio(call.scope.responder_factory)
    if scripted and said is not None:
        return Heard(said, seconds, ())
    return Heard(text or "", seconds, words)
