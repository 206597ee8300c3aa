"""`POST /v1/audio/speech` with the official SDK over a real socket: the mock's speech, in every format,
comes back as the exact input from its own transcription endpoint; streaming, SSE, speed, live errors."""

from __future__ import annotations

import base64
import io
import json
import wave

import openai
import pytest

from mockserver import media
from mockserver.audio import speech
from mockserver.runner import RunningServer
from tests.functional.audio_rest_helpers import UPLOAD_NAMES, client, error_of, post

pytestmark = pytest.mark.functional

TEXT = "The quick brown fox jumps over the lazy dog. Is it still here?"
CONTENT_TYPES = {"mp3": "audio/mpeg", "opus": "audio/opus", "aac": "audio/aac", "flac": "audio/flac",
                 "wav": "audio/wav", "pcm": "audio/pcm"}


@pytest.mark.parametrize("fmt", media.FORMATS)
async def test_speech_in_every_format_transcribes_back_to_the_input(mock: RunningServer, fmt: str) -> None:
    sdk = client(mock)
    answer = await sdk.audio.speech.create(model="gpt-4o-mini-tts", voice="coral", input=TEXT, response_format=fmt)
    assert answer.response.headers["content-type"] == CONTENT_TYPES[fmt]
    # pcm: raw samples (24 kHz 16-bit LE mono), not a file; uploaded in a WAV header saying so
    upload = ("speech.wav", wav_header(answer.content)) if fmt == "pcm" else (UPLOAD_NAMES[fmt], answer.content)
    heard = await sdk.audio.transcriptions.create(model="whisper-1", file=upload)
    assert heard.text == TEXT


def wav_header(pcm: bytes) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(24_000)
        file.writeframes(pcm)
    return out.getvalue()


async def test_default_format_is_mp3(mock: RunningServer) -> None:
    answer = await client(mock).audio.speech.create(model="tts-1", voice="alloy", input="Hello.")
    assert answer.response.headers["content-type"] == "audio/mpeg"
    assert speech.transcribe(media.decode(answer.content)) == "Hello."


async def test_streaming_response_arrives_in_chunks_that_make_the_file(mock: RunningServer) -> None:
    sdk = client(mock)
    long_text = " ".join(["Streaming speech arrives in pieces."] * 12)
    async with sdk.audio.speech.with_streaming_response.create(
            model="tts-1-hd", voice="nova", input=long_text, response_format="wav") as streamed:
        assert streamed.headers.get("transfer-encoding") == "chunked"
        chunks = [chunk async for chunk in streamed.iter_bytes()]
    assert len(chunks) > 1
    assert speech.transcribe(media.decode(b"".join(chunks))) == long_text


async def test_sse_streams_audio_deltas_and_done_with_usage(mock: RunningServer) -> None:
    sdk = client(mock)
    async with sdk.audio.speech.with_streaming_response.create(
            model="gpt-4o-mini-tts", voice="marin", input=TEXT, response_format="mp3", stream_format="sse") as sse:
        assert sse.headers["content-type"].startswith("text/event-stream")
        lines = [line async for line in sse.iter_lines() if line]
    events = [json.loads(line.removeprefix("data: ")) for line in lines]
    deltas, done = events[:-1], events[-1]
    assert {e["type"] for e in deltas} == {"speech.audio.delta"} and set(deltas[0]) == {"type", "audio"}
    audio = b"".join(base64.b64decode(e["audio"]) for e in deltas)
    assert speech.transcribe(media.decode(audio)) == TEXT
    assert done["type"] == "speech.audio.done" and set(done["usage"]) == {"input_tokens", "output_tokens",
                                                                          "total_tokens"}
    usage = done["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0


@pytest.mark.parametrize("model", ["tts-1", "tts-1-hd"])
async def test_sse_is_ignored_by_the_tts_1_models_as_live(mock: RunningServer, model: str) -> None:
    async with client(mock).audio.speech.with_streaming_response.create(
            model=model, voice="alloy", input=TEXT, response_format="wav", stream_format="sse") as streamed:
        assert streamed.headers["content-type"] == "audio/wav"
        audio = await streamed.read()
    assert speech.transcribe(media.decode(audio)) == TEXT


async def test_speed_changes_the_length_not_the_words(mock: RunningServer) -> None:
    sdk = client(mock)
    lengths = {}
    for speed in (0.5, 1.0, 2.0):
        answer = await sdk.audio.speech.create(model="gpt-4o-mini-tts", voice="alloy", input=TEXT,
                                               response_format="pcm", speed=speed)
        assert speech.transcribe(answer.content) == TEXT
        lengths[speed] = len(answer.content)
    assert lengths[0.5] > lengths[1.0] > lengths[2.0]


async def test_custom_voice_objects_and_instructions_are_taken(mock: RunningServer) -> None:
    answer = await client(mock).audio.speech.create(model="gpt-4o-mini-tts-2025-12-15", voice={"id": "voice_1234"},
                                                    input="Custom.", instructions="Speak softly.",
                                                    response_format="pcm")
    assert speech.transcribe(answer.content) == "Custom."


BAD = [
    ({"input": "x" * 4097}, 400, "string_above_max_length", "input",
     "Invalid 'input': string too long. Expected a string with maximum length 4096, but got a string with length "
     "4097 instead."),
    ({"speed": 5}, 400, "decimal_above_max_value", "speed",
     "Invalid 'speed': decimal above maximum value. Expected a value <= 4, but got 5 instead."),
    ({"speed": 0.1}, 400, "decimal_below_min_value", "speed",
     "Invalid 'speed': decimal below minimum value. Expected a value >= 0.25, but got 0.1 instead."),
    ({"response_format": "ogg"}, 400, "invalid_value", "response_format",
     "Invalid value: 'ogg'. Supported values are: 'mp3', 'opus', 'aac', 'flac', 'wav', and 'pcm'."),
    ({"model": "tts-1", "instructions": "Whisper."}, 400, "unsupported_parameter", "instructions",
     "Unsupported parameter: 'instructions' is not supported with this model."),
    ({"model": "tts-1", "voice": "marin"}, 400, "invalid_value", "voice",
     "Invalid value: 'marin'. Supported values are: 'alloy', 'ash', 'coral', 'echo', 'fable', 'onyx', 'nova', "
     "'sage', and 'shimmer'."),
    ({"model": "gpt-4o"}, 404, "model_not_found", None,
     "The model `gpt-4o` does not exist or you do not have access to it."),
]


@pytest.mark.parametrize("change,status,code,param,message", BAD)
async def test_bad_requests_get_the_live_errors(mock: RunningServer, change: dict[str, object], status: int,
                                                code: str, param: str | None, message: str) -> None:
    request = {"model": "gpt-4o-mini-tts", "voice": "alloy", "input": "Hi.", **change}
    with pytest.raises(openai.APIStatusError) as raised:
        await client(mock).audio.speech.create(**request)  # type: ignore[arg-type]
    assert raised.value.status_code == status
    assert error_of(raised.value) == {"message": message, "type": "invalid_request_error", "param": param,
                                      "code": code}


async def test_unknown_and_missing_parameters_and_no_key(mock: RunningServer) -> None:
    unknown = await post(mock, "/v1/audio/speech", json={"model": "tts-1", "voice": "alloy", "input": "a", "pitch": 2})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "unknown_parameter"
    missing = await post(mock, "/v1/audio/speech", json={"model": "tts-1", "input": "a"})
    assert missing.json()["error"] == {"message": "Missing required parameter: 'voice'.",
                                       "type": "invalid_request_error", "param": "voice",
                                       "code": "missing_required_parameter"}
    no_key = await post(mock, "/v1/audio/speech", key=None, json={"model": "tts-1", "voice": "alloy", "input": "a"})
    assert no_key.status_code == 401 and no_key.json()["error"]["message"].startswith("You didn't provide an API key")
    not_json = await post(mock, "/v1/audio/speech", content=b"{nope", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400
    assert not_json.json()["error"]["message"].startswith("We could not parse the JSON body of your request.")


async def test_a_crash_inside_the_mock_is_a_500_in_the_envelope(mock: RunningServer,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from mockserver.rest import speech as endpoint

    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(endpoint, "render", broken)
    with pytest.raises(openai.InternalServerError) as raised:
        await client(mock).audio.speech.create(model="tts-1", voice="alloy", input="Crash.")
    assert error_of(raised.value)["type"] == "server_error"
    assert mock.state.scope().rest.list()[-1]["status"] == 500
