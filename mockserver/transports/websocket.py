"""The `/v1/realtime` WebSocket: accept, judge the handshake, attach to a session runtime, read.

The endpoint only adapts: after the handshake it opens a session (`ServerState.open_session`), attaches
the socket as a sink and feeds the runtime every client frame it reads. It stops reading while the
socket's outgoing buffer is full (the client does not read), so a client cannot queue work without
bound. Writing goes through uvicorn's protocol directly when it offers the `realtime_mock.direct`
channel (transports/uvicorn_ws.py), else through plain ASGI sends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Any

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket, WebSocketState

from mockserver.protocol import handshake
from mockserver.protocol.errors import ApiError
from mockserver.protocol.faults import handshake_refusal
from mockserver.protocol.ids import IdSource
from mockserver.runtime import SessionRuntime
from mockserver.state import SCOPE_HEADER, SCOPE_QUERY, ServerState
from mockserver.transports.uvicorn_ws import DIRECT
from mockserver.wire import dumps


async def realtime_endpoint(websocket: WebSocket) -> None:
    state: ServerState = websocket.app.state.mock
    scope = state.scope(websocket.headers.get(SCOPE_HEADER) or websocket.query_params.get(SCOPE_QUERY))
    refusal = handshake_refusal(scope.faults)
    if refusal is not None and refusal[0] < 1000:  # an HTTP status: refuse the upgrade itself
        body = {"error": {k: v for k, v in refusal[1].payload().items() if k != "event_id"}}
        await websocket.send_denial_response(JSONResponse(body, status_code=refusal[0]))
        return
    judged = handshake.check(websocket.query_params, websocket.headers, websocket.scope.get("subprotocols", []),
                             key_is_valid=state.key_is_valid, beta_models=state.beta_models(),
                             secret=state.secret_kind)
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
        await websocket.send_text(dumps(event).decode())
        await websocket.close(code or handshake.BAD_REQUEST, reason)
        return
    secret = state.secret(judged.api_key or "")
    runtime = state.open_session(
        "transcription" if judged.intent == "transcription" else "realtime", judged.model or "", scope.name,
        initial=secret.session if secret is not None else None, beta=judged.beta)
    sink = websocket_sink(websocket)
    runtime.attach(sink)
    try:
        await sink.read_into(runtime)
    finally:
        runtime.detach(sink)
        await sink.aclose()


class DirectSink:
    """A WebSocket served by uvicorn_ws.DirectWebSocketProtocol: client messages go straight to the runtime
    as they are parsed, a batch of frames goes out in one write."""

    def __init__(self, websocket: WebSocket, channel: Any) -> None:
        self._websocket = websocket
        self._channel = channel
        self.on_resume: Callable[[], None] | None = None
        channel.on_resume = self._resumed

    @property
    def paused(self) -> bool:
        return bool(self._channel.paused)

    def deliver(self, frames: list[bytes]) -> None:
        self._channel.write_texts(frames)

    def close(self, code: int, reason: str) -> None:
        self._channel.close_now(code, reason)

    async def read_into(self, runtime: SessionRuntime) -> None:
        """Feed the runtime until the connection ends (only the disconnect comes through ASGI now)."""
        self._channel.set_reader(runtime.receive)
        while (await self._websocket.receive())["type"] != "websocket.disconnect":
            pass

    async def aclose(self) -> None:
        self._channel.close_now(1000, "")

    def _resumed(self) -> None:
        if self.on_resume is not None:
            self.on_resume()


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


def websocket_sink(websocket: WebSocket) -> DirectSink | AsgiSink:
    direct = websocket.scope.get("extensions", {}).get(DIRECT)
    return DirectSink(websocket, direct["channel"]) if direct else AsgiSink(websocket)
