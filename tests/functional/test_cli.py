"""The console script and `python -m mockserver`, run as a user runs them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from mockserver import __version__

pytestmark = pytest.mark.functional
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_version_from_console_script_and_module() -> None:
    assert _run("realtime-mock", "--version").stdout.strip() == f"realtime-mock {__version__}"
    assert _run(sys.executable, "-m", "mockserver", "--version").stdout.strip() == f"realtime-mock {__version__}"


def test_schemas_check_passes_on_the_committed_schemas() -> None:
    result = _run("realtime-mock", "schemas", "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "matches openai==3.51.0" in result.stdout


def test_schemas_check_fails_on_drift(tmp_path: Path) -> None:
    generated = _run("realtime-mock", "schemas", "generate", "--dir", str(tmp_path))
    assert generated.returncode == 0, generated.stderr
    target = tmp_path / "realtime" / "server" / "error.json"
    target.write_text(target.read_text().replace('"message"', '"msg"'))
    result = _run("realtime-mock", "schemas", "check", "--dir", str(tmp_path))
    assert result.returncode == 1
    assert "generated/realtime/server/error.json" in result.stdout


def _serve(*args: str) -> tuple[subprocess.Popen[bytes], int]:
    """`realtime-mock serve` on a free port, once it answers its health check."""
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(["realtime-mock", "serve", "--port", str(port), "--log-level", "warning", *args],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_mock/health", timeout=2).close()
            return proc, port
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                output = proc.stdout.read().decode() if proc.stdout else ""
                raise AssertionError(f"server did not start: {output}") from None
            time.sleep(0.05)  # real time is the point: waiting for a real process to listen


def test_serve_starts_on_the_given_port_and_answers() -> None:
    proc, port = _serve()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_mock/health", timeout=2) as response:
            body = json.loads(response.read())
        assert body == {"status": "ok", "version": __version__, "schemas_sdk": "openai==3.51.0"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_with_a_scenario_file(tmp_path: Path) -> None:
    import asyncio

    from openai import AsyncOpenAI

    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: fixed\nrules:\n  - reply: {text: Always this.}\n")
    proc, port = _serve("--scenario", str(scenario))
    try:
        async def turn() -> str:
            client = AsyncOpenAI(api_key="sk-test", base_url=f"http://127.0.0.1:{port}/v1")
            async with client.realtime.connect(model="gpt-realtime") as conn:
                await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
                await conn.response.create()
                text = ""
                async for event in conn:
                    if event.type == "response.output_text.delta":
                        text += event.delta
                    if event.type == "response.done":
                        return text
            return text

        assert asyncio.run(asyncio.wait_for(turn(), 20)) == "Always this."
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_refuses_a_bad_scenario_file(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("name: bad\nrules:\n  - reply: {txt: oops}\n")
    result = _run("realtime-mock", "serve", "--scenario", str(scenario))
    assert result.returncode == 2
    assert "bad.yaml:3" in result.stderr and "txt" in result.stderr
