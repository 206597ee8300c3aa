"""The pytest plugin's SIP helpers (`realtime_mock.sip_call`, `use_webhook`, `calls`), exercised as a downstream
app's test suite uses them (pytester, in a subprocess): a simulated incoming call goes through the mock's SIP
endpoint and the scope's webhook, the app accepts it with the official SDK and drives it over the sideband."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.functional
pytest_plugins = ["pytester"]

DOWNSTREAM_TESTS = '''
import asyncio
import socket

import openai
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mockserver.audio.speech import speak, transcribe

SECRET = "whsec_" + "c2lwIHBsdWdpbiB0ZXN0IHNlY3JldA=="
SESSION = {"type": "realtime", "model": "gpt-realtime",
           "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}}}


async def until(conn, event_type, timeout=20):
    seen = []

    async def collect():
        async for event in conn:
            seen.append(event)
            if event.type == event_type:
                return

    await asyncio.wait_for(collect(), timeout)
    return seen


async def test_a_simulated_call_is_accepted_spoken_to_and_hung_up(realtime_mock):
    client = realtime_mock.async_client()
    call = realtime_mock.sip_call({"From": "sip:+14155550100@trunk.example", "X-Customer-Id": "42"},
                                  audio=bytes(24_000) + speak("what is the weather") + bytes(48_000))
    assert call.call_id.startswith("rtc_") and call.state == "ringing"
    assert realtime_mock.calls() == [{"call_id": call.call_id, "kind": "sip", "state": "incoming"}]
    await client.realtime.calls.accept(call.call_id, **SESSION)
    await call.until("answered")
    async with client.realtime.connect(call_id=call.call_id) as side:
        events = await until(side, "output_audio_buffer.stopped")
        done = [e for e in events if e.type == "conversation.item.input_audio_transcription.completed"]
        assert [e.transcript for e in done] == ["what is the weather"]
        for _ in range(40):  # real time: the answer's last packets are on their way
            if transcribe(call.heard()) is not None:
                break
            await asyncio.sleep(0.05)
        assert transcribe(call.heard()) == "You said: what is the weather"
        call.dtmf("7#")
        keys = []
        while len(keys) < 2:
            keys += [e.event for e in await until(side, "input_audio_buffer.dtmf_event_received")
                     if e.type == "input_audio_buffer.dtmf_event_received"]
        assert keys == ["7", "#"]
        call.hangup()
        assert (call.state, call.ended_by) == ("ended", "caller")
    assert realtime_mock.calls() == []
    assert realtime_mock.server_events("input_audio_buffer.dtmf_event_received")[0]["event"] == "7"


async def test_the_webhook_reaches_the_app_and_it_rejects(realtime_mock):
    received = asyncio.Queue()
    client = realtime_mock.async_client()

    async def webhook(request: Request) -> Response:
        event = client.webhooks.unwrap(await request.body(), dict(request.headers), secret=SECRET)
        await client.realtime.calls.reject(event.data.call_id, status_code=486)
        received.put_nowait(event)
        return Response(status_code=200)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/hook", webhook, methods=["POST"])]),
                                           log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        realtime_mock.use_webhook(f"http://127.0.0.1:{sock.getsockname()[1]}/hook", SECRET)
        call = realtime_mock.sip_call({"X-Customer-Id": "7"})
        event = await asyncio.wait_for(received.get(), 10)
        assert event.type == "realtime.call.incoming" and event.data.call_id == call.call_id
        assert {"name": "X-Customer-Id", "value": "7"} in [h.model_dump() for h in event.data.sip_headers]
        await call.until("ended")
        assert (call.status, call.ended_by) == (486, "server")
    finally:
        server.should_exit = True
        await serving
'''


def test_a_downstream_suite_places_sip_calls(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_calls=DOWNSTREAM_TESTS)
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
