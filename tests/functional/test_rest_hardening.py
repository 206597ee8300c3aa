"""The REST and admin endpoints over a real socket: whatever a client sends, the answer is never a 5xx, a 4xx
is OpenAI's error envelope, and every answer is valid JSON in UTF-8. A fuzz test over the route tables, then
one regression test per bug the hardening fixed."""

from __future__ import annotations

import dataclasses
import http.client
import ipaddress
import json
import re
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect

from mockserver import control, sip_admin
from mockserver.protocol.faults import HTTP_FAULTS, NAMES
from mockserver.rest import beta_sessions, calls, chat, client_secrets, speech, transcriptions, translations
from mockserver.runner import RunningServer, start_in_thread
from mockserver.state import ServerConfig, ServerState
from tests.functional.conftest import Start, sdk_client, until

pytestmark = pytest.mark.functional

JSON = "application/json"
AUTH = {"Authorization": "Bearer sk-test"}


def send(server: RunningServer, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """One request on its own connection; the answer must be well formed whatever it is."""
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        status, raw = response.status, response.read()
    finally:
        connection.close()
    return status, well_formed(status, raw)


def well_formed(status: int, raw: bytes) -> Any:
    assert status < 500, raw[:500]
    answer = json.loads(raw.decode("utf-8"))  # strict: a lone surrogate written raw would fail here
    if status >= 400:
        error = answer["error"]
        assert set(answer) == {"error"} and set(error) == {"message", "type", "param", "code"}, answer
        assert error["type"] == "invalid_request_error" and isinstance(error["message"], str) and error["message"]
    return answer


def post_json(server: RunningServer, path: str, body: Any, headers: dict[str, str] | None = None,
              method: str = "POST") -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return send(server, method, path, data, {"Content-Type": JSON, **AUTH, **(headers or {})})


# -- fuzz ----------------------------------------------------------------------------------------------------

_PARAMS = {"session_id": "sess_nope", "fault_id": "fault_nope", "call_id": "rtc_nope", "action": "hangup"}
ROUTES = sorted({(method, re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: _PARAMS[m.group(1)], route.path))
                 for route in (*control.ROUTES, *client_secrets.ROUTES, *beta_sessions.ROUTES, *calls.ROUTES,
                               *sip_admin.ROUTES, *speech.ROUTES, *transcriptions.ROUTES, *translations.ROUTES,
                               *chat.ROUTES)
                 for method in (route.methods or ()) if method not in ("HEAD", "OPTIONS")})

lone_surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
texts = st.text(alphabet=st.characters(codec=None) | lone_surrogates, max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4), max_leaves=12)
# Not the REST faults: an `http_error` posted by one example would answer every later request 5xx, on purpose.
faults = st.fixed_dictionaries({"name": st.sampled_from([n for n in NAMES if n not in HTTP_FAULTS])}, optional={
    key: json_values | st.integers(-2, 5000) for key in ("event", "after_events", "code", "reason", "ms", "count",
                                                          "limits", "error", "id")})
sessions = st.fixed_dictionaries({}, optional={
    "session": st.fixed_dictionaries({"type": st.sampled_from(["realtime", "transcription"])},
                                     optional={"instructions": texts, "model": texts, "tools": json_values}),
    "expires_after": st.fixed_dictionaries({"seconds": json_values | st.integers(0, 8000)}),
    "instructions": texts, "temperature": json_values, "client_secret": json_values, "turn_detection": json_values})
scenarios = st.sampled_from(["name: x\n", "name: x\nfallback: hi\n", '{"path": "x.yaml"}', "- a\n",
                             "a: &a [1]\nb: *a\n"])


@st.composite
def deep(draw: st.DrawFn) -> bytes:
    levels = draw(st.sampled_from([64, 65, 900, 2000]) | st.integers(0, 3000))  # around the limits, and past them
    opening, closing = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
    return opening * levels + (b"1" if opening != b"[" else b"") + closing * levels


bodies = st.one_of(
    st.none(), st.binary(max_size=300), deep(), scenarios.map(str.encode),
    (json_values | faults | st.lists(faults, max_size=3) | sessions).map(lambda value: json.dumps(value).encode()))
content_types = st.sampled_from([None, JSON, "application/json; charset=utf-8", "application/merge-patch+json",
                                 "application/yaml", "text/yaml", "text/plain", "application/x-www-form-urlencoded",
                                 "multipart/form-data; boundary=x", "nonsense"])
authorizations = st.sampled_from([None, "Bearer sk-test", "Bearer ", "Basic abc"])
queries = st.sampled_from(["", "?all=1", "?session_id=sess_nope", "?direction=client&type=x", "?mock_scope=fuzz"])


@pytest.fixture(scope="module")
def shim_server() -> Iterator[RunningServer]:
    """A server with the beta REST on; its admin API reads scenario files in the working directory only."""
    server = start_in_thread(ServerState(ServerConfig(beta="shim")))
    yield server
    server.stop()


@pytest.mark.parametrize(("method", "path"), ROUTES)
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=bodies, content_type=content_types, authorization=authorizations, query=queries)
def test_no_request_gets_a_5xx_and_every_4xx_is_the_envelope(
        shim_server: RunningServer, method: str, path: str, body: bytes | None, content_type: str | None,
        authorization: str | None, query: str) -> None:
    headers = {name: value for name, value in (("Content-Type", content_type), ("Authorization", authorization))
               if value is not None}
    send(shim_server, method, path + query, body, headers)


# Each body-taking route with the content type it takes (a wrong type, or an unknown call, is refused before the
# body anyway). The audio uploads refuse theirs in live's own wording (tests/functional/test_audio_transcriptions.py).
_UPLOADS = ("/v1/audio/transcriptions", "/v1/audio/translations")
HUGE = [(method, path, JSON) for method, path in ROUTES
        if method in ("POST", "PUT") and "_nope" not in path and path not in _UPLOADS
        and path not in ("/v1/realtime/calls", "/v1/realtime/translations/calls")]
HUGE += [("POST", path, content_type) for path in ("/v1/realtime/calls", "/v1/realtime/translations/calls")
         for content_type in ("application/sdp", "multipart/form-data; boundary=x")]


@pytest.mark.parametrize(("method", "path", "content_type"), HUGE)
def test_a_huge_content_length_is_refused_before_the_body_arrives(shim_server: RunningServer, method: str,
                                                                  path: str, content_type: str) -> None:
    status, answer = raw_request(shim_server, method, path, {"Content-Type": content_type, **AUTH,
                                                             "Content-Length": str(50 * 1024 * 1024)}, b"{")
    assert (status, answer["error"]["code"]) == (413, "request_too_large")


def raw_request(server: RunningServer, method: str, path: str, headers: dict[str, str], body: bytes,
                timeout: float = 5) -> tuple[int, Any]:
    """Send the head and part of a body, then read the answer (which must come without the rest)."""
    head = f"{method} {path} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        sock.sendall(head.encode("latin-1") + body)
        received = b""
        while b"\r\n\r\n" not in received or len(received.split(b"\r\n\r\n", 1)[1]) < _length(received):
            chunk = sock.recv(65536)
            assert chunk, f"the server closed without answering: {received!r}"
            received += chunk
    status_line, rest = received.split(b"\r\n", 1)
    status = int(status_line.split()[1])
    return status, well_formed(status, rest.split(b"\r\n\r\n", 1)[1])


def _length(received: bytes) -> int:
    for line in received.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


# -- regressions: bad requests that gave 500 -----------------------------------------------------------------

@pytest.fixture
def shim(start_mock: Start) -> RunningServer:
    return start_mock(ServerConfig(beta="shim"))


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/realtime/client_secrets", {"session": {"type": "realtime", "instructions": "Say \ud800."}}),
    ("/v1/realtime/sessions", {"instructions": "Say \ud800."}),
])
def test_a_lone_surrogate_is_echoed_escaped(shim: RunningServer, path: str, body: dict[str, Any]) -> None:
    status, answer = post_json(shim, path, body)  # json.dumps writes the escape: "Say \ud800."
    session = answer.get("session", answer)
    assert status == 200 and session["instructions"] == "Say \ud800."


@pytest.mark.parametrize("path", ["/v1/realtime/client_secrets", "/v1/realtime/sessions",
                                  "/v1/realtime/transcription_sessions", "/_mock/reset", "/_mock/seed",
                                  "/_mock/faults", "/_mock/sessions/sess_x/events"])
@pytest.mark.parametrize("body", [b"[" * 2000 + b"]" * 2000, b'{"a":' * 2000 + b"1" + b"}" * 2000,
                                  b"[" * 65 + b"]" * 65])
def test_deep_nesting_is_a_400(shim: RunningServer, path: str, body: bytes) -> None:
    status, answer = post_json(shim, path, body)
    assert (status, answer["error"]["code"]) == (400, "nested_too_deeply")


@pytest.mark.parametrize("path", ["/_mock/reset", "/_mock/seed"])
@pytest.mark.parametrize("body", [b"{", b"5", b'"x"', b"[]", b"NaN", b'{"seed": "x"}', b'{"seed": true}',
                                  b'{"seed": 1.5}'])
def test_reset_and_seed_refuse_what_is_not_a_seed(mock: RunningServer, path: str, body: bytes) -> None:
    assert post_json(mock, path, body)[0] == 400
    assert mock.state.scope().seed == 0


def test_a_scenario_path_that_is_not_a_string_is_a_400(mock: RunningServer) -> None:
    status, answer = post_json(mock, "/_mock/scenario", {"path": 5}, method="PUT")
    assert (status, answer["error"]["param"]) == (400, "path")


# -- regressions: faults and scenarios accepted that then broke every session ----------------------------------

TEXT = {"type": "realtime", "output_modalities": ["text"]}
USER = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "one two"}]}


async def one_turn(server: RunningServer) -> list[Any]:
    async with sdk_client(server).realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session=TEXT)
        await conn.conversation.item.create(item=USER)
        await conn.response.create()
        return await until(conn, "response.done")


@pytest.mark.parametrize(("fault", "field"), [
    ({"name": "close", "after_events": "3"}, "after_events"),
    ({"name": "refuse_handshake", "error": "x"}, "error"),
    ({"name": "close", "code": 1004}, "code"),
    ({"name": "close", "code": 1005}, "code"),
    ({"name": "close", "code": 1006}, "code"),
    ({"name": "close", "code": 1015}, "code"),
    ({"name": "close", "code": 1000.5}, "code"),
    ({"name": "close", "reason": "ü" * 62}, "reason"),  # 124 bytes of UTF-8
])
async def test_a_fault_that_would_break_sessions_is_refused(mock: RunningServer, fault: dict[str, Any],
                                                           field: str) -> None:
    status, answer = post_json(mock, "/_mock/faults", fault)
    assert (status, answer["error"]["code"], answer["error"]["param"]) == (400, "invalid_fault", field)
    status, answer = post_json(mock, "/_mock/faults", [{"name": "drop", "event": "x"}, fault])
    assert (status, answer["error"]["param"]) == (400, f"[1].{field}")
    assert mock.state.scope().faults == []  # a list is refused whole
    assert (await one_turn(mock))[-1].response.status == "completed"


async def test_a_scenario_with_a_lone_surrogate_is_refused(mock: RunningServer) -> None:
    scenario = json.dumps({"name": "broken", "fallback": "Hello \ud800"})
    status, answer = post_json(mock, "/_mock/scenario", scenario.encode(), method="PUT")
    assert (status, answer["error"]["code"]) == (400, "invalid_scenario")
    assert "fallback: a lone surrogate (\\ud800) is not text" in answer["error"]["message"]
    assert (await one_turn(mock))[-1].response.status == "completed"


async def test_a_scenario_with_escaped_emoji_answers_with_them(mock: RunningServer) -> None:
    scenario = json.dumps({"name": "emoji", "fallback": "Sunny 😀"})  # written as "\ud83d\ude00"
    assert post_json(mock, "/_mock/scenario", scenario.encode(), method="PUT")[0] == 200
    deltas = [e.delta for e in await one_turn(mock) if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "Sunny 😀"


async def test_a_journal_echoes_a_lone_surrogate_a_client_sent(mock: RunningServer) -> None:
    frame = '{"type": "conversation.item.create", "item": {"type": "message", "role": "user", ' \
            '"content": [{"type": "input_text", "text": "\\ud800"}]}}'
    async with connect(f"{mock.websocket_base_url}/realtime?model=gpt-realtime",
                       additional_headers={"Authorization": "Bearer sk-test"}) as ws:
        session_id = json.loads(await ws.recv())["session"]["id"]
        await ws.send(frame)
        while json.loads(await ws.recv())["type"] != "conversation.item.added":
            pass
    status, journal = send(mock, "GET", f"/_mock/sessions/{session_id}/journal?direction=client")
    assert status == 200 and journal["entries"][0]["event"]["item"]["content"][0]["text"] == "\ud800"


# -- regressions: bodies without a limit -----------------------------------------------------------------------

def test_a_body_over_the_limit_is_refused_before_it_is_read(mock: RunningServer) -> None:
    started = time.perf_counter()
    status, answer = raw_request(mock, "POST", "/_mock/faults",
                                 {"Content-Type": JSON, "Content-Length": str(50 * 1024 * 1024)}, b"")
    assert (status, answer["error"]["code"]) == (413, "request_too_large") and time.perf_counter() - started < 2
    chunk = b"100000\r\n" + b" " * 0x100000 + b"\r\n"  # chunked: no length is declared, the bytes are counted
    status, _ = raw_request(mock, "POST", "/_mock/faults", {"Content-Type": JSON, "Transfer-Encoding": "chunked"},
                            chunk * 2)
    assert status == 413


def test_a_scenario_may_be_larger_than_a_json_body(mock: RunningServer) -> None:
    text = f"name: long\nfallback: {'a' * (3 * 1024 * 1024)}\n".encode()
    assert post_json(mock, "/_mock/scenario", text, {"Content-Type": "application/yaml"}, method="PUT")[0] == 200
    status, answer = post_json(mock, "/_mock/scenario", text + b"#" * (1024 * 1024), method="PUT",
                               headers={"Content-Type": "application/yaml"})
    assert (status, answer["error"]["code"]) == (413, "request_too_large")


# -- the peer is the socket's, through a real non-loopback address ---------------------------------------------

def non_loopback_address() -> str | None:
    """An IPv4 address of this machine other than loopback (a UDP connect picks one and sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if ipaddress.ip_address(address).is_loopback else address


@pytest.mark.parametrize("token", [None, "s3cret"])
def test_a_forwarded_header_does_not_make_a_remote_peer_local(token: str | None) -> None:
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address")
    server = start_in_thread(ServerState(ServerConfig(admin_token=token)), host="0.0.0.0")
    try:
        remote = dataclasses.replace(server, host=address)  # reached through that address: the peer is not loopback
        forwarded = {"X-Forwarded-For": "127.0.0.1", "Forwarded": "for=127.0.0.1", "X-Real-IP": "127.0.0.1"}
        status, answer = send(remote, "GET", "/_mock/sessions", headers=forwarded)
        assert (status, answer["error"]["code"]) == (403, "admin_forbidden")
        assert "loopback clients only" in answer["error"]["message"]
        if token:
            assert send(remote, "GET", "/_mock/sessions", headers={"Authorization": f"Bearer {token}"})[0] == 200
    finally:
        server.stop()
