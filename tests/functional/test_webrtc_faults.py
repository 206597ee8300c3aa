"""The call faults over real WebRTC calls: `drop_channel` closes a call's data channel mid-call (the call
goes on: its sideband still drives it), `delay_channel` slows the channel both ways without reordering it;
switched on by the admin API and by a scenario, as every fault is."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from mockserver.runner import RunningServer
from mockserver.webrtc_client import WebRtcCaller
from tests.functional.conftest import sdk_client, until
from tests.functional.test_admin_api import call as admin

pytestmark = pytest.mark.functional

TEXT = {"type": "realtime", "output_modalities": ["text"]}
HELLO = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}


def scoped(scope: str) -> dict[str, str]:
    return {"X-Mock-Scope": scope}


async def events_until_closed(call: WebRtcCaller, timeout: float = 10) -> list[dict[str, Any]]:
    """Every event the channel delivered before it closed."""
    await asyncio.wait_for(call.channel_closed.wait(), timeout)
    seen = []
    while not call.events.empty():
        seen.append(call.events.get_nowait())
    return seen


async def test_drop_channel_closes_the_channel_and_the_call_goes_on(mock: RunningServer) -> None:
    fault = {"name": "drop_channel", "event": "response.created"}
    assert admin(mock, "POST", "/_mock/faults", fault, scope="lossy")[0] == 200
    async with await WebRtcCaller.connect(mock.base_url, headers=scoped("lossy")) as call:
        await call.send({"type": "session.update", "session": TEXT})
        await call.send({"type": "conversation.item.create", "item": HELLO})
        await call.send({"type": "response.create"})
        seen = [e["type"] for e in await events_until_closed(call)]
        assert seen == ["session.created", "session.updated", "conversation.item.added", "conversation.item.done"]
        with pytest.raises(ConnectionError):
            await call.send({"type": "response.create"})
        assert mock.state.calls[call.call_id].call.state == "active"  # the call is up without its channel
        async with sdk_client(mock).realtime.connect(call_id=call.call_id, extra_headers=scoped("lossy")) as side:
            await side.response.create()
            done = (await until(side, "response.done"))[-1]
        assert done.response.output[0].content[0].text == "You said: hello"
        journal = mock.state.scope("lossy").journals
        (entries,) = [j.entries for j in journal.values() if j.call_id == call.call_id]
        # The session sent the first response on (to its sidebands, none then); the journal has it.
        assert [e["event"]["type"] for e in entries if e["direction"] == "server"].count("response.done") == 2
        await sdk_client(mock).realtime.calls.hangup(call.call_id)


async def test_drop_channel_from_a_scenario_after_n_events(mock: RunningServer) -> None:
    scenario = {"name": "flaky-channel", "faults": [{"name": "drop_channel", "after_events": 2, "count": 1}]}
    assert admin(mock, "PUT", "/_mock/scenario", scenario, scope="flaky")[0] == 200
    async with await WebRtcCaller.connect(mock.base_url, headers=scoped("flaky")) as first:
        await first.send({"type": "session.update", "session": TEXT})
        await first.send({"type": "session.update", "session": TEXT})
        seen = [e["type"] for e in await events_until_closed(first)]
        assert seen == ["session.created", "session.updated"]
    async with await WebRtcCaller.connect(mock.base_url, headers=scoped("flaky")) as second:  # count: 1 call
        await second.send({"type": "session.update", "session": TEXT})
        await second.send({"type": "session.update", "session": TEXT})
        assert [e["type"] for e in await second.until("session.updated")][-1] == "session.updated"
        assert (await second.next_event())["type"] == "session.updated"
        assert not second.channel_closed.is_set()


async def test_delay_channel_slows_both_ways_in_order(mock: RunningServer) -> None:
    async with await WebRtcCaller.connect(mock.base_url) as plain:
        await plain.next_event()
        await plain.send({"type": "session.update", "session": TEXT})
        await plain.send({"type": "conversation.item.create", "item": HELLO})
        await plain.send({"type": "response.create"})
        expected = [e["type"] for e in await plain.until("rate_limits.updated")]
    assert admin(mock, "POST", "/_mock/faults", {"name": "delay_channel", "ms": 300}, scope="slow")[0] == 200
    async with await WebRtcCaller.connect(mock.base_url, headers=scoped("slow")) as call:
        await call.next_event()
        sent = time.monotonic()
        await call.send({"type": "session.update", "session": TEXT})
        await call.until("session.updated")
        assert time.monotonic() - sent >= 0.6  # 300 ms there and 300 ms back
        await call.send({"type": "conversation.item.create", "item": HELLO})
        await call.send({"type": "response.create"})
        events = [e["type"] for e in await call.until("rate_limits.updated")]
    assert events == expected[1:]  # slower, never reordered
