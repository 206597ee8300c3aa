"""The official Node clients, run with `node` against a mock started here: the Node SDK (npm `openai` 7.55.0,
`OpenAIRealtimeWS`, which dials only wss:, so over TLS with a certificate from mockserver/tls.py trusted through
NODE_EXTRA_CA_CERTS) and the JavaScript Agents SDK (`@openai/agents-realtime` 0.20.0, over plain ws:).

The scripts live in tests/node/ (`npm ci --prefix tests/node` installs their packages; `.ci/run` does). Each
prints one JSON line of what it observed and exits non-zero on failure. Every event the mock sends is checked
against schemas/ (the `start_mock` fixture). Without `node` or the packages these tests are skipped, except in
CI (the `CI` environment variable), where that is an error.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mockserver import tls
from mockserver.audio.speech import speak
from mockserver.runner import RunningServer, start_in_thread
from mockserver.state import ServerState
from tests.functional.conftest import Start

pytestmark = pytest.mark.functional

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
PACKAGES = ("openai", "@openai/agents-realtime", "ws", "zod")
SCRIPT_SECONDS = 20  # each script stops itself after 9 s; this only guards against a wedged process


@pytest.fixture(scope="module")
def node() -> str:
    """The `node` executable, once the packages of tests/node are installed."""
    executable = shutil.which("node")
    missing = [p for p in PACKAGES if not (NODE_DIR / "node_modules" / p / "package.json").is_file()]
    problem = ("`node` is not on PATH" if executable is None else
               f"the Node packages are not installed ({', '.join(missing)} missing): run "
               "`npm ci --prefix tests/node`" if missing else None)
    if problem:
        if os.environ.get("CI"):  # in CI the Node clients must run: a lost install must not turn them into skips
            raise RuntimeError(f"{problem} (CI is set; .ci/run installs them)")
        pytest.skip(problem)
    assert executable is not None
    return executable


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return tls.ensure_certificate(tmp_path_factory.mktemp("tls"))


@dataclass
class Mocks:
    """One mock state served twice: over https/wss (`secure`) and plain http/ws (`plain`)."""

    plain: RunningServer
    secure: RunningServer
    cert: Path

    @property
    def state(self) -> ServerState:
        return self.plain.state


@pytest.fixture
def mocks(start_mock: Start, certificate: tuple[Path, Path]) -> Iterator[Mocks]:
    plain = start_mock()  # its schema check observes the state, so it also sees what the TLS server sends
    secure = start_in_thread(plain.state, tls=(str(certificate[0]), str(certificate[1])))
    yield Mocks(plain, secure, certificate[0])
    secure.stop()


def run_script(node: str, script: str, env: dict[str, str], *args: str) -> dict[str, Any]:
    """Run a script of tests/node and give back its JSON line; fail with everything it printed when it failed."""
    # The SDK reads OPENAI_BASE_URL, OPENAI_API_KEY and friends: none from this process may leak in.
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")} | env
    result = subprocess.run([node, script, *args], cwd=NODE_DIR, env=environment, capture_output=True, text=True,
                            timeout=SCRIPT_SECONDS)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, f"{script} printed no JSON line (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
    observed: dict[str, Any] = json.loads(lines[-1])
    assert result.returncode == 0 and observed["ok"], (
        f"{script} failed (exit {result.returncode}) at {observed.get('step')}: {observed.get('error')}\n"
        f"{json.dumps(observed, indent=1)}\n{result.stderr}")
    return observed


def client_events(state: ServerState) -> list[list[dict[str, Any]]]:
    """What each session's client sent, session by session, from the mock's journals."""
    return [[entry["event"] for entry in journal.entries if entry["direction"] == "client"]
            for journal in state.scope().journals.values()]


def server_events(state: ServerState, event_type: str) -> list[dict[str, Any]]:
    return [entry["event"] for journal in state.scope().journals.values() for entry in journal.entries
            if entry["direction"] == "server" and entry["event"]["type"] == event_type]


# --- the Node SDK: openai 7.55.0, OpenAIRealtimeWS over wss ----------------------------------------------------


def run_node_sdk(node: str, mocks: Mocks, part: str, **extra: str) -> dict[str, Any]:
    env = {"NODE_EXTRA_CA_CERTS": str(mocks.cert), "REALTIME_MOCK_BASE_URL": mocks.secure.base_url,
           "REALTIME_MOCK_HTTP_BASE_URL": mocks.plain.base_url, **extra}
    observed = run_script(node, "openai_node.mjs", env, "--parts", part)
    assert observed["sdk"] == "openai@7.55.0"
    result: dict[str, Any] = observed["parts"][part]
    return result


def test_node_sdk_text_turn_over_wss(node: str, mocks: Mocks) -> None:
    seen = run_node_sdk(node, mocks, "text")
    assert seen["url"] == f"{mocks.secure.websocket_base_url}/realtime?model=gpt-realtime"
    assert seen["model"] == "gpt-realtime" and seen["errors"] == []
    assert seen["text"] == seen["output_text"] == "You said: Say a short greeting."
    assert seen["status"] == "completed"
    assert seen["events"][:3] == ["conversation.item.added", "conversation.item.done", "response.created"]
    assert seen["events"][-1] == "response.done" and "response.output_text.done" in seen["events"]
    assert [[e["type"] for e in session] for session in client_events(mocks.state)] == [
        ["session.update", "conversation.item.create", "response.create"]]


def test_node_sdk_tool_round(node: str, mocks: Mocks) -> None:
    seen = run_node_sdk(node, mocks, "tool")
    assert seen["call"]["name"] == "get_weather" and seen["call"]["arguments"] == {"city": "Oslo"}
    assert seen["call"]["status"] == "completed"
    assert seen["answer"] == "The get_weather tool returned: Sunny, 21 C" and seen["status"] == "completed"
    assert seen["errors"] == []
    [sent] = client_events(mocks.state)
    output = next(e["item"] for e in sent if e["type"] == "conversation.item.create"
                  and e["item"]["type"] == "function_call_output")
    assert output == {"type": "function_call_output", "call_id": seen["call"]["call_id"], "output": "Sunny, 21 C"}


def test_node_sdk_audio_turn_is_detected_transcribed_and_answered(node: str, mocks: Mocks, tmp_path: Path) -> None:
    speech = tmp_path / "speech.pcm"  # raw PCM16 24 kHz mono: 1 s of silence, the words, 1 s of silence
    speech.write_bytes(bytes(48_000) + speak("what is the weather") + bytes(48_000))
    seen = run_node_sdk(node, mocks, "audio", REALTIME_MOCK_SPEECH=str(speech))
    assert seen["transcript"] == "what is the weather"
    assert seen["input_events"] == ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                                    "input_audio_buffer.committed"]
    assert seen["answer_transcript"] == "You said: what is the weather" and seen["status"] == "completed"
    assert seen["output_audio_bytes"] > 48_000 and seen["output_audio_bytes"] % 2 == 0  # over 1 s of PCM16
    assert seen["errors"] == []
    [sent] = client_events(mocks.state)
    assert sent[0]["session"]["audio"]["input"]["transcription"] == {"model": "whisper-1"}
    appended = [e for e in sent if e["type"] == "input_audio_buffer.append"]
    assert len(appended) > 1 and {e["type"] for e in sent} == {"session.update", "input_audio_buffer.append"}


def test_node_sdk_client_secret_minted_over_http_opens_a_session(node: str, mocks: Mocks) -> None:
    seen = run_node_sdk(node, mocks, "secret")
    assert seen["key_prefix"] == "ek_" and seen["minted_session"] == {"type": "realtime", "model": "gpt-realtime"}
    assert seen["session"] == {"type": "realtime", "model": "gpt-realtime"} and seen["errors"] == []
    assert seen["made_up_key"] == {"events": ["error", "close"], "error": "invalid_api_key", "close": 3000}


# --- the JavaScript Agents SDK: @openai/agents-realtime 0.20.0, default configuration, over ws ---------------------


def agent_configuration(sent: list[dict[str, Any]]) -> dict[str, Any]:
    """The SDK's session.update that carries the agent (the other one only turns tracing on)."""
    return next(e for e in sent if e["type"] == "session.update" and "instructions" in e["session"])


def run_agent(node: str, mocks: Mocks) -> dict[str, Any]:
    url = f"{mocks.plain.websocket_base_url}/realtime?model=gpt-realtime"
    observed = run_script(node, "agents_realtime.mjs", {"REALTIME_MOCK_URL": url, "OPENAI_API_KEY": "sk-test"})
    assert observed["sdk"] == "@openai/agents-realtime@0.20.0"
    return observed


def test_agents_sdk_default_configuration_calls_its_tool_and_answers_from_it(node: str, mocks: Mocks) -> None:
    # Its first session.update carries `audio.input.noise_reduction: null`; a mock that refused it (invalid_type,
    # the whole update discarded) never installed the agent's tools, and the tool was never called.
    observed = run_agent(node, mocks)
    assert observed["errors"] == []
    assert observed["tool_calls"] == [{"city": "Oslo"}]
    assert observed["tool_result"] == {"name": "get_weather", "result": "foggy and 12 degrees in Oslo"}
    assert observed["function_calls"] == [{"name": "get_weather", "arguments": '{"city": "Oslo"}'}]
    answer = "The get_weather tool returned: foggy and 12 degrees in Oslo"
    assert [item["content"] for item in observed["answer"]] == [[answer]]
    assert [(item["type"], item.get("role")) for item in observed["history"]] == [
        ("message", "user"), ("function_call", None), ("message", "assistant")]
    assert observed["history"][1]["output"] == "foggy and 12 degrees in Oslo"
    assert observed["history"][2]["content"] == [answer] and observed["history"][2]["status"] == "completed"

    [sent] = client_events(mocks.state)
    configured = agent_configuration(sent)["session"]
    assert configured["instructions"].startswith("You answer questions about the weather")
    assert [t["name"] for t in configured["tools"]] == ["get_weather"]
    assert configured["audio"]["input"]["noise_reduction"] is None  # the SDK's default, accepted as "off"
    output = next(e["item"] for e in sent if e["type"] == "conversation.item.create"
                  and e["item"]["type"] == "function_call_output")
    assert output["output"] == "foggy and 12 degrees in Oslo"
    assert server_events(mocks.state, "error") == []
    updated = server_events(mocks.state, "session.updated")
    assert [t["name"] for t in updated[-1]["session"]["tools"]] == ["get_weather"]
    assert [d["response"]["status"] for d in server_events(mocks.state, "response.done")] == ["completed"] * 2


def test_agents_sdk_sends_what_the_recordings_show(node: str, mocks: Mocks) -> None:
    """The client frames of the default configuration, as transports.md 4c recorded them against a stub, but for
    one race: the mock sends `session.created` at once, so the SDK's tracing update (sent on `session.created`)
    may go out before its configuration (sent once the socket is open and the tools' schemas are built)."""
    run_agent(node, mocks)
    [sent] = client_events(mocks.state)
    updates = [e for e in sent if e["type"] == "session.update"]
    configuration = agent_configuration(sent)
    tracing = {"type": "session.update", "session": {"type": "realtime", "tracing": "auto"}}
    assert len(updates) == 2 and tracing in updates
    assert "event_id" not in configuration
    assert configuration["session"]["type"] == "realtime" and configuration["session"]["output_modalities"] == ["audio"]
    assert configuration["session"]["model"] == "gpt-realtime-2.1"  # its default model, whatever the URL names
    assert configuration["session"]["audio"]["input"] == {
        "format": {"type": "audio/pcm", "rate": 24000}, "noise_reduction": None,
        "transcription": {"model": "gpt-4o-mini-transcribe"}, "turn_detection": {"type": "semantic_vad"}}
    rest = [e for e in sent if e["type"] != "session.update"]
    assert [(e["type"], e.get("event_id")) for e in rest] == [
        ("conversation.item.create", None), ("response.create", "agents_js_response_create_1"),
        ("conversation.item.create", None), ("response.create", "agents_js_response_create_2")]
    assert sent.index(configuration) < sent.index(rest[0])  # connect() resolves once the configuration is sent
