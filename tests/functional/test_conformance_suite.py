"""`realtime-mock conformance` on real sockets: the shared live recordings against the mock, targets that
differ on purpose, URL targets, and the command functions end to end."""

from __future__ import annotations

import argparse
import json
import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.applications import Starlette

from conformance import allowlist as allowlists
from conformance import cassette as cassettes
from conformance.cassette import Cassette, Frame
from conformance.commands import add_conformance_arguments, add_migrate_arguments, conformance_command, migrate_command
from conformance.report import table
from conformance.suite import check, run_suite
from conformance.target import LIVE_URL, NO_KEY, ReplayOptions
from mockserver.protocol.faults import Fault
from mockserver.protocol.responder import FunctionCall, Reply, ScriptedResponder
from tests.conftest import reference_dir
from tests.functional.conftest import Served, Start

pytestmark = pytest.mark.functional
FAST = ReplayOptions(pace="none")
QUICK = ReplayOptions(pace="none", event_timeout=1)  # for targets that leave out an event on purpose


def _recordings() -> Path:
    return reference_dir() / "recordings"


def _text_turn() -> Cassette:
    return cassettes.read(_recordings() / "openai_ws.test_text_in_audio_out_turn.yaml")


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_conformance_arguments(parser)
    return parser.parse_args(list(argv))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_shared_recordings_show_no_unexplained_drift_against_the_mock() -> None:
    shipped = allowlists.load(allowlists.DEFAULT)
    sideband = _recordings() / "newer" / "openai_ws_sideband.test_webrtc_sideband_text_turn.yaml"  # on a call
    suite = run_suite([_recordings(), sideband], "mock", allowlist=shipped)  # recorded pacing, as the CLI's default
    assert [r.name for r in suite.results] == [
        "openai_ws.test_audio_in_server_vad_turn", "openai_ws.test_message_history_seeding",
        "openai_ws.test_text_in_audio_out_turn", "openai_ws.test_tool_call_round",
        "openai_ws_sideband.test_webrtc_sideband_text_turn"]
    assert [r.status for r in suite.results] == ["passed"] * 5, table(suite)
    assert suite.unexplained == 0 and suite.ok
    assert suite.stale == []
    assert [e.number for e in shipped.entries if e.used == 0] == []  # every entry explains something
    by_name = {r.name: r for r in suite.results}
    # What the allowlist explains is exactly the missing rate_limits.updated, and the cut VAD audio.
    tool_round = by_name["openai_ws.test_tool_call_round"]
    assert [(f.kind, f.event) for f in tool_round.allowed] == [("extra_event", "rate_limits.updated")] * 2
    assert len(tool_round.replay.events) > 40 and tool_round.replay.notes == []
    assert not any(e["type"] == "error" for r in suite.results for e in r.replay.events)


def test_a_dropped_event_is_caught_with_its_type_and_path() -> None:
    result = check(_text_turn(), "mock", options=QUICK, allowlist=allowlists.load(allowlists.DEFAULT),
                   faults=[Fault.from_dict({"name": "drop", "event": "response.done"})])
    assert result.status == "failed"
    assert [(f.kind, f.event, f.path, f.category, f.index) for f in result.unexplained] == [
        ("missing_event", "response.done", "$", "mock_drift", 23)]
    assert "response.done: recorded, not sent by the target" in result.unexplained[0].message


def test_a_duplicated_event_is_caught() -> None:
    result = check(_text_turn(), "mock", options=FAST, allowlist=allowlists.load(allowlists.DEFAULT),
                   faults=[Fault.from_dict({"name": "duplicate", "event": "response.output_item.done"})])
    assert [(f.kind, f.event, f.path) for f in result.unexplained] == [
        ("extra_event", "response.output_item.done", "$")]


def test_a_closed_connection_ends_the_run() -> None:
    recording = cassettes.read(_recordings() / "openai_ws.test_tool_call_round.yaml")
    result = check(recording, "mock", options=QUICK, faults=[
        Fault.from_dict({"name": "close", "event": "response.done", "code": 1011, "reason": "boom"})])
    assert result.replay.close_code == 1011 and result.replay.close_reason == "boom"
    assert "the target closed the connection: code 1011, reason 'boom'" in result.replay.notes
    assert ("missing_event", "response.done") in {(f.kind, f.event) for f in result.unexplained}
    assert result.replay.seconds < 5  # no waiting for events from a closed connection


def test_a_script_that_answers_otherwise_is_caught_with_the_event_and_field() -> None:
    def calls_a_tool() -> ScriptedResponder:
        return ScriptedResponder([Reply((FunctionCall("get_time", "{}"),))])

    result = check(_text_turn(), "mock", options=QUICK, responder=calls_a_tool)
    found = {(f.kind, f.event, f.path) for f in result.unexplained}
    assert ("value", "response.output_item.added", "$.item.type") in found
    assert ("missing_key", "response.done", "$.response.output[0].content") in found
    assert ("extra_key", "conversation.item.done", "$.item.call_id") in found
    assert ("missing_event", "response.content_part.added", "$") in found
    item_type = next(f for f in result.unexplained if f.path == "$.item.type")
    assert item_type.recorded == '"message"' and item_type.target == '"function_call"'


def test_a_url_target_is_judged_as_the_live_api(start_mock: Start) -> None:
    server = start_mock()  # its own model (the built-in echo scenario), not the cassette's script
    recording = cassettes.read(_recordings() / "openai_ws.test_tool_call_round.yaml")
    result = check(recording, f"{server.websocket_base_url}/realtime", api_key="sk-test",
                   options=QUICK)
    assert result.status == "failed" and result.replay.url.endswith("/v1/realtime?model=gpt-realtime")
    assert {f.category for f in result.findings} <= {"live_drift", "spec_drift"}
    assert any(f.kind == "delta_types" and f.event == "response.function_call_arguments.delta"
               for f in result.unexplained)
    assert any("gave up waiting for 1 x response.function_call_arguments.done" in n for n in result.replay.notes)


def test_a_url_target_without_a_key_skips_every_cassette_and_fails(monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    recording = str(_recordings() / "openai_ws.test_tool_call_round.yaml")
    assert conformance_command(_args(recording, "--target", LIVE_URL, "--format", "json")) == 2
    printed = capsys.readouterr()
    data = json.loads(printed.out)
    assert [c["status"] for c in data["cassettes"]] == [NO_KEY]
    assert NO_KEY == "skipped: --target URL needs --api-key or OPENAI_API_KEY"
    assert "nothing was checked (every cassette was skipped)" in printed.err  # a run that checks nothing fails
    assert conformance_command(_args(recording, "--target", LIVE_URL)) == 2
    assert NO_KEY in capsys.readouterr().out


def test_an_unreachable_target_is_the_cassettes_result_not_a_crash(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"ws://127.0.0.1:{_closed_port()}/v1/realtime"
    code = conformance_command(_args(str(_recordings() / "openai_ws.test_tool_call_round.yaml"), "--target", url,
                                     "--api-key", "sk-test", "--format", "json"))
    assert code == 1
    status = json.loads(capsys.readouterr().out)["cassettes"][0]["status"]
    assert status.startswith(f"error: cannot connect to {url}?model=gpt-realtime")


def test_every_output_format_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recording = str(_recordings() / "openai_ws.test_text_in_audio_out_turn.yaml")
    for fmt in ("table", "markdown", "json", "junit"):
        out = tmp_path / f"report.{fmt}"
        assert conformance_command(_args(recording, "--format", fmt, "--output", str(out), "--pace", "none")) == 0
        assert f"wrote the {fmt} report to {out}" in capsys.readouterr().out
    assert "openai_ws.test_text_in_audio_out_turn  passed" in (tmp_path / "report.table").read_text()
    assert "| openai_ws.test_text_in_audio_out_turn | passed | 0 | 1 |" in (tmp_path / "report.markdown").read_text()
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["ok"] is True and data["totals"]["allowed"] == 1
    assert data["cassettes"][0]["findings"][0]["classification"] == "allowed"
    root = ET.parse(tmp_path / "report.junit").getroot()
    assert [c.get("name") for c in root.iter("testcase")] == ["openai_ws.test_text_in_audio_out_turn"]
    assert root.find(".//failure") is None


def test_unexplained_drift_exits_1_and_usage_errors_exit_2(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    recording = str(_recordings() / "openai_ws.test_text_in_audio_out_turn.yaml")
    empty = tmp_path / "empty.yaml"
    empty.write_text("allow: []\n")
    minimal = argparse.Namespace(cassettes=[Path(recording)], target="mock", allowlist=empty, pace="none")
    assert conformance_command(minimal) == 1
    printed = capsys.readouterr().out
    assert re.search(r"mock_drift  extra_event  rate_limits\.updated  target event #\d+  \$", printed)
    assert "[####################] 1/1 openai_ws.test_text_in_audio_out_turn: failed" in printed

    no_reason = tmp_path / "no_reason.yaml"
    no_reason.write_text("allow:\n  - {cassette: '*', kind: mock_drift}\n")
    assert conformance_command(_args(recording, "--allowlist", str(no_reason))) == 2
    assert "entry 1: `reason` is required" in capsys.readouterr().err
    assert conformance_command(_args(recording, "--target", "example.com/v1")) == 2
    assert "did you mean wss://example.com/v1?" in capsys.readouterr().err
    assert conformance_command(_args(str(tmp_path / "nope.cassette.jsonl"))) == 2
    assert "no such cassette" in capsys.readouterr().err


def test_stale_allowlist_entries_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recording = str(_recordings() / "openai_ws.test_text_in_audio_out_turn.yaml")
    extra = tmp_path / "allow.yaml"
    extra.write_text(allowlists.DEFAULT.read_text() + "  - cassette: 'openai_ws.*'\n    kind: mock_drift\n"
                     "    event: session.updated\n    reason: a difference that no longer exists\n")
    assert conformance_command(_args(recording, "--allowlist", str(extra), "--pace", "none")) == 0
    number = len(allowlists.load(allowlists.DEFAULT).entries) + 1  # the entry added after the shipped ones
    assert f"#{number} cassette=openai_ws.* kind=mock_drift, event=session.updated" in capsys.readouterr().out


def test_beta_traffic_is_reported_with_its_ga_replacement(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    created = _text_turn().frames[0]
    legacy = Cassette(source="legacy", frames=[
        created, Frame(0.1, "client", {"type": "session.update", "session": {"modalities": ["text"],
                                                                           "input_audio_format": "pcm16"}})])
    path = tmp_path / "legacy.cassette.jsonl"
    cassettes.write(legacy, path)
    assert conformance_command(_args(str(path), "--format", "json", "--pace", "none", "--event-timeout", "1")) == 1
    findings = json.loads(capsys.readouterr().out)["cassettes"][0]["findings"]
    beta_shapes = [f["message"] for f in findings if f["category"] == "beta_shape" and f["kind"] == "beta"]
    assert "client sent session.update with session.modalities: in GA use session.output_modalities" in beta_shapes

    parser = argparse.ArgumentParser()
    add_migrate_arguments(parser)
    assert migrate_command(parser.parse_args([str(path)])) == 0
    text = capsys.readouterr().out
    assert ("  - client sent session.update with session.input_audio_format: \"pcm16\": in GA use "
            "session.audio.input.format: {\"type\": \"audio/pcm\", \"rate\": 24000} (1x in legacy)") in text
    assert migrate_command(parser.parse_args([str(_recordings()), "--output", str(tmp_path / "m.md")])) == 0
    assert "No beta shapes found" in (tmp_path / "m.md").read_text()
    assert migrate_command(parser.parse_args([str(tmp_path / "missing.yaml")])) == 2


async def test_a_recorded_real_voice_replays_with_its_recorded_transcript(
        start_mock: Start, serve: Callable[[Starlette], Served], tmp_path: Path) -> None:
    """Audio the speech codec cannot hear (a real voice, to the mock) is recorded with the transcript the
    server gave; replayed against the mock, the script says the same words (script.user_audio)."""
    import asyncio
    import base64

    import numpy as np

    from conformance.recorder import create_recorder_app
    from mockserver.audio import codecs
    from mockserver.scenarios import parse_scenario

    upstream = start_mock()
    upstream.state.use_scenario(parse_scenario('name: live\nuser_audio: ["Hello, my name is Marcelo."]\n', "l.yaml"))
    folder = tmp_path / "cassettes"
    recorder = serve(create_recorder_app(upstream.websocket_base_url, folder, None))
    t = np.arange(36_000) / 24_000
    voice = codecs.float_to_pcm16(0.3 * np.sin(2 * np.pi * 180 * t))
    pcm = bytes(24_000) + voice + bytes(48_000)
    async with recorder.client().realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"], "audio": {"input": {
            "transcription": {"model": "gpt-4o-transcribe"}}}})
        for start in range(0, len(pcm), 9600):
            await conn.input_audio_buffer.append(audio=base64.b64encode(pcm[start:start + 9600]).decode())
        said = ""
        async for event in conn:
            if event.type == "conversation.item.input_audio_transcription.completed":
                said = event.transcript
            if event.type == "rate_limits.updated":
                break
    assert said == "Hello, my name is Marcelo."
    suite = await asyncio.to_thread(run_suite, [folder], "mock", options=FAST)
    (result,) = suite.results
    assert result.status == "passed" and suite.unexplained == 0, table(suite)
    replayed = [e for e in result.replay.events if e["type"] == "conversation.item.input_audio_transcription.completed"]
    assert [e["transcript"] for e in replayed] == ["Hello, my name is Marcelo."]
