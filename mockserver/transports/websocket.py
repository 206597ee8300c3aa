"""The `/v1/realtime` WebSocket: accept, judge the handshake, then shuttle JSON to and from a Session.

Two tasks per connection: a reader that feeds every client frame to the session as it arrives, and
the writer (this coroutine) that sends what the session produced, waits for paced events, and
closes when the session asks. `send` applies the socket's back-pressure, so a response streams as
fast as the client reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from mockserver.protocol import handshake
from mockserver.protocol.errors import ApiError
from mockserver.protocol.ids import IdSource
from mockserver.protocol.session import Session
from mockserver.state import ServerState

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode  # compact, as live


async def realtime_endpoint(websocket: WebSocket) -> None:
    state: ServerState = websocket.app.state.mock
    judged = handshake.check(websocket.query_params, websocket.headers, websocket.scope.get("subprotocols", []),
                             key_is_valid=state.config.key_is_valid)
    await websocket.accept(subprotocol=judged.subprotocol)
    error, code, reason = judged.error, judged.close_code, judged.close_reason if judged.error else ""
    if error is None and (judged.call_id is not None or judged.intent == "transcription"):
        # Sideband sockets and transcription sessions arrive with later issues; say so plainly.
        kind = "call_id" if judged.call_id is not None else "intent"
        error = ApiError(f"realtime-mock does not serve `{kind}` sessions yet.", code="unsupported_by_mock",
                         param=kind)
        code, reason = handshake.BAD_REQUEST, f"{error.type}.{error.code}"
    if error is not None:
        event = {"type": "error", "event_id": IdSource().event(), "error": error.payload()}
        await websocket.send_text(_dumps(event))
        await websocket.close(code or handshake.BAD_REQUEST, reason)
        return
    assert judged.model is not None
    session = state.open_session(judged.model)
    try:
        await serve(websocket, session, state)
    finally:
        state.close_session(session)


async def serve(websocket: WebSocket, session: Session, state: ServerState) -> None:
    wake = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def read() -> None:
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                session.receive_frame(text if text is not None else message.get("bytes") or b"")
                wake.set()
        finally:
            wake.set()

    def expire() -> None:
        session.expire()
        wake.set()

    reader = asyncio.create_task(read())
    expiry = loop.call_later(max(0.0, session.expires_at - session.clock.now()), expire)
    try:
        while not reader.done():
            wake.clear()
            events = session.poll()
            for event in events:
                state.observe(session, event)
                await websocket.send_text(_dumps(event))
            if session.close is not None:
                await websocket.close(session.close.code, session.close.reason)
                return
            if events:
                await asyncio.sleep(0)  # let the reader in between batches (a cancel can land mid-stream)
                continue
            due = session.next_due()
            timeout = None if due is None else max(0.0, due - session.clock.now())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the client went away mid-send: nothing to keep
    finally:
        expiry.cancel()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        if websocket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close(1000)
