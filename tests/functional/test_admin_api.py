"""The admin API over HTTP, with sessions driven by the official SDK on the same server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from mockserver.runner import RunningServer
from mockserver.state import ServerConfig
from tests.functional.conftest import Start, sdk_client, until

pytestmark = pytest.mark.functional

TEXT = {"type": "realtime", "output_modalities": ["text"]}
USER = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "What is the weather in Oslo?"}]}


def call(server: RunningServer, method: str, path: str, body: Any = None, *, scope: str | None = None,
         headers: dict[str, str] | None = None, raw: bytes | None = None,
         content_type: str = "application/json") -> tuple[int, Any]:
    """An admin call; a body goes as JSON (`raw`: as given, with `content_type`)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    typed = {"Content-Type": content_type} if data is not None else {}
    request = urllib.request.Request(f"http://{server.host}:{server.port}{path}", data=data, method=method,
                                     headers={**typed, **({"X-Mock-Scope": scope} if scope else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def one_turn(server: RunningServer, scope: str | None = None) -> list[Any]:
    headers = {"X-Mock-Scope": scope} if scope else {}
    async with sdk_client(server).realtime.connect(model="gpt-realtime", extra_headers=headers) as conn:
        await conn.session.update(session=TEXT)
        await conn.conversation.item.create(item=USER)
        await conn.response.create()
        return await until(conn, "rate_limits.updated")


def text_of(events: list[Any]) -> str:
    return "".join(e.delta for e in events if e.type == "response.output_text.delta")


SCENARIO = """
name: weather
rules:
  - when: {user_text: "weather in (?P<city>\\\\w+)"}
    reply: {text: "It is sunny in {{city}}."}
"""


async def test_scenario_per_scope_and_reset(mock: RunningServer) -> None:
    status, body = call(mock, "PUT", "/_mock/scenario", raw=SCENARIO.encode(), scope="t1",
                        content_type="application/yaml")
    assert (status, body["scenario"]) == (200, "weather")
    assert text_of(await one_turn(mock, "t1")) == "It is sunny in Oslo."
    assert text_of(await one_turn(mock, "t2")).startswith("You said:")  # other scopes keep the default
    assert call(mock, "POST", "/_mock/reset", {}, scope="t1")[0] == 200
    assert text_of(await one_turn(mock, "t1")).startswith("You said:")


def scenario_folders(*folders: Path) -> ServerConfig:
    """A config whose admin API reads scenario files in `folders` (the CLI's `--scenario-dir`)."""
    return ServerConfig(scenario_dirs=folders)


async def test_scenario_from_a_path_and_its_errors(start_mock: Start, tmp_path: Path) -> None:
    mock = start_mock(scenario_folders(tmp_path))
    good = tmp_path / "s.yaml"
    good.write_text(SCENARIO)
    assert call(mock, "PUT", "/_mock/scenario", {"path": str(good)})[1]["scenario"] == "weather"
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: broken\nrules:\n  - reply: {txt: hi}\n")
    status, body = call(mock, "PUT", "/_mock/scenario", {"path": str(bad)})
    assert status == 400 and body["error"]["code"] == "invalid_scenario"
    assert "bad.yaml:3" in body["error"]["message"] and "txt" in body["error"]["message"]


async def test_sessions_and_journal(mock: RunningServer) -> None:
    await one_turn(mock, "j")
    status, listed = call(mock, "GET", "/_mock/sessions", scope="j")
    assert status == 200 and len(listed["sessions"]) == 1
    session = listed["sessions"][0]
    assert session["live"] is False and session["close_code"] is None and session["model"] == "gpt-realtime"
    _, journal = call(mock, "GET", f"/_mock/sessions/{session['id']}/journal", scope="j")
    directions = [e["direction"] for e in journal["entries"]]
    assert directions[0] == "server" and directions.count("client") == 3
    client_types = [e["event"]["type"] for e in journal["entries"] if e["direction"] == "client"]
    assert client_types == ["session.update", "conversation.item.create", "response.create"]
    times = [e["t"] for e in journal["entries"]]
    assert times == sorted(times)
    _, only_done = call(mock, "GET", f"/_mock/sessions/{session['id']}/journal?type=response.done", scope="j")
    assert [e["event"]["type"] for e in only_done["entries"]] == ["response.done"]
    assert call(mock, "GET", "/_mock/sessions", scope="other")[1]["sessions"] == []
    assert call(mock, "GET", f"/_mock/sessions/{session['id']}/journal", scope="other")[0] == 404


async def test_inject_a_server_event_into_a_live_session(mock: RunningServer) -> None:
    async with sdk_client(mock).realtime.connect(model="gpt-realtime") as conn:
        created = await conn.recv()
        event = {"type": "rate_limits.updated",
                 "rate_limits": [{"name": "tokens", "limit": 10, "remaining": 0, "reset_seconds": 60.0}]}
        status, body = call(mock, "POST", f"/_mock/sessions/{created.session.id}/events", event)
        assert status == 200 and body["schema_problems"] == [] and body["event"]["event_id"].startswith("event_")
        received = await conn.recv()
        assert received.type == "rate_limits.updated" and received.rate_limits[0].remaining == 0
        mock.state.observers.clear()  # the next event is invalid on purpose: the fixture's schema check steps aside
        _, bad = call(mock, "POST", f"/_mock/sessions/{created.session.id}/events", {"type": "response.done"})
        assert bad["schema_problems"]  # sent anyway, and flagged
    assert call(mock, "POST", "/_mock/sessions/sess_nope/events", event)[0] == 404
    assert call(mock, "POST", f"/_mock/sessions/{created.session.id}/events", {"no": "type"})[0] == 400


async def test_faults_switch_on_and_off(mock: RunningServer) -> None:
    status, body = call(mock, "POST", "/_mock/faults", {"name": "drop", "event": "response.done"}, scope="f")
    assert status == 200 and body["added"][0]["id"]
    assert "response.done" not in [e.type for e in await one_turn(mock, "f")]
    fault_id = body["added"][0]["id"]
    assert call(mock, "DELETE", f"/_mock/faults/{fault_id}", scope="f")[1]["faults"] == []
    assert "response.done" in [e.type for e in await one_turn(mock, "f")]
    status, body = call(mock, "POST", "/_mock/faults", {"name": "drop"}, scope="f")
    assert status == 400 and body["error"]["message"] == "fault drop: needs `event` (an event type)"
    assert call(mock, "DELETE", f"/_mock/faults/{fault_id}", scope="f")[0] == 404


async def test_seed_makes_ids_repeat(mock: RunningServer) -> None:
    call(mock, "POST", "/_mock/seed", {"seed": 42}, scope="s")
    first = [e.event_id for e in await one_turn(mock, "s")]
    call(mock, "POST", "/_mock/seed", {"seed": 42}, scope="s")
    assert [e.event_id for e in await one_turn(mock, "s")] == first
    assert call(mock, "POST", "/_mock/seed", {"seed": "x"}, scope="s")[0] == 400


def test_admin_token_when_configured(start_mock: Start) -> None:
    server = start_mock(ServerConfig(admin_token="s3cret"))
    assert call(server, "GET", "/_mock/sessions")[0] == 403
    assert call(server, "GET", "/_mock/sessions", headers={"Authorization": "Bearer s3cret"})[0] == 200
    assert call(server, "GET", "/_mock/sessions", headers={"X-Mock-Admin-Token": "wrong"})[0] == 403
    assert call(server, "GET", "/_mock/health")[0] == 200
