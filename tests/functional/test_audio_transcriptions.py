"""`POST /v1/audio/transcriptions` and `/v1/audio/translations` with the official SDK over a real socket: every
response format, streaming, the per-model rules and limits with the live errors, scripted user audio."""

from __future__ import annotations

import json
import math

import openai
import pytest

from mockserver import media
from mockserver.audio import speech
from mockserver.runner import RunningServer
from mockserver.scenarios import parse_scenario
from tests.functional.audio_rest_helpers import client, error_of, noise, post, valid, wav_of

pytestmark = pytest.mark.functional

TEXT = "Hello there. How are you today?"


async def test_json_is_the_text_and_duration_usage_on_whisper(mock: RunningServer) -> None:
    answer = await client(mock).audio.transcriptions.with_raw_response.create(model="whisper-1",
                                                                               file=("hello.wav", wav_of(TEXT)))
    body = valid("rest/audio.transcriptions.response", answer.http_response.json())
    seconds = media.duration(speech.speak(TEXT))
    assert body == {"text": TEXT, "usage": {"type": "duration", "seconds": math.ceil(seconds)}}


async def test_text_srt_and_vtt(mock: RunningServer) -> None:
    sdk = client(mock)
    text = await sdk.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav_of(TEXT)),
                                                 response_format="text")
    assert text == TEXT + "\n"
    srt = await sdk.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav_of(TEXT)),
                                                response_format="srt")
    blocks = srt.strip().split("\n\n")
    assert [b.split("\n")[0] for b in blocks] == ["1", "2"]
    assert [b.split("\n")[2] for b in blocks] == ["Hello there.", "How are you today?"]
    first, second = (b.split("\n")[1].split(" --> ") for b in blocks)
    assert first[0] == "00:00:00,040" and first[1] < second[0] < second[1]
    vtt = await sdk.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav_of(TEXT)),
                                                response_format="vtt")
    assert vtt.startswith("WEBVTT\n\n00:00:00.040 --> ") and vtt.rstrip().endswith("How are you today?")


async def test_verbose_json_has_segments_and_words_as_asked(mock: RunningServer) -> None:
    sdk = client(mock)
    both = await sdk.audio.transcriptions.create(model="whisper-1", file=("a.flac", media.encode(speech.speak(TEXT),
                                                                                                  "flac")),
                                                 response_format="verbose_json", language="en",
                                                 timestamp_granularities=["word", "segment"])
    valid("rest/audio.transcriptions.response", both.model_dump(exclude_none=True))
    assert (both.text, both.language) == (TEXT, "english")
    assert [w.word for w in both.words or []] == TEXT.split()
    starts = [w.start for w in both.words or []]
    assert starts == sorted(starts) and all(w.start < w.end for w in both.words or [])
    assert [s.text for s in both.segments or []] == [" Hello there.", " How are you today?"]
    assert both.segments and both.segments[1].start >= both.segments[0].end
    words_only = await sdk.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav_of(TEXT)),
                                                       response_format="verbose_json",
                                                       timestamp_granularities=["word"])
    assert words_only.words and words_only.segments is None
    default = await sdk.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav_of(TEXT)),
                                                    response_format="verbose_json")
    assert default.segments and default.words is None and default.duration == pytest.approx(
        media.duration(speech.speak(TEXT)), abs=0.01)


@pytest.mark.parametrize("name,fmt", [("a.mp3", "mp3"), ("a.ogg", "opus"), ("a.flac", "flac"), ("a.m4a", "aac")])
async def test_other_containers_are_decoded(mock: RunningServer, name: str, fmt: str) -> None:
    heard = await client(mock).audio.transcriptions.create(model="gpt-4o-mini-transcribe",
                                                           file=(name, media.encode(speech.speak(TEXT), fmt)))
    assert heard.text == TEXT


async def test_m4a_and_webm_uploads(mock: RunningServer) -> None:
    import io

    import av
    import numpy as np

    for container, codec, name in (("ipod", "aac", "voice.m4a"), ("webm", "libopus", "voice.webm")):
        out = io.BytesIO()
        with av.open(out, "w", format=container) as file:
            stream = file.add_stream(codec, rate=48_000, layout="mono")
            frame = av.AudioFrame.from_ndarray(np.frombuffer(speech.speak(TEXT), "<i2").reshape(1, -1),
                                               format="s16", layout="mono")
            frame.sample_rate = 24_000
            resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=48_000)
            for piece in (*resampler.resample(frame), *resampler.resample(None)):
                file.mux(stream.encode(piece))
            file.mux(stream.encode(None))
        heard = await client(mock).audio.transcriptions.create(model="whisper-1", file=(name, out.getvalue()))
        assert heard.text == TEXT, name


async def test_gpt_4o_json_has_token_usage_and_logprobs(mock: RunningServer) -> None:
    answer = await client(mock).audio.transcriptions.create(model="gpt-4o-transcribe", file=("a.wav", wav_of(TEXT)),
                                                            include=["logprobs"], prompt="A greeting.")
    valid("rest/audio.transcriptions.response", answer.model_dump(exclude_none=True))
    assert answer.text == TEXT
    assert "".join(p.token or "" for p in answer.logprobs or []) == TEXT
    usage = answer.usage
    assert usage is not None and usage.type == "tokens"
    assert usage.input_token_details and usage.input_token_details.text_tokens == 3  # "A", " greeting", "."
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens


async def test_gpt_transcribe_reports_languages(mock: RunningServer) -> None:
    answer = await client(mock).audio.transcriptions.create(model="gpt-transcribe", file=("a.wav", wav_of(TEXT)),
                                                            language="es", keywords=["hello"])
    assert answer.text == TEXT and [lang.code for lang in answer.languages or []] == ["es"]


async def test_stream_sends_deltas_then_done(mock: RunningServer) -> None:
    stream = await client(mock).audio.transcriptions.create(model="gpt-4o-mini-transcribe",
                                                            file=("a.wav", wav_of(TEXT)), stream=True,
                                                            include=["logprobs"])
    events = [event async for event in stream]
    for event in events:
        valid("rest/audio.transcriptions.stream_event", event.model_dump(exclude_none=True))
    deltas, done = events[:-1], events[-1]
    assert {e.type for e in deltas} == {"transcript.text.delta"} and len(deltas) > 3
    assert "".join(e.delta for e in deltas) == TEXT and all(e.logprobs for e in deltas)
    assert done.type == "transcript.text.done" and done.text == TEXT and done.usage.type == "tokens"


async def test_stream_is_ignored_on_whisper(mock: RunningServer) -> None:
    answer = await post(mock, "/v1/audio/transcriptions", data={"model": "whisper-1", "stream": "true"},
                        files={"file": ("a.wav", wav_of(TEXT), "audio/wav")})
    assert answer.headers["content-type"].startswith("application/json") and answer.json()["text"] == TEXT


async def test_diarized_json_and_its_stream(mock: RunningServer) -> None:
    sdk = client(mock)
    diarized = await sdk.audio.transcriptions.create(model="gpt-4o-transcribe-diarize", file=("a.wav", wav_of(TEXT)),
                                                     response_format="diarized_json")
    valid("rest/audio.transcriptions.response", diarized.model_dump(exclude_none=True))
    assert [(s.speaker, s.text, s.type) for s in diarized.segments] == [
        ("A", "Hello there.", "transcript.text.segment"), ("A", "How are you today?", "transcript.text.segment")]
    known = await sdk.audio.transcriptions.create(
        model="gpt-4o-transcribe-diarize", file=("a.wav", wav_of(TEXT)), response_format="diarized_json",
        known_speaker_names=["agent"], known_speaker_references=["data:audio/wav;base64,AAAA"])
    assert {s.speaker for s in known.segments} == {"agent"}
    stream = await sdk.audio.transcriptions.create(model="gpt-4o-transcribe-diarize", file=("a.wav", wav_of(TEXT)),
                                                   response_format="diarized_json", stream=True)
    events = [event async for event in stream]
    kinds = [e.type for e in events]
    assert kinds.count("transcript.text.segment") == 2 and kinds[-1] == "transcript.text.done"
    assert {e.segment_id for e in events if e.type == "transcript.text.delta"} == {"seg_0", "seg_1"}


async def test_diarize_needs_chunking_beyond_30_seconds(mock: RunningServer) -> None:
    long = media.encode(bytes(48_000 * 31) + speech.speak(TEXT), "flac")
    sdk = client(mock)
    with pytest.raises(openai.BadRequestError) as raised:
        await sdk.audio.transcriptions.create(model="gpt-4o-transcribe-diarize", file=("a.flac", long))
    assert error_of(raised.value)["param"] == "chunking_strategy"
    chunked = await sdk.audio.transcriptions.create(model="gpt-4o-transcribe-diarize", file=("a.flac", long),
                                                    chunking_strategy="auto")
    assert chunked.text == TEXT
    vad = await sdk.audio.transcriptions.create(model="gpt-4o-transcribe-diarize", file=("a.flac", long),
                                                chunking_strategy={"type": "server_vad", "threshold": 0.5})
    assert vad.text == TEXT


INCOMPATIBLE = [
    ({"model": "gpt-4o-transcribe", "response_format": "verbose_json"}, "unsupported_value", "response_format",
     "response_format 'verbose_json' is not compatible with model 'gpt-4o-transcribe'. Use 'json' or 'text' instead."),
    ({"model": "gpt-4o-mini-transcribe", "response_format": "srt"}, "unsupported_value", "response_format",
     "response_format 'srt' is not compatible with model 'gpt-4o-mini-transcribe'. Use 'json' or 'text' instead."),
    ({"model": "whisper-1", "response_format": "diarized_json"}, "unsupported_value", "response_format",
     "response_format 'diarized_json' is not compatible with model 'whisper-1'. Use 'json', 'text', 'srt', "
     "'verbose_json' or 'vtt' instead."),
    ({"model": "gpt-4o-transcribe-diarize", "response_format": "vtt"}, "unsupported_value", "response_format",
     "response_format 'vtt' is not compatible with model 'gpt-4o-transcribe-diarize'. Use 'json', 'text' or "
     "'diarized_json' instead."),
    ({"model": "gpt-4o-transcribe", "timestamp_granularities": ["word"]}, "unsupported_parameter",
     "timestamp_granularities", "Unsupported parameter: 'timestamp_granularities' is not supported with this model."),
    ({"model": "whisper-1", "timestamp_granularities": ["segment"]}, None, None,
     "`response_format` must be `verbose_json` if `timestamp_granularities[]` is provided"),
    ({"model": "whisper-1", "include": ["logprobs"]}, "unsupported_parameter", "include",
     "Unsupported parameter: 'include' is not supported with this model."),
    ({"model": "gpt-4o-transcribe-diarize", "include": ["logprobs"]}, "unsupported_parameter", "include",
     "Unsupported parameter: 'include' is not supported with this model."),
    ({"model": "gpt-4o-transcribe", "include": ["logprobs"], "response_format": "text"}, "unsupported_value",
     "include", "Unsupported value: 'include' does not support 'logprobs' with response_format 'text'. Use 'json' "
     "instead."),
    ({"model": "gpt-4o-transcribe-diarize", "prompt": "Names: Ann."}, "unsupported_parameter", "prompt",
     "Unsupported parameter: 'prompt' is not supported with this model."),
    ({"model": "gpt-4o-transcribe", "known_speaker_names": ["a"]}, "unsupported_parameter", "known_speaker_names",
     "Unsupported parameter: 'known_speaker_names' is not supported with this model."),
    ({"model": "whisper-1", "keywords": ["a"]}, "unsupported_parameter", "keywords",
     "Unsupported parameter: 'keywords' is not supported with this model."),
    ({"model": "whisper-1", "temperature": 1.5}, "decimal_above_max_value", "temperature",
     "Invalid 'temperature': decimal above maximum value. Expected a value <= 1, but got 1.5 instead."),
    ({"model": "whisper-1", "include": ["everything"]}, "invalid_value", "include[0]",
     "Invalid value: 'everything'. Value must be 'logprobs'."),
]


@pytest.mark.parametrize("given,code,param,message", INCOMPATIBLE)
async def test_per_model_rules_get_the_live_errors(mock: RunningServer, given: dict[str, object], code: str | None,
                                                   param: str | None, message: str) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        await client(mock).audio.transcriptions.create(file=("a.wav", wav_of("Hi.")), **given)  # type: ignore[arg-type]
    assert error_of(raised.value) == {"message": message, "type": "invalid_request_error", "param": param,
                                      "code": code}


async def test_files_the_live_api_refuses(mock: RunningServer) -> None:
    sdk = client(mock)
    with pytest.raises(openai.BadRequestError) as raised:
        await sdk.audio.transcriptions.create(model="whisper-1", file=("notes.txt", b"hello"))
    assert error_of(raised.value)["message"] == ("Invalid file format. Supported formats: ['flac', 'm4a', 'mp3', "
                                                 "'mp4', 'mpeg', 'mpga', 'oga', 'ogg', 'wav', 'webm']")
    broken = ("broken.wav", b"RIFF....WAVE" + bytes(100))
    with pytest.raises(openai.BadRequestError) as raised:
        await sdk.audio.transcriptions.create(model="whisper-1", file=broken)
    assert error_of(raised.value) == {"message": "Audio file might be corrupted or unsupported",
                                      "type": "invalid_request_error", "param": "file", "code": "invalid_value"}
    with pytest.raises(openai.BadRequestError) as raised:
        await sdk.audio.transcriptions.create(model="gpt-4o-mini-transcribe", file=broken)
    assert error_of(raised.value) == {"message": "This model does not support the format you provided.",
                                      "type": "invalid_request_error", "param": "messages",
                                      "code": "unsupported_format"}
    with pytest.raises(openai.NotFoundError) as missing:
        await sdk.audio.transcriptions.create(model="tts-1", file=("a.wav", wav_of("Hi.")))
    assert error_of(missing.value)["code"] == "model_not_found"


async def test_uploads_over_25_mb_get_the_live_413(mock: RunningServer) -> None:
    with pytest.raises(openai.APIStatusError) as raised:
        await client(mock).audio.transcriptions.create(model="whisper-1", file=("big.wav", bytes(26 * 1024 * 1024)))
    assert raised.value.status_code == 413
    error = error_of(raised.value)
    assert error["type"] == "server_error" and error["message"].startswith(
        "Maximum content size limit (26214400) exceeded (") and error["message"].endswith(" bytes read)")


async def test_a_json_body_or_no_file_is_refused(mock: RunningServer) -> None:
    as_json = await post(mock, "/v1/audio/transcriptions", json={"model": "whisper-1"})
    assert as_json.status_code == 415 and as_json.json()["error"]["code"] == "unsupported_content_type"
    for text in ({}, {"file": "a.wav"}):  # no file part (a text field of that name is none)
        no_file = await post(mock, "/v1/audio/transcriptions", data={"model": "whisper-1", **text},
                             files={"other": ("a.txt", b"x", "text/plain")})
        assert no_file.json()["error"] == {"message": "Missing required parameter: 'file'.",
                                           "type": "invalid_request_error", "param": "file",
                                           "code": "missing_required_parameter"}


async def test_scripted_user_audio_is_taken_one_per_request(mock: RunningServer) -> None:
    scenario = parse_scenario(json.dumps({"name": "voices", "user_audio": ["A recorded voice.", None]}))
    mock.state.scope("voices").use_scenario(scenario)
    sdk = client(mock, scope="voices")
    first = await sdk.audio.transcriptions.create(model="whisper-1", file=("rec.wav", noise()))
    second = await sdk.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav_of(TEXT)))
    third = await sdk.audio.transcriptions.create(model="whisper-1", file=("rec.wav", noise()))
    assert (first.text, second.text, third.text) == ("A recorded voice.", TEXT, "")
    other_scope = await client(mock).audio.transcriptions.create(model="whisper-1", file=("rec.wav", noise()))
    assert other_scope.text == ""


async def test_translations_pseudo_translate_or_use_the_phrase_table(mock: RunningServer) -> None:
    sdk = client(mock)
    spoken = wav_of("¿Dónde está la estación?")
    default = await sdk.audio.translations.create(model="whisper-1", file=("es.wav", spoken))
    assert default.text == "[en] ¿Dónde está la estación?"
    table = {"en": {"¿dónde está la estación?": "Where is the station?"}}  # case aside
    scenario = parse_scenario(json.dumps({"name": "phrases", "translations": table}))
    mock.state.scope("phrases").use_scenario(scenario)
    scoped = client(mock, scope="phrases")
    table = await scoped.audio.translations.create(
        model="whisper-1", file=("es.wav", spoken))
    assert table.text == "Where is the station?"
    verbose = await scoped.audio.translations.create(model="whisper-1", file=("es.wav", spoken),
                                                     response_format="verbose_json")
    valid("rest/audio.translations.response", verbose.model_dump(exclude_none=True))
    assert (verbose.language, verbose.text, len(verbose.segments or [])) == ("english", "Where is the station?", 1)
    text = await scoped.audio.translations.create(model="whisper-1", file=("es.wav", spoken), response_format="text")
    assert text == "Where is the station?\n"
    srt = await scoped.audio.translations.create(model="whisper-1", file=("es.wav", spoken), response_format="srt")
    assert srt.startswith("1\n00:00:00,040 --> 00:00:0") and srt.endswith("\nWhere is the station?\n\n")
    vtt = await scoped.audio.translations.create(model="whisper-1", file=("es.wav", spoken), response_format="vtt")
    assert vtt.startswith("WEBVTT\n\n00:00:00.040 --> ") and vtt.endswith("\nWhere is the station?\n\n")
    silent = await sdk.audio.translations.create(model="whisper-1", file=("quiet.wav", noise()))
    assert silent.text == ""
    with pytest.raises(openai.BadRequestError) as raised:
        await sdk.audio.translations.create(model="gpt-4o-transcribe", file=("es.wav", spoken))
    assert error_of(raised.value)["param"] == "model"
