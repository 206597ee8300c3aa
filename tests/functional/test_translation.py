"""Translation sessions over a real socket with the official SDK (`client.realtime.translations.connect`):
speech in, translated transcript and audio out, the handshake rules, client secrets, errors, scenarios,
faults and the journal."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncOpenAI
from starlette.applications import Starlette
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from mockserver import schema_store
from mockserver.audio import speech
from mockserver.runner import RunningServer
from mockserver.state import ServerConfig
from tests.functional.conftest import Served, Start, sdk_client, until
from tests.functional.test_admin_api import call

pytestmark = pytest.mark.functional

MODEL = "gpt-realtime-translate"
SENTENCE = "Where is the station?"


def spoken(text: str, chunk: int = 9_600) -> list[str]:
    """`text` said with the speech codec between pauses, as base64 chunks of `chunk` bytes (200 ms)."""
    pcm = bytes(48 * 200) + speech.speak(text) + bytes(48 * 600)
    return [base64.b64encode(pcm[i:i + chunk]).decode() for i in range(0, len(pcm), chunk)]


def joined(events: list[Any], event_type: str) -> str:
    return "".join(e.delta for e in events if e.type == event_type)


def audio(events: list[Any]) -> bytes:
    return b"".join(base64.b64decode(e.delta) for e in events if e.type == "session.output_audio.delta")


async def speak_and_close(conn: Any, *texts: str) -> list[Any]:
    """Say each text (SENTENCE by default), one utterance each, then `session.close`: every event up to
    `session.closed`."""
    for text in texts or (SENTENCE,):
        for chunk in spoken(text):
            await conn.session.input_audio_buffer.append(audio=chunk)
    await conn.session.close()
    return await until(conn, "session.closed")


async def test_the_sdk_hears_a_sentence_translated_as_text_and_as_audio(mock: RunningServer) -> None:
    async with sdk_client(mock).realtime.translations.connect(model=MODEL) as conn:
        (created,) = await until(conn, "session.created")
        assert (created.session.type, created.session.model) == ("translation", MODEL)
        await conn.session.update(session={"audio": {"output": {"language": "es"},
                                                     "input": {"transcription": {"model": "gpt-realtime-whisper"}}}})
        (updated,) = await until(conn, "session.updated")
        assert updated.session.audio.output.language == "es"
        events = await speak_and_close(conn)
    assert joined(events, "session.input_transcript.delta") == SENTENCE
    assert joined(events, "session.output_transcript.delta") == f"[es] {SENTENCE}"
    assert speech.transcribe(audio(events)) == f"[es] {SENTENCE}"
    frames = [e for e in events if e.type == "session.output_audio.delta"]
    assert {(f.sample_rate, f.channels, f.format) for f in frames} == {(24000, 1, "pcm16")}
    assert all(len(base64.b64decode(f.delta)) == 19_200 for f in frames[:-1])
    assert events[-1].type == "session.closed" and not any(e.type == "error" for e in events)


async def test_session_close_ends_cleanly_and_the_journal_keeps_the_session(mock: RunningServer) -> None:
    async with sdk_client(mock).realtime.translations.connect(model=MODEL) as conn:
        created = (await until(conn, "session.created"))[0]
        await speak_and_close(conn)
    session_id = created.session.id
    for _ in range(200):  # the server sees the client's close a moment later
        status, listed = call(mock, "GET", "/_mock/sessions")
        summary = next(s for s in listed["sessions"] if s["id"] == session_id)
        if not summary["live"]:
            break
        await asyncio.sleep(0.01)  # real time: waiting for the server to see the close
    # Closed by the client after session.closed: no close code of the server's.
    assert (summary["model"], summary["live"], summary["close_code"]) == (MODEL, False, None)
    status, journal = call(mock, "GET", f"/_mock/sessions/{session_id}/journal?direction=client")
    assert status == 200
    sent = [entry["event"]["type"] for entry in journal["entries"]]
    assert sent[-1] == "session.close" and set(sent) == {"session.input_audio_buffer.append", "session.close"}


async def test_a_scenario_phrase_table_gives_the_translation(mock: RunningServer) -> None:
    scenario = {"name": "phrases", "translations": {"fr": {"where is the station?": "Où est la gare ?"}}}
    assert call(mock, "PUT", "/_mock/scenario", scenario, scope="phrases")[0] == 200
    client = sdk_client(mock)
    async with client.realtime.translations.connect(model=MODEL, extra_headers={"X-Mock-Scope": "phrases"}) as conn:
        await conn.session.update(session={"audio": {"output": {"language": "fr"}}})
        events = await speak_and_close(conn, SENTENCE, "Thank you.")
    assert joined(events, "session.output_transcript.delta") == "Où est la gare ?[fr] Thank you."
    assert "session.input_transcript.delta" not in [e.type for e in events]  # transcription is off by default


async def test_bad_events_get_the_live_errors_and_the_session_goes_on(mock: RunningServer) -> None:
    async with sdk_client(mock).realtime.translations.connect(model=MODEL) as conn:
        await until(conn, "session.created")
        for bad in ({"type": "response.create"}, {"type": "input_audio_buffer.append", "audio": ""},
                    {"type": "session.update", "session": {"audio": {"input": {"language": "en"}}}},
                    {"type": "session.update", "session": {"audio": {"input": {"format": {"type": "audio/pcmu"}}}}},
                    {"type": "session.input_audio_buffer.append", "audio": "%%%"}):
            await conn.send(bad)
            (error,) = await until(conn, "error")
            assert error.error.type == "invalid_request_error", error
        await conn.session.update(session={"audio": {"output": {"language": "de"}}})
        await until(conn, "session.updated")
        events = await speak_and_close(conn)
    assert joined(events, "session.output_transcript.delta") == f"[de] {SENTENCE}"


@pytest.mark.parametrize(("event", "code", "param", "message"), [
    ({"type": "response.create"}, "invalid_value", "type",
     "Invalid value: 'response.create'. Supported values are: 'session.update', "
     "'session.input_audio_buffer.append', and 'session.close'."),
    ({"type": "session.update", "session": {"audio": {"input": {"language": "en"}}}}, "unknown_parameter",
     "session.audio.input.language", "Unknown parameter: 'session.audio.input.language'."),
    ({"type": "session.update", "session": {"audio": {"input": {"format": {"type": "audio/pcmu"}}}}},
     "unknown_parameter", "session.audio.input.format", "Unknown parameter: 'session.audio.input.format'."),
    ({"type": "session.update", "session": {"model": "gpt-realtime-translate"}}, "unknown_parameter",
     "session.model", "Unknown parameter: 'session.model'."),
])
async def test_the_live_error_words(mock: RunningServer, event: dict[str, Any], code: str, param: str,
                                    message: str) -> None:
    async with sdk_client(mock).realtime.translations.connect(model=MODEL) as conn:
        await until(conn, "session.created")
        await conn.send(event)
        (error,) = await until(conn, "error")
    assert (error.error.code, error.error.param, error.error.message) == (code, param, message)


async def raw_refusal(server: RunningServer, path: str, key: str = "sk-test") -> tuple[dict[str, Any], int]:
    """Connect with `websockets`; the error event the server sends, and its close code."""
    async with connect(f"ws://{server.host}:{server.port}{path}",
                       additional_headers={"Authorization": f"Bearer {key}"}) as ws:
        event = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert schema_store.shape_errors("translation/server", event) == []
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code is not None
        return event["error"], ws.close_code


@pytest.mark.parametrize(("path", "code", "close_code"), [
    ("/v1/realtime/translations", "missing_model", 4000),
    (f"/v1/realtime/translations?model={MODEL}&intent=transcription", "unknown_parameter", 4000),
    ("/v1/realtime/translations?model=gpt-realtime", "invalid_model", 4000),
])
async def test_the_handshake_rules(mock: RunningServer, path: str, code: str, close_code: int) -> None:
    error, closed = await raw_refusal(mock, path)
    assert (error["code"], closed) == (code, close_code)


async def test_an_unknown_key_is_refused(start_mock: Start) -> None:
    server = start_mock(ServerConfig(key_is_valid=lambda key: key == "sk-good"))
    error, closed = await raw_refusal(server, f"/v1/realtime/translations?model={MODEL}", key="sk-bad")
    assert (error["code"], closed) == ("invalid_api_key", 3000)


async def test_a_translation_client_secret_opens_translation_sessions_only(mock: RunningServer) -> None:
    minted = await sdk_client(mock).realtime.translations.client_secrets.create(
        session={"model": MODEL, "audio": {"output": {"language": "it"}}}, expires_after={"anchor": "created_at",
                                                                                       "seconds": 60})
    assert minted.value.startswith("ek_") and minted.session.type == "translation"
    assert minted.session.audio.output.language == "it"
    ephemeral = AsyncOpenAI(api_key=minted.value, base_url=mock.base_url, websocket_base_url=mock.websocket_base_url)
    async with ephemeral.realtime.translations.connect(model=MODEL) as conn:
        (created,) = await until(conn, "session.created")
        assert created.session.audio.output.language == "it"  # the secret's configuration
        events = await speak_and_close(conn)
    assert joined(events, "session.output_transcript.delta") == f"[it] {SENTENCE}"
    # The translation key does not open a voice-agent session, and a voice-agent key no translation session.
    error, closed = await raw_refusal(mock, "/v1/realtime?model=gpt-realtime", key=minted.value)
    assert (error["code"], closed) == ("invalid_client_secret", 3000)
    realtime = await sdk_client(mock).realtime.client_secrets.create(session={"type": "realtime"})
    error, closed = await raw_refusal(mock, f"/v1/realtime/translations?model={MODEL}", key=realtime.value)
    assert (error["code"], closed) == ("invalid_client_secret", 3000)


async def test_a_translation_client_secret_request_is_checked(mock: RunningServer) -> None:
    import openai

    with pytest.raises(openai.BadRequestError) as refused:
        await sdk_client(mock).realtime.translations.client_secrets.create(session={"model": "gpt-realtime"})
    assert refused.value.code == "invalid_model" and refused.value.param == "session.model"
    with pytest.raises(openai.BadRequestError) as refused:
        await sdk_client(mock).realtime.translations.client_secrets.create(
            session={"model": MODEL}, expires_after={"anchor": "created_at", "seconds": 5})
    assert refused.value.code == "integer_below_min_value" and refused.value.param == "expires_after.seconds"


async def test_faults_apply_to_translation_sessions(mock: RunningServer) -> None:
    status, _ = call(mock, "POST", "/_mock/faults", {"name": "drop", "event": "session.output_audio.delta"},
                     scope="faulty")
    assert status == 200
    headers = {"X-Mock-Scope": "faulty"}
    async with sdk_client(mock).realtime.translations.connect(model=MODEL, extra_headers=headers) as conn:
        events = await speak_and_close(conn)
    assert joined(events, "session.output_transcript.delta") == f"[en] {SENTENCE}"
    assert audio(events) == b""
    assert call(mock, "POST", "/_mock/faults", {"name": "refuse_handshake", "code": 503}, scope="faulty")[0] == 200
    with pytest.raises(Exception, match="503"):
        async with connect(f"ws://{mock.host}:{mock.port}/v1/realtime/translations?model={MODEL}",
                           additional_headers={"Authorization": "Bearer sk-test", "X-Mock-Scope": "faulty"}):
            pass


async def test_an_injected_event_is_checked_against_the_translation_schemas(mock: RunningServer) -> None:
    async with sdk_client(mock).realtime.translations.connect(model=MODEL) as conn:
        (created,) = await until(conn, "session.created")
        status, body = call(mock, "POST", f"/_mock/sessions/{created.session.id}/events",
                            {"type": "session.output_transcript.delta", "delta": "injected"})
        assert status == 200 and body["schema_problems"] == []
        (injected,) = await until(conn, "session.output_transcript.delta")
    assert injected.delta == "injected"


# --- record, replay, conformance ----------------------------------------------------------------------------

async def translating_app(client: AsyncOpenAI) -> list[dict[str, Any]]:
    """An app that has one sentence translated into Spanish: every server frame it received, raw."""
    received: list[dict[str, Any]] = []
    async with client.realtime.translations.connect(model=MODEL) as conn:
        async def through(event_type: str) -> None:
            while True:
                received.append(json.loads(await asyncio.wait_for(conn.recv_bytes(), 10)))
                if received[-1]["type"] == event_type:
                    return

        await through("session.created")
        await conn.session.update(session={"audio": {"output": {"language": "es"},
                                                     "input": {"transcription": {"model": "gpt-realtime-whisper"}}}})
        await through("session.updated")
        for chunk in spoken(SENTENCE):
            await conn.session.input_audio_buffer.append(audio=chunk)
        await conn.session.close()
        await through("session.closed")
    return received


async def test_translation_sessions_record_replay_and_pass_conformance(
        mock: RunningServer, serve: Callable[[Starlette], Served], tmp_path: Path) -> None:
    from conformance.cassette import SUFFIX, read
    from conformance.recorder import create_recorder_app
    from conformance.replayer import create_replay_app
    from conformance.report import table
    from conformance.suite import run_suite
    from conformance.target import ReplayOptions

    folder = tmp_path / "cassettes"
    recorder = serve(create_recorder_app(mock.websocket_base_url, folder, None))
    live = await translating_app(recorder.client())
    (path,) = folder.glob(f"*{SUFFIX}")
    cassette = read(path)
    assert cassette.endpoint == "/v1/realtime/translations" and cassette.query == {"model": MODEL}
    assert cassette.server_events() == live
    lines: list[str] = []
    replayer = serve(create_replay_app([path], lines.append))
    assert await translating_app(replayer.client()) == live  # frame for frame, event ids included
    assert replayer.app.state.mismatches == [] and lines == []
    suite = await asyncio.to_thread(run_suite, [folder], "mock", options=ReplayOptions(pace="none"))
    (result,) = suite.results
    assert result.status == "passed" and suite.unexplained == 0, table(suite)
    assert any(e["type"] == "session.output_audio.delta" for e in result.replay.events)
