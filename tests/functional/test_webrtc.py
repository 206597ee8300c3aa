"""WebRTC calls over real sockets: an aiortc caller (mockserver.webrtc_client) and the official SDK's
`client.realtime.calls.*` against the mock: the offer and answer, the `oai-events` channel, audio both
ways on the track, `output_audio_buffer.*`, the sideband socket, call control, CORS and the errors."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from mockserver.audio.speech import speak, transcribe
from mockserver.runner import RunningServer
from mockserver.state import ServerConfig
from mockserver.webrtc_client import CallRefused, WebRtcCaller
from tests.functional.conftest import Start, sdk_client, until
from tests.functional.test_admin_api import call as admin

pytestmark = pytest.mark.functional

SILENCE_1S = bytes(48_000)
TRANSCRIBE = {"type": "realtime", "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}}}


async def heard_text(caller: WebRtcCaller, timeout: float = 5) -> str | None:
    """What the server's track said, once its last frames have arrived (after the jitter buffer)."""
    for _ in range(int(timeout / 0.05)):
        said = transcribe(caller.heard())
        if said is not None:
            return said
        await asyncio.sleep(0.05)  # real time: audio arrives as it plays
    return None


def loudest(pcm: bytes) -> int:
    import numpy as np

    return int(np.abs(np.frombuffer(pcm[:len(pcm) // 2 * 2], dtype="<i2").astype(np.int32)).max())


@pytest.fixture
async def caller(mock: RunningServer) -> AsyncIterator[WebRtcCaller]:
    call = await WebRtcCaller.connect(mock.base_url)
    yield call
    await call.close()


async def test_a_spoken_turn_on_the_track_gets_a_spoken_answer(caller: WebRtcCaller) -> None:
    created = await caller.next_event()
    assert created["type"] == "session.created"  # the channel's first message
    await caller.send({"type": "session.update", "session": TRANSCRIBE})
    assert (await caller.next_event())["type"] == "session.updated"
    caller.speak(SILENCE_1S + speak("what is the weather") + SILENCE_1S)
    events = await caller.until("output_audio_buffer.stopped", timeout=20)
    names = [e["type"] for e in events]
    completed = next(e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed")
    assert completed["transcript"] == "what is the weather"  # the track's audio, heard exactly
    assert "response.output_audio.delta" not in names  # on WebRTC the audio is on the track
    assert names.index("response.output_audio_transcript.delta") < names.index("output_audio_buffer.started")
    assert names[-3:] == ["response.done", "rate_limits.updated", "output_audio_buffer.stopped"]
    response_id = next(e for e in events if e["type"] == "response.done")["response"]["id"]
    assert {e["response_id"] for e in events if e["type"].startswith("output_audio_buffer.")} == {response_id}
    assert await heard_text(caller) == "You said: what is the weather"


async def test_output_audio_buffer_clear_cuts_the_answer(start_mock: Start) -> None:
    server = start_mock()
    long = "A long answer that takes a few seconds to say, " * 4
    assert admin(server, "PUT", "/_mock/scenario", {"name": "long", "rules": [{"reply": long}]})[0] == 200
    async with await WebRtcCaller.connect(server.base_url) as call:
        await call.next_event()
        await call.send({"type": "response.create"})
        started = await call.until("output_audio_buffer.started")
        response_id = started[-1]["response_id"]
        await asyncio.sleep(0.5)  # real time: half a second of the answer plays
        await call.send({"type": "response.cancel"})
        await call.send({"type": "output_audio_buffer.clear"})
        events = await call.until("output_audio_buffer.cleared")
        assert events[-1]["response_id"] == response_id
        heard = len(call.heard())
        await asyncio.sleep(0.6)
        after = call.heard()[heard + 48_000 // 5:]  # past what was already on its way (0.2 s)
        assert after and loudest(after) < 100  # silence now, not the rest of a 10 s answer
        assert all(e["type"] != "output_audio_buffer.stopped" for e in events)


async def test_the_user_speaking_over_the_answer_cuts_it(start_mock: Start) -> None:
    server = start_mock()
    long = "A long answer that takes a few seconds to say, " * 4
    assert admin(server, "PUT", "/_mock/scenario", {"name": "long", "rules": [{"reply": long}]})[0] == 200
    async with await WebRtcCaller.connect(server.base_url) as call:
        await call.next_event()
        # The VAD cuts the answer, and answers nothing itself (so what follows is silence).
        await call.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
            "turn_detection": {"type": "server_vad", "create_response": False, "interrupt_response": True}}}}})
        await call.send({"type": "response.create"})
        await call.until("output_audio_buffer.started")
        call.speak(speak("stop") + SILENCE_1S)
        events = await call.until("output_audio_buffer.cleared", timeout=10)
        names = [e["type"] for e in events]
        assert "input_audio_buffer.speech_started" in names
        # The answer was made faster than it plays (as live): done already, its playback is what is cut.
        done = next(e for e in events if e["type"] == "response.done")
        assert events[-1]["response_id"] == done["response"]["id"]
        heard = len(call.heard())
        await asyncio.sleep(0.6)
        assert loudest(call.heard()[heard + 48_000 // 5:]) < 100


async def test_the_sdk_creates_calls_raw_and_multipart(mock: RunningServer) -> None:
    client = sdk_client(mock)
    raw = await WebRtcCaller.offer()
    answered = await client.realtime.calls.with_raw_response.create(sdp=raw.offer_sdp)
    assert answered.status_code == 201 and answered.headers["content-type"] == "text/plain; charset=utf-8"
    location = answered.headers["location"]
    assert location.startswith("/v1/realtime/calls/rtc_") and len(location.rsplit("/", 1)[-1]) == 36
    answer = answered.content.decode()
    assert "a=setup:active" in answer and "a=candidate:" in answer
    rtpmaps = [line for line in answer.splitlines() if line.startswith("a=rtpmap:")]
    assert [line.split()[1] for line in rtpmaps] == ["opus/48000/2", "PCMU/8000", "PCMA/8000"]
    await raw.answered(answer, location)
    assert (await raw.next_event())["session"]["instructions"].startswith("Your knowledge cutoff")
    await raw.close()

    configured = await WebRtcCaller.offer()
    session = {"type": "realtime", "model": "gpt-realtime", "instructions": "Be brief.",
               "audio": {"output": {"voice": "marin"}}}
    answered = await client.realtime.calls.with_raw_response.create(sdp=configured.offer_sdp, session=session)
    await configured.answered(answered.content.decode(), answered.headers["location"])
    created = (await configured.next_event())["session"]
    assert (created["instructions"], created["audio"]["output"]["voice"]) == ("Be brief.", "marin")
    await configured.close()


async def test_an_ephemeral_key_opens_its_secrets_session(mock: RunningServer) -> None:
    secret = await sdk_client(mock).realtime.client_secrets.create(
        session={"type": "realtime", "instructions": "From the secret."})
    async with await WebRtcCaller.connect(mock.base_url, api_key=secret.value) as call:
        assert (await call.next_event())["session"]["instructions"] == "From the secret."


async def test_the_sideband_steers_the_call_and_sees_its_events(caller: WebRtcCaller, mock: RunningServer) -> None:
    await caller.next_event()
    async with sdk_client(mock).realtime.connect(call_id=caller.call_id) as side:
        await side.session.update(session={"type": "realtime", "instructions": "From the side.",
                                           "output_modalities": ["text"]})
        updated = (await until(side, "session.updated"))[0]  # no session.created on a sideband (recording)
        assert updated.session.instructions == "From the side."
        assert (await caller.next_event())["session"]["instructions"] == "From the side."
        await side.conversation.item.create(item={"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "hello from the server"}]})
        await side.response.create()
        side_events = await until(side, "response.done")
        call_events = await caller.until("response.done")
    assert [e.type for e in side_events] == [e["type"] for e in call_events]
    assert side_events[-1].response.output[0].content[0].text == "You said: hello from the server"


async def test_an_audio_only_call_is_driven_from_the_side(mock: RunningServer) -> None:
    async with await WebRtcCaller.connect(mock.base_url, data_channel=False) as call:
        assert "m=application" not in call.answer_sdp
        async with sdk_client(mock).realtime.connect(call_id=call.call_id) as side:
            await side.session.update(session=TRANSCRIBE)
            await until(side, "session.updated")
            call.speak(SILENCE_1S + speak("hello out there") + SILENCE_1S)
            events = await until(side, "output_audio_buffer.stopped", timeout=20)
        completed = next(e for e in events if e.type == "conversation.item.input_audio_transcription.completed")
        assert completed.transcript == "hello out there"
        assert await heard_text(call) == "You said: hello out there"


async def test_an_unknown_call_refuses_the_sideband_with_404(mock: RunningServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"ws://{mock.host}:{mock.port}/v1/realtime?call_id=rtc_{'0' * 32}",
                           additional_headers={"Authorization": "Bearer sk-test"}):
            pass
    assert refused.value.response.status_code == 404
    body = json.loads(refused.value.response.body or b"{}")
    assert body["error"]["code"] == "call_id_not_found"
    assert body["error"]["message"] == "No session found for the provided call_id"


async def test_call_control_on_a_webrtc_call(caller: WebRtcCaller, mock: RunningServer) -> None:
    client = sdk_client(mock)
    await caller.next_event()
    for action, kwargs in (("accept", {"type": "realtime"}), ("reject", {}), ("refer", {"target_uri": "tel:+1"})):
        with pytest.raises(openai.BadRequestError) as wrong:
            await getattr(client.realtime.calls, action)(caller.call_id, **kwargs)
        assert wrong.value.code == "invalid_call_state"
    async with client.realtime.connect(call_id=caller.call_id) as side:
        await client.realtime.calls.hangup(caller.call_id)
        with pytest.raises(ConnectionClosed):  # the call's sidebands end with it
            for _ in range(10):
                await asyncio.wait_for(side.recv(), 5)
    with pytest.raises(openai.NotFoundError) as gone:
        await client.realtime.calls.hangup(caller.call_id)
    assert gone.value.code == "call_id_not_found"
    for _ in range(100):  # the peer connection closes a moment later
        if caller.pc.connectionState == "closed":
            break
        await asyncio.sleep(0.02)  # real time: the close crosses the network
    assert caller.pc.connectionState == "closed"
    summary = next(s for s in admin(mock, "GET", "/_mock/sessions")[1]["sessions"] if s["call_id"] == caller.call_id)
    assert summary["live"] is False


async def test_a_browser_on_another_origin_may_post_and_read_location(mock: RunningServer) -> None:
    preflight = urllib.request.Request(f"{mock.base_url}/realtime/calls", method="OPTIONS", headers={
        "Origin": "http://app.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    with urllib.request.urlopen(preflight, timeout=5) as answer:
        assert answer.status == 204
        assert answer.headers["access-control-allow-origin"] == "*"
        assert "POST" in answer.headers["access-control-allow-methods"]
        assert answer.headers["access-control-allow-headers"] == "authorization, content-type"
    async with await WebRtcCaller.connect(mock.base_url, headers={"Origin": "http://app.example"}) as call:
        assert call.call_id.startswith("rtc_")
    unauthorized = urllib.request.Request(f"{mock.base_url}/realtime/calls", data=b"v=0", method="POST",
                                          headers={"Content-Type": "application/sdp", "Origin": "http://app.example"})
    with pytest.raises(urllib.error.HTTPError) as refused:  # errors carry CORS too, so the page can read them
        urllib.request.urlopen(unauthorized, timeout=5)
    assert refused.value.code == 401 and refused.value.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(("body", "content_type", "status", "code"), [
    ("hello", "application/sdp", 400, "invalid_offer"),
    ("v=0\r\n", "application/sdp", 400, "invalid_offer"),
    ("{}", "application/json", 415, "unsupported_content_type"),
])
def test_bad_offers_get_errors_in_the_envelope(mock: RunningServer, body: str, content_type: str, status: int,
                                               code: str) -> None:
    request = urllib.request.Request(f"{mock.base_url}/realtime/calls", data=body.encode(), method="POST",
                                     headers={"Authorization": "Bearer sk-test", "Content-Type": content_type})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == status
    assert refused.value.headers["access-control-allow-origin"] == "*"
    error = json.loads(refused.value.read())["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", code)


async def test_keys_are_checked_as_for_the_socket(start_mock: Start) -> None:
    server = start_mock(ServerConfig(key_is_valid=lambda key: key == "sk-good"))
    with pytest.raises(CallRefused) as refused:
        await WebRtcCaller.connect(server.base_url, api_key="sk-bad")
    assert refused.value.status == 401 and "invalid_api_key" in refused.value.body
    secret = await sdk_client(server, "sk-good").realtime.translations.client_secrets.create(
        session={"model": "gpt-realtime-translate"})
    with pytest.raises(CallRefused) as wrong_kind:
        await WebRtcCaller.connect(server.base_url, api_key=secret.value)
    assert "invalid_client_secret" in wrong_kind.value.body


async def test_a_translation_call_speaks_the_translation_on_the_track(mock: RunningServer) -> None:
    secret = await sdk_client(mock).realtime.translations.client_secrets.create(
        session={"model": "gpt-realtime-translate", "audio": {"output": {"language": "de"}}})
    async with await WebRtcCaller.connect(mock.base_url, api_key=secret.value,
                                          path="/realtime/translations/calls") as call:
        created = await call.next_event()
        assert created["session"]["type"] == "translation"
        call.speak(speak("Good evening.") + SILENCE_1S)
        events: list[dict[str, Any]] = []
        while "".join(e.get("delta", "") for e in events
                      if e["type"] == "session.output_transcript.delta") != "[de] Good evening.":
            events.append(await call.next_event(timeout=10))
        assert await heard_text(call) == "[de] Good evening."
        assert all(e["type"] != "session.output_audio.delta" for e in events)


async def test_faults_apply_to_the_channel(mock: RunningServer) -> None:
    assert admin(mock, "POST", "/_mock/faults", {"name": "drop", "event": "response.done"}, scope="lossy")[0] == 200
    async with await WebRtcCaller.connect(mock.base_url, headers={"X-Mock-Scope": "lossy"}) as call:
        await call.next_event()
        await call.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})
        await call.send({"type": "response.create"})
        events = await call.until("rate_limits.updated")
    assert "response.created" in [e["type"] for e in events]
    assert "response.done" not in [e["type"] for e in events]
