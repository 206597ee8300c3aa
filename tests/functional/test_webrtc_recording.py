"""Calls through `realtime-mock record` and in the conformance suite, on real sockets and a real WebRTC call:
the offer and answer, the control routes and the `?call_id=` sideband are recorded (the media flows between
the caller and the upstream directly), and a sideband cassette replays on a call the suite makes first,
against the in-process mock and against a server's URL."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from conformance import cassette as cassettes
from conformance.allowlist import DEFAULT, load
from conformance.recorder import create_recorder_app
from conformance.suite import check
from conformance.target import ReplayOptions, sideband_call_id
from mockserver.webrtc_client import WebRtcCaller
from tests.functional.conftest import Served, Start, until
from tests.functional.test_record_replay import cassettes_in, no_secrets

pytestmark = pytest.mark.functional

HELLO = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}
QUICK = ReplayOptions(pace="none")


def reference_recording(reference: Path) -> Path:
    return reference / "recordings" / "newer" / "openai_ws_sideband.test_webrtc_sideband_text_turn.yaml"


async def test_a_call_its_sideband_and_hangup_are_recorded_and_the_sideband_replays(
        start_mock: Start, serve: Callable[[Starlette], Served], tmp_path: Path) -> None:
    upstream = start_mock()
    folder = tmp_path / "cassettes"
    recorder = serve(create_recorder_app(upstream.websocket_base_url, folder, None))
    preflight = urllib.request.Request(f"{recorder.base_url}/realtime/calls", method="OPTIONS", headers={
        "Origin": "http://app.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    with urllib.request.urlopen(preflight, timeout=5) as answer:  # a browser's, relayed to the upstream
        assert answer.status == 204 and answer.headers["access-control-allow-origin"] == "*"
    client = recorder.client()
    session = {"type": "realtime", "model": "gpt-realtime", "instructions": "Be brief."}
    async with await WebRtcCaller.connect(recorder.base_url, session=session) as call:
        # The channel and the track run between the caller and the upstream, as the answer says.
        assert (await call.next_event())["session"]["instructions"] == "Be brief."
        async with client.realtime.connect(call_id=call.call_id) as side:
            await side.session.update(session={"type": "realtime", "output_modalities": ["text"]})
            await until(side, "session.updated")
            await side.conversation.item.create(item=HELLO)
            await side.response.create()
            events = await until(side, "rate_limits.updated")
        assert events[-2].response.output[0].content[0].text == "You said: hello"
        await client.realtime.calls.hangup(call.call_id)

    (created,) = cassettes_in(folder, "/v1/realtime/calls")
    (leg,) = created.http
    assert (leg.method, leg.status) == ("POST", 201)
    assert leg.response_headers["location"] == f"/v1/realtime/calls/{call.call_id}"
    assert leg.response.startswith("v=0") and "a=candidate:" in leg.response
    fields: dict[str, Any] = leg.request["form"]  # the multipart offer, kept as its fields
    assert fields["sdp"].startswith("v=0") and '"instructions": "Be brief."' in fields["session"]
    (hung,) = cassettes_in(folder, f"/v1/realtime/calls/{call.call_id}/hangup")
    assert hung.http[0].status == 200
    (sideband,) = cassettes_in(folder, "/v1/realtime")
    assert sideband.query == {"call_id": call.call_id} and sideband_call_id(sideband) == call.call_id
    frames = [(f.direction, f.event["type"]) for f in sideband.frames]
    assert frames[:2] == [("client", "session.update"), ("server", "session.updated")]  # no session.created
    assert frames[-1] == ("server", "rate_limits.updated")
    no_secrets(folder, "sk-test")

    for target, key in (("mock", None), (upstream.websocket_base_url, "sk-test")):
        result = await asyncio.to_thread(check, sideband, target, api_key=key, options=QUICK)  # runs its own loop
        assert result.status == "passed", (target, [str(f) for f in result.unexplained], result.replay.notes)
        assert result.coverage == f"{len(sideband.server_events())}/{len(sideband.server_events())}"
        assert "/v1/realtime?call_id=rtc_" in result.replay.url  # the call the check made (ids are seeded)
        assert result.replay.sent[0]["type"] == "session.update"


def test_the_reference_sideband_recording_passes_against_the_mock(reference: Path) -> None:
    recording = cassettes.read(reference_recording(reference))
    assert sideband_call_id(recording) == ""  # no session.created: a sideband, its call id not recorded
    result = check(recording, "mock", options=QUICK, allowlist=load(DEFAULT))
    assert result.status == "passed", [str(f) for f in result.unexplained]
    assert [f.event for f in result.allowed] == ["rate_limits.updated"]  # recorded at 4fda389: see allowlist


def test_a_sideband_cassette_with_no_call_to_attach_to_is_the_cassettes_error(reference: Path) -> None:
    recording = cassettes.read(reference_recording(reference))
    result = check(recording, "ws://127.0.0.1:9/v1", api_key="sk-test", options=QUICK)
    assert result.status.startswith("error: cannot make a call to attach the sideband to at "
                                    "http://127.0.0.1:9/v1/realtime/calls")
