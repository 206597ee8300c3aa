"""Routes only: which URL goes to which transport or REST handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.websockets import WebSocket

from mockserver import control
from mockserver.rest import beta_sessions, bodies, client_secrets
from mockserver.state import ServerState
from mockserver.transports.upgrade import Opening, Upgrade
from mockserver.transports.websocket import open_realtime, realtime_endpoint

WebSocketEndpoint = Callable[[WebSocket, ServerState], Awaitable[None]]
Opener = Callable[[ServerState, Upgrade], Opening]


class MockApp:
    """The mock as an ASGI app. Realtime WebSockets go straight to their transport: a session may live
    for an hour, and every coroutine between the server and the endpoint stays alive (and in memory)
    as long; `realtime-mock` itself answers them without ASGI (`direct`, transports/uvicorn_ws.py).
    The REST and admin routes go through Starlette."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.websockets: dict[str, tuple[Opener, WebSocketEndpoint]] = {
            "/v1/realtime": (open_realtime, realtime_endpoint)}
        self.routes = Starlette(routes=[
            *control.ROUTES,
            *client_secrets.ROUTES,
            *beta_sessions.ROUTES,  # beta REST: 404 unless ServerConfig.beta == "shim"
        ], exception_handlers={HTTPException: bodies.http_error})  # unknown paths and methods: live's envelope
        self.routes.state.mock = state

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            served = self.websockets.get(scope["path"])
            if served is not None:
                await served[1](WebSocket(scope, receive, send), self.state)
                return
        await self.routes(scope, receive, send)

    def direct(self, path: str) -> Callable[[Upgrade], Opening] | None:
        """How to open a WebSocket on `path` without ASGI (None: not a path served that way)."""
        served = self.websockets.get(path)
        if served is None:
            return None
        opener = served[0]
        return lambda upgrade: opener(self.state, upgrade)


def create_app(state: ServerState | None = None) -> MockApp:
    return MockApp(state or ServerState())
