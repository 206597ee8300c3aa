"""pytest plugin (entry point `pytest11`): the `realtime_mock` fixture and the `realtime_scenario` marker.

One server per test process (so `pytest -n auto` gives each worker its own), started on a free
loopback port the first time a test asks for it; each test gets a scope of its own on it, so its
scenario, faults and journal never meet another test's. Usage:

    @pytest.mark.realtime_scenario("fixtures/tool_agent.yaml")   # path relative to the test file
    async def test_agent(realtime_mock):
        client = realtime_mock.async_client()                    # official SDK, already pointed and scoped
        async with client.realtime.connect(model="gpt-realtime") as conn: ...
        realtime_mock.assert_sent("response.create")
        assert realtime_mock.server_events("response.done")[-1]["response"]["status"] == "completed"

Imports of the server happen inside the fixtures, so installing realtime-mock costs other test
suites nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pytest

if TYPE_CHECKING:
    from mockserver.runner import RunningServer
    from mockserver.sip_client import SipCallHandle
    from mockserver.state import Scope
    from mockserver.webrtc_client import WebRtcCaller

MARKER = "realtime_scenario"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(scenario): load a scenario (a file path relative to the test file, YAML/JSON text, "
                   "or a dict) into this test's realtime_mock scope")


class RealtimeMock:
    """One test's view of the mock: URLs, clients, scenario and faults, and its sessions' journals."""

    def __init__(self, server: RunningServer, scope_name: str, base_dir: Path) -> None:
        self.server = server
        self.scope_name = scope_name
        self._base_dir = base_dir
        self._sip_calls: list[SipCallHandle] = []

    # -- where it is and how to reach it --------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def websocket_base_url(self) -> str:
        return self.server.websocket_base_url

    @property
    def headers(self) -> dict[str, str]:
        """Headers that put a connection or admin call in this test's scope."""
        return {"X-Mock-Scope": self.scope_name}

    def realtime_url(self, model: str = "gpt-realtime") -> str:
        """The full WebSocket URL, scope in the query (for clients that take a URL and no headers)."""
        return f"{self.websocket_base_url}/realtime?{urlencode({'model': model, 'mock_scope': self.scope_name})}"

    def async_client(self, api_key: str = "sk-test", **options: Any) -> Any:
        """An `openai.AsyncOpenAI` pointed at the mock and scoped to this test."""
        from openai import AsyncOpenAI

        return AsyncOpenAI(api_key=api_key, base_url=self.base_url, websocket_base_url=self.websocket_base_url,
                           default_headers={**self.headers, **options.pop("default_headers", {})}, **options)

    def client(self, api_key: str = "sk-test", **options: Any) -> Any:
        """An `openai.OpenAI` (sync) pointed at the mock and scoped to this test."""
        from openai import OpenAI

        return OpenAI(api_key=api_key, base_url=self.base_url, websocket_base_url=self.websocket_base_url,
                      default_headers={**self.headers, **options.pop("default_headers", {})}, **options)

    def agents_model_config(self, model: str = "gpt-realtime", api_key: str = "sk-test") -> dict[str, Any]:
        """`model_config` for the Agents SDK's `RealtimeRunner.run()` (it takes the URL verbatim)."""
        return {"url": self.realtime_url(model), "api_key": api_key}

    # -- what the "model" does ------------------------------------------------------------------

    @property
    def scope(self) -> Scope:
        return self.server.state.scope(self.scope_name)

    def load_scenario(self, scenario: str | Path | dict[str, Any]) -> str:
        """Load a scenario: a path (relative to the test file), YAML/JSON text, or a dict. Returns its name."""
        import json

        from mockserver.scenarios import load_scenario, parse_scenario

        if isinstance(scenario, dict):
            loaded = parse_scenario(json.dumps(scenario), source="<dict>")
        elif isinstance(scenario, Path) or "\n" not in scenario:
            path = Path(scenario)
            loaded = load_scenario(path if path.is_absolute() else self._base_dir / path)
        else:
            loaded = parse_scenario(scenario, source="<text>")
        self.scope.use_scenario(loaded)
        return loaded.name

    def add_fault(self, name: str, **fields: Any) -> str:
        """Switch a fault on for this test's sessions (see mockserver/protocol/faults.py); returns its id."""
        from mockserver.protocol.faults import Fault

        return self.scope.add_fault(Fault.from_dict({"name": name, **fields})).id

    def remove_fault(self, fault_id: str | None = None) -> None:
        """Switch one fault off, or all of them."""
        if fault_id is None:
            self.scope.faults.clear()
        else:
            self.scope.remove_fault(fault_id)

    def seed(self, seed: int) -> None:
        self.scope.reseed(seed)

    # -- SIP calls ------------------------------------------------------------------------------------

    def sip_call(self, headers: Any = (), *, audio: bytes | None = None,
                 codecs: tuple[str, ...] = ("PCMU", "PCMA")) -> SipCallHandle:
        """Place a simulated incoming SIP call in this test's scope (a real UAC over UDP on loopback, through
        the mock's SIP endpoint and this scope's webhook); returns once it rings. `headers` (a dict or
        (name, value) pairs) go in the INVITE; `audio` (PCM16 24 kHz) plays once the call is answered. The
        call's `call_id` is the one the webhook names (accept it with the SDK); it can `speak(pcm)`,
        `dtmf(digits)`, `heard()`, `hangup()`, and `wait(state)` / `await until(state)`."""
        from mockserver.sip_admin import place_call
        from mockserver.sip_client import SipCallHandle

        work = place_call(self.server.state, self.scope_name, headers=headers, codecs=codecs, audio=audio)
        caller = asyncio.run_coroutine_threadsafe(work, self.server.loop).result(15)
        handle = SipCallHandle(caller, self.server.loop)
        self._sip_calls.append(handle)
        return handle

    def use_webhook(self, url: str, secret: str) -> None:
        """POST this test's `realtime.call.incoming` webhooks to `url`, signed with `secret` (`whsec_...`)."""
        from mockserver.sip import webhook

        webhook.secret_key(secret)  # ValueError when it is not a usable secret
        self.scope.webhook = (url, secret)

    @contextlib.asynccontextmanager
    async def webrtc_call(self, model: str | None = None, session: dict[str, Any] | None = None, *,
                          api_key: str = "sk-test", data_channel: bool = True, audio: bool = True,
                          translation: bool = False) -> AsyncIterator[WebRtcCaller]:
        """`async with realtime_mock.webrtc_call() as call:` a WebRTC call to the mock in this test's scope,
        made as a browser makes it (mockserver.webrtc_client.WebRtcCaller: an aiortc peer with the
        `oai-events` channel and a microphone track), hung up when the block ends. With `model` or `session`
        the offer goes as multipart with that session configuration, else as raw SDP (the default session);
        `translation` calls `/v1/realtime/translations/calls`. The call's session is in `sessions()` and
        `journal()`, with its `call_id`; `call.call_id` is what `client.realtime.connect(call_id=...)` takes."""
        from mockserver.webrtc_client import WebRtcCaller

        configured = dict(session or {})
        if model is not None:
            configured["model"] = model
        if configured and not translation:
            configured.setdefault("type", "realtime")
        call = await WebRtcCaller.connect(
            self.base_url, api_key=api_key, session=configured or None, headers=self.headers,
            data_channel=data_channel, audio=audio,
            path="/realtime/translations/calls" if translation else "/realtime/calls")
        try:
            yield call
        finally:
            await call.close()

    def calls(self) -> list[dict[str, Any]]:
        """This test's live calls (WebRTC and SIP, pending and active), as `GET /_mock/calls` lists them."""
        return [{"call_id": leg.call.call_id, "kind": leg.call.kind, "state": leg.call.state}
                for leg in list(self.server.state.calls.values()) if leg.call.scope == self.scope_name]

    # -- what happened --------------------------------------------------------------------------

    def sessions(self) -> list[dict[str, Any]]:
        return [{**j.summary(), "live": sid in self.scope.sessions} for sid, j in self.scope.journals.items()]

    def journal(self, session_id: str | None = None) -> list[dict[str, Any]]:
        """Every frame of one session (default: the latest), as `{"t", "direction", "event"}` entries."""
        journals = self.scope.journals
        if not journals:
            return []
        journal = journals[session_id] if session_id else journals[next(reversed(journals))]
        return journal.entries

    def requests(self, path: str | None = None, model: str | None = None) -> list[dict[str, Any]]:
        """This test's REST requests (`/v1/audio/*`, `/v1/chat/completions`), oldest first: method, path, model,
        status, and the bodies summarised without audio (see mockserver/rest/requests_journal.py)."""
        return self.scope.rest.list(path, model)

    def client_events(self, event_type: str | None = None, session_id: str | None = None) -> list[dict[str, Any]]:
        return self._events("client", event_type, session_id)

    def server_events(self, event_type: str | None = None, session_id: str | None = None) -> list[dict[str, Any]]:
        return self._events("server", event_type, session_id)

    def assert_sent(self, event_type: str, timeout: float = 5.0, **fields: Any) -> dict[str, Any]:
        """The first client event of this type that has `fields`; waits up to `timeout` for the server to have
        read it (the client's send returns before the server reads).

        Dicts match as subsets, at every depth: `item={"type": "function_call_output"}` matches any such
        item, whatever else it carries. Lists match element by element (same length); other values by `==`."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.client_events(event_type):
                if _has(event, fields):
                    return event
            if time.monotonic() > deadline:
                sent = [e.get("type") for e in self.client_events()]
                raise AssertionError(f"the app sent no {event_type} with {fields!r}; it sent: {sent}")
            time.sleep(0.01)  # the server thread journals as it reads; poll briefly

    def assert_safety_identifier(self, expected: str | None, session_id: str | None = None) -> None:
        """That a session (default: the latest) was opened for this end user: the `OpenAI-Safety-Identifier`
        of its handshake, or of the client secret it was opened with (None: none was given)."""
        journals = self.scope.journals
        assert journals, "no session was opened in this test"
        journal = journals[session_id] if session_id else journals[next(reversed(journals))]
        assert journal.safety_identifier == expected, (
            f"session {journal.session_id} has safety identifier {journal.safety_identifier!r}, not {expected!r}")

    def assert_not_sent(self, event_type: str) -> None:
        found = self.client_events(event_type)
        assert not found, f"the app sent {len(found)} {event_type} event(s): {found}"

    def _events(self, direction: str, event_type: str | None, session_id: str | None) -> list[dict[str, Any]]:
        return [e["event"] for e in self.journal(session_id)
                if e["direction"] == direction and isinstance(e["event"], dict)
                and (event_type is None or e["event"].get("type") == event_type)]


def _has(value: Any, expected: Any) -> bool:
    """Whether `value` has what `expected` names: the keys of a dict (recursively), a list element by element."""
    if isinstance(expected, dict):
        return isinstance(value, dict) and all(k in value and _has(value[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        return (isinstance(value, list) and len(value) == len(expected)
                and all(_has(v, e) for v, e in zip(value, expected, strict=True)))
    return bool(value == expected)


@pytest.fixture(scope="session")
def realtime_mock_server() -> Iterator[RunningServer]:
    """The process's mock server (started on first use)."""
    from mockserver.runner import start_in_thread

    server = start_in_thread()
    yield server
    server.stop()


@pytest.fixture
def realtime_mock(request: pytest.FixtureRequest, realtime_mock_server: RunningServer) -> Iterator[RealtimeMock]:
    """The mock for one test: a scope of its own on the process's server."""
    mock = RealtimeMock(realtime_mock_server, f"test-{uuid.uuid4().hex[:12]}", Path(str(request.path)).parent)
    marker = request.node.get_closest_marker(MARKER)
    if marker is not None:
        from mockserver.scenarios import ScenarioError

        problem = None
        try:
            mock.load_scenario(*marker.args)
        except (ScenarioError, ValueError, OSError) as exc:  # the scenario's own words, not the plugin's traceback
            problem = f"{exc} (@pytest.mark.{MARKER})"
        if problem is not None:  # outside the except: no "during handling of the above exception" chain
            pytest.fail(problem, pytrace=False)
    yield mock
    for call in mock._sip_calls:  # a call the test left up is hung up
        call.close()
    realtime_mock_server.state.scopes.pop(mock.scope_name, None)
