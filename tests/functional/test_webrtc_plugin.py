"""The pytest plugin's WebRTC helper, `realtime_mock.webrtc_call()`, as a downstream app's suite uses it
(pytester, in a subprocess): the call lands in the test's scope, its journal shows it, the sideband
reaches it, and the call ends with the block."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.functional
pytest_plugins = ["pytester"]

DOWNSTREAM_TESTS = '''
import asyncio

from mockserver.audio.speech import speak, transcribe


async def heard(call):
    for _ in range(100):
        said = transcribe(call.heard())
        if said is not None:
            return said
        await asyncio.sleep(0.05)  # real time: the answer's last frames are on their way


async def test_a_spoken_turn_on_a_call_in_my_scope(realtime_mock):
    session = {"instructions": "Be brief.", "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}}}
    async with realtime_mock.webrtc_call(model="gpt-realtime", session=session) as call:
        created = await call.next_event()
        assert created["type"] == "session.created"
        assert created["session"]["instructions"] == "Be brief."
        call.speak(bytes(24_000) + speak("hello there") + bytes(48_000))
        events = await call.until("output_audio_buffer.stopped", timeout=20)
        assert await heard(call) == "You said: hello there"
        assert realtime_mock.calls() == [{"call_id": call.call_id, "kind": "webrtc", "state": "active"}]
    (summary,) = realtime_mock.sessions()  # only this test's call, though every test shares the server
    assert summary["call_id"] == call.call_id
    said = realtime_mock.server_events("conversation.item.input_audio_transcription.completed")
    assert [e["transcript"] for e in said] == ["hello there"]
    assert [e["type"] for e in events][-1] == "output_audio_buffer.stopped"
    for _ in range(100):
        if not realtime_mock.calls():
            break
        await asyncio.sleep(0.02)  # real time: the hang-up crosses the network
    assert realtime_mock.calls() == []  # the block's end hung up


async def test_the_sideband_and_faults_reach_the_call(realtime_mock):
    realtime_mock.add_fault("drop", event="response.done")
    async with realtime_mock.webrtc_call() as call:  # raw SDP: the default session
        await call.next_event()
        async with realtime_mock.async_client().realtime.connect(call_id=call.call_id) as side:
            await side.session.update(session={"type": "realtime", "output_modalities": ["text"]})
            await side.conversation.item.create(item={"type": "message", "role": "user",
                                                      "content": [{"type": "input_text", "text": "hi"}]})
            await side.response.create()
            events = await call.until("rate_limits.updated")
    assert "response.done" not in [e["type"] for e in events]
    realtime_mock.assert_sent("session.update", session={"output_modalities": ["text"]})
    assert len(realtime_mock.sessions()) == 1


async def test_a_translation_call(realtime_mock):
    session = {"audio": {"output": {"language": "de"}}}
    async with realtime_mock.webrtc_call(model="gpt-realtime-translate", session=session, translation=True) as call:
        assert (await call.next_event())["session"]["type"] == "translation"
'''


def test_webrtc_calls_from_a_downstream_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_app=DOWNSTREAM_TESTS)
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=3)
