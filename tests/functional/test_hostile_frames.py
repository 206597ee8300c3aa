"""Single hostile frames over a real socket: each gets the live error and the session goes on (regressions)."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from mockserver.protocol.responder import Message, Reply, ScriptedResponder
from mockserver.protocol.responses import Pacing
from mockserver.protocol.session import MAX_PARALLEL_RESPONSES
from mockserver.runner import RunningServer
from mockserver.state import ServerConfig
from tests.functional.conftest import Start, raw_until

pytestmark = pytest.mark.functional

AUTH = {"Authorization": "Bearer sk-test"}
TEXT = json.dumps({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})
DEEP = "[" * 1000 + "]" * 1000


def item(*parts: dict[str, Any], role: str = "user") -> str:
    return json.dumps({"type": "conversation.item.create",
                       "item": {"type": "message", "role": role, "content": list(parts)}})


async def open_session(server: RunningServer, **options: Any) -> ClientConnection:
    ws = await connect(f"{server.websocket_base_url}/realtime?model=gpt-realtime", additional_headers=AUTH, **options)
    await raw_until(ws, "session.created")
    return ws


async def still_answers(ws: ClientConnection) -> None:
    """The session goes on: a text turn still gets its answer."""
    await ws.send(TEXT)
    await ws.send(item({"type": "input_text", "text": "still there?"}))
    await ws.send(json.dumps({"type": "response.create"}))
    events = await raw_until(ws, "rate_limits.updated")
    assert "".join(e.get("delta", "") for e in events if e["type"] == "response.output_text.delta").endswith(
        "still there?")


async def first_error(ws: ClientConnection, frame: str) -> dict[str, Any]:
    await ws.send(frame)
    return (await raw_until(ws, "error"))[-1]["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(("frame", "code"), [
    (DEEP, "invalid_event"),  # an array: the 'type' field is missing
    ("[" * 5000 + "]" * 5000, "invalid_json"),
    ('{"type":"session.update","session":{"type":"realtime","instructions":' + DEEP + "}}", "invalid_json"),
    ('{"type":"response.create","response":{"metadata":{"k":' + "{\"a\":" * 1500 + "1" + "}" * 1500 + "}}}",
     "invalid_json"),
], ids=["array-1000", "array-5000", "deep-in-session", "deep-in-metadata"])
async def test_deep_json_gets_an_error_and_the_session_goes_on(mock: RunningServer, frame: str, code: str) -> None:
    async with await open_session(mock) as ws:
        assert (await first_error(ws, frame))["code"] == code
        await still_answers(ws)


def lone(event: dict[str, Any]) -> str:
    """The event as JSON with each `@` written as a lone surrogate escape (`\\ud800`), as a client may send it."""
    return json.dumps(event).replace("@", "\\ud800")


@pytest.mark.parametrize("frame", [
    lone({"type": "nope", "event_id": "@"}),
    lone({"type": "@"}),
    lone({"type": "session.update", "@": 1}),
    lone({"type": "conversation.item.delete", "item_id": "x@"}),
], ids=["event_id", "type", "key", "item_id"])
async def test_a_lone_surrogate_is_echoed_escaped(mock: RunningServer, frame: str) -> None:
    async with await open_session(mock) as ws:
        await ws.send(frame)
        raw = await ws.recv(decode=False)  # valid UTF-8 (the frame decoded), the surrogate escaped
        assert b"\\ud800" in raw and json.loads(raw)["type"] == "error"
        await still_answers(ws)


@pytest.mark.parametrize(("frames", "last"), [
    ([lone({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "hi @"}]}}), '{"type": "response.create"}'], "rate_limits.updated"),
    ([lone({"type": "session.update", "session": {"type": "realtime", "instructions": "@"}})], "session.updated"),
    ([lone({"type": "response.create", "response": {"metadata": {"k": "@"}}})], "rate_limits.updated"),
], ids=["text-spoken-back", "instructions", "metadata"])
async def test_a_lone_surrogate_in_content_travels_escaped(mock: RunningServer, frames: list[str], last: str) -> None:
    async with await open_session(mock) as ws:
        for frame in frames:  # the default answer repeats the user's words, spoken (an audio session)
            await ws.send(frame)
        events = await raw_until(ws, last)
        assert not [e for e in events if e["type"] == "error"]
        assert any("\ud800" in json.dumps(e, ensure_ascii=False) for e in events)
        await still_answers(ws)


@pytest.mark.parametrize("audio", ["AAAA====", "AB==", "abc", "A===", "not base64!"])
async def test_bad_base64_is_refused_where_it_arrives(mock: RunningServer, audio: str) -> None:
    async with await open_session(mock) as ws:
        append = await first_error(ws, json.dumps({"type": "input_audio_buffer.append", "audio": audio}))
        assert (append["code"], append["param"]) == ("invalid_value", "audio")
        created = await first_error(ws, item({"type": "input_audio", "audio": audio}))
        assert created["param"] == "item.content[0].audio"
        assistant = await first_error(ws, item({"type": "output_audio", "audio": audio, "transcript": ""},
                                               role="assistant"))
        assert assistant["param"] == "item.content[0].audio"
        inline = {"type": "message", "role": "user", "content": [{"type": "input_audio", "audio": audio}]}
        response = await first_error(ws, json.dumps({"type": "response.create", "response": {"input": [inline]}}))
        assert response["param"] == "response.input[0].content[0].audio"
        await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(4)).decode()}))
        await still_answers(ws)


async def test_out_of_band_responses_are_capped(start_mock: Start) -> None:
    server = start_mock(ServerConfig(pacing=Pacing(first_delta=30)))  # they stay in progress
    async with await open_session(server) as ws:
        for _ in range(MAX_PARALLEL_RESPONSES + 3):
            await ws.send(json.dumps({"type": "response.create", "response": {"conversation": "none"}}))
        events = []
        while len([e for e in events if e["type"] in ("response.created", "error")]) < MAX_PARALLEL_RESPONSES + 3:
            events.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
        errors = [e["error"] for e in events if e["type"] == "error"]
        assert len([e for e in events if e["type"] == "response.created"]) == MAX_PARALLEL_RESPONSES
        assert [e["code"] for e in errors] == ["too_many_active_responses"] * 3


async def test_a_client_that_does_not_read_stops_the_stream_then_is_dropped(start_mock: Start) -> None:
    flood = ScriptedResponder([Reply((Message("word " * 200_000),))])
    server = start_mock(ServerConfig(write_buffer_bytes=64 * 1024, slow_reader_seconds=0.5), responder=lambda: flood)
    sock = socket.create_connection((server.host, server.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a client that reads nothing holds little
    ws = await connect(f"{server.websocket_base_url}/realtime?model=gpt-realtime", additional_headers=AUTH,
                       sock=sock, max_queue=1)  # and stops reading once one message waits
    session_id = (await raw_until(ws, "session.created"))[0]["session"]["id"]
    await ws.send(TEXT)
    await ws.send(json.dumps({"type": "response.create"}))
    journal = server.state.find(session_id)[2]  # type: ignore[index]
    for _ in range(100):  # the server stops releasing events while the client does not read ...
        await asyncio.sleep(0.05)
        if journal.closed is not None:
            break
    assert journal.closed is not None and journal.close_code == 1008  # ... and drops it after a while
    assert len(journal) < 200_000  # far from the whole answer
    assert server.state.sessions == {}
    ws.transport.abort()
