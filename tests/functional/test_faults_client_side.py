"""Each fault, as a client of the mock sees it (official SDK or a raw client, real sockets)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from mockserver.protocol.faults import Fault
from mockserver.runner import RunningServer
from tests.functional.conftest import raw_until, sdk_client, until

pytestmark = pytest.mark.functional

TEXT = {"type": "realtime", "output_modalities": ["text"]}
USER = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "one two three"}]}


def fault(server: RunningServer, **spec: Any) -> None:
    server.state.scope().add_fault(Fault.from_dict(spec))


async def text_turn(conn: Any) -> None:
    await conn.session.update(session=TEXT)
    await conn.conversation.item.create(item=USER)
    await conn.response.create()


async def closed_with(conn: Any) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(until(conn, "never.arrives"), 10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_close_after_n_events(mock: RunningServer) -> None:
    fault(mock, name="close", after_events=4, code=4001, reason="fault")
    async with sdk_client(mock).realtime.connect(model="gpt-realtime") as conn:
        await text_turn(conn)
        assert await closed_with(conn) == (4001, "fault")
    journal = next(iter(mock.state.scope().journals.values()))
    assert len([e for e in journal.entries if e["direction"] == "server"]) == 4


async def test_close_at_an_event_type(mock: RunningServer) -> None:
    fault(mock, name="close", event="response.created", code=1011)
    async with sdk_client(mock).realtime.connect(model="gpt-realtime") as conn:
        await text_turn(conn)
        assert (await closed_with(conn))[0] == 1011


async def test_drop(mock: RunningServer) -> None:
    fault(mock, name="drop", event="response.done")
    async with sdk_client(mock).realtime.connect(model="gpt-realtime") as conn:
        await text_turn(conn)
        events = await until(conn, "rate_limits.updated")
    assert "response.done" not in [e.type for e in events]


async def test_duplicate(mock: RunningServer) -> None:
    fault(mock, name="duplicate", event="response.output_item.added")
    async with sdk_client(mock).realtime.connect(model="gpt-realtime") as conn:
        await text_turn(conn)
        events = await until(conn, "rate_limits.updated")
    added = [e for e in events if e.type == "response.output_item.added"]
    assert len(added) == 2 and added[0].event_id == added[1].event_id


async def test_reorder(mock: RunningServer) -> None:
    fault(mock, name="reorder", event="conversation.item.done", after_events=5)
    async with sdk_client(mock).realtime.connect(model="gpt-realtime") as conn:
        await text_turn(conn)
        names = [e.type for e in await until(conn, "rate_limits.updated")]
    assert names.index("response.output_item.done") < names.index("conversation.item.done", 5)


async def test_delay(mock: RunningServer) -> None:
    fault(mock, name="delay", event="response.content_part.done", ms=150)  # real time is the point
    async with sdk_client(mock).realtime.connect(model="gpt-realtime") as conn:
        await text_turn(conn)
        names = [e.type for e in await until(conn, "response.content_part.done")]
    assert names.index("response.done") < names.index("response.content_part.done")


async def test_stall_then_cancel(mock: RunningServer) -> None:
    fault(mock, name="stall")
    async with sdk_client(mock).realtime.connect(model="gpt-realtime") as conn:
        await text_turn(conn)
        await until(conn, "response.created")
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(conn.recv(), 0.3)  # real time is the point: nothing streams
        await conn.response.cancel()
        done = (await until(conn, "response.done"))[-1]
    assert done.response.status == "cancelled"


async def test_expire(mock: RunningServer) -> None:
    fault(mock, name="expire", after_events=2)
    async with sdk_client(mock).realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session=TEXT)
        events = await until(conn, "error")
        assert events[-1].error.code == "session_expired"
        assert await closed_with(conn) == (1001, "Your session hit the maximum duration of 60 minutes.")


async def test_rate_limits_values(mock: RunningServer) -> None:
    limits = [{"name": "requests", "limit": 100, "remaining": 0, "reset_seconds": 30.0},
              {"name": "tokens", "limit": 1000, "remaining": 5, "reset_seconds": 12.5}]
    fault(mock, name="rate_limits", limits=limits)
    async with sdk_client(mock).realtime.connect(model="gpt-realtime") as conn:
        await text_turn(conn)
        updated = (await until(conn, "rate_limits.updated"))[-1]
    assert [r.model_dump() for r in updated.rate_limits] == limits


async def test_refuse_handshake_with_an_http_status(mock: RunningServer) -> None:
    fault(mock, name="refuse_handshake", code=429, error={"type": "requests", "code": "rate_limit_exceeded",
                                                          "message": "Too many connections."})
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{mock.websocket_base_url}/realtime?model=gpt-realtime",
                           additional_headers={"Authorization": "Bearer sk-test"}):
            pass
    assert refused.value.response.status_code == 429
    body = json.loads(refused.value.response.body or b"{}")
    assert body["error"]["code"] == "rate_limit_exceeded" and body["error"]["message"] == "Too many connections."


async def test_refuse_handshake_with_a_close_code(mock: RunningServer) -> None:
    fault(mock, name="refuse_handshake", code=3000, error={"code": "invalid_api_key", "message": "nope"})
    async with connect(f"{mock.websocket_base_url}/realtime?model=gpt-realtime",
                       additional_headers={"Authorization": "Bearer sk-test"}) as ws:
        (error,) = await raw_until(ws, "error")
        assert error["error"]["code"] == "invalid_api_key"
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (3000, "invalid_request_error.invalid_api_key")


async def test_faults_are_scoped(mock: RunningServer) -> None:
    mock.state.scope("test-a").add_fault(Fault.from_dict({"name": "drop", "event": "response.done"}))
    client = sdk_client(mock)
    async with client.realtime.connect(model="gpt-realtime", extra_headers={"X-Mock-Scope": "test-b"}) as conn:
        await text_turn(conn)
        assert "response.done" in [e.type for e in await until(conn, "rate_limits.updated")]
    async with client.realtime.connect(model="gpt-realtime", extra_query={"mock_scope": "test-a"}) as conn:
        await text_turn(conn)
        assert "response.done" not in [e.type for e in await until(conn, "rate_limits.updated")]
    assert len(mock.state.scope("test-a").journals) == 1 and len(mock.state.scope("test-b").journals) == 1
