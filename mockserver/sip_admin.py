"""The admin API's calls and SIP routes (scoped and guarded like the rest of `/_mock/`, control.py).

| method and path | does |
|---|---|
| `GET /_mock/calls` | the scope's live calls (WebRTC, SIP; pending, active): id, kind, state, session, SIP details |
| `GET/PUT/DELETE /_mock/webhook` | the scope's webhook for SIP calls: `{"url", "secret"}` (DELETE: the server's) |
| `POST /_mock/sip/calls` | place a simulated incoming call (a real UAC on loopback, sip_client.py) |
| `GET /_mock/sip/calls/{call_id}` | a simulated call's side: state, final status, REFER target, what it heard |
| `POST /_mock/sip/calls/{call_id}/audio` | it speaks: `{"audio": base64 PCM16 24 kHz}` or `{"text": ...}` |
| `POST /_mock/sip/calls/{call_id}/dtmf` | it presses keys: `{"digits": "12#"}` (RFC 4733) |
| `POST /_mock/sip/calls/{call_id}/hangup` | it hangs up (BYE; CANCEL while it rings) |

`POST /_mock/sip/calls` takes `{"headers": [{"name", "value"}] or {name: value}, "codec": "PCMU"|"PCMA",
"audio": base64, "text": "..."}` (all optional; `From` and `To` among the headers name the parties; the audio
plays once the call is answered) and answers 201 with the pending call's `call_id`, as the webhook names it.
The call comes in through the SIP endpoint like any other: the scope's webhook fires, and the app (or the test)
accepts it with `POST /v1/realtime/calls/{call_id}/accept`. Without `serve --sip-port`, the first simulated
call opens a SIP endpoint on loopback.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mockserver.control import admin
from mockserver.protocol.errors import ApiError
from mockserver.rest.bodies import BodyRefused, JsonBody, error_response, read_json_object
from mockserver.sip import rtp
from mockserver.state import Scope, ServerState

if TYPE_CHECKING:  # the SIP machinery (numpy, the webhook signer) loads with the first call, not at start-up
    from mockserver.sip_client import SipCaller

KEPT_CALLERS = 100  # simulated calls whose side stays readable (the oldest go first)


async def place_call(state: ServerState, scope: str, *, headers: Any = (), codecs: tuple[str, ...] = ("PCMU", "PCMA"),
                     audio: bytes | None = None) -> SipCaller:
    """A simulated incoming call in `scope` through the SIP endpoint; returns once it rings (or was refused)."""
    from mockserver.sip_client import SipCaller
    from mockserver.transports import sip

    endpoint = await sip.endpoint(state)
    host, port = endpoint.address
    caller = await SipCaller.dial(host, port, headers=headers, scope=scope, codecs=codecs, audio=audio)
    leg = endpoint.calls.get(caller.sip_call_id)
    caller.call_id = leg.call.call_id if leg is not None else ""
    callers: dict[str, SipCaller] = endpoint.callers
    callers[caller.call_id or caller.sip_call_id] = caller
    while len(callers) > KEPT_CALLERS:
        await callers.pop(next(iter(callers))).close()
    return caller


def _refused(message: str, param: str | None = None, status: int = 400, code: str = "invalid_value") -> BodyRefused:
    return BodyRefused(status, ApiError(message, code=code, param=param))


@admin
async def calls(request: Request, state: ServerState, scope: Scope) -> Response:
    found = []
    for leg in state.calls.values():
        if leg.call.scope != scope.name:
            continue
        runtime = getattr(leg, "runtime", None)
        described = {"call_id": leg.call.call_id, "kind": leg.call.kind, "state": leg.call.state,
                     "session_id": runtime.session_id if runtime is not None else None}
        if hasattr(leg, "describe"):
            described["sip"] = leg.describe()
        found.append(described)
    return JsonBody({"scope": scope.name, "calls": found})


@admin
async def webhook_config(request: Request, state: ServerState, scope: Scope) -> Response:
    if request.method == "PUT":
        body = await read_json_object(request, type_required=True)
        url, secret = body.get("url"), body.get("secret")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise _refused("`url` must be an http:// or https:// URL.", "url")
        if not isinstance(secret, str):
            raise _refused("`secret` must be the webhook secret (whsec_...).", "secret")
        try:
            from mockserver.sip import webhook

            webhook.secret_key(secret)
        except ValueError as exc:
            raise _refused(f"`secret`: {exc}.", "secret") from None
        scope.webhook = (url, secret)
    elif request.method == "DELETE":
        scope.webhook = None
    url = scope.webhook[0] if scope.webhook else state.config.webhook_url
    return JsonBody({"scope": scope.name, "url": url, "own": scope.webhook is not None})


@admin
async def place(request: Request, state: ServerState, scope: Scope) -> Response:
    body = await read_json_object(request, type_required=True)
    headers = _headers(body.get("headers", []))
    codec = body.get("codec")
    if codec is not None and codec not in ("PCMU", "PCMA"):
        raise _refused("`codec` must be PCMU or PCMA.", "codec")
    audio = _audio(body)
    try:
        caller = await place_call(state, scope.name, headers=headers, audio=audio,
                                  codecs=(codec,) if codec else ("PCMU", "PCMA"))
    except ValueError as exc:
        raise _refused(str(exc), "headers") from None
    except TimeoutError:
        return error_response(504, ApiError("The SIP endpoint did not answer the INVITE.", code="sip_timeout"))
    return JsonBody(_side(caller), status_code=201)


@admin
async def simulated(request: Request, state: ServerState, scope: Scope) -> Response:
    caller = _caller(request, state, scope)
    return JsonBody(_side(caller, with_audio=request.query_params.get("audio") in ("1", "true")))


@admin
async def act(request: Request, state: ServerState, scope: Scope) -> Response:
    caller = _caller(request, state, scope)
    action = request.path_params["action"]
    body = await read_json_object(request)
    if action == "hangup":
        await caller.hangup()
    elif action == "audio":
        audio = _audio(body)
        if audio is None:
            raise _refused("Expected `audio` (base64 PCM16 24 kHz) or `text`.", "audio")
        caller.speak(audio)
    elif action == "dtmf":
        digits, duration = body.get("digits"), body.get("duration_ms", 100)
        if not isinstance(digits, str) or not digits or any(key.upper() not in rtp.KEYS for key in digits):
            raise _refused(f"`digits` must be keypad keys ({rtp.KEYS}).", "digits")
        if not isinstance(duration, int) or not 40 <= duration <= 5000:
            raise _refused("`duration_ms` must be an integer from 40 to 5000.", "duration_ms")
        try:
            caller.dtmf(digits, duration)
        except RuntimeError as exc:
            raise _refused(f"{exc}.", code="invalid_call_state", status=409) from None
    else:
        raise _refused(f"No action '{action}' (audio, dtmf, hangup).", status=404, code="unknown_action")
    return JsonBody(_side(caller))


def _caller(request: Request, state: ServerState, scope: Scope) -> SipCaller:
    call_id = request.path_params["call_id"]
    caller = state.sip.callers.get(call_id) if state.sip is not None else None
    if caller is None or caller.scope != scope.name:
        raise _refused(f"No simulated SIP call '{call_id}' in scope '{scope.name}'.", status=404,
                       code="call_not_found")
    from mockserver.sip_client import SipCaller

    assert isinstance(caller, SipCaller)
    return caller


def _side(caller: SipCaller, *, with_audio: bool = False) -> dict[str, Any]:
    heard = caller.heard()
    from mockserver.audio.speech import transcribe

    said: dict[str, Any] = {"ms": len(heard) // 48, "transcript": transcribe(heard)}
    if with_audio:
        said["audio"] = base64.b64encode(heard).decode("ascii")
    return {"call_id": caller.call_id, "sip_call_id": caller.sip_call_id, "state": caller.state,
            "status": caller.status, "ended_by": caller.ended_by, "referred_to": caller.referred_to,
            "codec": caller.answer.codec if caller.answer else None, "heard": said}


def _headers(given: Any) -> list[tuple[str, str]]:
    if isinstance(given, dict) and all(isinstance(v, str) for v in given.values()):
        return [(str(name), value) for name, value in given.items()]
    if isinstance(given, list) and all(isinstance(h, dict) and isinstance(h.get("name"), str)
                                       and isinstance(h.get("value"), str) for h in given):
        return [(h["name"], h["value"]) for h in given]
    raise _refused("`headers` must be a list of {\"name\", \"value\"} or an object of names to values.", "headers")


def _audio(body: dict[str, Any]) -> bytes | None:
    if isinstance(body.get("text"), str):
        from mockserver.audio.speech import speak

        return bytes(9_600) + speak(body["text"]) + bytes(24_000)  # 200 ms before, 500 ms after: a turn
    given = body.get("audio")
    if given is None:
        return None
    try:
        audio = base64.b64decode(given, validate=True) if isinstance(given, str) else None
    except (binascii.Error, ValueError):
        audio = None
    if audio is None:
        raise _refused("`audio` must be base64 PCM16 24 kHz mono.", "audio")
    return audio


ROUTES = [
    Route("/_mock/calls", calls, methods=["GET"]),
    Route("/_mock/webhook", webhook_config, methods=["GET", "PUT", "DELETE"]),
    Route("/_mock/sip/calls", place, methods=["POST"]),
    Route("/_mock/sip/calls/{call_id}", simulated, methods=["GET"]),
    Route("/_mock/sip/calls/{call_id}/{action:str}", act, methods=["POST"]),
]
