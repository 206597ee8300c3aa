"""What every request-based endpoint (`/v1/audio/*`, `/v1/chat/completions`) does around its own work:
the API key, the scope, reading and validating the body (JSON or multipart) with the live wording, the
REST faults, the journal of requests, and streaming (server-sent events or chunks, paced by a slow-body
fault).

An endpoint is `async def handler(call: Call) -> Response`; it reads its body with `call.json(schema)` or
`call.form(...)`, says what it was asked (`call.admit(model, summary)`, which also lets the faults fire),
and returns a response; `Refused` (raised anywhere in it) answers with an error instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from mockserver import schema_store, wire
from mockserver.protocol.errors import ApiError
from mockserver.rest import forms, http_faults
from mockserver.rest.bodies import BodyRefused, error_response, read_json_object
from mockserver.rest.client_secrets import no_key
from mockserver.rest.requests_journal import without_audio
from mockserver.state import SCOPE_HEADER, SCOPE_QUERY, Scope, ServerState

logger = logging.getLogger("mockserver.rest")
SSE_TYPE = "text/event-stream; charset=utf-8"
CHUNK_BYTES = 8192  # how a non-streamed body is cut when a slow-body fault paces it
KEPT_TEXT = 2000  # characters of a text response kept in the journal


class Refused(Exception):
    """Answer the request with this error (status, the error, extra headers)."""

    def __init__(self, status: int, error: ApiError, headers: dict[str, str] | None = None) -> None:
        super().__init__(error.message)
        self.status, self.error, self.headers = status, error, headers or {}


class Call:
    """One request to an endpoint: its scope, its body, what the journal says of it."""

    def __init__(self, request: Request, state: ServerState, scope: Scope) -> None:
        self.request = request
        self.state = state
        self.scope = scope
        self.model: str | None = None
        self.summary: Any = None
        self.pause = 0.0
        self.headers: dict[str, str] = {}

    @property
    def path(self) -> str:
        return self.request.url.path

    async def json(self, schema: str) -> dict[str, Any]:
        """The JSON body, checked against `schemas/<schema>` (the first problem, in the live words, is refused)."""
        try:
            body = await read_json_object(self.request)
        except BodyRefused as refused:
            raise Refused(refused.status, refused.error) from None
        self.summary = without_audio(body)
        self.check(schema, body)
        return body

    async def form(self, schema: str, coerce: dict[str, Callable[[str], Any]]) -> tuple[dict[str, Any], forms.Upload]:
        """A multipart body as a JSON document (arrays from `key[]`, objects from `key[sub]`, values through
        `coerce`), checked against `schemas/<schema>`, and its uploaded `file`."""
        try:
            document, upload = await forms.read_upload(self.request, coerce)
        except BodyRefused as refused:
            raise Refused(refused.status, refused.error) from None
        self.summary = {**document, "file": upload.summary() if upload else None}
        self.check(schema, document)
        assert upload is not None  # the schema requires `file`
        return document, upload

    def check(self, schema: str, document: dict[str, Any]) -> None:
        problems = schema_store.schemas().check_document(schema, document)
        if problems:
            raise Refused(400, problems[0])

    def admit(self, model: str) -> None:
        """The request is valid and for `model`: the scope's REST faults fire now (an error is raised)."""
        self.model = model
        outcome = http_faults.apply(self.scope.faults, self.path, model)
        self.pause, self.headers = outcome.pause, outcome.headers
        if outcome.error is not None and outcome.status is not None:
            raise Refused(outcome.status, outcome.error, outcome.headers)

    def responder(self) -> Any:
        """The scope's responder for REST requests (its scenario, or the default "model")."""
        return self.scope.rest.responder(self.scope.responder_factory)

    def now(self) -> float:
        return self.state.clock.now()


def sse(events: Iterable[dict[str, Any]], *, done: bool = False) -> Iterable[bytes]:
    """Server-sent events, one `data:` line each (and `data: [DONE]` at the end when `done`)."""
    for event in events:
        yield b"data: " + wire.dumps(event) + b"\n\n"
    if done:
        yield b"data: [DONE]\n\n"


def chunked(data: bytes, size: int = CHUNK_BYTES) -> list[bytes]:
    return [data[at:at + size] for at in range(0, len(data), size)] or [b""]


def streamed(chunks: Iterable[bytes], media_type: str, **headers: str) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk
    return StreamingResponse(body(), media_type=media_type, headers=headers or None)


def endpoint(path: str, handler: Callable[[Call], Awaitable[Response]]) -> Route:
    """The route of an endpoint, with everything around `handler` that every endpoint does."""
    async def run(request: Request) -> Response:
        state: ServerState = request.app.state.mock
        started = time.monotonic()
        scope = state.scope(request.headers.get(SCOPE_HEADER) or request.query_params.get(SCOPE_QUERY))
        call = Call(request, state, scope)
        try:
            if not request.headers.get("authorization", "").lower().startswith("bearer "):
                raise Refused(401, no_key())
            response = await handler(call)
        except Refused as refused:
            response = error_response(refused.status, refused.error, refused.headers or None)
        except Exception:  # a crash inside the mock: logged, and answered in the envelope (never a bare 500)
            logger.exception("realtime-mock: %s %s failed", request.method, path)
            response = error_response(500, http_faults.server_error())
        response.headers.update(call.headers)
        entry = scope.rest.record({"t": round(call.now(), 3), "method": request.method, "path": path,
                                   "model": call.model, "status": response.status_code,
                                   "stream": isinstance(response, StreamingResponse), "request": call.summary,
                                   "response": None, "ms": None})
        return _journaled(response, entry, call.pause, started)
    return Route(path, run, methods=["POST"])


def _journaled(response: Response, entry: dict[str, Any], pause: float, started: float) -> Response:
    """The response, its journal entry completed once its body is sent (paced by `pause` between chunks)."""
    if not isinstance(response, StreamingResponse):
        entry["response"] = _summary(response)
        entry["ms"] = round((time.monotonic() - started) * 1000, 1)
        if not pause or len(response.body) <= CHUNK_BYTES:
            return response
        body = bytes(response.body)
        response = StreamingResponse(_once(chunked(body)), status_code=response.status_code,
                                     headers={k: v for k, v in response.headers.items() if k != "content-length"})
    source = response.body_iterator

    async def paced() -> AsyncIterator[str | bytes | memoryview[int]]:
        chunks = size = 0
        async for chunk in source:
            if chunks and pause:
                await asyncio.sleep(pause)
            chunks, size = chunks + 1, size + len(chunk)
            yield chunk
        if entry["response"] is None:
            entry["response"] = {"content_type": response.headers.get("content-type"), "chunks": chunks,
                                 "bytes": size}
            entry["ms"] = round((time.monotonic() - started) * 1000, 1)

    response.body_iterator = paced()
    return response


async def _once(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def _summary(response: Response) -> Any:
    """A response body as the journal keeps it: JSON without audio, text (cut), or its type and size."""
    kind = response.headers.get("content-type", "")
    body = bytes(response.body)
    if kind.startswith("application/json"):
        import json

        try:
            return without_audio(json.loads(body))
        except ValueError:
            pass
    if kind.startswith("text/"):
        return body.decode("utf-8", "replace")[:KEPT_TEXT]
    return {"content_type": kind or None, "bytes": len(body)}
