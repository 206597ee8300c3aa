"""`POST /v1/realtime/calls` (and `/v1/realtime/translations/calls`): a WebRTC call on an SDP offer; and the
call control routes `POST /v1/realtime/calls/{call_id}/accept|reject|refer|hangup` (reference 1.3-1.5).

The offer comes in both forms the SDKs send (transports.md 1.1): the raw SDP (`application/sdp`, with an
ephemeral key whose secret configures the session, or a standard key), or `multipart/form-data` with an
`sdp` part and an optional `session` JSON part (a standard key; the parts have no filename). The answer is
as live sends it: `201`, the SDP answer as `text/plain; charset=utf-8`, `Location:
/v1/realtime/calls/rtc_...`. A browser page on another origin posts its offer itself, so these routes
answer CORS (the preflight too) and expose `Location`. Errors are JSON in OpenAI's envelope.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mockserver import schema_store
from mockserver.protocol import handshake, session_config
from mockserver.protocol.calls import DEFAULT_REJECT_STATUS, Call, body_problem, call_not_found
from mockserver.protocol.errors import ApiError
from mockserver.protocol.faults import handshake_refusal
from mockserver.protocol.translation import apply_translation_update
from mockserver.rest.bodies import BodyRefused, error_response, invalid_url, read_body, read_json_object
from mockserver.rest.client_secrets import no_key
from mockserver.rest.forms import parse_form
from mockserver.state import SAFETY_HEADER, SCOPE_HEADER, SCOPE_QUERY, ServerState

OFFER_LIMIT = 256 * 1024  # an SDP offer is a few KiB
TRANSLATION_MODEL = "gpt-realtime-translate"
ACTIONS = ("accept", "reject", "refer", "hangup")
CORS = {"access-control-allow-origin": "*",
        "access-control-expose-headers": "Location, x-request-id, openai-processing-ms"}
PREFLIGHT = {**CORS, "access-control-allow-methods": "POST, OPTIONS", "access-control-max-age": "86400"}


def invalid_offer() -> ApiError:  # [unverified] the mock's own wording
    return ApiError("Invalid SDP offer: expected an SDP session description (v=0) with an audio or application "
                    "media section.", code="invalid_offer", param="sdp")


def unsupported_offer_type(given: str | None) -> ApiError:  # [unverified]
    return ApiError(f"Unsupported content type: '{given}'. Send the SDP offer as application/sdp, or as the `sdp` "
                    "part of multipart/form-data.", code="unsupported_content_type")


def bad_session_part() -> ApiError:  # [unverified]
    return ApiError("Invalid 'session': expected a JSON object.", code="invalid_type", param="session")


def _refused(status: int, error: ApiError) -> Response:
    return error_response(status, error, headers=CORS)


async def preflight(request: Request) -> Response:
    """A browser asks whether a page on another origin may post its offer (with these headers)."""
    asked = request.headers.get("access-control-request-headers", "authorization, content-type")
    return Response(status_code=204, headers={**PREFLIGHT, "access-control-allow-headers": asked})


async def create(request: Request) -> Response:
    return await _create(request, "realtime")


async def create_translation(request: Request) -> Response:
    return await _create(request, "translation")


def _unauthorized(request: Request, state: ServerState) -> Response | None:
    """The 401 for a request without a usable key, or None."""
    key = _bearer(request)
    if key is None:
        return _refused(401, no_key())
    if not state.key_is_valid(key):
        return _refused(401, handshake.invalid_api_key(key))
    return None


async def _create(request: Request, kind: str) -> Response:
    state: ServerState = request.app.state.mock
    unauthorized = _unauthorized(request, state)
    if unauthorized is not None:
        return unauthorized
    key = _bearer(request)
    assert key is not None
    secret = state.secret(key)
    if secret is not None and (secret.kind == "translation") != (kind == "translation"):
        return _refused(401, handshake.wrong_secret(secret.kind, kind))
    scope = state.scope(request.headers.get(SCOPE_HEADER) or request.query_params.get(SCOPE_QUERY))
    refusal = handshake_refusal(scope.faults)
    if refusal is not None and refusal[0] < 1000:  # a `refuse_handshake` fault with an HTTP status
        return _refused(refusal[0], refusal[1])
    try:
        offer, given = await _offer(request)
        initial, model = _session(kind, given if given is not None else (secret.session if secret else None))
    except BodyRefused as refused:
        return _refused(refused.status, refused.error)
    from mockserver.transports.webrtc import WebRtcCall  # aiortc loads with the first call

    safety = request.headers.get(SAFETY_HEADER) or (secret.safety_identifier if secret is not None else None)
    runtime = state.open_session(kind, model, scope.name, initial=initial, on_call=True, safety_identifier=safety)
    assert runtime.call_id is not None
    call = WebRtcCall(Call(runtime.call_id, "webrtc", scope.name, "active"), runtime, lambda: scope.faults)
    state.calls[call.call.call_id] = call
    runtime.on_ended(lambda: state.calls.pop(call.call.call_id, None))
    try:
        answer = await call.answer(offer)
    except Exception as exc:  # an offer aiortc cannot negotiate (no common codec, a malformed line)
        call.end("the offer could not be answered")
        return _refused(400, ApiError(f"Invalid SDP offer: {exc}", code="invalid_offer", param="sdp"))
    return Response(answer, status_code=201, media_type="text/plain; charset=utf-8",
                    headers={**CORS, "location": f"/v1/realtime/calls/{call.call.call_id}"})


async def _offer(request: Request) -> tuple[str, dict[str, Any] | None]:
    """The SDP offer and the session configuration sent beside it (None: none was sent)."""
    media_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    given: dict[str, Any] | None = None
    if media_type == "multipart/form-data":
        raw = await read_body(request, OFFER_LIMIT)  # refused at once when it says it is larger
        form = await parse_form(request.headers, raw, max_files=0, max_fields=8, max_part_size=OFFER_LIMIT)
        sdp, session = form.get("sdp"), form.get("session")
        offer = sdp if isinstance(sdp, str) else ""
        if session is not None:
            try:
                parsed = json.loads(session) if isinstance(session, str) else None
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict):
                raise BodyRefused(400, bad_session_part())
            given = parsed
    elif media_type in ("application/sdp", "text/plain", ""):
        offer = (await read_body(request, OFFER_LIMIT)).decode("utf-8", "replace")
    else:
        raise BodyRefused(415, unsupported_offer_type(request.headers.get("content-type")))
    if not offer.lstrip().startswith("v=0") or "\nm=" not in offer:
        raise BodyRefused(400, invalid_offer())
    return offer, given


def _session(kind: str, given: dict[str, Any] | None) -> tuple[dict[str, Any] | None, str]:
    """The session configuration to open the call with (checked as live checks it), and its model."""
    if kind == "translation":
        if given is not None:
            problems = schema_store.schemas().check_document("rest/translations.client_secrets.request",
                                                             {"session": {"model": TRANSLATION_MODEL, **given}})
            if problems:
                raise BodyRefused(400, problems[0])
        model = (given or {}).get("model") or TRANSLATION_MODEL
        apply_translation_update({"audio": {"input": {}, "output": {}}}, given or {})
        return given, model
    if given is None:
        return None, "gpt-realtime"
    problems = schema_store.schemas().check_document("rest/calls.create.request", {"sdp": "", "session": given})
    if problems:
        raise BodyRefused(400, problems[0])
    model = given.get("model") or "gpt-realtime"
    try:
        session_config.apply_update(session_config.new_realtime_session(session_id="", model=model, expires_at=0),
                                    given, audio_produced=False)
    except session_config.UpdateRejected as rejected:
        raise BodyRefused(400, rejected.error) from None
    return given, model


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


# -- call control ---------------------------------------------------------------------------------------

async def control(request: Request) -> Response:
    state: ServerState = request.app.state.mock
    unauthorized = _unauthorized(request, state)
    if unauthorized is not None:
        return unauthorized
    action = request.path_params["action"]
    if action not in ACTIONS:
        return error_response(404, invalid_url(request))
    leg = state.calls.get(request.path_params["call_id"])
    if leg is None:
        return _refused(404, call_not_found())
    try:
        body = await read_json_object(request)
    except BodyRefused as refused:
        return refused.response()
    schema = {"accept": "rest/calls.accept.request", "reject": "rest/calls.reject.request",
              "refer": "rest/calls.refer.request"}.get(action)
    problems = schema_store.schemas().check_document(schema, body) if schema else []
    problem = problems[0] if problems else body_problem(action, body)
    if problem is not None:
        return _refused(400, problem)
    wrong = leg.call.check(action)
    if wrong is not None:
        return _refused(*wrong)
    if action == "accept":
        try:
            _session("realtime", body)  # the session configuration, checked as a call's offer is
        except BodyRefused as refused:
            return _refused(refused.status, refused.error)
    if action == "hangup":
        leg.end("hangup")
    elif action == "accept":
        await leg.accept(body, safety_identifier=request.headers.get(SAFETY_HEADER))
    elif action == "reject":
        await leg.reject(body.get("status_code", DEFAULT_REJECT_STATUS))
    else:
        await leg.refer(body["target_uri"])
    return Response(status_code=200, headers=CORS)


ROUTES = [
    Route("/v1/realtime/calls", create, methods=["POST"]),
    Route("/v1/realtime/calls", preflight, methods=["OPTIONS"]),
    Route("/v1/realtime/translations/calls", create_translation, methods=["POST"]),
    Route("/v1/realtime/translations/calls", preflight, methods=["OPTIONS"]),
    Route("/v1/realtime/calls/{call_id}/{action:str}", control, methods=["POST"]),
]
