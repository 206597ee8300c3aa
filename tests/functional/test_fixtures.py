"""The example scenarios in fixtures/, used as a downstream app's tests would use them."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from mockserver.audio import formats
from mockserver.runner import RunningServer
from tests.functional.conftest import Start, sdk_client, until

pytestmark = pytest.mark.functional
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
TEXT = {"type": "realtime", "output_modalities": ["text"]}
WEATHER_TOOL = {"type": "function", "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


def with_fixture(start_mock: Start, name: str) -> RunningServer:
    from mockserver.protocol.faults import Fault
    from mockserver.scenarios import ScenarioResponder, load_scenario

    scenario = load_scenario(FIXTURES / name)
    server = start_mock(responder=lambda: ScenarioResponder(scenario))
    for spec in scenario.faults:
        server.state.scope().add_fault(Fault.from_dict(dict(spec)))
    return server


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def text_of(events: list[Any]) -> str:
    return "".join(e.delta for e in events if e.type in ("response.output_text.delta",
                                                         "response.output_audio_transcript.delta"))


async def test_tool_agent(start_mock: Start) -> None:
    server = with_fixture(start_mock, "tool_agent.yaml")
    async with sdk_client(server).realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={**TEXT, "tools": [WEATHER_TOOL]})
        await conn.conversation.item.create(item=user("What's the weather in Paris?"))
        await conn.response.create()
        done = (await until(conn, "response.done"))[-1].response
        assert done.output[0].content[0].text == "Let me check the weather in Paris."
        call = done.output[1]
        assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Paris"})
        await conn.conversation.item.create(item={"type": "function_call_output", "call_id": call.call_id,
                                                  "output": json.dumps({"temperature_c": 18, "conditions": "sunny"})})
        await conn.response.create()
        assert text_of(await until(conn, "response.done")) == "It's 18 degrees and sunny in Paris."


async def test_barge_in(start_mock: Start) -> None:
    server = with_fixture(start_mock, "barge_in.yaml")
    async with sdk_client(server).realtime.connect(model="gpt-realtime") as conn:
        await conn.conversation.item.create(item=user("Tell me a story."))
        await conn.response.create()
        events = await until(conn, "response.output_audio.delta")  # the app starts playing...
        item_id = events[-1].item_id
        played = len(base64.b64decode(events[-1].delta))
        await conn.response.cancel()  # ...and the user talks over it
        done = (await until(conn, "response.done"))[-1].response
        assert done.status == "cancelled" and done.output[0].status == "incomplete"
        played_ms = int(formats.duration_ms(played, "audio/pcm"))
        await conn.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=played_ms)
        assert (await until(conn, "conversation.item.truncated"))[-1].audio_end_ms == played_ms
        await conn.conversation.item.create(item=user("Wait, actually, something else."))
        await conn.response.create()
        answer = await until(conn, "response.done")
    assert text_of(answer) == "Sure, I'll stop there. What would you like to know instead?"


async def test_reconnect_after_a_dropped_connection(start_mock: Start) -> None:
    server = with_fixture(start_mock, "reconnect.yaml")
    client = sdk_client(server)
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session=TEXT)
        await conn.conversation.item.create(item=user("hello"))
        await conn.response.create()
        assert text_of(await until(conn, "response.done")) == "Hello! What can I do for you?"
        await conn.conversation.item.create(item=user("Tell me about the tides please"))
        await conn.response.create()
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(until(conn, "response.done"), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
    async with client.realtime.connect(model="gpt-realtime") as conn:  # the app reconnects
        await conn.session.update(session=TEXT)
        await conn.conversation.item.create(item=user("Are you still there?"))
        await conn.response.create()
        assert text_of(await until(conn, "response.done")).startswith("I'm here. We were cut off")


async def test_rate_limited_response(start_mock: Start) -> None:
    server = with_fixture(start_mock, "rate_limited.yaml")
    async with sdk_client(server).realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session=TEXT)
        await conn.conversation.item.create(item=user("hi"))
        await conn.response.create()
        events = await until(conn, "rate_limits.updated")
        failed = events[-2].response
        assert failed.status == "failed" and failed.status_details.error.code == "rate_limit_exceeded"
        assert {r.name: r.remaining for r in events[-1].rate_limits} == {"requests": 4999, "tokens": 0}
        await conn.response.create()  # the app retries
        retried = await until(conn, "rate_limits.updated")
    assert retried[-2].response.status == "completed" and text_of(retried) == "You said: hi"
    assert [r.name for r in retried[-1].rate_limits] == ["tokens"]  # the fault fired once
