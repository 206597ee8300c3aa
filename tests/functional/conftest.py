"""Real servers on loopback for functional tests; every event they send is checked against schemas/."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from openai import AsyncOpenAI
from starlette.applications import Starlette

from conformance.recorder import app_config
from mockserver import schema_store
from mockserver.protocol.session import Session  # the base of every session kind
from mockserver.runner import RunningServer, start_in_thread
from mockserver.state import ServerConfig, ServerState

Start = Callable[..., RunningServer]


@contextlib.contextmanager
def checked_servers(family: str | None = None) -> Iterator[Start]:
    """Start mocks (config and state options optional); at the end stop them, and fail if any event they
    sent does not match `schemas/<family>` (None: the family of the session that sent it)."""
    servers: list[RunningServer] = []
    invalid: list[tuple[str, list[str]]] = []

    def check(session: Session, event: dict[str, Any]) -> None:
        problems = schema_store.shape_errors(family or session.SERVER_EVENTS, event)
        if problems:
            invalid.append((event["type"], problems))

    def start(config: ServerConfig | None = None, **state_options: Any) -> RunningServer:
        state = ServerState(config, **state_options)
        state.observers.append(check)
        server = start_in_thread(state)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
    assert invalid == [], f"the mock sent events that do not match schemas/{family or '<the session family>'}"


@pytest.fixture
def start_mock() -> Iterator[Start]:
    """Start a mock; every event it sends is checked against the GA server schemas of its session."""
    with checked_servers() as start:
        yield start


@pytest.fixture
def mock(start_mock: Start) -> RunningServer:
    return start_mock()


def sdk_client(server: RunningServer, api_key: str = "sk-test") -> AsyncOpenAI:
    return AsyncOpenAI(api_key=api_key, base_url=server.base_url, websocket_base_url=server.websocket_base_url)


async def until(conn: Any, event_type: str, timeout: float = 10) -> list[Any]:
    """Events from an SDK connection up to and including the first of `event_type`."""
    seen: list[Any] = []

    async def collect() -> None:
        while True:
            event = await conn.recv()
            seen.append(event)
            if event.type == event_type:
                return

    await asyncio.wait_for(collect(), timeout)
    return seen


async def raw_until(ws: Any, event_type: str, timeout: float = 10) -> list[dict[str, Any]]:
    """The same for a raw `websockets` connection (frames parsed and schema-checked)."""
    seen: list[dict[str, Any]] = []

    async def collect() -> None:
        while True:
            event = json.loads(await ws.recv())
            assert schema_store.shape_errors("realtime/server", event) == [], event
            seen.append(event)
            if event["type"] == event_type:
                return

    await asyncio.wait_for(collect(), timeout)
    return seen


@dataclass
class Served:
    """Any ASGI app (the recorder, the replayer) served on a loopback port in a thread."""

    port: int
    app: Starlette
    _server: uvicorn.Server
    _thread: threading.Thread

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def websocket_base_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1"

    def client(self, api_key: str = "sk-test") -> AsyncOpenAI:
        return AsyncOpenAI(api_key=api_key, base_url=self.base_url, websocket_base_url=self.websocket_base_url)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@pytest.fixture
def serve() -> Iterator[Callable[[Starlette], Served]]:
    """Serve apps for the test; stopped after it."""
    servers: list[Served] = []

    def start(app: Starlette) -> Served:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(app_config(app, port=port, log_level="warning"))
        thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
        thread.start()
        while not server.started:
            assert thread.is_alive(), "the server did not start"
            threading.Event().wait(0.005)
        served = Served(port, app, server, thread)
        servers.append(served)
        return served

    yield start
    for served in servers:
        served.stop()
