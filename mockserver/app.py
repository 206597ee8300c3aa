"""Routes only: which URL goes to which transport or REST handler."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute

from mockserver import control
from mockserver.rest import beta_sessions, client_secrets
from mockserver.state import ServerState
from mockserver.transports.websocket import realtime_endpoint


def create_app(state: ServerState | None = None) -> Starlette:
    app = Starlette(routes=[
        *control.ROUTES,
        *client_secrets.ROUTES,
        *beta_sessions.ROUTES,  # beta REST: 404 unless ServerConfig.beta == "shim"
        WebSocketRoute("/v1/realtime", realtime_endpoint),
    ])
    app.state.mock = state or ServerState()
    return app
