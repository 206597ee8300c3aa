"""Faults, the journal of requests, the pytest plugin, and record/replay for the request-based audio
endpoints, seen from the official SDK over real sockets."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from pathlib import Path

import openai
import pytest
from starlette.applications import Starlette

from conformance.cassette import read
from conformance.recorder import create_recorder_app
from conformance.replayer import create_replay_app
from mockserver import media
from mockserver.audio import speech
from mockserver.protocol.faults import Fault, FaultError
from mockserver.pytest_plugin import RealtimeMock
from mockserver.runner import RunningServer
from mockserver.scenarios import parse_scenario
from tests.functional.audio_rest_helpers import admin, client, error_of, wav_of
from tests.functional.conftest import Served, sdk_client, until

pytestmark = pytest.mark.functional

SPEECH = {"model": "gpt-4o-mini-tts", "voice": "alloy", "input": "Fault lines."}


async def test_http_error_fires_count_times_then_the_request_passes(mock: RunningServer) -> None:
    status, added = admin(mock, "POST", "/_mock/faults", {"name": "http_error", "code": 503, "count": 1,
                                                          "path": "/v1/audio/speech"}, scope="err")
    assert status == 200 and added["added"][0]["path"] == "/v1/audio/speech"
    sdk = client(mock, scope="err")
    with pytest.raises(openai.InternalServerError) as raised:
        await sdk.audio.speech.create(**SPEECH)  # type: ignore[arg-type]
    assert raised.value.status_code == 503
    assert error_of(raised.value) == {"message": "The server had an error while processing your request. Sorry "
                                                 "about that!", "type": "server_error", "param": None, "code": None}
    answer = await sdk.audio.speech.create(**SPEECH)  # type: ignore[arg-type]
    assert speech.transcribe(media.decode(answer.content)) == "Fault lines."


async def test_http_error_on_one_path_only_and_with_a_custom_error(mock: RunningServer) -> None:
    mock.state.scope("paths").add_fault(Fault.from_dict({
        "name": "http_error", "code": 400, "path": "/v1/chat/completions",
        "error": {"message": "Nope.", "type": "invalid_request_error", "code": "mock_refusal"}}))
    sdk = client(mock, scope="paths")
    with pytest.raises(openai.BadRequestError) as raised:
        await sdk.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
    assert error_of(raised.value) == {"message": "Nope.", "type": "invalid_request_error", "param": None,
                                      "code": "mock_refusal"}
    heard = await sdk.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav_of("Still fine.")))
    assert heard.text == "Still fine."


async def test_rate_limit_headers_and_the_live_429(mock: RunningServer) -> None:
    scope = mock.state.scope("limits")
    scope.add_fault(Fault.from_dict({"name": "http_rate_limit", "count": 1, "limits": [
        {"name": "requests", "limit": 3, "remaining": 0, "reset_seconds": 20},
        {"name": "tokens", "limit": 40000, "remaining": 39000, "reset_seconds": 6.946}]}))
    sdk = client(mock, scope="limits")
    with pytest.raises(openai.RateLimitError) as raised:
        await sdk.audio.speech.create(**SPEECH)  # type: ignore[arg-type]
    headers = raised.value.response.headers
    assert headers["retry-after"] == "20"
    assert (headers["x-ratelimit-limit-requests"], headers["x-ratelimit-remaining-requests"],
            headers["x-ratelimit-reset-requests"]) == ("3", "0", "20s")
    assert (headers["x-ratelimit-remaining-tokens"], headers["x-ratelimit-reset-tokens"]) == ("39000", "6.946s")
    assert error_of(raised.value) == {
        "message": "Rate limit reached for gpt-4o-mini-tts in organization org-mock on requests per min (RPM): "
                   "Limit 3, Used 3, Requested 1. Please try again in 20s. Visit "
                   "https://platform.openai.com/account/rate-limits to learn more.",
        "type": "requests", "param": None, "code": "rate_limit_exceeded"}
    scope.add_fault(Fault.from_dict({"name": "http_rate_limit", "limits": [
        {"name": "requests", "limit": 500, "remaining": 499, "reset_seconds": 0.12}]}))
    passed = await sdk.audio.speech.with_raw_response.create(**SPEECH)  # type: ignore[arg-type]
    assert passed.status_code == 200 and passed.headers["x-ratelimit-reset-requests"] == "120ms"


async def test_the_sdk_retries_a_429_and_then_succeeds(mock: RunningServer) -> None:
    mock.state.scope("retry").add_fault(Fault.from_dict({"name": "http_rate_limit", "count": 1}))
    started = time.monotonic()
    answer = await client(mock, scope="retry", retries=1).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Retry me."}])
    assert answer.choices[0].message.content == "You said: Retry me."
    assert time.monotonic() - started >= 0.9  # the SDK waited the retry-after (1 s) before the retry
    assert [e["status"] for e in mock.state.scope("retry").rest.list()] == [429, 200]


async def test_a_slow_body_waits_between_chunks(mock: RunningServer) -> None:
    mock.state.scope("slow").add_fault(Fault.from_dict({"name": "http_slow_body", "ms": 150}))
    sdk = client(mock, scope="slow")
    arrivals = []
    async with sdk.audio.speech.with_streaming_response.create(
            model="tts-1", voice="alloy", input=" ".join(["A slow body."] * 8), response_format="wav") as streamed:
        async for _ in streamed.iter_bytes(8192):
            arrivals.append(time.monotonic())
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert len(arrivals) >= 3 and min(gaps) >= 0.12  # real time is the point here


async def test_websocket_faults_leave_rest_alone_and_rest_faults_leave_sockets_alone(mock: RunningServer) -> None:
    scope = mock.state.scope()
    scope.add_fault(Fault.from_dict({"name": "close", "after_events": 0}))
    answer = await client(mock).audio.speech.create(**SPEECH)  # type: ignore[arg-type]
    assert answer.content
    scope.faults.clear()
    scope.add_fault(Fault.from_dict({"name": "http_error"}))
    async with sdk_client(mock).realtime.connect(model="gpt-realtime") as conn:
        assert (await until(conn, "session.created"))[-1].type == "session.created"


def test_rest_faults_are_validated_whole(mock: RunningServer) -> None:
    for bad, field in ([{"name": "http_error", "code": 1011}, "code"], [{"name": "http_slow_body"}, "ms"],
                       [{"name": "http_error", "path": "audio"}, "path"]):
        status, body = admin(mock, "POST", "/_mock/faults", bad)
        assert (status, body["error"]["code"], body["error"]["param"]) == (400, "invalid_fault", field)
    with pytest.raises(FaultError):
        Fault.from_dict({"name": "http_rate_limit", "limits": [{"name": "words"}]})
    scenario = parse_scenario(json.dumps({"name": "rest-faults", "faults": [
        {"name": "http_error", "code": 502, "path": "/v1/audio/translations"},
        {"name": "http_slow_body", "ms": 5}, {"name": "http_rate_limit"}]}))
    assert [f.name for f in mock.state.scope("sf").use_scenario(scenario)] == ["http_error", "http_slow_body",
                                                                               "http_rate_limit"]


async def test_the_journal_lists_requests_without_audio(mock: RunningServer) -> None:
    sdk = client(mock, scope="journal")
    await sdk.audio.speech.create(**SPEECH, response_format="wav")  # type: ignore[arg-type]
    await sdk.audio.transcriptions.create(model="whisper-1", file=("hi.wav", wav_of("Hi there.")))
    await sdk.chat.completions.create(model="gpt-audio", modalities=["text", "audio"],
                                      audio={"voice": "alloy", "format": "mp3"},
                                      messages=[{"role": "user", "content": "Journal me."}])
    with pytest.raises(openai.NotFoundError):
        await sdk.audio.speech.create(model="nope", voice="alloy", input="x")
    status, body = admin(mock, "GET", "/_mock/requests", scope="journal")
    entries = body["requests"]
    assert status == 200 and [(e["path"], e["model"], e["status"]) for e in entries] == [
        ("/v1/audio/speech", "gpt-4o-mini-tts", 200), ("/v1/audio/transcriptions", "whisper-1", 200),
        ("/v1/chat/completions", "gpt-audio", 200), ("/v1/audio/speech", None, 404)]
    speech_entry, upload, chat, refused = entries
    assert speech_entry["request"]["input"] == "Fault lines." and speech_entry["stream"] is True
    assert speech_entry["response"]["content_type"] == "audio/wav" and speech_entry["response"]["bytes"] > 1000
    assert upload["request"]["file"] == {"filename": "hi.wav", "content_type": "audio/x-wav",  # the SDK's guess
                                         "bytes": len(wav_of("Hi there."))}
    assert upload["response"]["text"] == "Hi there."
    audio = chat["response"]["choices"][0]["message"]["audio"]
    assert audio["transcript"] == "You said: Journal me." and set(audio["data"]) == {"base64_bytes"}
    assert refused["response"]["error"]["code"] == "model_not_found"
    assert len(json.dumps(entries)) < 5000  # no audio bytes
    _, filtered = admin(mock, "GET", "/_mock/requests?path=/v1/chat/completions", scope="journal")
    assert [e["path"] for e in filtered["requests"]] == ["/v1/chat/completions"]
    _, other = admin(mock, "GET", "/_mock/requests", scope="elsewhere")
    assert other["requests"] == []
    admin(mock, "POST", "/_mock/reset", {}, scope="journal")
    assert admin(mock, "GET", "/_mock/requests", scope="journal")[1]["requests"] == []


async def test_the_plugin_shows_the_tests_requests(mock: RunningServer, tmp_path: Path) -> None:
    plugin = RealtimeMock(mock, "plugin-scope", tmp_path)
    plugin.load_scenario({"name": "p", "user_audio": ["Scripted."]})
    sdk = plugin.async_client(max_retries=0)
    heard = await sdk.audio.transcriptions.create(model="gpt-4o-transcribe", file=("x.wav", wav_of("Codec.")))
    assert heard.text == "Scripted."
    fault = plugin.add_fault("http_error", code=500, count=1)
    with pytest.raises(openai.InternalServerError):
        await sdk.audio.translations.create(model="whisper-1", file=("x.wav", wav_of("Codec.")))
    plugin.remove_fault(fault)
    (first, second) = plugin.requests()
    assert (first["status"], second["status"], second["path"]) == (200, 500, "/v1/audio/translations")
    assert plugin.requests(model="gpt-4o-transcribe") == [first]


async def test_record_and_replay_the_audio_endpoints(mock: RunningServer, serve: Callable[[Starlette], Served],
                                                     tmp_path: Path) -> None:
    recorder = serve(create_recorder_app(mock.websocket_base_url, tmp_path, None))

    async def app(base: Served) -> tuple[bytes, str, str, str]:
        sdk = base.client()
        sdk = sdk.with_options(max_retries=0)
        made = await sdk.audio.speech.create(model="tts-1", voice="alloy", input="Record me.", response_format="flac")
        heard = await sdk.audio.transcriptions.create(model="whisper-1", file=("r.flac", made.content))
        chat = await sdk.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": heard.text}])
        stream = await sdk.audio.transcriptions.create(model="gpt-4o-transcribe", file=("r.flac", made.content),
                                                       stream=True)
        done = [event async for event in stream][-1]
        return made.content, heard.text, chat.choices[0].message.content or "", done.text  # type: ignore[union-attr]

    live = await app(recorder)
    assert live[1:] == ("Record me.", "You said: Record me.", "Record me.")
    cassettes = sorted(tmp_path.glob("*.jsonl"))
    assert len(cassettes) == 4
    upload = read(cassettes[1]).http[0]
    assert upload.request["form"] == {"model": "whisper-1"} and upload.request["files"]["file"]["bytes"] == len(live[0])
    lines: list[str] = []
    replayer = serve(create_replay_app(cassettes, lines.append))
    assert await app(replayer) == live and lines == []
    other = replayer.client().with_options(max_retries=0)
    with pytest.raises(openai.BadRequestError) as raised:
        await other.audio.speech.create(model="tts-1", voice="alloy", input="Never recorded.")
    assert error_of(raised.value)["code"] == "cassette_mismatch" and len(lines) == 1

