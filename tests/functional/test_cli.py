"""The console script and `python -m mockserver`, run as a user runs them."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

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


def _serve(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], int]:
    """`realtime-mock serve` on a free port (in `env`, default this one), once it answers its health check; its
    output merged into stdout."""
    port = _free_port()
    proc = subprocess.Popen(["realtime-mock", "serve", "--port", str(port), "--log-level", "warning", *args],
                            cwd=ROOT, env={**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
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


# --- serve --tls: a self-signed certificate for loopback, made once and reused --------------------------------


def _serve_tls(cwd: Path, *args: str) -> tuple[subprocess.Popen[bytes], int, Path]:
    """`realtime-mock serve --tls` in `cwd`, once it answers over https a client that trusts only its certificate."""
    port = _free_port()
    tls_dir = Path(args[args.index("--tls-dir") + 1]) if "--tls-dir" in args else cwd / ".realtime-mock" / "tls"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(["realtime-mock", "serve", "--port", str(port), "--log-level", "warning", "--tls", *args],
                            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            context = ssl.create_default_context(cafile=tls_dir / "cert.pem")
            urllib.request.urlopen(f"https://127.0.0.1:{port}/_mock/health", timeout=2, context=context).close()
            return proc, port, tls_dir / "cert.pem"
        except OSError:  # not written yet, not listening yet (ssl.SSLError is an OSError too)
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                output = proc.communicate()[0].decode()
                raise AssertionError(f"server did not start: {output}") from None
            time.sleep(0.05)  # real time is the point: waiting for a real process to listen


def _stop(proc: subprocess.Popen[bytes]) -> str:
    proc.terminate()
    return proc.communicate(timeout=10)[0].decode()


async def _session_created(url: str, context: ssl.SSLContext) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    async with connect(url, ssl=context, additional_headers={"Authorization": "Bearer sk-test"}) as ws:
        event: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        return event


def test_serve_tls_makes_a_certificate_a_client_trusting_only_it_accepts_and_reuses_it(tmp_path: Path) -> None:
    proc, port, cert = _serve_tls(tmp_path)  # the default folder: .realtime-mock/tls under the current directory
    try:
        context = ssl.create_default_context(cafile=cert)  # this certificate only, not the system's
        context.verify_flags |= ssl.VERIFY_X509_STRICT  # Python 3.13's default: the certificate passes it too
        for host in ("127.0.0.1", "localhost"):
            event = asyncio.run(_session_created(f"wss://{host}:{port}/v1/realtime?model=gpt-realtime", context))
            assert event["type"] == "session.created" and event["session"]["model"] == "gpt-realtime"
        first = cert.read_bytes(), (cert.parent / "key.pem").read_bytes()
    finally:
        output = _stop(proc)
    lines = [line.strip() for line in output.splitlines()]
    assert f"NODE_EXTRA_CA_CERTS={cert.resolve()}" in lines, output
    assert f"base URL: https://127.0.0.1:{port}/v1" in lines, output
    assert cert.parent == tmp_path / ".realtime-mock" / "tls"
    assert (cert.parent / "key.pem").stat().st_mode & 0o077 == 0  # the key is private to its owner

    proc, port, _ = _serve_tls(tmp_path)
    try:
        event = asyncio.run(_session_created(f"wss://127.0.0.1:{port}/v1/realtime?model=gpt-realtime", context))
        assert event["type"] == "session.created"  # the same certificate: the first start's trust still holds
    finally:
        _stop(proc)
    assert (cert.read_bytes(), (cert.parent / "key.pem").read_bytes()) == first


def test_serve_tls_dir_and_the_options_it_excludes(tmp_path: Path) -> None:
    proc, _, cert = _serve_tls(tmp_path, "--tls-dir", str(tmp_path / "certs"))
    output = _stop(proc)
    assert cert == tmp_path / "certs" / "cert.pem" and f"NODE_EXTRA_CA_CERTS={cert.resolve()}" in output
    key = tmp_path / "certs" / "key.pem"
    for args, message in ((["--tls", "--tls-cert", str(cert), "--tls-key", str(key)], "--tls makes its own"),
                          (["--tls-dir", str(tmp_path)], "--tls-dir goes with --tls")):
        result = _run("realtime-mock", "serve", "--port", str(_free_port()), *args)
        assert result.returncode == 2 and message in result.stderr


def test_tls_certificate_is_replaced_when_expired_or_not_for_loopback(tmp_path: Path) -> None:
    import datetime

    import trustme

    from mockserver import tls

    cert, key = tls.ensure_certificate(tmp_path)
    assert tls.is_usable(cert, key)
    expiring = datetime.datetime.now(datetime.UTC) - tls.VALIDITY + datetime.timedelta(hours=12)
    old_cert, old_key = tls.make_certificate(now=expiring)  # less than a day left
    cert.write_bytes(old_cert)
    key.write_bytes(old_key)
    assert not tls.is_usable(cert, key)
    assert tls.ensure_certificate(tmp_path) == (cert, key)
    assert cert.read_bytes() != old_cert and key.read_bytes() != old_key and tls.is_usable(cert, key)

    other = trustme.CA().issue_cert("example.com", "127.0.0.1")  # no localhost, no ::1
    cert.write_bytes(other.cert_chain_pems[0].bytes())
    key.write_bytes(other.private_key_pem.bytes())
    assert not tls.is_usable(cert, key)
    tls.ensure_certificate(tmp_path)
    assert tls.is_usable(cert, key)

    good = cert.read_bytes()
    key.write_bytes(tls.make_certificate()[1])  # a key that is not the certificate's
    assert not tls.is_usable(cert, key)
    tls.ensure_certificate(tmp_path)
    assert tls.is_usable(cert, key) and cert.read_bytes() != good


# --- serve: who may use the admin API -----------------------------------------------------------------------


def _admin(port: int, method: str, path: str, body: dict[str, Any], **headers: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method=method,
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_serve_admin_token_scenario_dirs_and_admin_hosts(tmp_path: Path) -> None:
    allowed, elsewhere = tmp_path / "allowed", tmp_path / "elsewhere"
    allowed.mkdir(), elsewhere.mkdir()
    for folder in (allowed, elsewhere):
        (folder / "s.yaml").write_text("name: fixed\nrules:\n  - reply: {text: Always this.}\n")
    proc, port = _serve("--admin-token", "sesame", "--scenario-dir", str(allowed), "--admin-host", "mock.internal")
    try:
        pointer = {"path": str(allowed / "s.yaml")}
        status, body = _admin(port, "PUT", "/_mock/scenario", pointer)
        assert (status, body["error"]["code"]) == (403, "admin_forbidden")  # loopback is not enough: a token is set
        status, body = _admin(port, "PUT", "/_mock/scenario", pointer, Authorization="Bearer sesame")
        assert (status, body["scenario"]) == (200, "fixed")
        status, body = _admin(port, "PUT", "/_mock/scenario", {"path": str(elsewhere / "s.yaml")},
                              Authorization="Bearer sesame")
        assert (status, body["error"]["code"]) == (403, "scenario_path_forbidden")
        status, _ = _admin(port, "POST", "/_mock/reset", {}, Authorization="Bearer sesame", Host="mock.internal")
        assert status == 200
        status, body = _admin(port, "POST", "/_mock/reset", {}, Authorization="Bearer sesame", Host="evil.example")
        assert (status, body["error"]["code"]) == (403, "admin_forbidden")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _serve_off_loopback(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    """`realtime-mock serve --host 0.0.0.0` once it listens."""
    return _serve("--host", "0.0.0.0", env=env)


def _output_after_stop(proc: subprocess.Popen[bytes]) -> str:
    proc.terminate()
    return proc.communicate(timeout=10)[0].decode()


def test_serve_takes_the_admin_token_from_the_environment_and_warns_off_loopback() -> None:
    proc, port = _serve_off_loopback({**os.environ, "REALTIME_MOCK_ADMIN_TOKEN": "from-env"})
    try:
        assert _admin(port, "POST", "/_mock/reset", {}, Authorization="Bearer from-env")[0] == 200
        assert _admin(port, "POST", "/_mock/reset", {})[0] == 403
    finally:
        output = _output_after_stop(proc)
    assert "loopback clients only" not in output  # a token: no warning
    proc, _ = _serve_off_loopback({k: v for k, v in os.environ.items() if k != "REALTIME_MOCK_ADMIN_TOKEN"})
    assert "the admin API (/_mock/) still answers loopback clients only" in _output_after_stop(proc)
