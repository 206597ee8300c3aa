"""The GA session over a real socket, driven by the official SDK (openai==3.51.0) and raw clients."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from mockserver.audio import codecs
from mockserver.protocol.responder import FunctionCall, Reply, ScriptedResponder
from mockserver.protocol.responses import Pacing
from mockserver.runner import RunningServer
from mockserver.state import ServerConfig
from tests.functional.conftest import Start, raw_until, sdk_client, until

pytestmark = pytest.mark.functional

USER = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Say a short greeting."}]}
TEXT = {"type": "realtime", "output_modalities": ["text"]}


def url(server: RunningServer, query: str = "model=gpt-realtime") -> str:
    return f"{server.websocket_base_url}/realtime?{query}"


async def test_text_turn(mock: RunningServer) -> None:
    async with sdk_client(mock).realtime.connect(model="gpt-realtime") as conn:
        created = await conn.recv()
        assert created.type == "session.created" and created.session.model == "gpt-realtime"
        await conn.session.update(session=TEXT)
        assert (await conn.recv()).type == "session.updated"
        await conn.conversation.item.create(item=USER)
        await conn.response.create()
        events = await until(conn, "rate_limits.updated")
    names = [e.type for e in events]
    assert names[:3] == ["conversation.item.added", "conversation.item.done", "response.created"]
    assert names[-4:] == ["conversation.item.done", "response.output_item.done", "response.done",
                          "rate_limits.updated"]
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "You said: Say a short greeting."
    done = events[-2].response
    assert done.status == "completed" and done.usage.total_tokens > 0


async def test_audio_turn_gives_pcm16_24k_with_its_transcript(mock: RunningServer) -> None:
    async with sdk_client(mock).realtime.connect(model="gpt-realtime") as conn:
        await conn.conversation.item.create(item=USER)
        await conn.response.create()
        events = await until(conn, "response.done")
    audio = b"".join(base64.b64decode(e.delta) for e in events if e.type == "response.output_audio.delta")
    transcript = "".join(e.delta for e in events if e.type == "response.output_audio_transcript.delta")
    assert transcript == "You said: Say a short greeting."
    assert codecs.duration_ms(len(audio), "audio/pcm") > 1500 and len(audio) % 2 == 0
    final = next(e for e in events if e.type == "response.output_audio_transcript.done")
    assert final.transcript == transcript


async def test_g711_output(mock: RunningServer) -> None:
    async with sdk_client(mock).realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "audio": {"output": {"format": {"type": "audio/pcmu"}}}})
        await conn.conversation.item.create(item=USER)
        await conn.response.create()
        events = await until(conn, "response.done")
    audio = b"".join(base64.b64decode(e.delta) for e in events if e.type == "response.output_audio.delta")
    assert len(audio) > 8000  # 8 kHz, one byte a sample: more than a second
    assert len(codecs.decode(audio, "audio/pcmu")) == 6 * len(audio)


async def test_function_call_round_trip(start_mock: Start) -> None:
    tools = [{"type": "function", "name": "get_weather", "description": "Weather for a city",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    call = Reply((FunctionCall("get_weather", '{"city":"Paris"}'),))
    server = start_mock(responder=lambda: ScriptedResponder([call]))
    async with sdk_client(server).realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={**TEXT, "tools": tools})
        await until(conn, "session.updated")
        await conn.conversation.item.create(item={"type": "message", "role": "user",
                                                  "content": [{"type": "input_text", "text": "Weather in Paris?"}]})
        await conn.response.create()
        events = await until(conn, "response.done")
        args_done = next(e for e in events if e.type == "response.function_call_arguments.done")
        assert args_done.name == "get_weather" and json.loads(args_done.arguments) == {"city": "Paris"}
        await conn.conversation.item.create(item={"type": "function_call_output", "call_id": args_done.call_id,
                                                  "output": "Sunny, 21 C"})
        await conn.response.create()
        events = await until(conn, "response.done")
    assert events[0].type == "rate_limits.updated"  # the previous response's
    assert events[1].type == "conversation.item.added" and events[1].item.type == "function_call_output"
    assert events[-1].response.output[0].content[0].text == "The get_weather tool returned: Sunny, 21 C"


async def test_cancel_mid_response(start_mock: Start) -> None:
    server = start_mock(ServerConfig(pacing=Pacing(first_delta=30)))  # held long enough for the cancel to land
    async with sdk_client(server).realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session=TEXT)
        await conn.conversation.item.create(item=USER)
        await conn.response.create()
        await until(conn, "response.content_part.added")
        await conn.response.cancel()
        events = await until(conn, "response.done")
        assert events[-1].response.status == "cancelled"
        assert events[-1].response.status_details.reason == "client_cancelled"
        assert "response.output_text.delta" not in [e.type for e in events]
        await conn.response.cancel(event_id="again")
        events = await until(conn, "error")
    assert [e.type for e in events] == ["rate_limits.updated", "error"]
    assert events[-1].error.code == "response_cancel_not_active" and events[-1].error.event_id == "again"


async def test_truncate_after_playing_part_of_the_answer(mock: RunningServer) -> None:
    async with sdk_client(mock).realtime.connect(model="gpt-realtime") as conn:
        await conn.conversation.item.create(item=USER)
        await conn.response.create()
        done = (await until(conn, "response.done"))[-1]
        item_id = done.response.output[0].id
        await conn.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=400)
        truncated = (await until(conn, "conversation.item.truncated"))[-1]
        assert (truncated.item_id, truncated.audio_end_ms) == (item_id, 400)
        await conn.conversation.item.retrieve(item_id=item_id)
        item = (await until(conn, "conversation.item.retrieved"))[-1].item
        assert len(base64.b64decode(item.content[0].audio)) == 400 * 48
        await conn.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=600_000)
        error = (await until(conn, "error"))[-1].error
        assert error.param == "audio_end_ms"


async def test_history_seeding(mock: RunningServer) -> None:
    history = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "My name is Alice."}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hi Alice!"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "What is my name?"}]},
    ]
    async with sdk_client(mock).realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session=TEXT)
        for item in history:
            await conn.conversation.item.create(item=item)
        await conn.response.create()
        events = await until(conn, "response.done")
    added = [e for e in events if e.type == "conversation.item.added"]
    assert [e.item.role for e in added] == ["user", "assistant", "user", "assistant"]
    assert [e.previous_item_id for e in added[1:]] == [e.item.id for e in added[:-1]]
    assert added[0].previous_item_id is None


async def test_errors_keep_the_session_open(mock: RunningServer) -> None:
    async with sdk_client(mock).realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "modalities": ["text"]}, event_id="u1")
        error = (await until(conn, "error"))[-1].error
        assert (error.code, error.param, error.event_id) == ("unknown_parameter", "session.modalities", "u1")
        await conn.send({"type": "session.update", "session": {"instructions": "x"}})  # type: ignore[typeddict-item]
        assert (await until(conn, "error"))[-1].error.param == "session.type"
        await conn.input_audio_buffer.commit()
        assert (await until(conn, "error"))[-1].error.code == "input_audio_buffer_commit_empty"
        await conn.conversation.item.delete(item_id="item_nope")
        assert (await until(conn, "error"))[-1].error.code == "item_delete_invalid_item_id"
        await conn.send({"type": "output_audio_buffer.clear"})
        assert (await until(conn, "error"))[-1].error.code == "invalid_value"
        await conn.session.update(session=TEXT)
        await conn.conversation.item.create(item=USER)
        await conn.response.create()
        assert (await until(conn, "rate_limits.updated"))[-2].response.status == "completed"


async def test_a_second_response_while_one_streams(start_mock: Start) -> None:
    server = start_mock(ServerConfig(pacing=Pacing(first_delta=30)))  # the first is still streaming, for sure
    async with sdk_client(server).realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session=TEXT)
        await conn.conversation.item.create(item=USER)
        await conn.response.create()
        created = next(e for e in await until(conn, "response.created") if e.type == "response.created")
        await conn.response.create(event_id="second")
        error = (await until(conn, "error"))[-1].error
        assert (error.code, error.event_id) == ("conversation_already_has_active_response", "second")
        assert created.response.id in error.message
        await conn.response.cancel()
        assert (await until(conn, "response.done"))[-1].response.status == "cancelled"


async def test_append_limit_is_15_mib(mock: RunningServer) -> None:
    async with sdk_client(mock).realtime.connect(model="gpt-realtime") as conn:
        await conn.input_audio_buffer.append(audio=base64.b64encode(bytes(15 * 1024 * 1024 + 3)).decode())
        error = (await until(conn, "error", timeout=30))[-1].error
        assert (error.code, error.param) == ("string_above_max_length", "audio")
        await conn.input_audio_buffer.append(audio=base64.b64encode(bytes(4800)).decode())
        await conn.input_audio_buffer.commit()
        assert (await until(conn, "input_audio_buffer.committed"))[-1].item_id.startswith("item_")


async def test_binary_frames_and_bad_json_get_errors(mock: RunningServer) -> None:
    async with connect(url(mock), additional_headers={"Authorization": "Bearer sk-test"}) as ws:
        await raw_until(ws, "session.created")
        await ws.send(b"\x00\x01\x02")
        error = (await raw_until(ws, "error"))[-1]["error"]
        assert error["message"] == "Expected a text WebSocket message; binary frames are not supported."
        await ws.send("not json")
        assert (await raw_until(ws, "error"))[-1]["error"]["code"] == "invalid_json"
        await ws.send(json.dumps({"type": "session.update", "session": TEXT}))
        assert (await raw_until(ws, "session.updated"))[-1]["session"]["output_modalities"] == ["text"]


@pytest.mark.parametrize(("query", "headers", "code", "reason", "message"), [
    ("model=gpt-realtime", {}, 3000, "invalid_request_error", "Missing bearer or basic authentication in header"),
    ("model=gpt-nope", {"Authorization": "Bearer sk-test"}, 4000, "invalid_request_error.invalid_model",
     'Model "gpt-nope" is not supported in realtime mode. See https://platform.openai.com/docs/models for a list '
     "of supported models."),
    ("", {"Authorization": "Bearer sk-test"}, 4000, "invalid_request_error.missing_model",
     "You must provide a model parameter, for example wss://api.openai.com/v1/realtime?model=gpt-realtime-1.5"),
    ("model=gpt-realtime", {"Authorization": "Bearer sk-test", "OpenAI-Beta": "realtime=v1"}, 4000,
     "invalid_request_error.beta_api_shape_disabled", "The Realtime Beta API is no longer supported."),
], ids=["no_auth", "bad_model", "no_model", "beta_header"])
async def test_handshake_failures_upgrade_then_error_then_close(
        mock: RunningServer, query: str, headers: dict[str, str], code: int, reason: str, message: str) -> None:
    async with connect(url(mock, query), additional_headers=headers) as ws:
        (error,) = await raw_until(ws, "error")
        assert error["error"]["message"] == message
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (code, reason)  # type: ignore[union-attr]


async def test_invalid_key_when_keys_are_checked(start_mock: Start) -> None:
    server = start_mock(ServerConfig(key_is_valid=lambda key: key == "sk-good"))
    async with sdk_client(server, api_key="sk-wrong-key-0123456789").realtime.connect(model="gpt-realtime") as conn:
        error = await conn.recv()
        assert error.type == "error" and error.error.code == "invalid_api_key"
        assert error.error.message.startswith("Incorrect API key provided: sk-wrong")
        with pytest.raises(ConnectionClosed) as closed:
            await conn.recv()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (3000, "invalid_request_error.invalid_api_key")


async def test_browser_auth_by_subprotocol(mock: RunningServer) -> None:
    key = (await sdk_client(mock).realtime.client_secrets.create()).value  # what a browser app is given
    protocols = ["realtime", f"openai-insecure-api-key.{key}", "openai-agents-sdk.0.20.0"]
    async with connect(url(mock), subprotocols=protocols) as ws:  # type: ignore[arg-type]
        assert ws.subprotocol == "realtime"
        assert (await raw_until(ws, "session.created"))[0]["type"] == "session.created"


async def test_session_limit_expires_with_close_1001(start_mock: Start) -> None:
    server = start_mock(ServerConfig(session_seconds=0.3))  # real time is the point here
    async with sdk_client(server).realtime.connect(model="gpt-realtime") as conn:
        await conn.recv()
        error = await asyncio.wait_for(conn.recv(), 5)
        assert error.error.code == "session_expired"
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(conn.recv(), 5)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
        1001, "Your session hit the maximum duration of 60 minutes.")


class Broken:
    def reply(self, turn: Any) -> Reply:
        raise RuntimeError("a bug in the responder")


async def test_a_crash_in_the_core_reaches_the_client_as_server_error_and_1011(
        start_mock: Start, caplog: pytest.LogCaptureFixture) -> None:
    server = start_mock(responder=Broken)
    async with sdk_client(server).realtime.connect(model="gpt-realtime") as conn:
        await conn.recv()
        await conn.response.create()
        error = await asyncio.wait_for(conn.recv(), 5)
        assert error.type == "error" and error.error.type == "server_error"
        assert error.error.message.startswith("The server had an error while processing your request.")
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(conn.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
    assert "a bug in the responder" in caplog.text  # logged with its traceback, on the server's logger


async def test_under_a_plain_asgi_server_the_session_works_the_same() -> None:
    """The app on uvicorn's stock WebSocket protocol (no direct channel): sinks fall back to ASGI sends."""
    import uvicorn

    from mockserver.app import create_app
    from mockserver.protocol.faults import Fault
    from mockserver.runner import start_app_in_thread
    from mockserver.state import ServerState

    state = ServerState()
    server = start_app_in_thread(lambda port: uvicorn.Config(create_app(state), port=port, lifespan="off",
                                                             ws="websockets-sansio", log_level="warning"), state)
    try:
        async with sdk_client(server).realtime.connect(model="gpt-realtime") as conn:
            await conn.recv()
            await conn.session.update(session=TEXT)
            await conn.conversation.item.create(item=USER)
            await conn.response.create()
            events = await until(conn, "rate_limits.updated")
            text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
            assert text == "You said: Say a short greeting."
        state.scope().add_fault(Fault(name="close", event="response.created", code=4321, reason="fault"))
        async with connect(url(server), additional_headers={"Authorization": "Bearer sk-test"}) as ws:
            await raw_until(ws, "session.created")
            await ws.send(json.dumps({"type": "response.create"}))
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(raw_until(ws, "never"), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4321
    finally:
        server.stop()


async def test_server_pings_while_idle(start_mock: Start, caplog: pytest.LogCaptureFixture) -> None:
    server = start_mock(ServerConfig(ping_interval=0.2))  # live: every ~20 s; shortened, real time is the point
    caplog.set_level(logging.DEBUG, logger="websockets.client")
    async with connect(url(server), additional_headers={"Authorization": "Bearer sk-test"}, ping_interval=None) as ws:
        await raw_until(ws, "session.created")
        await asyncio.sleep(0.7)
        assert ws.state.name == "OPEN"
    pings = [r for r in caplog.records if "< PING" in r.getMessage()]
    assert len(pings) >= 2


async def test_disconnect_mid_response_leaves_nothing_behind(start_mock: Start) -> None:
    server = start_mock(ServerConfig(pacing=Pacing(first_delta=30)))

    async def tasks() -> int:
        return len(asyncio.all_tasks())

    def server_tasks() -> int:
        return asyncio.run_coroutine_threadsafe(tasks(), server.loop).result(5) - 1  # minus the counting task

    baseline = server_tasks()
    for _ in range(3):
        async with connect(url(server), additional_headers={"Authorization": "Bearer sk-test"}) as ws:
            await raw_until(ws, "session.created")
            await ws.send(json.dumps({"type": "conversation.item.create", "item": USER}))
            await ws.send(json.dumps({"type": "response.create"}))
            await raw_until(ws, "response.content_part.added")
            assert len(server.state.sessions) == 1
    for _ in range(200):  # the server notices the close within a few loop turns
        if not server.state.sessions and server_tasks() <= baseline:
            break
        await asyncio.sleep(0.01)
    assert server.state.sessions == {}
    assert server_tasks() <= baseline


async def test_every_event_of_a_busy_session_matches_the_schemas(mock: RunningServer) -> None:
    # The fixture checks every event the server sends; this session exercises most event types.
    async with sdk_client(mock).realtime.connect(model="gpt-realtime") as conn:
        await conn.input_audio_buffer.append(audio=base64.b64encode(bytes(9600)).decode())
        await conn.input_audio_buffer.commit()
        committed: Any = next(e for e in await until(conn, "conversation.item.done")
                              if e.type == "input_audio_buffer.committed")
        await conn.input_audio_buffer.clear()
        await conn.conversation.item.retrieve(item_id=committed.item_id)
        await conn.conversation.item.create(item=USER)
        await conn.response.create(response={"conversation": "none", "metadata": {"k": "v"},
                                             "output_modalities": ["text"]})
        await until(conn, "response.done")
        await conn.response.create(response={"max_output_tokens": 2})
        done = (await until(conn, "response.done"))[-1]
        assert done.response.status == "incomplete"
        await conn.conversation.item.delete(item_id=committed.item_id)
        await until(conn, "conversation.item.deleted")


async def test_tls_serves_wss_for_clients_that_require_it(tmp_path: Any) -> None:
    import ssl

    import trustme

    from mockserver.runner import start_in_thread
    from mockserver.state import ServerState

    authority = trustme.CA()
    cert = authority.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    server = start_in_thread(ServerState(), tls=(str(cert_file), str(key_file)))
    try:
        assert server.websocket_base_url.startswith("wss://")
        context = ssl.create_default_context()
        authority.configure_trust(context)
        async with connect(url(server), ssl=context, additional_headers={"Authorization": "Bearer sk-test"}) as ws:
            assert (await raw_until(ws, "session.created"))[0]["session"]["model"] == "gpt-realtime"
    finally:
        server.stop()


@pytest.mark.parametrize("offered", [True, False])
async def test_permessage_deflate_only_when_the_server_is_asked_to(start_mock: Start, offered: bool) -> None:
    server = start_mock(ServerConfig(per_message_deflate=offered))
    # A client that offers compression (the official SDK does not) gets it only from `--permessage-deflate`.
    async with connect(url(server), additional_headers={"Authorization": "Bearer sk-test"}) as ws:
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
        assert (extensions is not None and "permessage-deflate" in extensions) is offered
        await ws.send(json.dumps({"type": "session.update", "session": TEXT}))
        assert [e["type"] for e in await raw_until(ws, "session.updated")] == ["session.created", "session.updated"]


async def test_gpt_realtime_2_1_with_the_sdk_a_preamble_a_call_and_a_final_answer(mock: RunningServer) -> None:
    """The SDK (whose types predate `phase`: it keeps it as an extra field) on a gpt-realtime-2.1 tool round."""
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]
    async with sdk_client(mock).realtime.connect(model="gpt-realtime-2.1") as conn:
        created = (await until(conn, "session.created"))[-1]
        assert created.session.audio.output.voice == "marin"
        await conn.session.update(session={**TEXT, "tools": tools, "reasoning": {"effort": "low"}})
        await until(conn, "session.updated")
        await conn.conversation.item.create(item={"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": 'get_weather {"city": "Oslo"} please'}]})
        await conn.response.create()
        first = await until(conn, "response.done")
        added = [e.item for e in first if e.type == "response.output_item.added"]
        assert [(i.type, getattr(i, "phase", None)) for i in added] == [("message", "commentary"),
                                                                       ("function_call", None)]
        assert first[-1].response.usage.output_token_details.reasoning_tokens == 12
        call = added[1]
        await conn.conversation.item.create(item={"type": "function_call_output", "call_id": call.call_id,
                                                  "output": "mild"})
        await conn.response.create()
        second = await until(conn, "response.done")
    final = [e.item for e in second if e.type == "response.output_item.done"]
    assert [(i.type, getattr(i, "phase", None)) for i in final] == [("message", "final_answer")]
    assert "".join(e.delta for e in second if e.type == "response.output_text.delta") == \
        "The get_weather tool returned: mild"
