"""The beta shim over a real socket, driven by the official SDK's beta client (`client.beta.realtime`).

These servers are started here, not with the `start_mock` fixture: that fixture checks every event
against the GA schemas, and a beta connection sends beta events. This module's `shim` fixture checks
every event the server sends against `schemas/beta/server` instead.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from mockserver import schema_store
from mockserver.audio import codecs
from mockserver.protocol.faults import Fault
from mockserver.protocol.responder import FunctionCall, Message, Reply, Responder, ScriptedResponder
from mockserver.runner import RunningServer
from mockserver.state import ServerConfig
from tests.functional.conftest import Start, checked_servers, sdk_client, until

pytestmark = pytest.mark.functional

MODEL = "gpt-4o-realtime-preview"
USER = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Say a short greeting."}]}
StartShim = Callable[..., RunningServer]


@pytest.fixture
def start_shim() -> Iterator[StartShim]:
    """Start a mock with `beta="shim"`; at teardown every event it sent must be a valid beta server event."""
    with checked_servers("beta/server") as start_checked:
        def start(responder: Callable[[], Responder] | None = None, **config: Any) -> RunningServer:
            options = {} if responder is None else {"responder": responder}
            return start_checked(ServerConfig(beta="shim", **config), **options)

        yield start


@pytest.fixture
def shim(start_shim: StartShim) -> RunningServer:
    return start_shim()


async def test_text_turn(shim: RunningServer) -> None:
    async with sdk_client(shim).beta.realtime.connect(model=MODEL) as conn:
        created = await conn.recv()
        assert created.type == "session.created" and created.session.modalities == ["text", "audio"]
        assert created.session.input_audio_format == "pcm16" and created.session.temperature == 0.8
        await conn.session.update(session={"modalities": ["text"], "temperature": 0.7})
        updated = (await until(conn, "session.updated"))[-1]
        assert updated.session.modalities == ["text"] and updated.session.temperature == 0.7
        await conn.conversation.item.create(item=USER)
        await conn.response.create()
        events = await until(conn, "rate_limits.updated")
    names = [e.type for e in events]
    assert names[:2] == ["conversation.item.created", "response.created"]
    assert names[-4:] == ["response.content_part.done", "response.output_item.done", "response.done",
                          "rate_limits.updated"]
    assert not any(n.startswith("response.output_text") or n in ("conversation.item.added", "conversation.item.done")
                   for n in names)
    text = "".join(e.delta for e in events if e.type == "response.text.delta")
    assert text == "You said: Say a short greeting."
    assert next(e for e in events if e.type == "response.text.done").text == text
    done = events[-2].response
    assert done.status == "completed" and done.modalities == ["text"] and done.temperature == 0.7
    assert done.output[0].content[0].type == "text" and done.usage.total_tokens > 0


async def test_audio_turn(shim: RunningServer) -> None:
    async with sdk_client(shim).beta.realtime.connect(model=MODEL) as conn:
        await until(conn, "session.created")
        await conn.conversation.item.create(item=USER)
        await conn.response.create()
        events = await until(conn, "response.done")
    audio = b"".join(base64.b64decode(e.delta) for e in events if e.type == "response.audio.delta")
    transcript = "".join(e.delta for e in events if e.type == "response.audio_transcript.delta")
    assert transcript == "You said: Say a short greeting."
    assert codecs.duration_ms(len(audio), "audio/pcm") > 1500 and len(audio) % 2 == 0
    assert next(e for e in events if e.type == "response.audio_transcript.done").transcript == transcript
    assert "response.audio.done" in [e.type for e in events]
    done = events[-1].response
    assert done.modalities == ["text", "audio"] and done.output_audio_format == "pcm16"
    assert done.output[0].content[0].type == "audio" and done.output[0].content[0].transcript == transcript


async def test_function_call_round(start_shim: StartShim) -> None:
    tools = [{"type": "function", "name": "get_weather", "description": "Weather for a city",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    server = start_shim(lambda: ScriptedResponder([Reply((FunctionCall("get_weather", '{"city":"Paris"}'),)),
                                                   Reply((Message("It is sunny in Paris."),))]))
    async with sdk_client(server).beta.realtime.connect(model=MODEL) as conn:
        await conn.session.update(session={"modalities": ["text"], "tools": tools, "tool_choice": "auto"})
        updated = (await until(conn, "session.updated"))[-1]
        assert updated.session.tools[0].name == "get_weather" and updated.session.tool_choice == "auto"
        await conn.conversation.item.create(item={"type": "message", "role": "user",
                                                  "content": [{"type": "input_text", "text": "Weather in Paris?"}]})
        await conn.response.create()
        events = await until(conn, "response.done")
        args = next(e for e in events if e.type == "response.function_call_arguments.done")
        assert json.loads(args.arguments) == {"city": "Paris"}
        assert events[-1].response.output[0].type == "function_call"
        await conn.conversation.item.create(item={"type": "function_call_output", "call_id": args.call_id,
                                                  "output": "Sunny, 21 C"})
        await conn.response.create()
        events = await until(conn, "response.done")
    created = [e for e in events if e.type == "conversation.item.created"]
    assert created[0].item.type == "function_call_output" and created[0].item.call_id == args.call_id
    assert events[-1].response.output[0].content[0].text == "It is sunny in Paris."


async def test_rest_sessions_then_connect_with_the_ephemeral_key(shim: RunningServer) -> None:
    client = sdk_client(shim)
    raw = await client.beta.realtime.sessions.with_raw_response.create(
        model=MODEL, modalities=["text"], voice="sage", temperature=0.9, input_audio_format="g711_ulaw",
        turn_detection={"type": "server_vad", "silence_duration_ms": 600})
    body = raw.http_response.json()
    assert [e.message for e in schema_store.validator("rest/beta.sessions.response").iter_errors(body)] == []
    session = raw.parse()
    assert session.modalities == ["text"] and session.voice == "sage" and session.temperature == 0.9
    assert session.input_audio_format == "g711_ulaw" and session.turn_detection.silence_duration_ms == 600
    secret = session.client_secret
    assert secret.value.startswith("ek_") and len(secret.value) == 35
    assert abs(secret.expires_at - (time.time() + 60)) < 5  # "all tokens expire after one minute"
    longer = await client.beta.realtime.sessions.create(client_secret={"expires_after": {"anchor": "created_at",
                                                                                         "seconds": 600}})
    assert abs(longer.client_secret.expires_at - (time.time() + 600)) < 5
    async with sdk_client(shim, api_key=secret.value).beta.realtime.connect(model=MODEL) as conn:
        assert (await conn.recv()).type == "session.created"


async def test_rest_transcription_sessions(shim: RunningServer) -> None:
    raw = await sdk_client(shim).beta.realtime.transcription_sessions.with_raw_response.create(
        input_audio_transcription={"model": "gpt-4o-transcribe", "language": "en"})
    body = raw.http_response.json()
    validator = schema_store.validator("rest/beta.transcription_sessions.response")
    assert [e.message for e in validator.iter_errors(body)] == []
    assert body["object"] == "realtime.transcription_session" and body["input_audio_format"] == "pcm16"
    assert body["input_audio_transcription"]["model"] == "gpt-4o-transcribe"
    assert body["turn_detection"]["type"] == "server_vad" and body["client_secret"]["value"].startswith("ek_")


def post(server: RunningServer, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(f"{server.base_url}{path}", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_rest_errors(shim: RunningServer) -> None:
    auth = {"Authorization": "Bearer sk-test", "Content-Type": "application/json"}

    def create(body: Any, headers: dict[str, str] = auth) -> tuple[int, Any]:
        return post(shim, "/realtime/sessions", json.dumps(body).encode(), headers)

    assert create({"modalities": ["text"], "bogus": 1}) == (400, {"error": {
        "message": "Unknown parameter: 'bogus'.", "type": "invalid_request_error", "param": "bogus",
        "code": "unknown_parameter"}})
    status, hot = create({"temperature": 2})
    assert status == 400 and (hot["error"]["code"], hot["error"]["param"]) == ("decimal_above_max_value",
                                                                               "temperature")
    status, short = create({"client_secret": {"expires_after": {"anchor": "created_at", "seconds": 5}}})
    assert (short["error"]["code"], short["error"]["param"]) == ("integer_below_min_value",
                                                                 "client_secret.expires_after.seconds")
    status, unparsed = post(shim, "/realtime/sessions", b"{nope", auth)
    assert status == 400 and unparsed["error"]["message"].startswith("We could not parse the JSON body")
    status, anonymous = create({}, {"Content-Type": "application/json"})
    assert status == 401 and anonymous["error"]["message"].startswith("You didn't provide an API key.")
    status, off = post(shim, "/realtime/transcription_sessions", b'{"turn_detection": null}', auth)
    assert status == 200 and off["turn_detection"] is None


async def test_journal_and_faults_see_beta_events(start_shim: StartShim) -> None:
    server = start_shim()
    server.state.scope().add_fault(Fault(name="drop", event="response.text.done"))
    async with sdk_client(server).beta.realtime.connect(model=MODEL) as conn:
        created = await conn.recv()
        await conn.session.update(session={"modalities": ["text"]})
        await conn.conversation.item.create(item=USER)
        await conn.response.create()
        events = await until(conn, "response.done")
    assert "response.text.delta" in [e.type for e in events] and "response.text.done" not in [e.type for e in events]
    journal = server.state.scope().journals[created.session.id]
    server_types = [e["event"]["type"] for e in journal.entries if e["direction"] == "server"]
    client_types = [e["event"]["type"] for e in journal.entries if e["direction"] == "client"]
    assert client_types == ["session.update", "conversation.item.create", "response.create"]
    assert "response.text.delta" in server_types and "response.output_text.delta" not in server_types
    assert "conversation.item.done" not in server_types and "response.text.done" not in server_types
    created_event = next(e["event"] for e in journal.entries if e["event"]["type"] == "session.created")
    assert created_event["session"]["modalities"] == ["text", "audio"]


async def test_browser_subprotocol_and_beta_errors(shim: RunningServer) -> None:
    from openai import AsyncOpenAI

    minted = await AsyncOpenAI(api_key="sk-test", base_url=shim.base_url).realtime.client_secrets.create()
    protocols = ["realtime", f"openai-insecure-api-key.{minted.value}", "openai-beta.realtime-v1"]
    url = f"{shim.websocket_base_url}/realtime?model={MODEL}"
    async with connect(url, subprotocols=protocols) as ws:  # type: ignore[arg-type]
        assert ws.subprotocol == "realtime"
        assert json.loads(await ws.recv())["session"]["object"] == "realtime.session"
        await ws.send(json.dumps({"type": "session.update", "event_id": "e1", "session": {"type": "realtime"}}))
        error = json.loads(await ws.recv())["error"]
        assert (error["code"], error["param"], error["event_id"]) == ("unknown_parameter", "session.type", "e1")
        await ws.send(json.dumps({"type": "transcription_session.update", "session": {}}))
        assert json.loads(await ws.recv())["error"]["code"] == "invalid_parameter"


async def test_model_the_beta_interface_cannot_name(shim: RunningServer) -> None:
    async with sdk_client(shim).beta.realtime.connect(model="gpt-realtime-mini") as conn:
        error = await conn.recv()
        assert error.type == "error" and error.error.code == "invalid_model"
        with pytest.raises(ConnectionClosed) as closed:
            await conn.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000


async def test_without_shim_the_beta_client_is_rejected_as_live(start_mock: Start) -> None:
    server = start_mock()
    async with sdk_client(server).beta.realtime.connect(model=MODEL) as conn:
        error = await conn.recv()
        assert error.type == "error" and error.error.code == "beta_api_shape_disabled"
        assert error.error.message == "The Realtime Beta API is no longer supported."
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(conn.recv(), 5)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4000, "invalid_request_error.beta_api_shape_disabled")
    with pytest.raises(openai.NotFoundError) as missing:
        await sdk_client(server).beta.realtime.sessions.create(model=MODEL)
    assert missing.value.body == {"message": "Invalid URL (POST /v1/realtime/sessions)",
                                  "type": "invalid_request_error", "param": None, "code": None}


async def test_ga_clients_are_unchanged_on_a_shim_server(start_mock: Start) -> None:
    server = start_mock(ServerConfig(beta="shim"))  # start_mock checks every event against the GA schemas
    async with sdk_client(server).realtime.connect(model="gpt-realtime") as conn:
        created = await conn.recv()
        assert created.session.type == "realtime"
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await conn.conversation.item.create(item=USER)
        await conn.response.create()
        events = await until(conn, "response.done")
    assert "response.output_text.delta" in [e.type for e in events]
