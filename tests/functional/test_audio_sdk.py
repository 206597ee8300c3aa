"""Audio over a real socket with the official SDK: a server-VAD turn as live, barge-in, idle timeout,
G.711 round trips (issue 6)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
import yaml

from mockserver.audio import codecs
from mockserver.audio.speech import speak, transcribe
from mockserver.protocol.responses import Pacing
from mockserver.runner import RunningServer
from mockserver.state import ServerConfig
from tests.conftest import reference_dir
from tests.functional.conftest import Start, sdk_client, until
from tests.functional.test_recordings import outline, shape_differences

pytestmark = pytest.mark.functional
SILENCE = bytes(48_000)  # 1 s of PCM16 24 kHz
TRANSCRIPTION = "conversation.item.input_audio_transcription."


async def send_audio(conn: Any, audio: bytes, chunk: int = 4800) -> None:
    for start in range(0, len(audio), chunk):
        await conn.input_audio_buffer.append(audio=base64.b64encode(audio[start:start + chunk]).decode())


def raw(events: list[Any]) -> list[dict[str, Any]]:
    return [e.model_dump(exclude_unset=True) for e in events]


async def test_server_vad_turn_matches_the_live_recording(mock: RunningServer) -> None:
    recording = yaml.safe_load(reference_dir().joinpath(
        "recordings/openai_ws.test_audio_in_server_vad_turn.yaml").read_text())["interactions"]
    update = next(f["data"] for f in recording if f["data"]["type"] == "session.update")
    recorded = [f["data"] for f in recording if f["direction"] == "received"]
    async with sdk_client(mock).realtime.connect(model="gpt-realtime") as conn:
        await until(conn, "session.created")
        await conn.send(update)
        await until(conn, "session.updated")
        await send_audio(conn, SILENCE + speak("what is the weather") + SILENCE)
        events = raw(await until(conn, "response.done"))
    # Transcription is asynchronous ("before, during or after the response events"): compared apart.
    turn = [e for e in events if not e["type"].startswith(TRANSCRIPTION)]
    recorded_turn = [e for e in recorded[2:] if not e["type"].startswith(TRANSCRIPTION)]
    assert outline(turn) == outline(recorded_turn)
    structural = [e for e in turn if not e["type"].endswith(".delta")]
    recorded_structural = [e for e in recorded_turn if not e["type"].endswith(".delta")]
    differences = [f"{a['type']}{d}" for a, b in zip(recorded_structural, structural, strict=True)
                   for d in shape_differences(a, b)]
    assert differences == []
    transcription = [e for e in events if e["type"].startswith(TRANSCRIPTION)]
    recorded_transcription = [e for e in recorded if e["type"].startswith(TRANSCRIPTION)]
    assert outline(transcription) == outline(recorded_transcription)  # deltas, then completed
    assert shape_differences(recorded_transcription[-1], transcription[-1]) == []
    assert transcription[-1]["transcript"] == "what is the weather"
    assert transcription[-1]["item_id"] == events[0]["item_id"]  # the item speech_started announced
    # gpt-realtime-whisper under server VAD, as live: words while the user speaks, more across committed and
    # response.created, and `completed` once the answer's first output item is added.
    order = [e["type"] for e in events]
    deltas = [i for i, name in enumerate(order) if name == f"{TRANSCRIPTION}delta"]
    assert deltas[0] < order.index("input_audio_buffer.speech_stopped")
    assert deltas[-1] > order.index("response.created")
    assert order.index(f"{TRANSCRIPTION}completed") > order.index("response.output_item.added")


async def test_barge_in_cancels_the_playing_answer(start_mock: Start) -> None:
    server = start_mock(ServerConfig(pacing=Pacing(realtime_audio=True)))  # answers play in real time
    async with sdk_client(server).realtime.connect(model="gpt-realtime") as conn:
        await send_audio(conn, SILENCE + speak("tell me everything about the sea") + SILENCE)
        first = await until(conn, "response.output_audio.delta")
        playing = next(e for e in first if e.type == "response.created").response.id
        await send_audio(conn, speak("stop") + SILENCE)
        events = await until(conn, "response.created")
        cancelled = next(e for e in events if e.type == "response.done").response
        assert (cancelled.id, cancelled.status, cancelled.status_details.reason) == (playing, "cancelled",
                                                                                     "turn_detected")
        names = [e.type for e in events]
        assert names.index("input_audio_buffer.speech_started") < names.index("response.done")
        answer = next(e for e in await until(conn, "response.output_audio_transcript.done")
                      if e.type == "response.output_audio_transcript.done")
    assert answer.transcript == "You said: stop"


@pytest.mark.parametrize("fmt", ["audio/pcmu", "audio/pcma"])
async def test_g711_session_round_trip(mock: RunningServer, fmt: str) -> None:
    async with sdk_client(mock).realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "audio": {
            "input": {"format": {"type": fmt}, "transcription": {"model": "gpt-4o-transcribe"}},
            "output": {"format": {"type": fmt}}}})
        await until(conn, "session.updated")
        spoken = codecs.encode(SILENCE + speak("call me back at noon") + SILENCE, fmt)  # type: ignore[arg-type]
        await send_audio(conn, spoken, chunk=800)
        events = await until(conn, "response.done")
    heard = next(e for e in events if e.type == TRANSCRIPTION + "completed")
    assert heard.transcript == "call me back at noon"
    audio = b"".join(base64.b64decode(e.delta) for e in events if e.type == "response.output_audio.delta")
    assert transcribe(codecs.decode(audio, fmt)) == "You said: call me back at noon"  # type: ignore[arg-type]


async def test_idle_timeout_fires(mock: RunningServer) -> None:
    async with sdk_client(mock).realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"], "audio": {"input": {
            "turn_detection": {"type": "server_vad", "idle_timeout_ms": 5000}}}})
        await conn.conversation.item.create(item={"type": "message", "role": "user",
                                                  "content": [{"type": "input_text", "text": "hi"}]})
        await conn.response.create()
        await until(conn, "response.done")
        await send_audio(conn, SILENCE)  # the user says nothing; real time is the point: 5 s, the minimum
        events = await until(conn, "response.done", timeout=15)
    names = [e.type for e in events]
    assert names.index("input_audio_buffer.timeout_triggered") < names.index("input_audio_buffer.committed")
    assert names.index("input_audio_buffer.committed") < names.index("response.created")


async def test_the_speech_codec_speaks_to_the_mock_in_real_time(start_mock: Start) -> None:
    # The audio app's usual loop: 100 ms chunks at the pace they are recorded.
    server = start_mock()
    async with sdk_client(server).realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        audio = bytes(48 * 300) + speak("what time is it") + bytes(48 * 400)
        for start in range(0, len(audio), 4800):
            await conn.input_audio_buffer.append(audio=base64.b64encode(audio[start:start + 4800]).decode())
            await asyncio.sleep(0.02)  # a quicker-than-real-time microphone; timing is the point
        events = await until(conn, "response.done")
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "You said: what time is it"


async def test_transcription_session_over_the_socket(mock: RunningServer) -> None:
    async with sdk_client(mock).realtime.connect(extra_query={"intent": "transcription"}) as conn:
        created = await conn.recv()
        assert (created.type, created.session.type) == ("session.created", "transcription")
        await conn.session.update(session={"type": "transcription", "audio": {"input": {
            "transcription": {"model": "gpt-4o-mini-transcribe"}, "turn_detection": {"type": "server_vad"}}}})
        await until(conn, "session.updated")
        await send_audio(conn, SILENCE + speak("Hello from the gateway probe.") + SILENCE)
        events = await until(conn, TRANSCRIPTION + "completed")
        await conn.response.create()
        error = (await until(conn, "error"))[-1].error
    names = [e.type for e in events]
    assert names[:5] == ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                         "input_audio_buffer.committed", "conversation.item.added", "conversation.item.done"]
    deltas = [e.delta for e in events if e.type == TRANSCRIPTION + "delta"]
    assert len(deltas) > 3 and "".join(deltas) == "Hello from the gateway probe."
    assert events[-1].usage.type == "tokens"
    assert not [n for n in names if n.startswith("response.")]
    assert error.message == "Responses are not supported in transcription sessions."
