"""Record a session through `realtime-mock record` (the mock as upstream), then replay the cassette to the
same app code with `realtime-mock replay`: the app must see what it saw live, frame for frame."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus
from websockets.typing import Subprotocol

from conformance.cassette import SUFFIX, Cassette, Frame, read
from conformance.recorder import create_recorder_app
from conformance.replayer import MISMATCH_CLOSE, Replay, create_replay_app
from mockserver import __version__
from mockserver.protocol.faults import Fault
from mockserver.runner import RunningServer
from mockserver.state import ServerConfig
from tests.functional.conftest import Served, Start

pytestmark = pytest.mark.functional

TOOLS = [{"type": "function", "name": "get_weather", "description": "Weather for a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
SESSION = {"type": "realtime", "output_modalities": ["text"], "tools": TOOLS}


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


HELLO, GREET = user("Hello there."), user("Say a short greeting.")
WEATHER = user('please call get_weather with {"city": "Oslo"}')
CLIENT_TYPES = ["session.update", "conversation.item.create", "conversation.item.create", "response.create",
                "conversation.item.create", "response.create", "conversation.item.create", "response.create"]


# --- the app under test: the same code live, recorded and replayed ----------------------------------------

@dataclass
class AppRun:
    received: list[dict[str, Any]] = field(default_factory=list)  # every server frame, raw, in order
    sent_after: list[int] = field(default_factory=list)  # len(received) when each client frame went out
    answers: list[str] = field(default_factory=list)  # the text of each response


async def weather_app(client: AsyncOpenAI, *, swap: bool = False,
                      checkpoint: Callable[[AppRun], None] | None = None) -> AppRun:
    """A text turn (two user items, then a response), then a function call round with get_weather."""
    run = AppRun()
    async with client.realtime.connect(model="gpt-realtime") as conn:

        async def upto(event_type: str) -> list[Any]:
            events = []
            while True:
                data = await asyncio.wait_for(conn.recv_bytes(), 10)
                run.received.append(json.loads(data))
                events.append(conn.parse_event(data))
                if events[-1].type == event_type:
                    return events

        def sending() -> None:
            run.sent_after.append(len(run.received))

        def answer(events: list[Any]) -> None:
            done = events[-1]
            assert done.type == "response.done" and done.response.status == "completed", done
            run.answers.append("".join(e.delta for e in events if e.type == "response.output_text.delta"))

        await upto("session.created")
        sending()
        await conn.session.update(session=SESSION)
        await upto("session.updated")
        if checkpoint is not None:
            checkpoint(run)
        for item in (GREET, HELLO) if swap else (HELLO, GREET):
            sending()
            await conn.conversation.item.create(item=item)
        sending()
        await conn.response.create()
        answer(await upto("response.done"))

        sending()
        await conn.conversation.item.create(item=WEATHER)
        sending()
        await conn.response.create()
        events = await upto("response.done")
        call = next(e for e in events if e.type == "response.function_call_arguments.done")
        assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Oslo"}
        sending()
        await conn.conversation.item.create(item={"type": "function_call_output", "call_id": call.call_id,
                                                  "output": "Sunny, 21 C"})
        sending()
        await conn.response.create()
        answer(await upto("response.done"))
        await upto("rate_limits.updated")
    return run


# --- helpers ----------------------------------------------------------------------------------------------

def cassettes_in(folder: Path, endpoint: str | None = None) -> list[Cassette]:
    found = [read(path) for path in sorted(folder.glob(f"*{SUFFIX}"))]
    return [c for c in found if endpoint is None or c.endpoint == endpoint]


def no_secrets(folder: Path, *secrets: str) -> None:
    for path in folder.glob(f"*{SUFFIX}"):
        text = path.read_text(encoding="utf-8").lower()
        for secret in ("authorization", "bearer", *secrets):
            assert secret.lower() not in text, f"{secret!r} is written in {path.name}"


@dataclass
class Recorded:
    upstream: RunningServer
    recorder: Served
    folder: Path
    run: AppRun
    path: Path


@pytest.fixture
async def recorded(start_mock: Start, serve: Callable[[Starlette], Served], tmp_path: Path) -> Recorded:
    """One session recorded from a mock that takes only the key sk-test (so the app's key got through)."""
    upstream = start_mock(ServerConfig(key_is_valid=lambda key: key == "sk-test"))
    folder = tmp_path / "cassettes"
    recorder = serve(create_recorder_app(upstream.websocket_base_url, folder, None))
    seen_while_open: list[list[tuple[str, str]]] = []

    def checkpoint(run: AppRun) -> None:  # the session is still open: what is on disk already?
        (cassette,) = cassettes_in(folder)
        seen_while_open.append([(f.direction, f.event["type"]) for f in cassette.frames])

    run = await weather_app(recorder.client(), checkpoint=checkpoint)
    assert seen_while_open == [[("server", "session.created"), ("client", "session.update"),
                                ("server", "session.updated")]]
    (path,) = folder.glob(f"*{SUFFIX}")
    return Recorded(upstream, recorder, folder, run, path)


# --- recording --------------------------------------------------------------------------------------------

def test_the_cassette_has_every_frame_in_order(recorded: Recorded) -> None:
    run = recorded.run
    assert run.answers == ["You said: Say a short greeting.", "The get_weather tool returned: Sunny, 21 C"]
    cassette = read(recorded.path)
    assert cassette.endpoint == "/v1/realtime" and cassette.query == {"model": "gpt-realtime"}
    assert cassette.sdk is not None and cassette.sdk.startswith("AsyncOpenAI/Python")
    assert cassette.mock_version == __version__
    assert cassette.source == f"recorded through realtime-mock record from 127.0.0.1:{recorded.upstream.port}"
    assert cassette.recorded_at is not None and datetime.fromisoformat(cassette.recorded_at).tzinfo is not None
    assert cassette.server_events() == run.received  # every frame the app got, verbatim, in order
    client = cassette.client_events()
    assert [e["type"] for e in client] == CLIENT_TYPES
    assert client[0]["session"] == SESSION and [e["item"] for e in client[1:3]] == [HELLO, GREET]
    call = next(e for e in run.received if e["type"] == "response.function_call_arguments.done")
    assert client[6]["item"] == {"type": "function_call_output", "call_id": call["call_id"], "output": "Sunny, 21 C"}
    # Across directions: each client frame comes after every server frame the app had when it sent it.
    directions = [f.direction for f in cassette.frames]
    client_positions = [i for i, d in enumerate(directions) if d == "client"]
    for position, had in zip(client_positions, run.sent_after, strict=True):
        assert directions[:position].count("server") >= had
    times = [f.t for f in cassette.frames]
    assert times == sorted(times) and times[0] >= 0
    no_secrets(recorded.folder, "sk-test")


async def test_rest_calls_are_proxied_and_recorded(recorded: Recorded) -> None:
    """The mock may not serve client_secrets yet: whatever it answers is what the cassette holds."""
    async with recorded.recorder.client() as client:
        try:
            secret = await client.realtime.client_secrets.create(session={"type": "realtime", "model": "gpt-realtime"})
        except openai.NotFoundError:
            status = 404
        else:
            status = 200
            assert secret.value
    (leg_cassette,) = cassettes_in(recorded.folder, "/v1/realtime/client_secrets")
    (leg,) = leg_cassette.http
    assert (leg.method, leg.path, leg.status) == ("POST", "/v1/realtime/client_secrets", status)
    assert leg.request == {"session": {"type": "realtime", "model": "gpt-realtime"}}
    if status == 200:
        assert leg.response["value"] == "ek_redacted"
    no_secrets(recorded.folder, "sk-test")


async def test_ephemeral_keys_are_redacted(serve: Callable[[Starlette], Served], tmp_path: Path) -> None:
    """A stub upstream that hands out a key and answers `calls`, to see exactly what is written."""
    seen: list[str | None] = []

    async def client_secrets(request: Request) -> Response:
        seen.append(request.headers.get("authorization"))
        return JSONResponse({"value": "ek_68a1b2c3d4e5f6secret", "expires_at": 1756310470,
                             "session": {"type": "realtime", "model": "gpt-realtime"}})

    async def calls(request: Request) -> Response:
        seen.append(request.headers.get("authorization"))
        assert b"v=0" in await request.body()
        return Response("v=0\r\no=- answer\r\n", status_code=201, media_type="application/sdp",
                        headers={"Location": "/v1/realtime/calls/rtc_0123456789"})

    async def hangup(request: Request) -> Response:
        return Response(status_code=200)

    upstream = serve(Starlette(routes=[Route("/v1/realtime/client_secrets", client_secrets, methods=["POST"]),
                                       Route("/v1/realtime/calls", calls, methods=["POST"]),
                                       Route("/v1/realtime/calls/{call_id}/hangup", hangup, methods=["POST"])]))
    folder = tmp_path / "out"
    recorder = serve(create_recorder_app(upstream.websocket_base_url, folder, "sk-upstream"))
    async with recorder.client("sk-app") as client:
        secret = await client.realtime.client_secrets.create(session={"type": "realtime", "model": "gpt-realtime"})
        assert secret.value == "ek_68a1b2c3d4e5f6secret"  # the app gets the key; the cassette does not
        answer = await client.realtime.calls.create(sdp="v=0\r\no=- offer\r\n")
        assert answer.content == b"v=0\r\no=- answer\r\n"
        await client.realtime.calls.hangup("rtc_0123456789")
    assert seen == ["Bearer sk-upstream", "Bearer sk-upstream"]  # --api-key replaces the app's key
    (secrets,) = cassettes_in(folder, "/v1/realtime/client_secrets")
    assert secrets.http[0].response["value"] == "ek_redacted"
    assert secrets.http[0].response["session"] == {"type": "realtime", "model": "gpt-realtime"}
    (call,) = cassettes_in(folder, "/v1/realtime/calls")
    assert call.http[0].status == 201 and call.http[0].response == "v=0\r\no=- answer\r\n"
    assert call.http[0].response_headers["location"] == "/v1/realtime/calls/rtc_0123456789"
    assert "v=0" in call.http[0].request
    (hung,) = cassettes_in(folder, "/v1/realtime/calls/rtc_0123456789/hangup")
    assert hung.http[0].status == 200
    no_secrets(folder, "ek_68a1b2c3d4e5f6secret", "sk-upstream", "sk-app")


async def test_api_key_replaces_the_apps_on_the_websocket(start_mock: Start, serve: Callable[[Starlette], Served],
                                                          tmp_path: Path) -> None:
    upstream = start_mock(ServerConfig(key_is_valid=lambda key: key == "sk-upstream"))
    recorder = serve(create_recorder_app(upstream.websocket_base_url, tmp_path, "sk-upstream"))
    async with recorder.client("sk-app").realtime.connect(model="gpt-realtime") as conn:
        assert (await asyncio.wait_for(conn.recv(), 10)).type == "session.created"  # not an auth error
    no_secrets(tmp_path, "sk-upstream", "sk-app")


async def test_a_browser_key_subprotocol_becomes_the_upstream_authorization(
        start_mock: Start, serve: Callable[[Starlette], Served], tmp_path: Path) -> None:
    upstream = start_mock(ServerConfig(key_is_valid=lambda key: key == "sk-test"))
    recorder = serve(create_recorder_app(upstream.websocket_base_url, tmp_path, None))
    offered = [Subprotocol("realtime"), Subprotocol("openai-insecure-api-key.sk-test")]
    async with connect(f"{recorder.websocket_base_url}/realtime?model=gpt-realtime", subprotocols=offered) as ws:
        assert ws.subprotocol == "realtime"
        assert json.loads(await ws.recv())["type"] == "session.created"  # the key got through
        await ws.send(b"\x00\x01")  # binary frames pass too (the mock answers them with an error)
        await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime"}}))
        answers = [json.loads(await ws.recv()), json.loads(await ws.recv())]
    assert [e["type"] for e in answers] == ["error", "session.updated"]
    (cassette,) = cassettes_in(tmp_path)
    assert [e.get("type", e) for e in cassette.client_events()] == [{"binary_frame_bytes": 2}, "session.update"]
    assert cassette.server_events()[1:] == answers
    no_secrets(tmp_path, "sk-test")


async def test_close_code_and_openai_beta_pass_through(mock: RunningServer, serve: Callable[[Starlette], Served],
                                                       tmp_path: Path) -> None:
    """The mock rejects the beta header with an error and close 4000: both reach the app unchanged."""
    recorder = serve(create_recorder_app(mock.websocket_base_url, tmp_path, None))
    headers = {"Authorization": "Bearer sk-test", "OpenAI-Beta": "realtime=v1"}
    async with connect(f"{recorder.websocket_base_url}/realtime?model=gpt-realtime",
                       additional_headers=headers) as ws:
        error = json.loads(await ws.recv())
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert error["type"] == "error" and error["error"]["code"] == "beta_api_shape_disabled"
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4000, "invalid_request_error.beta_api_shape_disabled")
    (cassette,) = cassettes_in(tmp_path)
    assert cassette.server_events() == [error] and cassette.client_events() == []


async def test_a_refused_upgrade_is_refused_alike_and_replayed(mock: RunningServer,
                                                               serve: Callable[[Starlette], Served],
                                                               tmp_path: Path) -> None:
    mock.state.scope().add_fault(Fault.from_dict({"name": "refuse_handshake", "code": 503,
                                                  "error": {"message": "Busy, try later."}}))
    recorder = serve(create_recorder_app(mock.websocket_base_url, tmp_path, None))
    url = f"{recorder.websocket_base_url}/realtime?model=gpt-realtime"
    with pytest.raises(InvalidStatus) as refused:
        await connect(url, additional_headers={"Authorization": "Bearer sk-test"})
    assert refused.value.response.status_code == 503
    body = json.loads(refused.value.response.body)
    assert body["error"]["message"] == "Busy, try later."
    (cassette,) = cassettes_in(tmp_path)
    assert cassette.frames == [] and [(leg.method, leg.status) for leg in cassette.http] == [("GET", 503)]
    assert cassette.http[0].response == body
    no_secrets(tmp_path, "sk-test")

    assert cassette.path is not None
    replayer = serve(create_replay_app([cassette.path]))
    with pytest.raises(InvalidStatus) as replayed:
        await connect(f"{replayer.websocket_base_url}/realtime?model=gpt-realtime")
    assert replayed.value.response.status_code == 503 and json.loads(replayed.value.response.body) == body


async def test_an_unreachable_upstream_is_a_502(serve: Callable[[Starlette], Served], tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    recorder = serve(create_recorder_app(f"ws://127.0.0.1:{port}/v1", tmp_path, None))
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"{recorder.websocket_base_url}/realtime?model=gpt-realtime&api_key=sk-test")
    assert refused.value.response.status_code == 502
    assert json.loads(refused.value.response.body)["error"]["code"] == "upstream_unreachable"
    async with recorder.client().with_options(max_retries=0) as client:  # each attempt would be a cassette
        with pytest.raises(openai.APIStatusError) as failed:
            await client.realtime.client_secrets.create(session={"type": "realtime"})
    assert failed.value.status_code == 502
    legs = sorted((c.endpoint, c.http[0].status, c.query) for c in cassettes_in(tmp_path))
    assert legs == [("/v1/realtime", 502, {"model": "gpt-realtime"}), ("/v1/realtime/client_secrets", 502, {})]
    no_secrets(tmp_path, "sk-test")


# --- replaying --------------------------------------------------------------------------------------------

async def test_replay_gives_the_app_what_it_saw_live(recorded: Recorded,
                                                     serve: Callable[[Starlette], Served]) -> None:
    lines: list[str] = []
    replayer = serve(create_replay_app([recorded.path], lines.append))
    run = await weather_app(replayer.client())
    assert run.received == recorded.run.received  # event ids included
    assert run.received == read(recorded.path).server_events()
    assert run.answers == recorded.run.answers
    assert replayer.app.state.mismatches == [] and lines == []


async def test_replay_reports_a_frame_the_cassette_did_not_see_and_stops(recorded: Recorded,
                                                                         serve: Callable[[Starlette], Served]) -> None:
    lines: list[str] = []
    replayer = serve(create_replay_app([recorded.path], lines.append))
    name = recorded.path.name.removesuffix(SUFFIX)
    async with replayer.client().realtime.connect(model="gpt-realtime") as conn:
        assert (await conn.recv()).type == "session.created"
        await conn.conversation.item.create(item=user("Something never recorded."), event_id="evt_unseen")
        error = await asyncio.wait_for(conn.recv(), 10)
        assert error.type == "error" and error.error.type == "invalid_request_error"
        assert error.error.code == "cassette_mismatch" and error.error.event_id == "evt_unseen"
        assert error.error.param is None
        assert error.error.message == (
            f"realtime-mock replay: the cassette {name} has no client frame like this conversation.item.create "
            "(expected one of: session.update, conversation.item.create); the next recorded "
            "conversation.item.create (client frame #2) differs: item.content[0].text is "
            '"Something never recorded.", the recording has "Hello there.". The replay stops here '
            "(replay --continue-after-mismatch goes on).")
        with pytest.raises(ConnectionClosedError) as closed:  # no recorded answer follows a mismatch
            await asyncio.wait_for(conn.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == MISMATCH_CLOSE
    assert replayer.app.state.mismatches == lines[:1]
    assert 'item.content[0].text is "Something never recorded."' in lines[0]


async def test_replay_goes_on_after_a_mismatch_when_asked(recorded: Recorded,
                                                          serve: Callable[[Starlette], Served]) -> None:
    lines: list[str] = []
    replayer = serve(create_replay_app([recorded.path], lines.append, continue_after_mismatch=True))
    name = recorded.path.name.removesuffix(SUFFIX)
    async with replayer.client().realtime.connect(model="gpt-realtime") as conn:
        assert (await conn.recv()).type == "session.created"
        await conn.conversation.item.create(item=user("Something never recorded."), event_id="evt_unseen")
        error = await asyncio.wait_for(conn.recv(), 10)
        assert error.type == "error" and error.error.code == "cassette_mismatch"
        assert "The replay stops here" not in error.error.message
        await conn.session.update(session={**SESSION, "instructions": "Be brief."})
        second = await asyncio.wait_for(conn.recv(), 10)
        assert second.type == "error" and second.error.code == "cassette_mismatch"
        await conn.session.update(session=SESSION)  # the connection is still open, and this one was recorded
        assert (await asyncio.wait_for(conn.recv(), 10)).type == "session.updated"
    mismatches = replayer.app.state.mismatches
    assert len(mismatches) == 2 and mismatches == lines[:2]
    assert f"cassette {name}" in mismatches[0] and "conversation.item.create (event_id evt_unseen)" in mismatches[0]
    assert 'item.content[0].text is "Something never recorded."' in mismatches[0]
    assert 'session.instructions is not in the recording (sent "Be brief.")' in mismatches[1]
    for _ in range(500):  # the replayer notes that the app left early, once its side of the socket sees the close
        if len(lines) == 3:
            break
        await asyncio.sleep(0.01)
    assert len(lines) == 3 and "the app closed before sending 7 recorded client frame(s)" in lines[2]


async def test_replay_matches_frames_sent_in_another_order(recorded: Recorded,
                                                           serve: Callable[[Starlette], Served]) -> None:
    lines: list[str] = []
    replayer = serve(create_replay_app([recorded.path], lines.append))
    run = await weather_app(replayer.client(), swap=True)  # GREET before HELLO: each finds its counterpart
    assert run.answers == recorded.run.answers
    assert sorted(json.dumps(e) for e in run.received) == sorted(json.dumps(e) for e in recorded.run.received)
    assert replayer.app.state.mismatches == [] and lines == []


async def test_each_connection_takes_the_next_cassette(recorded: Recorded,
                                                       serve: Callable[[Starlette], Served]) -> None:
    """Two sessions recorded; replayed in order, then from the start again."""
    await weather_app(recorded.recorder.client())
    paths = sorted(recorded.folder.glob(f"*{SUFFIX}"))
    assert len(paths) == 2 and paths[0] == recorded.path
    created = [read(path).server_events()[0]["event_id"] for path in paths]
    assert created[0] != created[1]
    replayer = serve(create_replay_app(paths))
    seen = []
    for _ in range(3):
        async with replayer.client().realtime.connect(model="gpt-realtime") as conn:
            seen.append((await asyncio.wait_for(conn.recv(), 10)).event_id)
    assert seen == [created[0], created[1], created[0]]


def test_matching_pairs_ids_compares_audio_by_length_and_ignores_event_ids() -> None:
    def client(event: dict[str, Any]) -> Frame:
        return Frame(0.0, "client", event)

    def server(event: dict[str, Any]) -> Frame:
        return Frame(0.0, "server", event)

    def item(item_id: str) -> dict[str, Any]:
        return {"type": "conversation.item.create", "item": {"id": item_id, **HELLO}}

    cassette = Cassette(frames=[
        server({"type": "session.created"}),
        client({"type": "input_audio_buffer.append", "audio": "AAAA", "event_id": "evt_1"}),
        client(item("item_recorded")), server({"type": "conversation.item.added", "n": 1}),
        client({"type": "conversation.item.delete", "item_id": "item_A"}), server({"type": "deleted", "id": "A"}),
        client({"type": "conversation.item.delete", "item_id": "item_B"}), server({"type": "deleted", "id": "B"}),
        client({"type": "conversation.item.delete", "item_id": "item_recorded"}), server({"type": "deleted", "n": 2}),
    ])
    replay = Replay(cassette)
    assert replay.preamble == [{"type": "session.created"}]
    assert replay.receive({"type": "input_audio_buffer.append", "audio": "AAAAAA"}) is None  # length differs
    assert replay.receive({"type": "input_audio_buffer.append", "audio": "BBBB", "event_id": "x"}) == []
    # The app names its own item: the id pairs with the recorded one, and must be used consistently.
    assert replay.receive(item("item_mine")) == [{"type": "conversation.item.added", "n": 1}]
    # Ids both sides know match exactly first, so these are told apart even out of order.
    assert replay.receive({"type": "conversation.item.delete", "item_id": "item_B"}) == [{"type": "deleted", "id": "B"}]
    assert replay.receive({"type": "conversation.item.delete", "item_id": "item_A"}) == [{"type": "deleted", "id": "A"}]
    assert replay.receive({"type": "conversation.item.delete", "item_id": "item_other"}) is None
    error, line = replay.mismatch({"type": "conversation.item.delete", "item_id": "item_other", "event_id": "e9"})
    assert error["error"]["event_id"] == "e9" and error["error"]["code"] == "cassette_mismatch"
    assert "item_id is 'item_other', the recording has 'item_recorded' (which the app called 'item_mine'" in line
    assert replay.receive({"type": "conversation.item.delete", "item_id": "item_mine"}) == [{"type": "deleted", "n": 2}]
    assert replay.left() == [] and replay.expected() == []


def test_an_id_the_server_sent_must_come_back_as_it_is() -> None:
    cassette = Cassette(frames=[
        Frame(0.0, "server", {"type": "conversation.item.added", "item": {"id": "item_server1"}}),
        Frame(0.1, "client", {"type": "conversation.item.delete", "item_id": "item_server1"}),
        Frame(0.2, "server", {"type": "conversation.item.deleted", "item_id": "item_server1"}),
    ])
    replay = Replay(cassette)
    assert replay.receive({"type": "conversation.item.delete", "item_id": "item_made_up"}) is None
    _, line = replay.mismatch({"type": "conversation.item.delete", "item_id": "item_made_up"})
    assert "(an id the server sent, so the app got it as it is)" in line
    assert replay.receive({"type": "conversation.item.delete", "item_id": "item_server1"}) == [
        {"type": "conversation.item.deleted", "item_id": "item_server1"}]


async def test_credentials_in_the_query_and_headers_never_reach_a_cassette(
        start_mock: Start, serve: Callable[[Starlette], Served], tmp_path: Path) -> None:
    upstream = start_mock()
    recorder = serve(create_recorder_app(upstream.websocket_base_url, tmp_path, None))
    headers = {"Authorization": "Bearer sk-headersecret1", "X-Api-Key": "xapikeysecret2"}
    offered = [Subprotocol("realtime"), Subprotocol("openai-insecure-api-key.ek_subprotocolsecret3")]
    url = f"{recorder.websocket_base_url}/realtime?model=gpt-realtime&token=querysecret4&api_key=querysecret5"
    async with connect(url, additional_headers=headers, subprotocols=offered) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
    await recorder.client("sk-restsecret6").with_options(default_headers={"X-Api-Key": "xapikeysecret7"}) \
        .realtime.client_secrets.create()
    no_secrets(tmp_path, "headersecret1", "xapikeysecret2", "subprotocolsecret3", "querysecret4", "querysecret5",
               "restsecret6", "xapikeysecret7")
    (websocket,) = cassettes_in(tmp_path, "/v1/realtime")
    assert websocket.query == {"model": "gpt-realtime"}  # credential parameters are left out
