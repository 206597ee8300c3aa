"""The app under test for SIP calls: a Starlette webhook receiver, written as OpenAI's SIP guide shows it, that
verifies each `realtime.call.incoming` with the official SDK (`client.webhooks.unwrap`) and then drives the call
with `client.realtime.calls.*`. It is served on loopback in the test's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import openai
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.functional.conftest import until

SECRET = "whsec_" + "dGhlIG1vY2sncyB3ZWJob29rIHNlY3JldCBmb3IgdGVzdHM="
TRANSCRIBED: dict[str, Any] = {"type": "realtime", "model": "gpt-realtime", "instructions": "You answer the phone.",
               "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}}}

Policy = Callable[[openai.AsyncOpenAI, Any], Awaitable[None]]


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    status: int
    event: Any = None  # the unwrapped event, when the signature held


@dataclass
class WebhookApp:
    """Verifies, records, and hands each call to `policy` (e.g. accept it); answers `failures` 500s first."""

    client: openai.AsyncOpenAI
    policy: Policy | None = None
    secret: str = SECRET
    failures: int = 0
    deliveries: list[Delivery] = field(default_factory=list)
    events: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    url: str = ""

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        if self.failures > 0:
            self.failures -= 1
            self.deliveries.append(Delivery(headers, body, 500))
            return Response(status_code=500)
        try:
            event = self.client.webhooks.unwrap(body, headers, secret=self.secret)
        except openai.InvalidWebhookSignatureError:
            self.deliveries.append(Delivery(headers, body, 400))
            return Response("invalid signature", status_code=400)
        self.deliveries.append(Delivery(headers, body, 200, event))
        if event.type == "realtime.call.incoming" and self.policy is not None:
            await self.policy(self.client, event)
        self.events.put_nowait(event)
        return Response(status_code=200)

    async def next_call(self, timeout: float = 10) -> Any:
        return await asyncio.wait_for(self.events.get(), timeout)


@contextlib.asynccontextmanager
async def serving(app: WebhookApp) -> AsyncIterator[WebhookApp]:
    """Serve the receiver on a free loopback port in this event loop; `app.url` is its webhook URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    app.url = f"http://127.0.0.1:{sock.getsockname()[1]}/webhook"
    starlette = Starlette(routes=[Route("/webhook", app.receive, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(starlette, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), "the webhook receiver did not start"
        await asyncio.sleep(0.01)  # uvicorn offers no start callback; poll its flag
    try:
        yield app
    finally:
        server.should_exit = True
        await task


async def accept(client: openai.AsyncOpenAI, event: Any) -> None:
    await client.realtime.calls.accept(event.data.call_id, **TRANSCRIBED)


async def until_type(conn: Any, event_type: str, timeout: float = 15) -> list[Any]:
    """Sideband events up to and including the first of `event_type` (a call's turn takes longer: 15 s)."""
    return await until(conn, event_type, timeout)
