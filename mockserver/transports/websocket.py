"""The `/v1/realtime` WebSocket: accept, judge the handshake, then shuttle JSON to and from a Session.

Two tasks per connection: a reader that journals every client frame and feeds it to the session as it
arrives, and the writer (this coroutine) that takes what the session produced, passes it through the
scope's faults, journals and sends it, waits for paced events, and closes when asked. `send` applies
the socket's back-pressure, so a response streams as fast as the client reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from mockserver.beta import BetaSession
from mockserver.journal import Journal
from mockserver.protocol import handshake
from mockserver.protocol.errors import ApiError
from mockserver.protocol.faults import FaultInjector, handshake_refusal
from mockserver.protocol.ids import IdSource
from mockserver.protocol.session import Session
from mockserver.state import SCOPE_HEADER, SCOPE_QUERY, Scope, ServerState

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode  # compact, as live


async def realtime_endpoint(websocket: WebSocket) -> None:
    state: ServerState = websocket.app.state.mock
    scope = state.scope(websocket.headers.get(SCOPE_HEADER) or websocket.query_params.get(SCOPE_QUERY))
    refusal = handshake_refusal(scope.faults)
    if refusal is not None and refusal[0] < 1000:  # an HTTP status: refuse the upgrade itself
        body = {"error": {k: v for k, v in refusal[1].payload().items() if k != "event_id"}}
        await websocket.send_denial_response(JSONResponse(body, status_code=refusal[0]))
        return
    def minted(key: str) -> tuple[str, str | None] | None:
        found = state.secret(key)
        return (found.kind, found.model) if found is not None else None

    judged = handshake.check(websocket.query_params, websocket.headers, websocket.scope.get("subprotocols", []),
                             key_is_valid=state.key_is_valid, beta=state.config.beta, secret=minted)
    await websocket.accept(subprotocol=judged.subprotocol)
    error, code, reason = judged.error, judged.close_code, judged.close_reason if judged.error else ""
    if error is None and refusal is not None:
        error, code = refusal[1], refusal[0]
        reason = f"{error.type}.{error.code}" if error.code else error.type
    if error is None and judged.call_id is not None:
        # Sideband sockets of WebRTC and SIP calls arrive with the calls; say so plainly.
        error = ApiError("realtime-mock does not serve `call_id` sessions yet.", code="unsupported_by_mock",
                         param="call_id")
        code, reason = handshake.BAD_REQUEST, f"{error.type}.{error.code}"
    if error is not None:
        event = {"type": "error", "event_id": IdSource().event(), "error": error.payload()}
        await websocket.send_text(_dumps(event))
        await websocket.close(code or handshake.BAD_REQUEST, reason)
        return
    transcription = judged.intent == "transcription"
    secret = state.secret(judged.api_key or "")
    session, journal = state.open_session(judged.model or "", scope.name,
                                          kind="transcription" if transcription else "realtime",
                                          initial=secret.session if secret is not None else None)
    close_code: int | None = None
    try:
        # A beta connection drives the same GA session through the beta translation layer.
        close_code = await serve(websocket, BetaSession(session) if judged.beta else session, journal, scope, state)
    finally:
        state.close_session(session, journal, close_code)


async def serve(websocket: WebSocket, session: Session | BetaSession, journal: Journal, scope: Scope,
                state: ServerState) -> int | None:
    """Run one session until either side closes; returns the close code the server sent (if it did).

    `session` is the GA session, or for a beta connection its `BetaSession` wrapper: then faults,
    the journal and observers see the beta events that cross the wire (observers get the GA core).
    """
    wake = asyncio.Event()
    loop = asyncio.get_running_loop()
    core = session.core if isinstance(session, BetaSession) else session
    clock = core.clock
    injector = FaultInjector(lambda: scope.faults)
    session.stall_when = injector.should_stall
    session_id = core.config["id"]

    async def read() -> None:
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                frame = text if text is not None else message.get("bytes") or b""
                journal.client(clock.now(), frame)
                session.receive_frame(frame)
                wake.set()
        finally:
            wake.set()

    def expire() -> None:
        session.expire()
        wake.set()

    reader = asyncio.create_task(read())
    expiry = loop.call_later(max(0.0, session.expires_at - clock.now()), expire)
    state.register_waker(session_id, wake.set)
    try:
        while not reader.done():
            wake.clear()
            now = clock.now()
            produced = session.poll()
            events = injector.apply(produced, now)
            for event in events:
                journal.server(now, event)
                state.observe(core, event)
                await websocket.send_text(_dumps(event))
            if injector.expire:
                injector.expire = False
                session.expire()
                continue  # the session_expired error goes out on the next turn, then the close
            close = injector.close or (session.close if not session.busy else None)
            if close is not None:
                await websocket.close(close.code, close.reason)
                return close.code
            if produced:
                await asyncio.sleep(0)  # let the reader in between batches (a cancel can land mid-stream)
                continue
            due = min((t for t in (session.next_due(), injector.next_due()) if t is not None), default=None)
            timeout = None if due is None else max(0.0, due - clock.now())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the client went away mid-send: nothing to keep
    finally:
        state.register_waker(session_id, None)
        expiry.cancel()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        if websocket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close(1000)
    return None
