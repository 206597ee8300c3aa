"""A newcomer's first hour (issue 15): each thing a new user hit, done as the user did it, with what they now see.

The tests follow the issue's items; the README's own examples run in test_readme.py, URL forms in
tests/unit/test_urls.py, replay after a mismatch in test_record_replay.py, and the test extra's dependencies in
tests/test_quality.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncOpenAI
from starlette.applications import Starlette
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from conformance import cassette as cassettes
from conformance.commands import add_conformance_arguments, conformance_command
from conformance.recorder import create_recorder_app
from conformance.suite import CassetteResult, run_suite
from conformance.target import ReplayOptions
from mockserver.cli import build_parser, command_parsers
from tests.functional.conftest import Served, Start

pytestmark = pytest.mark.functional
pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[2]
NOT_COPIED = shutil.ignore_patterns("node_modules", ".venv", "__pycache__", ".hypothesis", ".realtime-mock", ".git",
                                    "*.egg-info", "build", "dist", ".mypy_cache", ".ruff_cache", ".pytest_cache")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(*command: str, cwd: Path = ROOT, env: dict[str, str] | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _user_env(**extra: str) -> dict[str, str]:
    """A user's shell: not CI, no pointer to the reference material, none of this run's pytest settings."""
    drop = ("CI", "REALTIME_MOCK_REFERENCE", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER", "PYTEST_CURRENT_TEST")
    return {**{k: v for k, v in os.environ.items() if k not in drop}, "PYTHONUNBUFFERED": "1", **extra}


@dataclass
class Background:
    """A `realtime-mock` command that serves until stopped."""

    proc: subprocess.Popen[str]

    @classmethod
    def start(cls, *args: str, cwd: Path = ROOT) -> Background:
        return cls(subprocess.Popen(["realtime-mock", *args], cwd=cwd, env=_user_env(), text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT))

    def wait_for(self, port: int) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"it did not start listening:\n{self.stop()}") from None
                time.sleep(0.05)  # real time is the point: a real process starting to listen

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.proc.communicate(timeout=20)[0]


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's files in a folder with nothing beside it (no ../shared), as a fresh clone has them."""
    copy = tmp_path_factory.mktemp("clone") / "realtime-mock"
    shutil.copytree(ROOT, copy, ignore=NOT_COPIED)
    assert not (copy.parent / "shared").exists()
    return copy


# --- 1. a clone without ../shared runs every test that does not need the reference material -------------------

REFERENCE_TESTS = ("tests/unit/test_schemas.py", "tests/unit/test_schema_check.py",
                   "tests/unit/test_validation.py::test_recorded_client_frames_have_no_problems",
                   "tests/functional/test_recordings.py",
                   "tests/functional/test_conformance_suite.py::"
                   "test_the_shared_recordings_show_no_unexplained_drift_against_the_mock",
                   "tests/functional/test_audio_sdk.py::test_server_vad_turn_matches_the_live_recording")


def test_a_clone_without_the_reference_material_collects_everything_and_skips_what_needs_it(clone: Path) -> None:
    env = _user_env(PYTHONPATH=str(clone))  # the clone's own packages, not this checkout's
    collected = _run(sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests",
                     cwd=clone, env=env)
    output = collected.stdout + collected.stderr
    assert collected.returncode == 0, output
    assert not re.search(r"\berrors?\b", output.splitlines()[-1]), output[-3000:]
    count = re.search(r"(\d+) tests? collected", output)
    assert count is not None and int(count[1]) > 1000, output[-3000:]

    ran = _run(sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *REFERENCE_TESTS,
               cwd=clone, env=env)
    output = ran.stdout + ran.stderr
    assert ran.returncode == 0, output[-5000:]
    summary = output.splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and re.search(r"\d+ skipped", summary), summary
    assert not re.search(r"failed|error", summary), summary
    skips = [line for line in output.splitlines() if line.startswith("SKIPPED")]
    missing = f"reference material not found at {clone.parent / 'shared' / 'reference'}"
    assert skips and all(line.endswith(missing) for line in skips), "\n".join(skips)


# --- 2. assert_sent matches nested dicts as subsets ------------------------------------------------------------


WEATHER = {"type": "function", "name": "get_weather", "description": "Weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


async def test_assert_sent_matches_nested_dicts_as_subsets(realtime_mock: Any) -> None:
    async with realtime_mock.async_client().realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"], "tools": [WEATHER]})
        await conn.conversation.item.create(item={"type": "function_call_output", "call_id": "call_1",
                                                  "output": "sunny"})
        await conn.conversation.item.create(item={"type": "message", "role": "user",
                                                  "content": [{"type": "input_text", "text": "Thanks"}]})
    sent = realtime_mock.assert_sent("conversation.item.create", item={"type": "function_call_output"})
    assert sent["item"]["output"] == "sunny"  # the first one that has the fields, whatever else it carries
    realtime_mock.assert_sent("session.update", session={"tools": [{"name": "get_weather"}]})  # in a list, too
    realtime_mock.assert_sent("conversation.item.create", item={"content": [{"text": "Thanks"}]})
    with pytest.raises(AssertionError, match=r"the app sent no conversation\.item\.create with .*'call_2'.*; "
                                             r"it sent: \['session\.update', 'conversation\.item\.create', "):
        realtime_mock.assert_sent("conversation.item.create", item={"call_id": "call_2"}, timeout=0)
    with pytest.raises(AssertionError):  # a list matches element by element: one tool is not two
        realtime_mock.assert_sent("session.update", session={"tools": [{"name": "get_weather"}, {}]}, timeout=0)
    with pytest.raises(AssertionError):  # other values exactly
        realtime_mock.assert_sent("conversation.item.create", item={"output": "sun"}, timeout=0)


# --- 3 and 12. one URL form for every command; conformance shows coverage and progress as it goes ---------------


async def _text_turn(client: AsyncOpenAI, text: str = "hello") -> str:
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await conn.conversation.item.create(item={"type": "message", "role": "user",
                                                  "content": [{"type": "input_text", "text": text}]})
        await conn.response.create()
        answer = ""
        async for event in conn:
            if event.type == "response.output_text.delta":
                answer += event.delta
            if event.type == "rate_limits.updated":  # the last event of a turn
                return answer
    raise AssertionError("the connection closed before the turn ended")


@dataclass
class Recorded:
    upstream_port: int
    folder: Path


@pytest.fixture
def recorded(start_mock: Start, serve: Callable[[Starlette], Served], tmp_path: Path) -> Recorded:
    """A text turn recorded from a mock, the upstream given with its endpoint and as http (the form an app's
    `base_url` takes): the recorder dials ws://.../v1/realtime all the same."""
    upstream = start_mock()
    folder = tmp_path / "cassettes"
    recorder = serve(create_recorder_app(f"http://127.0.0.1:{upstream.port}/v1/realtime", folder, None))
    assert asyncio.run(_text_turn(recorder.client())) == "You said: hello"
    (path,) = folder.glob(f"*{cassettes.SUFFIX}")
    assert cassettes.read(path).server_events()[0]["type"] == "session.created"
    return Recorded(upstream.port, folder)


def _conformance(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_conformance_arguments(parser)
    return conformance_command(parser.parse_args(list(argv)))


def test_conformance_takes_a_base_url_as_record_does(recorded: Recorded, capsys: pytest.CaptureFixture[str]) -> None:
    host = f"127.0.0.1:{recorded.upstream_port}"
    for target in (f"ws://{host}/v1", f"http://{host}/v1", f"ws://{host}/v1/realtime"):
        code = _conformance(str(recorded.folder), "--target", target, "--api-key", "sk-test", "--pace", "none",
                            "--format", "json")
        report = json.loads(capsys.readouterr().out)
        (result,) = report["cassettes"]
        assert (code, result["status"], result["findings"]) == (0, "passed", []), target  # recorded from it
        assert result["events_received"] == result["events_recorded"] > 10, (target, result)
    assert _conformance(str(recorded.folder), "--target", f"{host}/v1") == 2
    assert f"did you mean ws://{host}/v1?" in capsys.readouterr().err
    assert build_parser().parse_args(["conformance", "x"]).target == "mock"  # --target is optional


@dataclass
class Spy:
    """A progress display that notes what it is told, in order."""

    seen: list[tuple[Any, ...]] = field(default_factory=list)

    def __call__(self, done: int, total: int, name: str, result: CassetteResult | None) -> None:
        self.seen.append(("cassette", done, total, result.status if result else None))

    def tick(self, sent: int, frames: int, received: int) -> None:
        self.seen.append(("tick", sent, frames, received))


def test_progress_is_told_as_the_replay_goes_and_the_result_says_how_much_it_covered(recorded: Recorded) -> None:
    spy = Spy()
    suite = run_suite([recorded.folder], f"ws://127.0.0.1:{recorded.upstream_port}/v1", api_key="sk-test",
                      options=ReplayOptions(pace="none"), progress=spy)
    (result,) = suite.results
    assert spy.seen[0] == ("cassette", 0, 1, None) and spy.seen[-1] == ("cassette", 1, 1, result.status)
    ticks = [entry[1:] for entry in spy.seen[1:-1]]
    assert len(ticks) > 10 and all(entry[0] == "tick" for entry in spy.seen[1:-1])
    received = [r for _, _, r in ticks]
    assert received == sorted(received) and received[0] < received[-1] == len(result.replay.events)
    assert ticks[-1][0] == ticks[-1][1] == 3  # every client frame sent: session.update, the item, response.create
    assert result.coverage == f"{len(result.replay.events)}/{result.recorded_events}"


# --- 4. each command its own port; a port in use is said before any banner ----------------------------------


def test_each_serving_command_has_its_own_default_port() -> None:
    commands = command_parsers(build_parser())
    ports = {name: next(a.default for a in commands[name]._actions if "--port" in a.option_strings)
             for name in ("serve", "record", "replay")}
    assert ports == {"serve": 8000, "record": 8001, "replay": 8002}


def test_a_port_in_use_is_said_with_the_process_holding_it_and_the_flag(tmp_path: Path) -> None:
    cassettes.write(cassettes.Cassette(frames=[cassettes.Frame(0.0, "server", {"type": "session.created"})]),
                    tmp_path / "one.cassette.jsonl")
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        for command in (["serve"], ["record", "--upstream", "wss://api.openai.com/v1", "--out", str(tmp_path / "out")],
                        ["replay", str(tmp_path)]):
            result = _run("realtime-mock", *command, "--port", str(port), cwd=tmp_path, timeout=60)
            assert result.returncode == 2, result
            assert result.stdout == "", result.stdout  # no banner telling the user to connect
            assert result.stderr == (f"realtime-mock: cannot listen on 127.0.0.1:{port}: port {port} is in use by "
                                     f"{_holder(port)}: stop it, or give another port with --port\n"), result.stderr


def _holder(port: int) -> str:
    """How the commands name this process: by its id and command line where /proc tells (Linux)."""
    if not Path("/proc/net/tcp").is_file():
        return f"another process (`ss -lnp 'sport = :{port}'` names it)"
    command = Path(f"/proc/{os.getpid()}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return f"process {os.getpid()} ({command.strip()[:160]})"


# --- 5. an upstream the recorder cannot reach: where, and why ---------------------------------------------------


def test_an_unreachable_upstream_is_logged_with_its_reason_and_told_to_the_app(tmp_path: Path) -> None:
    closed, port = _free_port(), _free_port()
    recording = Background.start("record", "--upstream", f"ws://127.0.0.1:{closed}/v1", "--out", str(tmp_path),
                                 "--port", str(port), cwd=tmp_path)
    try:
        recording.wait_for(port)

        async def dial() -> InvalidStatus:
            with pytest.raises(InvalidStatus) as refused:
                await connect(f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime",
                              additional_headers={"Authorization": "Bearer sk-test"})
            return refused.value

        refused = asyncio.run(dial())
    finally:
        output = recording.stop()
    why = (f"realtime-mock record: could not reach the upstream 127.0.0.1:{closed} (ws://127.0.0.1:{closed}/v1): "
           "Connection refused (ECONNREFUSED)")
    assert refused.response.status_code == 502
    error = json.loads(refused.response.body)["error"]
    assert (error["code"], error["message"]) == ("upstream_unreachable", why)
    assert f"{why}; the app got HTTP 502" in output, output
    assert "ASGI callable returned without completing handshake" not in output and "Traceback" not in output, output


# --- 6. a run that checks nothing fails ------------------------------------------------------------------------


def test_an_empty_folder_is_nothing_to_check_and_fails(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for command, says in ((["conformance"], "nothing to check"), (["migrate"], "nothing to check"),
                          (["replay"], "nothing to replay")):
        result = _run("realtime-mock", *command, str(empty), cwd=tmp_path, timeout=60)
        assert result.returncode == 2, result
        assert result.stderr == f"realtime-mock: no cassettes (*.cassette.jsonl or *.yaml) in {empty}: {says}\n"


# --- 7. serve --scenario: every scope, after a reset too, reported by the admin API, printed at start ----------

SCENARIO = """\
name: shop-assistant
rules:
  - reply: "We open at nine."
faults: [{name: rate_limits, limits: [{name: tokens, limit: 100, remaining: 0, reset_seconds: 5}]}]
"""


def _admin(port: int, method: str, path: str, scope: str) -> dict[str, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, data=b"{}" if method != "GET"
                                     else None, headers={"X-Mock-Scope": scope, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


async def _turn_in_scope(port: int, scope: str) -> tuple[str, list[dict[str, Any]]]:
    """The answer to a text turn in a scope, and the rate limits it was told."""
    client = AsyncOpenAI(api_key="sk-test", base_url=f"http://127.0.0.1:{port}/v1",
                         default_headers={"X-Mock-Scope": scope})
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await conn.conversation.item.create(item={"type": "message", "role": "user",
                                                  "content": [{"type": "input_text", "text": "When?"}]})
        await conn.response.create()
        answer = ""
        async for event in conn:
            if event.type == "response.output_text.delta":
                answer += event.delta
            if event.type == "rate_limits.updated":
                return answer, [limit.model_dump(exclude_none=True) for limit in event.rate_limits or []]
    raise AssertionError("the connection closed before the turn ended")


def test_serve_scenario_answers_in_every_scope_after_a_reset_too_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text(SCENARIO)
    port = _free_port()
    serving = Background.start("serve", "--scenario", str(path), "--port", str(port), "--log-level", "warning",
                               cwd=tmp_path)
    limits = [{"name": "tokens", "limit": 100, "remaining": 0, "reset_seconds": 5.0}]
    try:
        serving.wait_for(port)
        for scope in ("default", "test-a", "test-b"):
            assert _admin(port, "GET", "/_mock/scenario", scope)["scenario"] == "shop-assistant"
            assert asyncio.run(_turn_in_scope(port, scope)) == ("We open at nine.", limits)
            _admin(port, "POST", "/_mock/reset", scope)
            assert _admin(port, "GET", "/_mock/scenario", scope)["scenario"] == "shop-assistant"
            assert asyncio.run(_turn_in_scope(port, scope)) == ("We open at nine.", limits)
    finally:
        output = serving.stop()
    assert (f"realtime-mock: scenario 'shop-assistant' from {path} (1 rule(s), 1 fault(s)) answers in every scope, "
            "also after a reset") in output.splitlines(), output


# --- 9. schemas check in an installed (not editable) realtime-mock --------------------------------------------


def test_schemas_check_in_an_installed_package_checks_the_schemas_shipped_in_it(clone: Path, tmp_path: Path) -> None:
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    build = (sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(clone))
    built = _run(*build, "--no-build-isolation", cwd=tmp_path)  # offline, when this environment can build it
    if built.returncode != 0:  # else as pip builds it for a user: the build requirements fetched
        built = _run(*build, cwd=tmp_path)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = wheels.glob("realtime_mock-*.whl")
    installed = _run(sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel),
                     cwd=tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    elsewhere = tmp_path / "app"
    elsewhere.mkdir()
    env = _user_env(PYTHONPATH=str(site))  # the wheel's realtime-mock, with this environment's dependencies
    where = _run(sys.executable, "-c", "import mockserver; print(mockserver.__file__)", cwd=elsewhere, env=env)
    assert where.stdout.strip() == str(site / "mockserver" / "__init__.py")
    check = _run(sys.executable, "-m", "mockserver", "schemas", "check", cwd=elsewhere, env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout == f"schemas check: {site / 'mockserver' / '_schemas'} matches openai==3.51.0\n"
    generate = _run(sys.executable, "-m", "mockserver", "schemas", "generate", cwd=elsewhere, env=env)
    assert generate.returncode == 2 and "give --dir to say where to write the schemas" in generate.stderr
    assert "site-packages" not in generate.stderr and str(site) not in generate.stderr


# --- 10. a scenario typo under the marker: the scenario's one line, no traceback ------------------------------


def test_a_scenario_typo_under_the_marker_is_one_line(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", typo="name: typo\nrules:\n  - reply: {txt: oops}\n")
    pytester.makepyfile(test_app='''
import pytest

@pytest.mark.realtime_scenario("typo.yaml")
def test_it(realtime_mock):
    pass
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:asyncio")
    result.assert_outcomes(errors=1)
    output = result.stdout.str()
    error = f"{pytester.path / 'typo.yaml'}:3: rules[0]: reply: unknown key 'txt' (allowed: text, "
    report = output[output.index("ERROR at setup of test_it"):output.index("short test summary info")]
    assert [line for line in report.splitlines()[1:] if line.strip("= ")] == [
        f"{error}refusal, function_call, function_calls, mcp_call, mcp_list_tools, fail, incomplete, error, outputs) "
        "(@pytest.mark.realtime_scenario)"]
    assert "Traceback" not in output and "During handling" not in output and "ScenarioErr" not in output
    (summary,) = [line for line in output.splitlines() if line.startswith("ERROR test_app.py::test_it")]
    assert summary.startswith(f"ERROR test_app.py::test_it - Failed: {error[:20]}"), summary


# --- 11. a mistyped option gets its command's usage and a "did you mean" ---------------------------------------


@pytest.mark.parametrize(("argv", "usage", "meant"), [
    (["serve", "--scenaro", "s.yaml"], "realtime-mock serve", "--scenaro (did you mean --scenario?)"),
    (["record", "--upstrem", "wss://api.openai.com/v1", "--out", "x"], "realtime-mock record",
     "--upstrem (did you mean --upstream?)"),  # not "--upstream is required"
    (["conformance", "x", "--taget", "mock"], "realtime-mock conformance", "--taget (did you mean --target?)"),
    (["schemas", "check", "--dri", "x"], "realtime-mock schemas check", "--dri (did you mean --dir?)"),
    (["sereve"], "realtime-mock", "unknown command 'sereve' (did you mean serve?)"),
    (["schemas", "chek"], "realtime-mock schemas", "unknown command 'chek' (did you mean check?)"),
])
def test_a_mistyped_word_gets_the_commands_usage_and_a_did_you_mean(argv: list[str], usage: str, meant: str,
                                                                     tmp_path: Path) -> None:
    result = _run("realtime-mock", *argv, cwd=tmp_path, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"usage: {usage} "), result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith(f"{usage}: error: "), result.stderr
    assert meant in result.stderr, result.stderr


def test_an_abbreviated_option_still_works(tmp_path: Path) -> None:
    result = _run("realtime-mock", "conformance", str(tmp_path), "--targ", "mock", cwd=tmp_path, timeout=60)
    assert result.returncode == 2 and "nothing to check" in result.stderr  # --targ was taken as --target


def test_the_help_of_host_and_port_shows_their_defaults() -> None:
    for name, port in (("serve", 8000), ("record", 8001), ("replay", 8002)):
        text = _run("realtime-mock", *name.split(), "--help", timeout=60).stdout
        flat = " ".join(text.split())
        assert "--host HOST the address to listen on (default: 127.0.0.1" in flat, text
        assert f"--port PORT the port to listen on (default: {port};" in flat, text

