"""`POST /v1/realtime/client_secrets` and `POST /v1/realtime/translations/client_secrets`: ephemeral keys
(`ek_...`) that really work (reference 1.6, 1.7).

A secret carries a session configuration (realtime, transcription or translation); a WebSocket that
connects with it gets that session type, model and configuration (which the client may still change
with `session.update`), until the secret expires ("expiry only limits creating sessions"). A translation
secret opens only `/v1/realtime/translations`, the others only `/v1/realtime` (protocol/handshake.py).
"""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mockserver import schema_store
from mockserver.protocol import handshake, session_config
from mockserver.protocol.errors import ApiError
from mockserver.protocol.ids import IdSource
from mockserver.protocol.translation import apply_translation_update, new_translation_session
from mockserver.rest.bodies import BodyRefused, JsonBody, error_response, read_json_object
from mockserver.state import SAFETY_HEADER, ClientSecret, ServerState

DEFAULT_TTL = 600  # seconds (reference 1.6)


def no_key() -> ApiError:
    return ApiError("You didn't provide an API key. You need to provide your API key in an Authorization header "
                    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank "
                    "username) if you're accessing the API from your browser and are prompted for a username and "
                    "password. You can obtain an API key from https://platform.openai.com/account/api-keys.")


def session_object(kind: str, given: dict[str, Any], session_id: str, expires_at: int) -> dict[str, Any]:
    """The session a secret describes, as the response shows it (the live example has `expires_at: 0`)."""
    if kind == "transcription":
        base = session_config.new_transcription_session(session_id=session_id, expires_at=expires_at)
        return session_config.apply_transcription_update(base, given)
    base = session_config.new_realtime_session(session_id=session_id, model=given.get("model") or "gpt-realtime",
                                               expires_at=expires_at)
    return session_config.apply_update(base, given, audio_produced=False)


async def _request(request: Request, schema: str) -> dict[str, Any] | Response:
    """The request's body, checked against its schema; or the error response."""
    if not request.headers.get("authorization", "").lower().startswith("bearer "):
        return error_response(401, no_key())
    try:
        body = await read_json_object(request)
    except BodyRefused as refused:
        return refused.response()
    problems = schema_store.schemas().check_document(schema, body)
    if problems:
        return error_response(400, problems[0])
    return body


def _mint(request: Request, kind: str, given: dict[str, Any], session: dict[str, Any], ttl: int) -> Response:
    state: ServerState = request.app.state.mock
    value = "ek_" + secrets.token_hex(16)
    # A safety identifier sent with the request is bound to the secret and to every session it opens.
    state.client_secrets[value] = ClientSecret(value, state.clock.now() + ttl, kind, given.get("model"), given,
                                               safety_identifier=request.headers.get(SAFETY_HEADER))
    return JsonBody({"value": value, "expires_at": int(state.clock.now() + ttl), "session": session})


async def create(request: Request) -> Response:
    body = await _request(request, "rest/client_secrets.request")
    if isinstance(body, Response):
        return body
    given = body.get("session") or {"type": "realtime"}
    kind = given.get("type", "realtime")
    try:
        session = session_object(kind, given, IdSource().session(), 0)
    except session_config.UpdateRejected as rejected:
        return error_response(400, rejected.error)
    ttl = (body.get("expires_after") or {}).get("seconds", DEFAULT_TTL)
    return _mint(request, kind, given, session, ttl)


async def create_translation(request: Request) -> Response:
    body = await _request(request, "rest/translations.client_secrets.request")
    if isinstance(body, Response):
        return body
    given = body["session"]
    if not given["model"].startswith(handshake.TRANSLATION_MODELS):
        return error_response(400, dataclasses.replace(handshake.invalid_translation_model(given["model"]),
                                                       param="session.model"))
    state: ServerState = request.app.state.mock
    ttl = (body.get("expires_after") or {}).get("seconds", DEFAULT_TTL)
    expires_at = int(state.clock.now() + ttl)  # the live example shows the secret's expiry in the session too
    base = new_translation_session(session_id=IdSource().session(), model=given["model"], expires_at=expires_at)
    return _mint(request, "translation", given, apply_translation_update(base, given), ttl)


ROUTES = [Route("/v1/realtime/client_secrets", create, methods=["POST"]),
          Route("/v1/realtime/translations/client_secrets", create_translation, methods=["POST"])]
