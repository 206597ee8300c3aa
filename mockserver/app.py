"""Routes only: which URL goes to which transport or REST handler."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mockserver import __version__, schema_store


async def health(request: Request) -> JSONResponse:
    sdk = schema_store.manifest()["sdk"]
    return JSONResponse({"status": "ok", "version": __version__, "schemas_sdk": f"{sdk['package']}=={sdk['version']}"})


def create_app() -> Starlette:
    return Starlette(routes=[Route("/_mock/health", health)])
