"""Routes only: which URL goes to which transport or REST handler."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.websockets import WebSocket

from mockserver import control, sip_admin
from mockserver.rest import beta_sessions, bodies, calls, chat, client_secrets, speech, transcriptions, translations
from mockserver.state import ServerState
from mockserver.transports.upgrade import Opening, Upgrade
from mockserver.transports.websocket import Opener, asgi_endpoint, open_realtime, open_translation


class MockApp:
    """The mock as an ASGI app. Realtime WebSockets go straight to their transport: a session may live
    for an hour, and every coroutine between the server and the endpoint stays alive (and in memory)
    as long; `realtime-mock` itself answers them without ASGI (`direct`, transports/uvicorn_ws.py).
    The REST and admin routes go through Starlette."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.websockets: dict[str, Opener] = {"/v1/realtime": open_realtime,
                                              "/v1/realtime/translations": open_translation}
        self.routes = Starlette(routes=[
            *control.ROUTES,
            *sip_admin.ROUTES,  # /_mock/calls, /_mock/webhook, /_mock/sip/calls (simulated SIP callers)
            *client_secrets.ROUTES,
            *calls.ROUTES,
            *beta_sessions.ROUTES,  # beta REST: 404 unless ServerConfig.beta == "shim"
            *speech.ROUTES, *transcriptions.ROUTES, *translations.ROUTES, *chat.ROUTES,  # request-based audio
        ], exception_handlers={HTTPException: bodies.http_error})  # unknown paths and methods: live's envelope
        self.routes.state.mock = state

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            opener = self.websockets.get(scope["path"])
            if opener is not None:
                await asgi_endpoint(WebSocket(scope, receive, send), self.state, opener)
                return
        await self.routes(scope, receive, send)

    def direct(self, path: str) -> Callable[[Upgrade], Opening] | None:
        """How to open a WebSocket on `path` without ASGI (None: not a path served that way)."""
        opener = self.websockets.get(path)
        if opener is None:
            return None
        return lambda upgrade: opener(self.state, upgrade)


def create_app(state: ServerState | None = None) -> MockApp:
    return MockApp(state or ServerState())
