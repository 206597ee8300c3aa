"""The admin API under `/_mock/`: reset, seed, scenarios, sessions and their journals, injection, faults.

Every request acts on one scope, named by the `X-Mock-Scope` header or the `mock_scope` query
parameter (default `default`), so parallel tests on one server keep apart. Only loopback clients
may call it, unless the server has an admin token, which every caller must then present
(`Authorization: Bearer <token>` or `X-Mock-Admin-Token`).

| method and path | does |
|---|---|
| `GET /_mock/health` | liveness and versions (open to all) |
| `POST /_mock/reset` | the scope back to defaults (`{"seed": n}` optional; `?all=1` for every scope) |
| `POST /_mock/seed` | `{"seed": n}`: reseed the scope's ids |
| `GET/PUT/DELETE /_mock/scenario` | PUT a scenario (YAML/JSON text or `{"path": ...}`); `?session_id=` |
| `GET /_mock/sessions` | the scope's sessions, live and closed |
| `GET /_mock/sessions/{id}/journal` | every frame of a session (`?direction=client|server`, `?type=`) |
| `POST /_mock/sessions/{id}/events` | send a server event into a live session |
| `GET/POST/DELETE /_mock/faults`, `DELETE /_mock/faults/{id}` | list, add (one or a list), remove faults |
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mockserver import __version__, schema_store
from mockserver.protocol.faults import Fault
from mockserver.state import SCOPE_HEADER, SCOPE_QUERY, Scope, ServerState

Handler = Callable[[Request], Awaitable[Response]]


def _error(status: int, message: str, code: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error", "param": None,
                                   "code": code}}, status_code=status)


def _allowed(request: Request, state: ServerState) -> bool:
    token = state.config.admin_token
    if token:
        given = request.headers.get("x-mock-admin-token") or request.headers.get("authorization", "")
        given = given.removeprefix("Bearer ").strip()
        return hmac.compare_digest(given, token)
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def admin(handler: Callable[[Request, ServerState, Scope], Awaitable[Response]]) -> Handler:
    async def guarded(request: Request) -> Response:
        state: ServerState = request.app.state.mock
        if not _allowed(request, state):
            return _error(403, "The admin API answers loopback clients only, or callers with the admin token.",
                          "admin_forbidden")
        name = request.headers.get(SCOPE_HEADER) or request.query_params.get(SCOPE_QUERY)
        return await handler(request, state, state.scope(name))
    return guarded


async def _json(request: Request) -> Any:
    body = await request.body()
    return json.loads(body) if body.strip() else None


async def health(request: Request) -> JSONResponse:
    sdk = schema_store.manifest()["sdk"]
    return JSONResponse({"status": "ok", "version": __version__, "schemas_sdk": f"{sdk['package']}=={sdk['version']}"})


@admin
async def reset(request: Request, state: ServerState, scope: Scope) -> Response:
    body = await _json(request) or {}
    seed = body.get("seed")
    if request.query_params.get("all") in ("1", "true"):
        state.reset(seed)
    else:
        scope.reset(seed)
    return JSONResponse({"scope": scope.name, "seed": scope.seed})


@admin
async def seed(request: Request, state: ServerState, scope: Scope) -> Response:
    body = await _json(request) or {}
    if not isinstance(body.get("seed"), int):
        return _error(400, "Expected a JSON body {\"seed\": <integer>}.", "invalid_seed")
    scope.reseed(body["seed"])
    return JSONResponse({"scope": scope.name, "seed": scope.seed})


@admin
async def scenario(request: Request, state: ServerState, scope: Scope) -> Response:
    from mockserver.scenarios import ScenarioError, ScenarioResponder, load_scenario, parse_scenario

    if request.method == "GET":
        return JSONResponse({"scope": scope.name, "scenario": scope.scenario_name,
                             "faults": [f.as_dict() for f in scope.faults]})
    if request.method == "DELETE":
        scope.use_default_responder()
        return JSONResponse({"scope": scope.name, "scenario": scope.scenario_name})
    text = (await request.body()).decode("utf-8", "replace")
    try:
        pointer = json.loads(text) if text.lstrip().startswith("{") else None
        if isinstance(pointer, dict) and set(pointer) == {"path"}:
            loaded = load_scenario(pointer["path"])
        else:
            loaded = parse_scenario(text, source="<PUT /_mock/scenario>")
        session_id = request.query_params.get("session_id")
        if session_id:
            runtime = state.registry.session(session_id)
            if runtime is None or runtime.scope != scope.name:
                return _error(404, f"No live session with id '{session_id}'.", "session_not_found")
            faults = [Fault.from_dict(dict(spec)) for spec in loaded.faults]
            runtime.core.responder = ScenarioResponder(loaded)
            added = [scope.add_fault(fault).as_dict() for fault in faults]
        else:
            added = [f.as_dict() for f in scope.use_scenario(loaded)]
    except (ScenarioError, ValueError, OSError) as exc:
        return _error(400, str(exc), "invalid_scenario")
    return JSONResponse({"scope": scope.name, "scenario": loaded.name, "session_id": session_id, "faults": added})


@admin
async def sessions(request: Request, state: ServerState, scope: Scope) -> Response:
    listed = [{**journal.summary(), "live": sid in scope.sessions} for sid, journal in scope.journals.items()]
    return JSONResponse({"scope": scope.name, "sessions": listed})


@admin
async def journal(request: Request, state: ServerState, scope: Scope) -> Response:
    session_id = request.path_params["session_id"]
    found = scope.journals.get(session_id)
    if found is None:
        return _error(404, f"No session with id '{session_id}' in scope '{scope.name}'.", "session_not_found")
    direction, event_type = request.query_params.get("direction"), request.query_params.get("type")
    entries = [e for e in found.entries
               if (direction is None or e["direction"] == direction)
               and (event_type is None or (isinstance(e["event"], dict) and e["event"].get("type") == event_type))]
    return JSONResponse({"session": {**found.summary(), "live": session_id in scope.sessions}, "entries": entries})


@admin
async def inject(request: Request, state: ServerState, scope: Scope) -> Response:
    session_id = request.path_params["session_id"]
    try:
        event = await _json(request)
    except ValueError as exc:
        return _error(400, f"The body is not JSON: {exc}", "invalid_json")
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return _error(400, "Expected a JSON object with a string `type`: a server event.", "invalid_event")
    runtime = scope.sessions.get(session_id)
    if runtime is None:
        return _error(404, f"No live session with id '{session_id}' in scope '{scope.name}'.", "session_not_found")
    sent = runtime.inject(event)
    # Sent whatever it is (a test may want a malformed event); the schema's view is reported.
    return JSONResponse({"event": sent, "schema_problems": schema_store.shape_errors("realtime/server", sent)})


@admin
async def faults(request: Request, state: ServerState, scope: Scope) -> Response:
    if request.method == "DELETE":
        scope.faults.clear()
    elif request.method == "POST":
        try:
            body = await _json(request)
            specs = body if isinstance(body, list) else [body]
            parsed = [Fault.from_dict(dict(spec)) for spec in specs]
        except (ValueError, TypeError) as exc:
            return _error(400, str(exc), "invalid_fault")
        added = [scope.add_fault(f).as_dict() for f in parsed]
        return JSONResponse({"scope": scope.name, "added": added, "faults": [f.as_dict() for f in scope.faults]})
    return JSONResponse({"scope": scope.name, "faults": [f.as_dict() for f in scope.faults]})


@admin
async def fault(request: Request, state: ServerState, scope: Scope) -> Response:
    fault_id = request.path_params["fault_id"]
    if not scope.remove_fault(fault_id):
        return _error(404, f"No fault with id '{fault_id}' in scope '{scope.name}'.", "fault_not_found")
    return JSONResponse({"scope": scope.name, "faults": [f.as_dict() for f in scope.faults]})


ROUTES = [
    Route("/_mock/health", health),
    Route("/_mock/reset", reset, methods=["POST"]),
    Route("/_mock/seed", seed, methods=["POST"]),
    Route("/_mock/scenario", scenario, methods=["GET", "PUT", "DELETE"]),
    Route("/_mock/sessions", sessions, methods=["GET"]),
    Route("/_mock/sessions/{session_id}/journal", journal, methods=["GET"]),
    Route("/_mock/sessions/{session_id}/events", inject, methods=["POST"]),
    Route("/_mock/faults", faults, methods=["GET", "POST", "DELETE"]),
    Route("/_mock/faults/{fault_id}", fault, methods=["DELETE"]),
]
