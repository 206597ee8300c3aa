"""`POST /v1/realtime/client_secrets`: ephemeral keys (`ek_...`) that really work (reference 1.6).

A secret carries a session configuration (realtime or transcription); a WebSocket that connects with it
gets that session type, model and configuration (which the client may still change with
`session.update`), until the secret expires ("expiry only limits creating sessions").
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mockserver import schema_store
from mockserver.protocol import session_config
from mockserver.protocol.errors import ApiError
from mockserver.protocol.ids import IdSource
from mockserver.state import ClientSecret, ServerState

DEFAULT_TTL = 600  # seconds (reference 1.6)


def no_key() -> ApiError:
    return ApiError("You didn't provide an API key. You need to provide your API key in an Authorization header "
                    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank "
                    "username) if you're accessing the API from your browser and are prompted for a username and "
                    "password. You can obtain an API key from https://platform.openai.com/account/api-keys.")


def _error(status: int, error: ApiError) -> JSONResponse:
    return JSONResponse({"error": {k: v for k, v in error.payload().items() if k != "event_id"}}, status_code=status)


def session_object(kind: str, given: dict[str, Any], session_id: str, expires_at: int) -> dict[str, Any]:
    """The session a secret describes, as the response shows it (the live example has `expires_at: 0`)."""
    if kind == "transcription":
        base = session_config.new_transcription_session(session_id=session_id, expires_at=expires_at)
        return session_config.apply_transcription_update(base, given)
    base = session_config.new_realtime_session(session_id=session_id, model=given.get("model") or "gpt-realtime",
                                               expires_at=expires_at)
    return session_config.apply_update(base, given, audio_produced=False)


async def create(request: Request) -> JSONResponse:
    state: ServerState = request.app.state.mock
    if not request.headers.get("authorization", "").lower().startswith("bearer "):
        return _error(401, no_key())
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        return _error(400, ApiError(f"We could not parse the JSON body of your request. ({exc})"))
    if not isinstance(body, dict):
        return _error(400, ApiError("We could not parse the JSON body of your request: expected an object."))
    problems = schema_store.schemas().check_document("rest/client_secrets.request", body)
    if problems:
        return _error(400, problems[0])
    given = body.get("session") or {"type": "realtime"}
    kind = given.get("type", "realtime")
    ttl = (body.get("expires_after") or {}).get("seconds", DEFAULT_TTL)
    now = state.clock.now()
    try:
        session = session_object(kind, given, IdSource().session(), 0)
    except session_config.UpdateRejected as rejected:
        return _error(400, rejected.error)
    value = "ek_" + secrets.token_hex(16)
    state.client_secrets[value] = ClientSecret(value, now + ttl, kind, given.get("model"), given)
    return JSONResponse({"value": value, "expires_at": int(now + ttl), "session": session})


ROUTES = [Route("/v1/realtime/client_secrets", create, methods=["POST"])]
