"""Every example of the README runs as written (issue 15): each fenced block is one test, whoever wrote it.

A block's fence language says what it is; an HTML comment on the line right before it may say more:
`<!-- file: PATH -->` (a file of the downstream project the examples make together: the pytest plugin's
`pyproject.toml`, test and scenario), `<!-- synopsis: ... -->` (the CLI block, compared with the commands'
parsers) or `<!-- not-run: REASON -->` (a block that truly cannot run: skipped, and the reason is required).

- `python`: a test module (it defines `test_` functions) runs with pytest in a temporary downstream project
  made of the README's `file:` blocks, with the plugin as installed; any other example runs as a script in
  that project (top-level `await` allowed, as `python -m asyncio` allows it) against a `realtime-mock serve`
  started for this module, which stands for the README's `127.0.0.1:8000` (and `OPENAI_BASE_URL`).
- `sh`: command by command, in one working folder: `realtime-mock serve|record|replay` are started, probed
  (a text turn through record and replay) and stopped; `conformance`, `migrate`, `--version`, `curl` run for
  real; what cannot run here is checked (a pip install: its path and extras exist; pytest: it collects;
  benchmarks and repository scripts: `--help`, `bash -n`). The live API's URL stands for the started server.
- `yaml`: a scenario, loaded by the scenario parser; `toml`: parsed; `json`: parsed, and checked against
  schemas/ when it is an event.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mockserver import schema_store, tls
from mockserver.cli import build_parser, command_parsers
from mockserver.scenarios import parse_scenario

pytestmark = pytest.mark.functional
ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MARKERS = ("file", "synopsis", "not-run")
README_SERVER = ("127.0.0.1:8000", "localhost:8000")  # the address the README's examples use
LIVE = "wss://api.openai.com/v1"  # the README's upstream and target: here, the started server
SECONDS = 120  # for any one command


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    marker: str = ""  # file, synopsis, not-run, or "" (none)
    note: str = ""  # what follows the marker's colon: a path, a reason

    def __str__(self) -> str:
        return f"README.md:{self.line} ({self.lang or 'no language'})"


_FENCE = re.compile(r"^(\s*)(```|~~~)\s*([\w+-]*)")
_MARKER = re.compile(r"^\s*<!--\s*([\w-]+)\s*(?::\s*(.*?))?\s*-->\s*$")


def readme_blocks(text: str) -> list[Block]:
    """The fenced blocks, dedented to their fence, each with the marker on the line right before it."""
    lines = text.splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        indent, mark, lang = fence.groups()
        end = next((j for j in range(index + 1, len(lines)) if lines[j].strip().startswith(mark)), len(lines))
        body = "".join(line.removeprefix(indent) + "\n" for line in lines[index + 1:end])
        marker = _MARKER.match(lines[index - 1]) if index else None
        found.append(Block(index + 1, lang.lower(), body, *(marker.groups("") if marker else ())))
        index = end + 1
    return found


BLOCKS = readme_blocks(README.read_text("utf-8"))


# --- what the examples run against ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _environment(port: int | None = None) -> dict[str, str]:
    """The environment of an example: this suite's own settings left out, the README's server (if any) pointed at."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "OPENAI_"))}
    env |= {"PYTHONUNBUFFERED": "1", "OPENAI_API_KEY": "sk-test"}
    return env if port is None else {**env, "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1"}


def _localized(text: str, port: int) -> str:
    for address in README_SERVER:
        text = text.replace(address, f"127.0.0.1:{port}")
    return text


@dataclass
class Background:
    """A command that serves until stopped, started in a subprocess."""

    proc: subprocess.Popen[str]
    command: list[str]

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        output = self.proc.communicate(timeout=20)[0]
        return self.proc.returncode, output

    def wait_until(self, probe: Callable[[], object]) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                probe()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.proc.kill()
                    output = self.proc.communicate()[0]
                    raise AssertionError(f"{shlex.join(self.command)} did not start:\n{output}") from None
                time.sleep(0.05)  # real time is the point: a real process starting to listen


def _start(command: list[str], cwd: Path, env: dict[str, str]) -> Background:
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return Background(proc, command)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """`realtime-mock serve` for the examples, on a free port; its port."""
    port = _free_port()
    serving = _start(["realtime-mock", "serve", "--port", str(port), "--log-level", "warning"],
                     tmp_path_factory.mktemp("server"), _environment(port))
    serving.wait_until(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/_mock/health", timeout=2).close())
    yield port
    serving.stop()


def _project(folder: Path) -> Path:
    """The downstream project the README's `file:` blocks make."""
    for block in BLOCKS:
        if block.marker == "file":
            path = folder / block.note
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(block.text, "utf-8")
    return folder


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=SECONDS)


def _ok(result: subprocess.CompletedProcess[str], where: object) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{where}: {shlex.join(map(str, result.args))} exited {result.returncode}:\n{output}"
    return output


# --- the blocks ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: f"line{b.line}-{b.lang or 'text'}")
def test_readme_block(block: Block, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    if block.marker == "not-run":
        assert block.note, f"{block}: `<!-- not-run: REASON -->` needs its reason"
        pytest.skip(f"{block}: {block.note}")
    assert block.marker in ("", *MARKERS), f"{block}: unknown marker {block.marker!r} (one of {', '.join(MARKERS)})"
    if block.marker == "synopsis":
        check_synopsis(block)
    elif block.lang == "python":
        run_python(block, tmp_path, request)
    elif block.lang in ("sh", "bash", "shell", "console"):
        run_shell(block, tmp_path, request.getfixturevalue("server"))
    elif block.lang in ("yaml", "yml"):
        parse_scenario(block.text, source=str(block))
    elif block.lang == "toml":
        tomllib.loads(block.text)
    elif block.lang == "json":
        check_json(block)
    else:
        raise AssertionError(f"{block}: no way to run a {block.lang or 'plain'} block; run it in "
                             "tests/functional/test_readme.py, or mark it <!-- not-run: REASON -->")


def run_python(block: Block, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    project = _project(tmp_path)
    if block.marker == "file" and not Path(block.note).name.startswith("test_"):
        compile(block.text, block.note, "exec")  # a module the project's tests use: they run it
    elif block.marker == "file" or re.search(r"^(async\s+)?def test_", block.text, re.MULTILINE):
        name = block.note if block.marker == "file" else f"test_readme_line_{block.line}.py"
        (project / name).write_text(block.text, "utf-8")
        output = _ok(_run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", name], project,
                          _environment()), block)
        assert re.search(r"\d+ passed", output) and not re.search(r"\d+ (failed|error)", output), output
    else:
        port = request.getfixturevalue("server")
        script = project / f"readme_line_{block.line}.py"
        script.write_text(_localized(block.text, port), "utf-8")
        _ok(_run([sys.executable, "-c", SCRIPT_RUNNER, str(script)], project, _environment(port)), block)


# Runs a script as `python -m asyncio` would run its lines: top-level `await` allowed.
SCRIPT_RUNNER = """
import ast, asyncio, sys
path = sys.argv[1]
code = compile(open(path, encoding="utf-8").read(), path, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
result = eval(code, {"__name__": "__main__", "__file__": path})
if asyncio.iscoroutine(result):
    asyncio.run(result)
"""


def check_json(block: Block) -> None:
    value = json.loads(block.text)
    if isinstance(value, dict) and isinstance(value.get("type"), str):  # an event: it must be one the API has
        families = [f for f in ("realtime/client", "realtime/server", "translation/client", "translation/server")
                    if value["type"] in schema_store.event_types(f)]
        assert families, f"{block}: {value['type']!r} is no event type of schemas/"
        assert schema_store.shape_errors(families[0], value) == [], block


# --- shell blocks ----------------------------------------------------------------------------------------------


def shell_commands(text: str) -> list[list[str]]:
    """The commands of a shell block: continuation lines joined, comments dropped, split at `&&` and `;`."""
    commands: list[list[str]] = []
    for line in text.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        current: list[str] = []
        for token in lexer:
            if token in ("&&", ";"):
                commands.append(current)
                current = []
            elif token and set(token) <= set("|&;<>()"):
                raise AssertionError(f"{line!r}: the README test runs single commands, not {token!r}")
            else:
                current.append(token)
        commands.append(current)
    return [c for c in commands if c]


def run_shell(block: Block, workdir: Path, port: int) -> None:
    env = _environment(port)
    for words in shell_commands(block.text):
        assignments = list(itertools.takewhile(lambda w: re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", w), words))
        command = words[len(assignments):]
        run_env = {**env, **dict(a.split("=", 1) for a in assignments)}
        checker = _checker(command)
        assert checker is not None, (
            f"{block}: no way to run `{shlex.join(command)}` here: teach tests/functional/test_readme.py, or mark "
            "the block <!-- not-run: REASON -->")
        checker(command, workdir, run_env, port)


Checker = Callable[[list[str], Path, dict[str, str], int], None]


def _checker(command: list[str]) -> Checker | None:
    if command[0] == "realtime-mock":
        return _realtime_mock
    if command[:3] == ["python", "-m", "mockserver"]:
        return lambda c, w, e, p: _realtime_mock(["realtime-mock", *c[3:]], w, e, p)
    if command[:2] == ["pip", "install"] or command[:4] == ["python", "-m", "pip", "install"]:
        return _pip_install
    if command[:2] == ["npm", "ci"]:
        return _npm_ci
    if command[:3] == ["python", "-m", "pytest"]:
        return _pytest
    if command[:2] == ["python", "-m"] and command[2].startswith("bench."):
        return lambda c, w, e, p: _ok(_run([sys.executable, "-m", c[2], "--help"], ROOT, e), shlex.join(c))
    if command[0] == "curl":
        return _curl
    if (ROOT / command[0]).is_file():
        return _repository_script
    return None


def _realtime_mock(command: list[str], workdir: Path, env: dict[str, str], port: int) -> None:
    command = [word.replace(LIVE, f"ws://127.0.0.1:{port}/v1") for word in command]
    name = next((w for w in command[1:] if not w.startswith("-")), "")
    if "-h" in command or "--help" in command or name not in SERVING:
        output = _ok(_run(command, workdir, env), shlex.join(command))
        assert "Traceback" not in output, output
        return
    SERVING[name](command, workdir, env, port)


def _with_port(command: list[str]) -> tuple[list[str], int]:
    """The command on a free port (the README's --port, if any, replaced), and that port."""
    port = _free_port()
    if "--port" in command:
        at = command.index("--port")
        return [*command[:at], "--port", str(port), *command[at + 2:]], port
    return [*command, "--port", str(port)], port


def _serve(command: list[str], workdir: Path, env: dict[str, str], _: int) -> None:
    command, port = _with_port(command)
    serving = _start(command, workdir, env)
    if "--tls" in command:
        tls_dir = Path(command[command.index("--tls-dir") + 1]) if "--tls-dir" in command else tls.DEFAULT_DIR
        cert = workdir / tls_dir / tls.CERT_FILE

        def probe() -> None:
            context = ssl.create_default_context(cafile=cert)  # not written yet: an OSError too
            urllib.request.urlopen(f"https://127.0.0.1:{port}/_mock/health", timeout=2, context=context).close()
    else:
        def probe() -> None:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_mock/health", timeout=2).close()
    serving.wait_until(probe)
    code, output = serving.stop()
    assert code == 0, output


def _record(command: list[str], workdir: Path, env: dict[str, str], _: int) -> None:
    command, port = _with_port(command)
    out = workdir / command[command.index("--out") + 1]
    recording = _start(command, workdir, env)
    recording.wait_until(lambda: socket.create_connection(("127.0.0.1", port), timeout=2).close())
    try:
        assert asyncio.run(_text_turn(port)) == "You said: hello"  # an app's session through the proxy
    finally:
        code, output = recording.stop()
    assert code == 0 and list(out.glob("*.cassette.jsonl")), output


def _replay(command: list[str], workdir: Path, env: dict[str, str], _: int) -> None:
    command, port = _with_port(command)
    replaying = _start(command, workdir, env)
    replaying.wait_until(lambda: socket.create_connection(("127.0.0.1", port), timeout=2).close())
    try:
        assert asyncio.run(_text_turn(port)) == "You said: hello"  # the recorded session, served back
    finally:
        code, output = replaying.stop()
    assert code == 0, output


SERVING: dict[str, Checker] = {"serve": _serve, "record": _record, "replay": _replay}


async def _text_turn(port: int) -> str:
    """What an app gets for "hello" from the server on this port (the default scenario echoes it)."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key="sk-test", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await conn.conversation.item.create(item={"type": "message", "role": "user",
                                                  "content": [{"type": "input_text", "text": "hello"}]})
        await conn.response.create()
        text = ""
        async for event in conn:
            if event.type == "response.output_text.delta":
                text += event.delta
            if event.type == "response.done":
                return text
    raise AssertionError("the connection closed before response.done")


def _pip_install(command: list[str], workdir: Path, env: dict[str, str], port: int) -> None:
    """Not run (it would change this environment): an editable path must be a project with those extras, a
    package name one this environment has."""
    from importlib.metadata import distribution

    for argument in command[command.index("install") + 1:]:
        if argument.startswith("-"):
            continue
        path, _, extras = argument.partition("[")
        if path.startswith((".", "/")):
            project = tomllib.loads((ROOT / path / "pyproject.toml").read_text("utf-8"))["project"]
            wanted = set(filter(None, extras.rstrip("]").split(",")))
            assert wanted <= set(project.get("optional-dependencies", {})), f"{shlex.join(command)}: no extra {wanted}"
        else:
            distribution(re.split(r"[<>=!~\[;]", argument)[0])  # PackageNotFoundError: a package nobody installs


def _npm_ci(command: list[str], workdir: Path, env: dict[str, str], port: int) -> None:
    prefix = command[command.index("--prefix") + 1] if "--prefix" in command else "."
    assert (ROOT / prefix / "package-lock.json").is_file(), f"{shlex.join(command)}: no package-lock.json"


def _pytest(command: list[str], workdir: Path, env: dict[str, str], port: int) -> None:
    """The suite is running already: the command must collect (its options are pytest's and its plugins')."""
    own = [sys.executable, *command[1:], "--collect-only", "-q", "-p", "no:cacheprovider", "tests/test_quality.py"]
    _ok(_run(own, ROOT, env), shlex.join(command))


def _curl(command: list[str], workdir: Path, env: dict[str, str], port: int) -> None:
    localized = [_localized(word, port) for word in command]
    _ok(_run([localized[0], "-sS", "--fail-with-body", *localized[1:]], workdir, env), shlex.join(command))


def _repository_script(command: list[str], workdir: Path, env: dict[str, str], port: int) -> None:
    """A script of this repository that installs things: checked, not run (`.ci/run` runs it)."""
    script = ROOT / command[0]
    assert os.access(script, os.X_OK), f"{command[0]} is not executable"
    _ok(_run(["bash", "-n", str(script)], ROOT, env), command[0])


# --- the CLI synopsis --------------------------------------------------------------------------------------


def check_synopsis(block: Block) -> None:
    """Every option of every command is in the block, with its default where the block shows a value."""
    commands = command_parsers(build_parser())
    shown: dict[str, str] = {}
    current = ""
    for line in block.text.splitlines():
        if line.startswith("realtime-mock "):
            words = line.split()
            current = next((c for c in sorted(commands, key=len, reverse=True)
                            if " ".join(words[1:1 + len(c.split())]) == c), "")
        if current and not line.startswith(("python ", "realtime-mock --")):
            shown[current] = shown.get(current, "") + " " + line.split("  #")[0]
    assert set(shown) == set(commands), f"{block}: commands missing: {set(commands) - set(shown)}"
    top = {o for action in build_parser()._actions for o in action.option_strings if o.startswith("--")}
    assert top - {"--help"} <= set(re.findall(r"^realtime-mock (--[a-z-]+)", block.text, re.MULTILINE)), block
    for name, parser in commands.items():
        options = {o for action in parser._actions for o in action.option_strings if o.startswith("--")} - {"--help"}
        listed = set(re.findall(r"--[a-z][a-z0-9-]*", shown[name]))
        assert listed == options, f"{block}: `{name}` lists {sorted(listed - options)} it does not have and " \
                                  f"misses {sorted(options - listed)}"
        for option, value in re.findall(r"(--[a-z][a-z0-9-]*) ([^\s\[\]-][^\s\[\]]*)", shown[name]):
            _check_default(name, parser, option, value)


def _check_default(command: str, parser: argparse.ArgumentParser, option: str, value: str) -> None:
    action = next(a for a in parser._actions if option in a.option_strings)
    if value.isupper() or value.endswith("..."):
        return  # a placeholder (FILE, URL, DIR)
    if "|" in value:
        parts = value.split("|")
        assert set(parts) == set(action.choices or parts) and (action.default is None or action.default in parts), \
            f"`{command} {option} {value}`: the choices are {action.choices}, the default {action.default!r}"
        return
    default = f"{action.default:g}" if isinstance(action.default, float) else str(action.default)
    assert value == default, f"`{command} {option} {value}`: the default is {default}"


def test_every_option_has_help_that_says_its_default() -> None:
    for name, parser in command_parsers(build_parser()).items():
        for action in parser._actions:
            if action.dest == "help":
                continue
            where = f"realtime-mock {name} {'/'.join(action.option_strings) or action.dest}"
            assert action.help, f"{where} has no help"
            if action.option_strings:
                assert "default" in action.help.lower(), f"{where}: its help does not say its default"
                if isinstance(action.default, int | float | str) and not isinstance(action.default, bool):
                    shown = f"{action.default:g}" if isinstance(action.default, float) else str(action.default)
                    assert shown in action.help, f"{where}: its help does not show its default {shown}"


def test_the_readme_has_a_synopsis_and_runnable_blocks() -> None:
    """The parametrized test above covers whatever blocks there are; this one keeps there being some."""
    assert [b.marker for b in BLOCKS].count("synopsis") == 1
    assert {"python", "sh", "yaml"} <= {b.lang for b in BLOCKS}


def test_json_and_yaml_blocks_are_checked_not_merely_parsed() -> None:
    check_json(Block(1, "json", '{"type": "response.create", "response": {"output_modalities": ["text"]}}'))
    check_json(Block(1, "json", '{"any": ["document"]}'))  # not an event: parsed only
    with pytest.raises(AssertionError, match="no event type"):
        check_json(Block(1, "json", '{"type": "response.make"}'))
    with pytest.raises(AssertionError):
        check_json(Block(1, "json", '{"type": "response.create", "response": {"modalities": ["text"]}}'))
    with pytest.raises(json.JSONDecodeError):
        check_json(Block(1, "json", "{'type': 'response.create'}"))
    with pytest.raises(ValueError):
        parse_scenario("name: x\nrules:\n  - reply: {txt: oops}\n", source="README.md:1")


def test_block_parsing_markers_and_shell_splitting() -> None:
    text = ("x\n<!-- not-run: needs a GPU -->\n```sh\nrealtime-mock serve  # a comment\n```\n"
            "- item\n\n  ```python\n  print(1)\n  ```\n")
    first, second = readme_blocks(text)
    assert (first.line, first.lang, first.marker, first.note) == (3, "sh", "not-run", "needs a GPU")
    assert (second.lang, second.text, second.marker) == ("python", "print(1)\n", "")
    assert shell_commands("pip install -e '.[test]' && npm ci --prefix x # y\na \\\n  b\n") == [
        ["pip", "install", "-e", ".[test]"], ["npm", "ci", "--prefix", "x"], ["a", "b"]]
    with pytest.raises(AssertionError, match="single commands"):
        shell_commands("realtime-mock serve | tee log")


# --- the Node SDK's TLS, as the README words it ------------------------------------------------------------


def test_the_node_instructions_lead_with_serve_tls_and_name_the_certificate_as_its_own_ca(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    row = next(line for line in README.read_text("utf-8").splitlines() if line.startswith("| Node SDK"))
    how = row.split("|")[2].strip()
    assert how.startswith("`realtime-mock serve --tls`"), how
    assert f"NODE_EXTRA_CA_CERTS={(tls.DEFAULT_DIR / tls.CERT_FILE).as_posix()}" in how
    assert "self-signed certificate is its own CA" in how and "`cert.pem` itself" in how
    assert "IP subjectAltName" in how  # what a certificate of one's own needs for Node to accept 127.0.0.1
    cert_path, _ = tls.ensure_certificate(tmp_path)
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert cert.issuer == cert.subject  # self-signed: its issuer, the CA, is itself
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    public_key = cert.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
