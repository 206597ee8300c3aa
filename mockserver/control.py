"""The admin API under `/_mock/`: reset, seed, scenarios, sessions and their journals, injection, faults.

Every request acts on one scope, named by the `X-Mock-Scope` header or the `mock_scope` query
parameter (default `default`), so parallel tests on one server keep apart.

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
| `GET /_mock/requests` | the scope's REST requests (`/v1/audio/*`, chat), oldest first (`?path=`, `?model=`) |

Who may call it (every route but health; a refusal is 403 `admin_forbidden`):

- The `Host` must name this server: `localhost`, a loopback address, the address the request came in
  on, or a name in `state.config.admin_hosts`. A web page that rebinds its own DNS name to 127.0.0.1
  sends its own name, and is refused (DNS rebinding).
- An `Origin`, when sent, must be this server's own (scheme, host and port of the `Host`): a web page
  on another origin is refused, for reads too.
- The caller must present the admin token when the server has one (`Authorization: Bearer <token>` or
  `X-Mock-Admin-Token`; then remote callers are welcome), and be on loopback when it has none. The
  peer is the socket's, never a forwarded header (uvicorn runs with `proxy_headers=False`).
- A body must be JSON (`application/json`; a scenario may also be YAML: `application/yaml`,
  `application/x-yaml`, `text/yaml`) and say so: a browser sends `text/plain` or untyped bodies to
  any site without asking it first (415 otherwise). Bodies are limited as `rest/bodies.py` says.
- `PUT /_mock/scenario {"path": ...}` reads only `.yaml`, `.yml` and `.json` files under the scenario
  folders (`state.config.scenario_dirs`; default: the working directory the server started in, which
  is also what a relative path is relative to), symlinks followed; any other path is refused (403)
  without a word of its content. Uploads and files are parsed on a worker thread.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mockserver import __version__, schema_store
from mockserver.protocol.errors import ApiError
from mockserver.protocol.faults import Fault, FaultError
from mockserver.rest.bodies import (
    JSON_TYPES,
    SCENARIO_LIMIT,
    YAML_TYPES,
    BodyRefused,
    JsonBody,
    check_content_type,
    error_response,
    parse_json,
    read_body,
    read_json,
    read_json_object,
)
from mockserver.state import SCOPE_HEADER, SCOPE_QUERY, Scope, ServerState

if TYPE_CHECKING:
    from mockserver.scenarios import Scenario

Handler = Callable[[Request], Awaitable[Response]]

FORBIDDEN = "admin_forbidden"
SCENARIO_SUFFIXES = (".yaml", ".yml", ".json")
# The default scenario folder: the working directory when the server started (this module is imported then).
START_DIR = Path.cwd()


def _error(status: int, message: str, code: str | None = None, param: str | None = None) -> Response:
    return error_response(status, ApiError(message, code=code, param=param))


def _refused(status: int, message: str, code: str, param: str | None = None) -> BodyRefused:
    return BodyRefused(status, ApiError(message, code=code, param=param))


# -- who may call -------------------------------------------------------------------------------------

_HOST = re.compile(r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9._-]+))(?::(?P<port>[0-9]{1,5}))?")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _normal_name(name: str) -> str:
    """A host name in lower case without a trailing dot, an IP address in its canonical form."""
    name = name.lower().removesuffix(".")
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name


def _split_host(value: str) -> tuple[str, int | None] | None:
    """(name, port) of a `Host` header; None when it is not a host and port."""
    match = _HOST.fullmatch(value.strip())
    if match is None:
        return None
    return _normal_name(match["ipv6"] or match["name"]), int(match["port"]) if match["port"] else None


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None  # ::ffff:127.0.0.1
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def _names_this_server(name: str, request: Request, state: ServerState) -> bool:
    """`localhost`, a loopback address, the address the request came in on, or a configured name: names a
    page elsewhere cannot make its own (an IP literal is never looked up, so it cannot be rebound)."""
    if name == "localhost" or _is_loopback(name):
        return True
    server = request.scope.get("server")
    if server and name == _normal_name(str(server[0])):
        return True
    configured = (_split_host(str(host)) for host in state.config.admin_hosts)
    return name in {host[0] for host in configured if host is not None}


def _is_cross_origin(request: Request, host: tuple[str, int | None]) -> bool:
    """An `Origin` was sent and is not this server's: scheme, host and port of the request's `Host`."""
    origin = request.headers.get("origin")
    if origin is None:
        return False
    scheme = str(request.scope.get("scheme", "http"))
    own = (scheme, host[0], host[1] or _DEFAULT_PORTS.get(scheme))
    try:
        parts = urlsplit(origin)
        theirs = (parts.scheme, _normal_name(parts.hostname or ""), parts.port or _DEFAULT_PORTS.get(parts.scheme))
    except ValueError:  # a port that is not a number
        return True
    return theirs != own


def _presented_token(request: Request) -> bytes:
    given = request.headers.get("x-mock-admin-token")
    if not given:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        given = credentials.strip() if scheme.lower() == "bearer" else ""
    return given.encode("latin-1")  # headers are read as latin-1: these are the bytes sent


def _caller_allowed(request: Request, state: ServerState) -> bool:
    """With a token, whoever presents it (compared in constant time); without, loopback peers only."""
    token = state.config.admin_token
    if token:
        return hmac.compare_digest(_presented_token(request), token.encode("utf-8"))
    # `client` is the socket's peer: uvicorn runs with proxy_headers=False, and no forwarded header is read.
    return request.client is not None and _is_loopback(request.client.host)


def _refusal(request: Request, state: ServerState) -> str | None:
    """Why this request may not use the admin API; None when it may."""
    given_host = request.headers.get("host", "")
    host = _split_host(given_host)
    if host is None or not _names_this_server(host[0], request, state):
        return (f"The admin API answers requests addressed to this server by a name it knows (localhost, a "
                f"loopback address, or a configured admin host), not Host {given_host!r}.")
    if _is_cross_origin(request, host):
        return f"The admin API refuses cross-origin requests (Origin {request.headers['origin']!r})."
    if not _caller_allowed(request, state):
        return "The admin API answers loopback clients only, or callers with the admin token."
    return None


def admin(handler: Callable[[Request, ServerState, Scope], Awaitable[Response]]) -> Handler:
    async def guarded(request: Request) -> Response:
        state: ServerState = request.app.state.mock
        refusal = _refusal(request, state)
        if refusal is not None:
            return _error(403, refusal, FORBIDDEN)
        name = request.headers.get(SCOPE_HEADER) or request.query_params.get(SCOPE_QUERY)
        try:
            return await handler(request, state, state.scope(name))
        except BodyRefused as refused:
            return refused.response()
    return guarded


# -- routes -------------------------------------------------------------------------------------------

async def health(request: Request) -> Response:
    sdk = schema_store.manifest()["sdk"]
    return JsonBody({"status": "ok", "version": __version__, "schemas_sdk": f"{sdk['package']}=={sdk['version']}"})


def _seed_in(body: dict[str, Any], *, required: bool) -> int | None:
    seed = body.get("seed")
    if (seed is None and not required) or (isinstance(seed, int) and not isinstance(seed, bool)):
        return seed
    raise _refused(400, 'Expected a JSON body {"seed": <integer>}.', "invalid_seed", "seed")


@admin
async def reset(request: Request, state: ServerState, scope: Scope) -> Response:
    seed = _seed_in(await read_json_object(request, type_required=True), required=False)
    if request.query_params.get("all") in ("1", "true"):
        state.reset(seed)
    else:
        scope.reset(seed)
    return JsonBody({"scope": scope.name, "seed": scope.seed})


@admin
async def seed(request: Request, state: ServerState, scope: Scope) -> Response:
    given = _seed_in(await read_json_object(request, type_required=True), required=True)
    assert given is not None
    scope.reseed(given)
    return JsonBody({"scope": scope.name, "seed": scope.seed})


@admin
async def scenario(request: Request, state: ServerState, scope: Scope) -> Response:
    from mockserver.scenarios import ScenarioError, ScenarioResponder

    if request.method == "GET":
        return JsonBody({"scope": scope.name, "scenario": scope.scenario_name,
                         "faults": [f.as_dict() for f in scope.faults]})
    if request.method == "DELETE":
        scope.use_default_responder()
        return JsonBody({"scope": scope.name, "scenario": scope.scenario_name})
    check_content_type(request, (*JSON_TYPES, *YAML_TYPES), required=True)
    raw = await read_body(request, SCENARIO_LIMIT)
    session_id = request.query_params.get("session_id")
    try:
        # Parsed on a worker thread: a large scenario takes a while, and the sessions go on meanwhile.
        loaded = await run_in_threadpool(_scenario_from, raw, _scenario_folders(state))
        if session_id:
            runtime = state.registry.session(session_id)
            if runtime is None or runtime.scope != scope.name:
                return _error(404, f"No live session with id '{session_id}'.", "session_not_found")
            faults = [Fault.from_dict(spec) for spec in loaded.faults]
            runtime.core.responder = ScenarioResponder(loaded)
            added = [scope.add_fault(fault).as_dict() for fault in faults]
        else:
            added = [f.as_dict() for f in scope.use_scenario(loaded)]
    except (ScenarioError, ValueError) as exc:
        return _error(400, str(exc), "invalid_scenario")
    return JsonBody({"scope": scope.name, "scenario": loaded.name, "session_id": session_id, "faults": added})


@admin
async def sessions(request: Request, state: ServerState, scope: Scope) -> Response:
    listed = [{**journal.summary(), "live": sid in scope.sessions} for sid, journal in scope.journals.items()]
    return JsonBody({"scope": scope.name, "sessions": listed})


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
    return JsonBody({"session": {**found.summary(), "live": session_id in scope.sessions}, "entries": entries})


@admin
async def inject(request: Request, state: ServerState, scope: Scope) -> Response:
    session_id = request.path_params["session_id"]
    event = await read_json(request, type_required=True)
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return _error(400, "Expected a JSON object with a string `type`: a server event.", "invalid_event")
    runtime = scope.sessions.get(session_id)
    if runtime is None:
        return _error(404, f"No live session with id '{session_id}' in scope '{scope.name}'.", "session_not_found")
    sent = runtime.inject(event)
    # Sent whatever it is (a test may want a malformed event); the schema's view is reported.
    return JsonBody({"event": sent, "schema_problems": schema_store.shape_errors(runtime.core.SERVER_EVENTS, sent)})


@admin
async def faults(request: Request, state: ServerState, scope: Scope) -> Response:
    if request.method == "DELETE":
        scope.faults.clear()
    elif request.method == "POST":
        body = await read_json(request, type_required=True)
        specs = body if isinstance(body, list) else [body]
        parsed = []
        for index, spec in enumerate(specs):
            try:
                parsed.append(Fault.from_dict(spec))
            except FaultError as exc:
                where = f"[{index}]" if isinstance(body, list) else ""
                param = f"{where}.{exc.field}" if where and exc.field else where or exc.field
                return _error(400, str(exc), "invalid_fault", param)
        added = [scope.add_fault(f).as_dict() for f in parsed]
        return JsonBody({"scope": scope.name, "added": added, "faults": [f.as_dict() for f in scope.faults]})
    return JsonBody({"scope": scope.name, "faults": [f.as_dict() for f in scope.faults]})


@admin
async def fault(request: Request, state: ServerState, scope: Scope) -> Response:
    fault_id = request.path_params["fault_id"]
    if not scope.remove_fault(fault_id):
        return _error(404, f"No fault with id '{fault_id}' in scope '{scope.name}'.", "fault_not_found")
    return JsonBody({"scope": scope.name, "faults": [f.as_dict() for f in scope.faults]})


@admin
async def requests(request: Request, state: ServerState, scope: Scope) -> Response:
    found = scope.rest.list(request.query_params.get("path"), request.query_params.get("model"))
    return JsonBody({"scope": scope.name, "requests": found})


# -- scenarios from a body or a file (on a worker thread) --------------------------------------------------

def _scenario_folders(state: ServerState) -> tuple[Path, ...]:
    """The folders `{"path": ...}` may name files in, resolved (`state.config.scenario_dirs`, else START_DIR)."""
    configured = state.config.scenario_dirs
    return tuple(Path(folder).resolve() for folder in (configured if configured is not None else (START_DIR,)))


def _scenario_from(raw: bytes, folders: tuple[Path, ...]) -> Scenario:
    """The scenario a `PUT /_mock/scenario` body gives: in full (YAML or JSON), or `{"path": ...}` of a file."""
    from mockserver.scenarios import parse_scenario

    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _refused(400, f"The scenario is not UTF-8 text ({error.reason} at byte {error.start}).",
                       "invalid_scenario") from None
    path = _pointer(text)
    if path is None:
        return parse_scenario(text, source="<PUT /_mock/scenario>")
    return _read_scenario_file(path, folders)


def _pointer(text: str) -> str | None:
    """The path in a `{"path": "..."}` body; None when the body is a scenario itself."""
    if not text.lstrip().startswith("{"):
        return None
    try:
        value = parse_json(text.encode("utf-8"))
    except BodyRefused:
        return None  # not JSON: the scenario parser says where it goes wrong
    if not (isinstance(value, dict) and set(value) == {"path"}):
        return None
    path = value["path"]
    if not isinstance(path, str) or not path:
        raise _refused(400, "`path` must be the path of a scenario file (a non-empty string).", "invalid_scenario",
                       "path")
    return path


def _read_scenario_file(given: str, folders: tuple[Path, ...]) -> Scenario:
    """A scenario file under one of `folders` (symlinks followed). Nothing outside them is opened, and no error
    about a file that is not a scenario file says anything of its content."""
    from mockserver.scenarios import load_scenario

    try:
        path = Path(given).resolve()
    except (OSError, ValueError, RuntimeError) as error:  # a NUL byte, a symlink loop, a name the system refuses
        raise _refused(400, f"Cannot use the path {given!r}: {error}.", "invalid_scenario", "path") from None
    if not any(path.is_relative_to(folder) for folder in folders):
        raise _refused(403, f"The path {given!r} is outside the folders the admin API reads scenarios from "
                            f"({', '.join(map(str, folders))}).", "scenario_path_forbidden", "path")
    if path.suffix.lower() not in SCENARIO_SUFFIXES:
        raise _refused(400, f"{given}: not a scenario file (scenario files end in {', '.join(SCENARIO_SUFFIXES)}).",
                       "invalid_scenario", "path")
    try:
        found = path.stat()
    except OSError as error:
        raise _refused(400, f"{given}: cannot read the scenario: {error.strerror or error}.", "invalid_scenario",
                       "path") from None
    if not stat.S_ISREG(found.st_mode):
        raise _refused(400, f"{given}: not a regular file.", "invalid_scenario", "path")
    if found.st_size > SCENARIO_LIMIT:
        raise _refused(400, f"{given}: {found.st_size} bytes, more than a scenario may have ({SCENARIO_LIMIT}).",
                       "invalid_scenario", "path")
    return load_scenario(path)


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
    Route("/_mock/requests", requests, methods=["GET"]),
]
