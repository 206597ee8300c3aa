"""SIP calls over real sockets: the mock's SIP endpoint on UDP, a caller that speaks SIP and RTP to it
(mockserver.sip_client, the same path SIPp takes), an app under test that verifies the signed webhook with the
official SDK and drives the call with `client.realtime.calls.*` and the sideband (`connect(call_id=...)`).
SIPp itself places calls in test_sipp.py."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from websockets.exceptions import ConnectionClosed

from mockserver.audio.speech import speak, transcribe
from mockserver.runner import RunningServer
from mockserver.sip.message import parse, request
from mockserver.sip_client import SipCaller
from mockserver.state import ServerConfig
from tests.functional.conftest import Start, sdk_client
from tests.functional.sip_helpers import SECRET, TRANSCRIBED, WebhookApp, accept, serving, until_type
from tests.functional.test_admin_api import call as admin

pytestmark = pytest.mark.functional

TURN = bytes(24_000) + speak("what is the weather") + bytes(48_000)  # 0.5 s, the words, 1 s: a turn


@pytest.fixture
async def app(mock: RunningServer) -> AsyncIterator[WebhookApp]:
    async with serving(WebhookApp(sdk_client(mock))) as served:
        yield served


@pytest.fixture
def sip_mock(start_mock: Start) -> RunningServer:
    return start_mock(ServerConfig(sip_port=0, webhook_secret=SECRET))


@pytest.fixture
async def answering(sip_mock: RunningServer) -> AsyncIterator[WebhookApp]:
    """An app that accepts every call (transcription on), the server's webhook pointed at it."""
    async with serving(WebhookApp(sdk_client(sip_mock), policy=accept)) as served:
        sip_mock.state.config.webhook_url = served.url
        yield served


async def dial(server: RunningServer, **options: Any) -> SipCaller:
    host, port = server.state.sip.address
    return await SipCaller.dial(host, port, **options)


async def test_a_call_is_announced_accepted_spoken_to_and_hung_up(sip_mock: RunningServer,
                                                                  answering: WebhookApp) -> None:
    headers = [("From", "sip:+14155550100@trunk.example"), ("X-Customer-Id", "42"),
               ("Authorization", 'Digest username="trunk"'), ("X-Customer-Id", "43")]
    async with await dial(sip_mock, headers=headers) as caller:
        event = await answering.next_call()
        delivery = answering.deliveries[-1]
        assert delivery.headers["user-agent"] == "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)"
        assert delivery.headers["webhook-id"].startswith("wh_") and event.id.startswith("evt_")
        assert event.data.call_id.startswith("rtc_") and event.data.sip_media_security == "rtp"
        names = [(h.name, h.value) for h in event.data.sip_headers]
        assert [n for n, _ in names][:5] == ["Via", "Max-Forwards", "From", "To", "Call-ID"]  # the INVITE's order
        assert [v for n, v in names if n == "X-Customer-Id"] == ["42", "43"]  # repeated ones kept
        assert ("Call-ID", caller.sip_call_id) in names
        assert not {"Authorization", "X-Mock-Scope"} & {n for n, _ in names}
        await caller.until("answered", 5)
        call_id = event.data.call_id
        assert caller.answer is not None and caller.answer.codec == "PCMU"
        async with sdk_client(sip_mock).realtime.connect(call_id=call_id) as side:
            caller.speak(TURN)
            events = await until_type(side, "output_audio_buffer.stopped", 20)
            names_ = [e.type for e in events]
            done = next(e for e in events if e.type == "conversation.item.input_audio_transcription.completed")
            assert done.transcript == "what is the weather"  # heard exactly through PCMU and RTP
            assert "response.output_audio.delta" not in names_ and "output_audio_buffer.started" in names_
            for _ in range(40):  # real time: the last packets are on their way
                if transcribe(caller.heard()) is not None:
                    break
                await asyncio.sleep(0.05)
            assert transcribe(caller.heard()) == "You said: what is the weather"
            caller.dtmf("19#*")
            keys = [e for e in await until_type(side, "input_audio_buffer.dtmf_event_received") if
                    e.type == "input_audio_buffer.dtmf_event_received"]
            for _ in range(3):
                keys += [e for e in await until_type(side, "input_audio_buffer.dtmf_event_received")
                         if e.type == "input_audio_buffer.dtmf_event_received"]
            assert [k.event for k in keys] == list("19#*") and all(k.received_at > 0 for k in keys)
            listed = admin(sip_mock, "GET", "/_mock/calls")[1]["calls"]
            assert [(c["call_id"], c["kind"], c["state"]) for c in listed] == [(call_id, "sip", "active")]
            assert listed[0]["sip"]["rtp"]["received"] > 100 and listed[0]["sip"]["rtp"]["sent"] > 100
            await sdk_client(sip_mock).realtime.calls.hangup(call_id)
            await caller.until("ended", 5)
            with pytest.raises(ConnectionClosed):  # the call's sidebands end with it
                for _ in range(50):
                    await asyncio.wait_for(side.recv(), 5)
        assert caller.ended_by == "server"  # the mock sent BYE
    assert admin(sip_mock, "GET", "/_mock/calls")[1]["calls"] == []
    journal = next(s for s in admin(sip_mock, "GET", "/_mock/sessions")[1]["sessions"] if s["call_id"] == call_id)
    assert journal["live"] is False
    dtmf = admin(sip_mock, "GET",
                 f"/_mock/sessions/{journal['id']}/journal?type=input_audio_buffer.dtmf_event_received")
    assert [e["event"]["event"] for e in dtmf[1]["entries"]] == list("19#*")  # each press once


async def test_a_pcma_call_hears_and_speaks_a_law(sip_mock: RunningServer, answering: WebhookApp) -> None:
    async with await dial(sip_mock, codecs=("PCMA",)) as caller:
        call_id = (await answering.next_call()).data.call_id
        await caller.until("answered", 5)
        assert caller.answer is not None and (caller.answer.codec, caller.answer.payload_type) == ("PCMA", 8)
        async with sdk_client(sip_mock).realtime.connect(call_id=call_id) as side:
            caller.speak(TURN)
            events = await until_type(side, "output_audio_buffer.stopped", 20)
        done = [e.transcript for e in events if e.type == "conversation.item.input_audio_transcription.completed"]
        assert done == ["what is the weather"]
        for _ in range(40):  # real time: the last packets are on their way
            if transcribe(caller.heard()) is not None:
                break
            await asyncio.sleep(0.05)
        assert transcribe(caller.heard()) == "You said: what is the weather"
        assert sip_mock.state.calls[call_id].describe()["codec"] == "PCMA"


async def test_retries_keep_the_webhook_id_and_a_wrong_secret_fails(sip_mock: RunningServer) -> None:
    async with serving(WebhookApp(sdk_client(sip_mock), failures=2)) as app:
        sip_mock.state.config.webhook_url = app.url
        async with await dial(sip_mock):
            event = await app.next_call()
            assert [d.status for d in app.deliveries] == [500, 500, 200]
            assert len({d.headers["webhook-id"] for d in app.deliveries}) == 1  # one id for every attempt
            assert len({d.body for d in app.deliveries}) == 1
            for attempt in app.deliveries:  # each attempt is signed, with its own timestamp
                assert app.client.webhooks.unwrap(attempt.body, attempt.headers, secret=SECRET).id == event.id
                with pytest.raises(openai.InvalidWebhookSignatureError):
                    app.client.webhooks.unwrap(attempt.body, attempt.headers, secret="whsec_d3Jvbmc=")
    async with serving(WebhookApp(sdk_client(sip_mock), secret="whsec_d3Jvbmc=")) as wrong:
        sip_mock.state.config.webhook_url = wrong.url
        async with await dial(sip_mock):
            for _ in range(200):
                if len(wrong.deliveries) == 5:
                    break
                await asyncio.sleep(0.05)  # real time: the retries back off
            assert [d.status for d in wrong.deliveries] == [400] * 5  # 1 + 4 retries, then it gives up


@pytest.mark.parametrize(("body", "status"), [({"status_code": 486}, 486), ({}, 603)])
async def test_reject_answers_the_invite_with_the_status(sip_mock: RunningServer, app: WebhookApp,
                                                         body: dict[str, int], status: int) -> None:
    client = sdk_client(sip_mock)
    async with await dial(sip_mock) as caller:
        call_id = _only_call(sip_mock)
        await client.realtime.calls.reject(call_id, **body)
        await caller.until("ended", 5)
        assert (caller.status, caller.ended_by) == (status, "server")
        with pytest.raises(openai.NotFoundError):
            await client.realtime.calls.accept(call_id, type="realtime")


async def test_refer_sends_refer_and_the_caller_leaves(sip_mock: RunningServer, answering: WebhookApp) -> None:
    client = sdk_client(sip_mock)
    async with await dial(sip_mock) as caller:
        call_id = (await answering.next_call()).data.call_id
        await caller.until("answered", 5)
        leg = sip_mock.state.calls[call_id]
        async with client.realtime.connect(call_id=call_id) as side:
            await client.realtime.calls.refer(call_id, target_uri="tel:+14155550123")
            await caller.until("ended", 5)
            with pytest.raises(ConnectionClosed):
                for _ in range(50):
                    await asyncio.wait_for(side.recv(), 5)
        assert (caller.referred_to, caller.ended_by) == ("tel:+14155550123", "caller")
        assert (leg.refer_status, leg.transfer_status, leg.call.state) == (202, 200, "ended")
    with pytest.raises(openai.NotFoundError):
        await client.realtime.calls.hangup(call_id)


async def test_a_caller_cancelling_before_the_answer(sip_mock: RunningServer, app: WebhookApp) -> None:
    async with await dial(sip_mock) as caller:
        call_id = _only_call(sip_mock)
        await caller.hangup()
        assert caller.status == 487 and caller.state == "ended"
    with pytest.raises(openai.NotFoundError) as gone:
        await sdk_client(sip_mock).realtime.calls.accept(call_id, type="realtime")
    assert gone.value.code == "call_id_not_found"


async def test_requests_in_the_wrong_state_or_with_bad_bodies(sip_mock: RunningServer, app: WebhookApp) -> None:
    client = sdk_client(sip_mock)
    async with await dial(sip_mock) as caller:
        call_id = _only_call(sip_mock)
        with pytest.raises(openai.BadRequestError) as early:
            await client.realtime.calls.refer(call_id, target_uri="tel:+1")
        assert early.value.code == "invalid_call_state"
        for action, body, param in (("reject", {"status_code": 200}, "status_code"),
                                    ("refer", {"target_uri": "https://example.com"}, "target_uri"),
                                    ("accept", {"type": "realtime", "output_modalities": ["audio", "text"]},
                                     "session.output_modalities")):
            with pytest.raises(openai.BadRequestError) as bad:
                await getattr(client.realtime.calls, action)(call_id, **body)
            assert bad.value.param == param
        await client.realtime.calls.accept(call_id, type="realtime")
        await caller.until("answered", 5)
        for action, body in (("accept", {"type": "realtime"}), ("reject", {})):
            with pytest.raises(openai.BadRequestError) as wrong:
                await getattr(client.realtime.calls, action)(call_id, **body)
            assert wrong.value.code == "invalid_call_state"


async def test_the_accepts_safety_identifier_is_kept_with_the_session(sip_mock: RunningServer,
                                                                      app: WebhookApp) -> None:
    client = sdk_client(sip_mock)
    async with await dial(sip_mock) as caller:
        call_id = _only_call(sip_mock)
        await client.realtime.calls.accept(call_id, type="realtime",
                                           extra_headers={"OpenAI-Safety-Identifier": "caller-77"})
        await caller.until("answered", 5)
        listed = next(s for s in admin(sip_mock, "GET", "/_mock/sessions")[1]["sessions"] if s["call_id"] == call_id)
        assert listed["safety_identifier"] == "caller-77"
        journal = admin(sip_mock, "GET", f"/_mock/sessions/{listed['id']}/journal")[1]
        assert journal["session"]["safety_identifier"] == "caller-77"


async def test_the_caller_hanging_up_ends_the_session(sip_mock: RunningServer, answering: WebhookApp) -> None:
    caller = await dial(sip_mock)
    call_id = (await answering.next_call()).data.call_id
    await caller.until("answered", 5)
    async with sdk_client(sip_mock).realtime.connect(call_id=call_id) as side:
        await caller.hangup()
        with pytest.raises(ConnectionClosed):
            for _ in range(50):
                await asyncio.wait_for(side.recv(), 5)
    await caller.close()
    assert caller.ended_by == "caller" and call_id not in sip_mock.state.calls


async def test_the_endpoint_answers_what_is_not_a_call(sip_mock: RunningServer) -> None:
    host, port = sip_mock.state.sip.address
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(5)
    sock.bind(("127.0.0.1", 0))

    def ask(method: str, body: bytes = b"", call_id: str = "x-1@test", cseq: int = 1) -> Any:
        here = sock.getsockname()
        message = request(method, f"sip:proj_test@{host}:{port}", [
            ("Via", f"SIP/2.0/UDP {here[0]}:{here[1]};branch=z9hG4bK-{method}-{cseq}"), ("Max-Forwards", "70"),
            ("From", "<sip:a@test>;tag=1"), ("To", f"<sip:proj_test@{host}>"), ("Call-ID", call_id),
            ("CSeq", f"{cseq} {method}"), ("Contact", f"<sip:a@{here[0]}:{here[1]}>"),
            *([("Content-Type", "application/sdp")] if body else [])], body)
        sock.sendto(message.encode(), (host, port))
        return parse(sock.recv(65535))

    try:
        assert ask("OPTIONS").status == 200
        assert ask("BYE").status == 481  # no such call
        assert ask("MESSAGE").status == 405
        g729 = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                b"m=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n")
        assert ask("INVITE", g729, call_id="x-2@test").status == 488
        assert ask("INVITE", call_id="x-3@test").status == 488  # no offer
        sock.sendto(b"\r\n\r\n", (host, port))  # a keep-alive: no answer
        sock.sendto(b"not sip at all", (host, port))
        assert ask("OPTIONS", cseq=2).status == 200  # still serving
    finally:
        sock.close()
    assert sip_mock.state.calls == {}


async def test_a_simulated_call_through_the_admin_api(start_mock: Start) -> None:
    server = start_mock()  # no --sip-port: the first simulated call opens an endpoint on loopback
    status, placed = admin(server, "POST", "/_mock/sip/calls", {"headers": {"X-Customer-Id": "42"},
                                                                 "text": "what is the weather"}, scope="s1")
    assert status == 201 and placed["state"] == "ringing"
    call_id = placed["call_id"]
    listed = admin(server, "GET", "/_mock/calls", scope="s1")[1]["calls"]
    assert [(c["call_id"], c["state"]) for c in listed] == [(call_id, "incoming")]
    assert {"name": "X-Customer-Id", "value": "42"} in listed[0]["sip"]["sip_headers"]
    assert admin(server, "GET", "/_mock/calls", scope="s2")[1]["calls"] == []  # another scope sees nothing
    assert admin(server, "GET", f"/_mock/sip/calls/{call_id}", scope="s2")[0] == 404
    client = sdk_client(server)
    await client.realtime.calls.accept(call_id, **TRANSCRIBED)
    side: dict[str, Any] = {}
    for _ in range(200):
        side = admin(server, "GET", f"/_mock/sip/calls/{call_id}", scope="s1")[1]
        if side["heard"]["transcript"] == "You said: what is the weather":
            break
        await asyncio.sleep(0.05)  # real time: the turn is spoken, answered and played
    assert side["state"] == "answered" and side["heard"]["transcript"] == "You said: what is the weather"
    assert admin(server, "POST", f"/_mock/sip/calls/{call_id}/dtmf", {"digits": "42"}, scope="s1")[0] == 200
    assert admin(server, "POST", f"/_mock/sip/calls/{call_id}/dtmf", {"digits": "x"}, scope="s1")[0] == 400
    for _ in range(100):
        pressed = [e["event"]["event"] for e in _journal(server, "s1")
                   if e["event"].get("type") == "input_audio_buffer.dtmf_event_received"]
        if len(pressed) == 2:
            break
        await asyncio.sleep(0.05)
    assert pressed == ["4", "2"]
    status, ended = admin(server, "POST", f"/_mock/sip/calls/{call_id}/hangup", scope="s1")
    assert status == 200 and (ended["state"], ended["ended_by"]) == ("ended", "caller")
    assert admin(server, "GET", "/_mock/calls", scope="s1")[1]["calls"] == []


def test_the_scopes_webhook_is_set_and_checked(start_mock: Start) -> None:
    server = start_mock()
    assert admin(server, "PUT", "/_mock/webhook", {"url": "http://127.0.0.1:9/hook", "secret": SECRET},
                 scope="s1") == (200, {"scope": "s1", "url": "http://127.0.0.1:9/hook", "own": True})
    assert admin(server, "GET", "/_mock/webhook", scope="s2")[1]["url"] is None
    status, refused = admin(server, "PUT", "/_mock/webhook", {"url": "http://x/", "secret": "whsec_%%"}, scope="s1")
    assert status == 400 and refused["error"]["param"] == "secret"
    assert admin(server, "DELETE", "/_mock/webhook", scope="s1")[1]["own"] is False


def _only_call(server: RunningServer) -> str:
    (call_id,) = server.state.calls
    return str(call_id)


def _journal(server: RunningServer, scope: str) -> list[dict[str, Any]]:
    sessions = admin(server, "GET", "/_mock/sessions", scope=scope)[1]["sessions"]
    entries: list[dict[str, Any]] = []
    for session in sessions:
        entries += admin(server, "GET", f"/_mock/sessions/{session['id']}/journal?direction=server",
                         scope=scope)[1]["entries"]
    return [e for e in entries if isinstance(e["event"], dict)] if entries else json.loads("[]")
