"""The retired beta REST endpoints (reference 1.8), served only with `ServerConfig.beta = "shim"`.

* `POST /v1/realtime/sessions`: a flat beta session (`schemas/rest/beta.sessions.request`) ->
  the session object plus `client_secret: {value: "ek_…", expires_at}` (default TTL 60 s, "all
  tokens expire after one minute"; `client_secret.expires_after.seconds` 10-7200 overrides it).
  The session is built as the WebSocket shim builds one: the GA defaults, the request translated to
  a GA update and applied, the result flattened back (mockserver/beta.py).
* `POST /v1/realtime/transcription_sessions`: the same for a transcription session (the TTL sits in
  `client_secret.expires_at.seconds`, as the SDK names it). The mock mints it but does not serve
  transcription sessions over the WebSocket yet.

Otherwise (`beta = "reject"`, the default) both answer 404 with the API's error body for an unknown URL.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mockserver import beta, schema_store
from mockserver.protocol import errors, handshake, session_config
from mockserver.protocol.errors import ApiError
from mockserver.protocol.ids import IdSource
from mockserver.rest.bodies import BodyRefused, JsonBody, error_response, invalid_url, read_json_object
from mockserver.state import SCOPE_HEADER, SCOPE_QUERY, ClientSecret, ServerState

DEFAULT_TTL_SECONDS = 60  # "Currently, all tokens expire after one minute." [SDK beta session_create_response]
TTL_RANGE = (10, 7200)  # as for GA client secrets [SPEC; reference 5.4]


def missing_key() -> ApiError:
    return ApiError("You didn't provide an API key. You need to provide your API key in an Authorization header "
                    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank "
                    "username) if you're accessing the API from your browser and are prompted for a username and "
                    "password. You can obtain an API key from https://platform.openai.com/account/api-keys.")


async def _request(request: Request, event_type: str) -> tuple[ServerState, dict[str, Any] | None, Response | None]:
    """The state and the validated body (its documented nulls kept), or the error response."""
    state: ServerState = request.app.state.mock
    if state.config.beta != "shim":
        return state, None, error_response(404, invalid_url(request))
    scheme, _, key = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return state, None, error_response(401, missing_key())
    if not state.config.key_is_valid(key.strip()):
        return state, None, error_response(401, handshake.invalid_api_key(key.strip()))
    try:
        body = await read_json_object(request)
    except BodyRefused as refused:
        return state, None, refused.response()
    # The request schemas are the `session` of the matching beta client event (a unit test holds them
    # equal), so the beta validator words the problems; only the `session.` prefix goes.
    stripped, nulls = beta.strip_documented_nulls(body)
    problems = beta.validator().check({"type": event_type, "session": stripped})[1]
    if problems:
        return state, None, error_response(400, _unprefixed(problems[0]))
    return state, {**stripped, **nulls}, None


def _unprefixed(error: ApiError) -> ApiError:
    param = error.param.removeprefix("session.") if error.param else error.param
    return ApiError(error.message.replace("'session.", "'"), type=error.type, code=error.code, param=param)


def _client_secret(state: ServerState, ids: IdSource, expiry: dict[str, Any] | None, *, kind: str,
                   model: str | None, session: dict[str, Any]) -> dict[str, Any] | ApiError:
    """A `client_secret` that really opens sessions (registered with the GA client secrets)."""
    seconds = (expiry or {}).get("seconds", DEFAULT_TTL_SECONDS)
    low, high = TTL_RANGE
    if not low <= seconds <= high:
        where = "client_secret.expires_after.seconds"
        return errors.out_of_range(where, seconds, low if seconds < low else high, integer=True, below=seconds < low)
    value = "ek_" + "".join(f"{ids.randint(0, 255):02x}" for _ in range(16))
    expires_at = state.clock.now() + seconds
    state.client_secrets[value] = ClientSecret(value, expires_at, kind, model, session)
    return {"value": value, "expires_at": int(expires_at)}


def _ids(request: Request, state: ServerState) -> IdSource:
    scope = state.scope(request.headers.get(SCOPE_HEADER) or request.query_params.get(SCOPE_QUERY))
    return IdSource(scope.child_seed())


async def create_session(request: Request) -> Response:
    state, body, failed = await _request(request, "session.update")
    if failed is not None:
        return failed
    assert body is not None
    temperature = body.get("temperature", beta.DEFAULT_TEMPERATURE)
    problem = beta.temperature_error(temperature, "temperature")
    if problem is not None:
        return error_response(400, problem)
    ids = _ids(request, state)
    session = session_config.new_realtime_session(
        session_id=ids.session(), model=body.get("model", beta.DEFAULT_MODEL),
        expires_at=int(state.clock.now() + session_config.SESSION_SECONDS))
    update = beta.session_to_ga(body)
    problems = schema_store.schemas().check_document("realtime/client/session.update",
                                                     {"type": "session.update", "session": update})
    if problems:  # beta-valid but not GA-valid: said in the beta names
        error = beta.error_to_beta(problems[0].payload())
        return error_response(400, _unprefixed(ApiError(error["message"], code=error["code"], param=error["param"])))
    try:
        session = session_config.apply_update(session, update, audio_produced=False)
    except session_config.UpdateRejected as rejected:
        return error_response(400, rejected.error)
    secret = _client_secret(state, ids, (body.get("client_secret") or {}).get("expires_after"), kind="realtime",
                            model=session["model"], session=update)
    if isinstance(secret, ApiError):
        return error_response(400, secret)
    return JsonBody({**beta.session_to_beta(session, temperature), "client_secret": secret})


async def create_transcription_session(request: Request) -> Response:
    state, body, failed = await _request(request, "transcription_session.update")
    if failed is not None:
        return failed
    assert body is not None
    ids = _ids(request, state)
    given_vad = body.get("turn_detection", {})
    vad = session_config.normalize_turn_detection(beta.turn_detection_to_ga(given_vad))
    secret = _client_secret(state, ids, (body.get("client_secret") or {}).get("expires_at"), kind="transcription",
                            model=None, session={"type": "transcription"})
    if isinstance(secret, ApiError):
        return error_response(400, _renamed_expiry(secret))
    return JsonBody({
        "id": ids.session(),
        "object": "realtime.transcription_session",
        "expires_at": int(state.clock.now() + session_config.SESSION_SECONDS),
        "modalities": body.get("modalities", ["text"]),
        "input_audio_format": body.get("input_audio_format", "pcm16"),
        "input_audio_transcription": beta.transcription_to_beta(body.get("input_audio_transcription")),
        "input_audio_noise_reduction": body.get("input_audio_noise_reduction"),
        "turn_detection": beta.turn_detection_to_beta(vad),
        "include": body.get("include"),
        "client_secret": secret,
    })


def _renamed_expiry(error: ApiError) -> ApiError:
    """The transcription request names the TTL `client_secret.expires_at.seconds` (SDK)."""
    param = "client_secret.expires_at.seconds"
    return ApiError(error.message.replace("client_secret.expires_after.seconds", param), code=error.code, param=param)


ROUTES = [
    Route("/v1/realtime/sessions", create_session, methods=["POST"]),
    Route("/v1/realtime/transcription_sessions", create_transcription_session, methods=["POST"]),
]
