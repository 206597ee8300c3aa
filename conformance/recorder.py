"""`realtime-mock record`: a recording proxy between an app and a Realtime server (the live API or a mock).

The app points its SDK here (`AsyncOpenAI(base_url="http://127.0.0.1:P/v1")`); every WebSocket session on
`/v1/realtime` or `/v1/realtime/translations` is relayed to the same path and query on the upstream, and
written to its own cassette (conformance/cassette.py) as it happens: each frame is recorded, and flushed,
before it is passed on, so the file is always at least as far along as either side. A refused upgrade is
answered as the upstream answered it and recorded as an HTTP leg. The Realtime REST calls
(`client_secrets`, `calls`, `sessions`, ...) are proxied too, one cassette per request. A WebRTC call
(`POST /v1/realtime/calls`) is recorded as its offer and answer (the media then flows between the app and
the upstream directly, as the answer's candidates say), its control routes as theirs, and its sideband
socket (`/v1/realtime?call_id=...`) as any session, `call_id` in the query; a browser's CORS preflight of
`calls` is relayed, not recorded.

Secrets stay out of the files: `Authorization` and key-bearing headers are never written, keys in the
query are dropped, and ephemeral keys (`ek_...`) in bodies become `ek_redacted`.

Two tasks per session, one per direction, each ending when its side closes; the close code and reason
are passed on to the other side.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import itertools
import json
import logging
import os
import re
import socket
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from conformance import urls
from conformance.cassette import SUFFIX, Cassette, CassetteWriter, HttpLeg, client_frame, safe_headers, safe_query
from conformance.rest_replay import REPLAYED_PATHS, kept_body
from mockserver import __version__, redact
from mockserver.runner import MAX_FRAME_BYTES, bind_or_say_why, serve_until_stopped

WEBSOCKET_PATHS = ("/v1/realtime", "/v1/realtime/translations")
REST_PATHS = ("/v1/realtime/client_secrets", "/v1/realtime/translations/client_secrets", "/v1/realtime/calls",
              "/v1/realtime/translations/calls",
              *(f"/v1/realtime/calls/{{call_id}}/{action}" for action in ("accept", "reject", "refer", "hangup")),
              "/v1/realtime/sessions", "/v1/realtime/transcription_sessions", *REPLAYED_PATHS)
PREFLIGHT_PATHS = ("/v1/realtime/calls", "/v1/realtime/translations/calls")  # a page on another origin posts here
RECORD_PORT = 8001  # the default port: beside `serve` (8000) and `replay` (8002)
REST_TIMEOUT = 120.0  # seconds for an upstream REST answer
CLOSE_GRACE = 5.0  # seconds the other direction gets to finish once one side has closed
BROWSER_KEY_PREFIX = "openai-insecure-api-key."  # a browser client's key, offered as a subprotocol
BROWSER_BETA = "openai-beta.realtime-v1"  # a browser client's `OpenAI-Beta: realtime=v1`
# Not passed on to the upstream: hop-by-hop headers, and what the HTTP client sets itself.
_NOT_FORWARDED = frozenset({"host", "content-length", "connection", "keep-alive", "transfer-encoding", "upgrade",
                            "te", "trailer", "accept-encoding", "proxy-authorization", "proxy-connection"})
# Not passed back to the app: the body is sent decoded, and uvicorn writes its own date and server.
_NOT_RETURNED = frozenset({"content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive",
                           "date", "server"})
_EPHEMERAL_IN_TEXT = re.compile(r"\bek_[A-Za-z0-9_]{8,}")
logger = logging.getLogger("realtime_mock.record")


class Recorder:
    """What the recorder app knows: the upstream, where cassettes go, the key to use instead of the app's."""

    def __init__(self, upstream: str, out_dir: Path, api_key: str | None) -> None:
        self.upstream = urls.parse(upstream)
        self.out_dir = out_dir
        self.api_key = api_key
        self._counter = itertools.count(1)

    def cassette_path(self, endpoint: str) -> Path:
        """A new file: UTC timestamp, a counter, the endpoint (so that names sort in the order recorded)."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        slug = re.sub(r"[^A-Za-z0-9]+", "_", endpoint.removeprefix("/v1/")).strip("_")[:60] or "root"
        while True:
            path = self.out_dir / f"{stamp}-{next(self._counter):04d}-{slug}{SUFFIX}"
            if not path.exists():
                return path

    def cassette(self, endpoint: str, query: dict[str, str], user_agent: str | None) -> Cassette:
        return Cassette(endpoint=endpoint, query=safe_query(query), sdk=user_agent, mock_version=__version__,
                        source=f"recorded through realtime-mock record from {self.upstream.host}",
                        recorded_at=datetime.now(UTC).isoformat(timespec="milliseconds"))

    def authorization(self, given: str | None) -> str | None:
        return f"Bearer {self.api_key}" if self.api_key else given


def create_recorder_app(upstream: str, out_dir: Path, api_key: str | None) -> Starlette:
    """The recording proxy; urls.UrlError (a ValueError) if `upstream` is not a URL it can use."""
    recorder = Recorder(upstream, out_dir, api_key)
    app = Starlette(routes=[
        *(WebSocketRoute(path, _relay_websocket) for path in WEBSOCKET_PATHS),
        *(Route(path, _relay_rest, methods=["POST"]) for path in REST_PATHS),
        *(Route(path, _relay_preflight, methods=["OPTIONS"]) for path in PREFLIGHT_PATHS),
    ])
    app.state.recorder = recorder
    return app


# --- WebSocket sessions ---------------------------------------------------------------------------------

async def _relay_websocket(websocket: WebSocket) -> None:
    recorder: Recorder = websocket.app.state.recorder
    opened = time.monotonic()
    path = websocket.url.path
    offered: list[str] = list(websocket.scope.get("subprotocols") or [])
    headers = _upstream_websocket_headers(recorder, websocket.headers.get("authorization"),
                                          websocket.headers.get("openai-beta"), offered)
    user_agent = websocket.headers.get("user-agent")
    cassette = recorder.cassette(path, dict(websocket.query_params), user_agent)
    recorded_headers = safe_headers({**dict(headers), **({"user-agent": user_agent} if user_agent else {})})
    try:
        upstream = await connect(recorder.upstream.websocket_url(path, websocket.url.query),
                                 additional_headers=headers, user_agent_header=user_agent,
                                 max_size=MAX_FRAME_BYTES)
    except InvalidStatus as exc:  # the upstream refused the upgrade: refuse the app the same way
        answer = exc.response
        answer_body = bytes(answer.body)
        answer_headers = {k.lower(): v for k, v in answer.headers.raw_items()}
        _record_refusal(recorder, cassette, HttpLeg(
            time.monotonic() - opened, "GET", path, answer.status_code, None,
            _recorded_body(answer_body, answer_headers.get("content-type")), recorded_headers, answer_headers))
        await _deny(websocket, answer.status_code, answer_body, answer_headers.get("content-type"))
        return
    except (WebSocketException, OSError, TimeoutError) as exc:  # unreachable, or no WebSocket there
        body = _gateway_error(recorder, exc)
        _record_refusal(recorder, cassette, HttpLeg(time.monotonic() - opened, "GET", path, 502, None,
                                                    json.loads(body), recorded_headers,
                                                    {"content-type": "application/json"}))
        await _deny(websocket, 502, body, "application/json")
        return
    writer: CassetteWriter | None = None
    try:
        await websocket.accept(subprotocol="realtime" if "realtime" in offered else None)
        writer = CassetteWriter(recorder.cassette_path(path), cassette)
        await _pump(websocket, upstream, writer, opened)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the app went away during the upgrade
    finally:
        if writer is not None:
            writer.close()
        await upstream.close()


def _upstream_websocket_headers(recorder: Recorder, authorization: str | None, beta: str | None,
                                offered: Sequence[str]) -> list[tuple[str, str]]:
    """The app's Authorization (or the recorder's key) and OpenAI-Beta; a browser client's subprotocols
    (`openai-insecure-api-key.<key>`, `openai-beta.realtime-v1`) become those headers."""
    if authorization is None:
        key = next((p.removeprefix(BROWSER_KEY_PREFIX) for p in offered if p.startswith(BROWSER_KEY_PREFIX)), None)
        authorization = f"Bearer {key}" if key else None
    if beta is None and BROWSER_BETA in offered:
        beta = "realtime=v1"
    authorization = recorder.authorization(authorization)
    headers = [("Authorization", authorization)] if authorization else []
    return headers + ([("OpenAI-Beta", beta)] if beta else [])


async def _pump(websocket: WebSocket, upstream: ClientConnection, writer: CassetteWriter, opened: float) -> None:
    """Relay frames both ways, recording each before passing it on, until one side closes."""

    async def from_app() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                await upstream.close(_sendable(message.get("code")), message.get("reason") or "")
                return
            text = message.get("text")
            frame: str | bytes = text if text is not None else message.get("bytes") or b""
            writer.frame(time.monotonic() - opened, "client", client_frame(frame))
            try:
                await upstream.send(frame)
            except ConnectionClosed:
                return  # the upstream is closing: from_upstream passes its close on

    async def from_upstream() -> None:
        try:
            while True:
                frame = await upstream.recv()
                writer.frame(time.monotonic() - opened, "server", client_frame(frame))
                if isinstance(frame, str):
                    await websocket.send_text(frame)
                else:
                    await websocket.send_bytes(frame)
        except ConnectionClosed as exc:
            if exc.rcvd is not None:
                code, reason = _sendable(exc.rcvd.code), exc.rcvd.reason
            else:
                code, reason = 1011, "realtime-mock record: the upstream connection was lost"
            with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
                await websocket.close(code, reason)
        except (RuntimeError, OSError, WebSocketDisconnect):
            return  # the app is gone: from_app passes its close on

    tasks = [asyncio.create_task(from_app()), asyncio.create_task(from_upstream())]
    try:
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if pending:
            await asyncio.wait(pending, timeout=CLOSE_GRACE)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _sendable(code: int | None) -> int:
    """A close code that may go in a close frame (1005 "none given" and 1006 "lost" may not)."""
    if code is not None and (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999):
        return code
    return 1000 if code in (None, 1005) else 1001


def _record_refusal(recorder: Recorder, cassette: Cassette, leg: HttpLeg) -> None:
    writer = CassetteWriter(recorder.cassette_path(cassette.endpoint), cassette)
    try:
        writer.http(leg)
    finally:
        writer.close()


async def _deny(websocket: WebSocket, status: int, body: bytes, content_type: str | None) -> None:
    try:
        await websocket.send_denial_response(Response(body, status_code=status, media_type=content_type))
    except RuntimeError:  # a server without the denial-response extension: refuse plainly (403)
        with contextlib.suppress(RuntimeError, OSError):
            await websocket.close()


def _gateway_error(recorder: Recorder, exc: Exception) -> bytes:
    """The 502 body for an upstream that could not be reached, which is also logged: where, and why."""
    message = (f"realtime-mock record: could not reach the upstream {recorder.upstream.host} "
               f"({recorder.upstream.websocket}): {_unreachable_because(exc)}")
    logger.warning("%s; the app got HTTP 502", message)
    return json.dumps({"error": {"message": message, "type": "realtime_mock_record_error", "param": None,
                                 "code": "upstream_unreachable"}}).encode()


def _unreachable_because(exc: BaseException) -> str:
    """Why a connection failed: the OS error under it (the HTTP and WebSocket clients wrap it), in the OS's words."""
    cause: BaseException | None = exc
    for _ in range(8):  # the chain of causes is short; bounded all the same
        if cause is None or isinstance(cause, OSError):
            break
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, socket.gaierror):
        return f"cannot resolve the host name ({cause.strerror})"
    if isinstance(cause, OSError) and cause.errno:
        return f"{os.strerror(cause.errno)} ({errno.errorcode.get(cause.errno, cause.errno)})"
    if isinstance(cause, TimeoutError):
        return "timed out"
    found = cause if cause is not None else exc
    return f"{type(found).__name__}: {redact.text(str(found))}"  # redacted: it may quote the URL and its query


# --- REST -------------------------------------------------------------------------------------------------

async def _relay_rest(request: Request) -> Response:
    import httpx2  # installed with the openai SDK

    recorder: Recorder = request.app.state.recorder
    opened = time.monotonic()
    path = request.url.path
    body = await request.body()
    headers = _upstream_rest_headers(recorder, request.headers.items())
    try:
        async with httpx2.AsyncClient(timeout=REST_TIMEOUT) as client:
            answer = await client.post(recorder.upstream.http_url(path, request.url.query), content=body,
                                       headers=headers)
        status, content = answer.status_code, answer.content
        answer_headers = {k.lower(): v for k, v in answer.headers.items()}
    except httpx2.HTTPError as exc:
        status, content = 502, _gateway_error(recorder, exc)
        answer_headers = {"content-type": "application/json"}
    cassette = recorder.cassette(path, dict(request.query_params), request.headers.get("user-agent"))
    writer = CassetteWriter(recorder.cassette_path(path), cassette)
    try:
        writer.http(HttpLeg(time.monotonic() - opened, "POST", path, status,
                            _recorded_body(body, request.headers.get("content-type")),
                            _recorded_body(content, answer_headers.get("content-type")),
                            safe_headers(dict(headers)), answer_headers))
    finally:
        writer.close()
    returned = {k: v for k, v in answer_headers.items() if k not in _NOT_RETURNED}
    return Response(content, status_code=status, headers=returned)


async def _relay_preflight(request: Request) -> Response:
    """A browser's CORS preflight, answered as the upstream answers it (not recorded: no app traffic)."""
    import httpx2

    recorder: Recorder = request.app.state.recorder
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _NOT_FORWARDED]
    try:
        async with httpx2.AsyncClient(timeout=REST_TIMEOUT) as client:
            answer = await client.options(recorder.upstream.http_url(request.url.path, request.url.query),
                                          headers=headers)
    except httpx2.HTTPError as exc:
        return Response(_gateway_error(recorder, exc), status_code=502, media_type="application/json")
    returned = {k.lower(): v for k, v in answer.headers.items() if k.lower() not in _NOT_RETURNED}
    return Response(answer.content, status_code=answer.status_code, headers=returned)


def _upstream_rest_headers(recorder: Recorder, given: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    headers = [(k, v) for k, v in given if k.lower() not in _NOT_FORWARDED and k.lower() != "authorization"]
    authorization = recorder.authorization(next((v for k, v in given if k.lower() == "authorization"), None))
    return headers + ([("authorization", authorization)] if authorization else [])


def _recorded_body(raw: bytes, content_type: str | None) -> Any:
    """A body as the cassette keeps it: JSON when it says so, else text; multipart uploads as their fields and
    file digests, other binary bodies (audio) as base64 (conformance/rest_replay.py)."""
    if not raw:
        return None
    kept = kept_body(raw, content_type)
    if kept is not None:
        return kept
    if "json" in (content_type or "").lower():
        with contextlib.suppress(ValueError):
            return json.loads(raw)
    text = raw.decode("utf-8")  # kept_body took what is not UTF-8
    return _EPHEMERAL_IN_TEXT.sub("ek_redacted", text)


# --- the command ------------------------------------------------------------------------------------------

class _WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol, for which an HTTP answer instead of the upgrade (a denial response)
    also completes the handshake: uvicorn 0.54 logs "ASGI callable returned without completing handshake" after
    one, which hid the recorder's own line about an unreachable upstream."""

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.http.response.body" and not message.get("more_body", False):
            self.handshake_complete = True


def app_config(app: Starlette, *, host: str = "127.0.0.1", port: int = 8000,
               log_level: str = "info") -> uvicorn.Config:
    """uvicorn settings for an app of realtime-mock's own (as `runner.uvicorn_config`, for any app)."""
    redact.install_logging()
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="off", http="httptools",
                          ws=_WebSocketProtocol, ws_max_size=MAX_FRAME_BYTES, proxy_headers=False)


def add_record_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--upstream", required=True,
                        help="the server to record, as a base URL the SDKs take (wss://api.openai.com/v1, "
                        "https://api.openai.com/v1, ws://127.0.0.1:8000/v1; /realtime after it is fine); REST calls "
                        "go to its http(s) twin. Required, no default")
    parser.add_argument("--out", type=Path, required=True,
                        help="folder for the cassettes (one per connection). Required, no default")
    parser.add_argument("--api-key", help="send the upstream this key instead of the app's (never recorded; "
                        "default: the app's own key)")
    add_listen_arguments(parser, RECORD_PORT)


def add_listen_arguments(parser: argparse.ArgumentParser, port: int) -> None:
    """--host, --port and --log-level of a command that serves (record and replay; serve has its own)."""
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=port,
                        help=f"the port to listen on (default: {port}; serve uses 8000, record 8001, replay 8002, "
                             "so that they run side by side)")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                        help="uvicorn's log level (default: info)")


def record_command(args: argparse.Namespace) -> int:
    try:
        app = create_recorder_app(args.upstream, args.out, args.api_key)
    except ValueError as exc:
        print(f"realtime-mock: --upstream: {exc}", file=sys.stderr)
        return 2
    sock = bind_or_say_why(args.host, args.port)
    if sock is None:
        return 2
    upstream = app.state.recorder.upstream
    print(f"realtime-mock record: point the app at http://{args.host}:{args.port}/v1; relaying to "
          f"{upstream.websocket}; cassettes go to {args.out}", file=sys.stderr)
    server = uvicorn.Server(app_config(app, host=args.host, port=args.port, log_level=args.log_level))
    serve_until_stopped(lambda: server.run(sockets=[sock]))
    return 0
