"""Routes only: which URL goes to which transport or REST handler."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from mockserver import __version__, schema_store
from mockserver.state import ServerState
from mockserver.transports.websocket import realtime_endpoint


async def health(request: Request) -> JSONResponse:
    sdk = schema_store.manifest()["sdk"]
    return JSONResponse({"status": "ok", "version": __version__, "schemas_sdk": f"{sdk['package']}=={sdk['version']}"})


def create_app(state: ServerState | None = None) -> Starlette:
    app = Starlette(routes=[
        Route("/_mock/health", health),
        WebSocketRoute("/v1/realtime", realtime_endpoint),
    ])
    app.state.mock = state or ServerState()
    return app
