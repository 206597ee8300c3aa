"""The session WebSockets (`/v1/realtime`, `/v1/realtime/translations`): judge the handshake, open the
session, attach the connection to it.

`open_realtime` decides, whichever server carries the upgrade: `realtime-mock` answers it in its own
uvicorn protocol (uvicorn_ws.py), which then is the connection's sink; under any other ASGI server,
`asgi_endpoint` does the same through plain ASGI, with an `AsgiSink`. Either way the connection only
adapts: it feeds the runtime every client frame it reads, and stops reading while its outgoing buffer
is full (the client does not read), so a client cannot queue work without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable

from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketState

from mockserver.protocol import handshake
from mockserver.protocol.calls import call_not_found
from mockserver.protocol.faults import handshake_refusal
from mockserver.protocol.ids import IdSource
from mockserver.runtime import SessionRuntime
from mockserver.state import SAFETY_HEADER, SCOPE_HEADER, SCOPE_QUERY, ServerState
from mockserver.transports.upgrade import Opening, Upgrade
from mockserver.wire import dumps


def open_realtime(state: ServerState, upgrade: Upgrade) -> Opening:
    """Judge a `/v1/realtime` upgrade and, when it is good, open the session it asks for."""
    def judge() -> tuple[handshake.Handshake, str]:
        judged = handshake.check(upgrade.query, upgrade.headers, upgrade.subprotocols,
                                 key_is_valid=state.key_is_valid, beta_models=state.beta_models(),
                                 secret=state.secret_kind)
        return judged, "transcription" if judged.intent == "transcription" else "realtime"
    return _open(state, upgrade, judge)


def open_translation(state: ServerState, upgrade: Upgrade) -> Opening:
    """Judge a `/v1/realtime/translations` upgrade and, when it is good, open the translation session."""
    def judge() -> tuple[handshake.Handshake, str]:
        return handshake.check_translation(upgrade.query, upgrade.headers, upgrade.subprotocols,
                                           key_is_valid=state.key_is_valid, secret=state.secret_kind), "translation"
    return _open(state, upgrade, judge)


def _open(state: ServerState, upgrade: Upgrade,
          judge: Callable[[], tuple[handshake.Handshake, str]]) -> Opening:
    """What every session path shares: the scope's handshake faults first (an HTTP status refuses the
    upgrade itself; a close code comes after accepting, like a judged failure), then the session."""
    query, headers = upgrade.query, upgrade.headers
    scope = state.scope(headers.get(SCOPE_HEADER) or query.get(SCOPE_QUERY))
    refusal = handshake_refusal(scope.faults)
    if refusal is not None and refusal[0] < 1000:
        body = {"error": {k: v for k, v in refusal[1].payload().items() if k != "event_id"}}
        return Opening(denial=(refusal[0], dumps(body)))
    judged, kind = judge()
    error, code, reason = judged.error, judged.close_code, judged.close_reason if judged.error else ""
    if error is None and refusal is not None:
        error, code = refusal[1], refusal[0]
        reason = f"{error.type}.{error.code}" if error.code else error.type
    if error is not None:
        event = {"type": "error", "event_id": IdSource().event(), "error": error.payload()}
        return Opening(judged.subprotocol, error_frame=dumps(event), close=(code or handshake.BAD_REQUEST, reason))
    if judged.call_id is not None:
        # A sideband: a second connection to a live call's session (it gets the call's events from now on).
        runtime = state.registry.call(judged.call_id)
        if runtime is None or runtime.ended:  # live refuses the upgrade itself (openai/codex#35094)
            body = {"error": {k: v for k, v in call_not_found().payload().items() if k != "event_id"}}
            return Opening(denial=(404, dumps(body)))
        return Opening(judged.subprotocol, runtime=runtime)
    secret = state.secret(judged.api_key or "")
    # The end user's identifier: the handshake's own, else the one its client secret was minted with.
    safety = headers.get(SAFETY_HEADER) or (secret.safety_identifier if secret is not None else None)
    runtime = state.open_session(kind, judged.model or "", scope.name,
                                 initial=secret.session if secret is not None else None, beta=judged.beta,
                                 safety_identifier=safety)
    return Opening(judged.subprotocol, runtime=runtime)


Opener = Callable[[ServerState, Upgrade], Opening]


async def asgi_endpoint(websocket: WebSocket, state: ServerState, opener: Opener) -> None:
    """A session WebSocket through plain ASGI (any ASGI server; `realtime-mock` itself serves it directly)."""
    opening = opener(state, Upgrade(websocket.url.path, websocket.query_params, websocket.headers,
                                    websocket.scope.get("subprotocols", [])))
    if opening.denial is not None:
        status, body = opening.denial
        await websocket.send_denial_response(Response(body, status_code=status, media_type="application/json"))
        return
    await websocket.accept(subprotocol=opening.subprotocol)
    if opening.runtime is None:
        assert opening.error_frame is not None and opening.close is not None
        await websocket.send_text(opening.error_frame.decode())
        await websocket.close(*opening.close)
        return
    sink = AsgiSink(websocket)
    opening.runtime.attach(sink)
    try:
        await sink.read_into(opening.runtime)
    finally:
        opening.runtime.detach(sink)
        await sink.aclose()


class AsgiSink:
    """A WebSocket written with plain ASGI sends (any ASGI server): a writer task drains a queue."""

    HIGH_WATER = 1024  # frames queued before the sink counts as paused

    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket
        self._queue: deque[bytes | tuple[int, str]] = deque()
        self._ready = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self.on_resume: Callable[[], None] | None = None
        self._writer = asyncio.get_running_loop().create_task(self._write())

    @property
    def paused(self) -> bool:
        return len(self._queue) > self.HIGH_WATER

    def deliver(self, frames: list[bytes]) -> None:
        self._queue.extend(frames)
        self._ready.set()

    def close(self, code: int, reason: str) -> None:
        self._queue.append((code, reason))
        self._ready.set()

    async def read_into(self, runtime: SessionRuntime) -> None:
        """Feed the runtime every client message until the connection ends; while the client does not
        read what it asked for, read no more."""
        while not runtime.ended:
            message = await self._websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            runtime.receive(text if text is not None else message.get("bytes") or b"")
            while self.paused:
                self._drained.clear()
                await self._drained.wait()

    async def aclose(self) -> None:
        if self._queue:  # a close (or the frames before it) still to go out
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._writer), 1.0)
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._writer
        if self._websocket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await self._websocket.close(1000)

    async def _write(self) -> None:
        websocket = self._websocket
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                while self._queue:
                    item = self._queue.popleft()
                    if isinstance(item, tuple):
                        await websocket.close(*item)
                        return
                    await websocket.send_text(item.decode())
                    if not self.paused and not self._drained.is_set():
                        self._drained.set()
                        if self.on_resume is not None:
                            self.on_resume()
        except Exception:  # the client went away mid-send: nothing to keep
            return
