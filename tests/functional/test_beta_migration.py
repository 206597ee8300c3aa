"""Beta traffic, recorded through the proxy against `--beta shim` with the official SDK's beta client, is
flagged with the GA replacement for each renamed event and moved field (issue 5)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pytest
from openai import AsyncOpenAI

from conformance import cassette as cassettes
from conformance.beta import beta_findings, migration_report
from conformance.commands import migrate_command
from conformance.recorder import app_config, create_recorder_app
from mockserver.runner import start_app_in_thread
from mockserver.state import ServerConfig, ServerState
from tests.functional.conftest import Start

pytestmark = pytest.mark.functional


async def beta_app(base_url: str) -> None:
    """An app still on the beta interface: flat session fields, pcm16, beta event names."""
    client = AsyncOpenAI(api_key="sk-test", base_url=f"{base_url}/v1", websocket_base_url=f"ws{base_url[4:]}/v1")
    async with client.beta.realtime.connect(model="gpt-4o-realtime-preview") as conn:
        await conn.session.update(session={"modalities": ["text", "audio"], "voice": "alloy",
                                           "input_audio_format": "pcm16", "output_audio_format": "pcm16",
                                           "turn_detection": None, "temperature": 0.7,
                                           "max_response_output_tokens": 200,
                                           "input_audio_transcription": {"model": "whisper-1"}})
        await conn.conversation.item.create(item={"type": "message", "role": "user",
                                                  "content": [{"type": "input_text", "text": "hello"}]})
        await conn.response.create(response={"modalities": ["text"], "temperature": 0.8})
        async for event in conn:
            if event.type == "response.done":
                break


def test_beta_traffic_is_flagged_with_its_ga_replacements(start_mock: Start, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    upstream = start_mock(ServerConfig(beta="shim"))
    upstream.state.observers.clear()  # beta events do not match the GA schemas: that is the point here
    recorder = start_app_in_thread(lambda port: app_config(create_recorder_app(
        upstream.websocket_base_url, tmp_path, None), port=port, log_level="warning"), ServerState())
    try:
        asyncio.run(asyncio.wait_for(beta_app(f"http://{recorder.host}:{recorder.port}"), 20))
    finally:
        recorder.stop()
    (path,) = [p for p in tmp_path.iterdir() if p.name.endswith(cassettes.SUFFIX)]
    recorded = cassettes.read(path)
    assert "response.text.delta" in [e["type"] for e in recorded.server_events()]  # beta events, recorded
    found = beta_findings(recorded)
    messages = "\n".join(f.message for f in found)
    for beta_name, ga_name in (("session.modalities", "session.output_modalities"),
                               ("session.voice", "session.audio.output.voice"),
                               ("session.input_audio_format", "session.audio.input.format"),
                               ("session.output_audio_format", "session.audio.output.format"),
                               ("session.turn_detection", "session.audio.input.turn_detection"),
                               ("session.input_audio_transcription", "session.audio.input.transcription"),
                               ("session.max_response_output_tokens", "session.max_output_tokens"),
                               ("response.modalities", "response.output_modalities"),
                               ("response.text.delta", "response.output_text.delta"),
                               ("response.text.done", "response.output_text.done"),
                               ("conversation.item.created", "conversation.item.added")):
        assert beta_name in messages and ga_name in messages, (beta_name, ga_name, messages)
    assert "temperature" in messages  # removed in GA
    report = migration_report([recorded])
    assert "output_modalities" in report and "audio.output.voice" in report
    code = migrate_command(argparse.Namespace(cassettes=[path], output=None))
    out = capsys.readouterr().out
    assert code == 0 and "session.output_modalities" in out


