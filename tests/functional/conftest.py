"""Real servers on loopback for functional tests; every event they send is checked against schemas/."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from openai import AsyncOpenAI

from mockserver import schema_store
from mockserver.protocol.session import Session  # the base of every session kind
from mockserver.runner import RunningServer, start_in_thread
from mockserver.state import ServerConfig, ServerState

Start = Callable[..., RunningServer]


@contextlib.contextmanager
def checked_servers(family: str) -> Iterator[Start]:
    """Start mocks (config and state options optional); at the end stop them, and fail if any event they
    sent does not match `schemas/<family>`."""
    servers: list[RunningServer] = []
    invalid: list[tuple[str, list[str]]] = []

    def check(session: Session, event: dict[str, Any]) -> None:
        problems = schema_store.shape_errors(family, event)
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
    assert invalid == [], f"the mock sent events that do not match schemas/{family}"


@pytest.fixture
def start_mock() -> Iterator[Start]:
    """Start a mock; every event it sends is checked against the GA server schemas."""
    with checked_servers("realtime/server") as start:
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
