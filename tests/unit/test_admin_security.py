"""Who may use the admin API (`/_mock/*`), and what it reads: driven through Starlette's TestClient, which sets
the socket peer (`client`) and the `Host` a request names."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.testclient import TestClient

from mockserver import control, sip_admin
from mockserver.app import create_app
from mockserver.rest import bodies
from mockserver.state import ServerConfig, ServerState
from tests.unit.test_scenarios import BILLION_LAUGHS

LOOPBACK = ("127.0.0.1", 50000)
REMOTE = ("203.0.113.5", 1234)
BASE = "http://127.0.0.1:8000"
JSON = {"Content-Type": "application/json"}
DROP = b'{"name": "drop", "event": "response.done"}'


def server(config: ServerConfig | None = None, *, peer: tuple[str, int] = LOOPBACK,
           base_url: str = BASE) -> tuple[TestClient, ServerState]:
    state = ServerState(config)
    return TestClient(create_app(state), base_url=base_url, client=peer), state


def configured(**fields: Any) -> ServerConfig:
    """A config with settings the CLI gives (`--admin-host`, `--scenario-dir`, `--admin-token`)."""
    return ServerConfig(**fields)


def refused(response: Any, status: int = 403, code: str = "admin_forbidden") -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", code)
    return str(error["message"])


@pytest.fixture
def local() -> Iterator[tuple[TestClient, ServerState]]:
    client, state = server()
    with client:
        yield client, state


# -- cross-site requests ---------------------------------------------------------------------------------

@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://localhost:8000", "https://127.0.0.1:8000",
                                    "http://127.0.0.1:8001", "http://127.0.0.1"])
def test_a_cross_origin_post_is_refused(local: tuple[TestClient, ServerState], origin: str) -> None:
    client, state = local
    assert "cross-origin" in refused(client.post("/_mock/faults", content=DROP, headers={**JSON, "Origin": origin}))
    assert state.scope().faults == []


ADMIN_ROUTES = sorted({(method, re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: {"action": "hangup"}.get(m.group(1), "x_nope"),
                                     route.path))
                       for route in (*control.ROUTES, *sip_admin.ROUTES) for method in (route.methods or ())
                       if method != "HEAD" and route.path != "/_mock/health"})


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
def test_every_admin_route_is_guarded(local: tuple[TestClient, ServerState], method: str, path: str) -> None:
    """The calls and SIP routes (sip_admin.py) too: a web page cannot reach any of them, nor a remote peer."""
    client, _ = local
    assert "cross-origin" in refused(client.request(method, path, content=b"{}",
                                                    headers={**JSON, "Origin": "http://evil.example"}))
    remote, _ = server(peer=REMOTE)
    with remote:
        assert "loopback" in refused(remote.request(method, path, content=b"{}", headers=JSON))


def test_the_servers_own_origin_is_welcome(local: tuple[TestClient, ServerState]) -> None:
    client, state = local
    response = client.post("/_mock/faults", content=DROP, headers={**JSON, "Origin": "http://127.0.0.1:8000"})
    assert response.status_code == 200 and len(state.scope().faults) == 1


def test_a_cross_origin_read_is_refused(local: tuple[TestClient, ServerState]) -> None:
    client, _ = local
    refused(client.get("/_mock/sessions", headers={"Origin": "http://evil.example"}))
    refused(client.get("/_mock/sessions/sess_1/journal", headers={"Origin": "http://evil.example"}))


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                          None])
def test_json_in_a_type_a_form_can_send_is_refused(local: tuple[TestClient, ServerState],
                                                   content_type: str | None) -> None:
    client, state = local
    headers = {"Content-Type": content_type} if content_type else {}
    refused(client.post("/_mock/faults", content=DROP, headers=headers), 415, "unsupported_content_type")
    refused(client.post("/_mock/seed", content=b'{"seed": 5}', headers=headers), 415, "unsupported_content_type")
    assert state.scope().faults == [] and state.scope().seed == 0


def test_json_types_and_empty_bodies_are_fine(local: tuple[TestClient, ServerState]) -> None:
    client, state = local
    assert client.post("/_mock/reset").status_code == 200  # no body, no type
    assert client.post("/_mock/seed", content=b'{"seed": 5}',
                       headers={"Content-Type": "application/json; charset=utf-8"}).status_code == 200
    assert state.scope().seed == 5


# -- the Host (DNS rebinding) -----------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.nip.io", "localhost.evil.example",
                                  "user@localhost", "", "[::1", "192.0.2.10:8000"])
def test_a_host_that_does_not_name_the_server_is_refused(local: tuple[TestClient, ServerState], host: str) -> None:
    client, _ = local
    assert "not Host" in refused(client.get("/_mock/sessions", headers={"Host": host}))


@pytest.mark.parametrize("host", ["localhost", "localhost:8000", "LOCALHOST.", "127.0.0.1", "127.0.0.1:8000",
                                  "127.9.9.9", "[::1]:8000", "[0:0::1]"])
def test_names_of_the_server_are_welcome(local: tuple[TestClient, ServerState], host: str) -> None:
    client, _ = local
    assert client.get("/_mock/sessions", headers={"Host": host}).status_code == 200


def test_configured_admin_hosts_are_welcome() -> None:
    client, _ = server(configured(admin_hosts=("Mock.Internal",)))
    with client:
        assert client.get("/_mock/sessions", headers={"Host": "mock.internal:8000"}).status_code == 200
        refused(client.get("/_mock/sessions", headers={"Host": "other.internal:8000"}))


def test_the_address_the_request_came_in_on_names_the_server() -> None:
    client, _ = server(configured(admin_token="t"), peer=REMOTE, base_url="http://192.0.2.10:8000")
    with client:  # the server's own address as an IP literal: no name to rebind
        assert client.get("/_mock/sessions", headers={"Authorization": "Bearer t"}).status_code == 200


# -- the peer and the token -------------------------------------------------------------------------------

FORWARDED = {"X-Forwarded-For": "127.0.0.1", "Forwarded": "for=127.0.0.1", "X-Real-IP": "127.0.0.1"}


def test_a_remote_peer_is_refused_whatever_it_forwards() -> None:
    client, state = server(peer=REMOTE)
    with client:
        assert "loopback clients only" in refused(client.get("/_mock/sessions", headers=FORWARDED))
        refused(client.post("/_mock/faults", content=DROP, headers={**JSON, **FORWARDED}))
    assert state.scopes == {}  # refused before a scope was even made


@pytest.mark.parametrize("peer", [("::1", 1), ("::ffff:127.0.0.1", 1), ("127.0.0.2", 1)])
def test_loopback_peers_are_welcome(peer: tuple[str, int]) -> None:
    client, _ = server(peer=peer)
    with client:
        assert client.get("/_mock/sessions").status_code == 200


@pytest.mark.parametrize(("headers", "status"), [
    ({"Authorization": "Bearer s3cret"}, 200),
    ({"Authorization": "bearer s3cret"}, 200),
    ({"X-Mock-Admin-Token": "s3cret"}, 200),
    ({}, 403),
    ({"Authorization": "Bearer s3cre"}, 403),
    ({"Authorization": "Basic s3cret"}, 403),
    ({"X-Mock-Admin-Token": "s3cret\u00e9"}, 403),  # not ASCII: compare_digest on str would raise
])
def test_with_a_token_remote_callers_present_it(headers: dict[str, str], status: int) -> None:
    client, _ = server(configured(admin_token="s3cret"), peer=REMOTE)
    with client:
        response = client.get("/_mock/sessions", headers={k: v.encode("latin-1") for k, v in headers.items()})
        assert response.status_code == status


def test_health_stays_open() -> None:
    client, _ = server(peer=REMOTE)
    with client:
        assert client.get("/_mock/health", headers={"Host": "evil.example"}).status_code == 200


# -- files the admin API reads ----------------------------------------------------------------------------

SECRET = "api_key: sk-THE-SECRET-VALUE\n"
GOOD = 'name: from-file\nfallback: "hello"\n'


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """(an allowed scenario folder, a folder beside it that is not allowed), with files in both."""
    allowed, private = tmp_path / "scenarios", tmp_path / "private"
    allowed.mkdir()
    private.mkdir()
    (allowed / "good.yaml").write_text(GOOD)
    (allowed / "notes.txt").write_text(SECRET)
    (allowed / "dir.yaml").mkdir()
    (private / "secret.yaml").write_text(SECRET)
    (allowed / "link.yaml").symlink_to(private / "secret.yaml")
    return allowed, private


def put_path(client: TestClient, path: str) -> Any:
    return client.put("/_mock/scenario", json={"path": path})


def test_a_file_in_a_scenario_folder_loads(folders: tuple[Path, Path]) -> None:
    allowed, _ = folders
    client, state = server(configured(scenario_dirs=(allowed,)))
    with client:
        assert put_path(client, str(allowed / "good.yaml")).json()["scenario"] == "from-file"
    assert state.scope().scenario_name == "from-file"


@pytest.mark.parametrize("name", ["private/secret.yaml", "scenarios/link.yaml", "scenarios/../private/secret.yaml",
                                  "/etc/passwd", "/proc/self/environ"])
def test_a_file_outside_the_folders_is_refused_unread(folders: tuple[Path, Path], name: str) -> None:
    allowed, _ = folders
    client, _ = server(configured(scenario_dirs=(allowed,)))
    with client:
        path = name if name.startswith("/") else str(allowed.parent / name)
        message = refused(put_path(client, path), 403, "scenario_path_forbidden")
    assert "outside the folders" in message and "SECRET" not in message and "root:" not in message


@pytest.mark.parametrize(("name", "words"), [("notes.txt", "not a scenario file"), ("dir.yaml", "not a regular file"),
                                             ("missing.yaml", "cannot read the scenario")])
def test_what_is_not_a_scenario_file_is_refused_without_its_content(folders: tuple[Path, Path], name: str,
                                                                    words: str) -> None:
    allowed, _ = folders
    client, _ = server(configured(scenario_dirs=(allowed,)))
    with client:
        message = refused(put_path(client, str(allowed / name)), 400, "invalid_scenario")
    assert words in message and "SECRET" not in message


def test_by_default_only_the_starting_folder_is_read(folders: tuple[Path, Path]) -> None:
    allowed, _ = folders
    assert not allowed.is_relative_to(control.START_DIR)
    client, _ = server()
    with client:
        refused(put_path(client, str(allowed / "good.yaml")), 403, "scenario_path_forbidden")


@pytest.mark.parametrize("body", [{"path": 5}, {"path": ""}, {"path": None}])
def test_a_path_that_is_not_a_string_is_refused(local: tuple[TestClient, ServerState], body: dict[str, Any]) -> None:
    client, _ = local
    refused(client.put("/_mock/scenario", json=body), 400, "invalid_scenario")


# -- scenarios uploaded ----------------------------------------------------------------------------------

def test_an_alias_bomb_is_refused_fast(local: tuple[TestClient, ServerState]) -> None:
    client, _ = local
    started = time.perf_counter()
    message = refused(client.put("/_mock/scenario", content=BILLION_LAUGHS.encode(),
                                 headers={"Content-Type": "application/yaml"}), 400, "invalid_scenario")
    assert time.perf_counter() - started < 1.0 and "aliases" in message


@pytest.mark.parametrize("content_type", ["application/yaml", "application/x-yaml", "text/yaml", "application/json"])
def test_a_scenario_comes_as_yaml_or_json(local: tuple[TestClient, ServerState], content_type: str) -> None:
    client, _ = local
    response = client.put("/_mock/scenario", content=GOOD.encode(), headers={"Content-Type": content_type})
    assert response.json()["scenario"] == "from-file"
    refused(client.put("/_mock/scenario", content=GOOD.encode(), headers={"Content-Type": "text/plain"}), 415,
            "unsupported_content_type")


def test_an_upload_is_parsed_off_the_event_loop(local: tuple[TestClient, ServerState],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import mockserver.scenarios

    loops: list[bool] = []
    parse = mockserver.scenarios.parse_scenario

    def watched(text: str, source: str = "<string>") -> Any:
        try:
            asyncio.get_running_loop()
            loops.append(True)
        except RuntimeError:
            loops.append(False)
        return parse(text, source)

    monkeypatch.setattr(mockserver.scenarios, "parse_scenario", watched)
    client, _ = local
    client.put("/_mock/scenario", content=GOOD.encode(), headers={"Content-Type": "application/yaml"})
    assert loops == [False]


# -- Starlette's own refusals ----------------------------------------------------------------------------

def test_unknown_urls_and_methods_get_the_envelope() -> None:
    """`bodies.http_error` (app.py registers it for HTTPException): 404 and 405 worded as live."""
    app = Starlette(routes=control.ROUTES, exception_handlers={HTTPException: bodies.http_error})
    app.state.mock = ServerState()
    with TestClient(app, base_url=BASE, client=LOOPBACK) as client:
        missing = client.get("/v1/nope")
        assert missing.status_code == 404
        assert missing.json() == {"error": {"message": "Invalid URL (GET /v1/nope)", "type": "invalid_request_error",
                                            "param": None, "code": None}}
        wrong = client.get("/_mock/reset")
        assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
        assert wrong.json()["error"]["message"] == "Invalid URL (GET /_mock/reset)"
