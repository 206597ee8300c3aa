"""The call faults of a data channel alone (sans-I/O): when `drop_channel` closes it, how long `delay_channel`
holds it, and `count` spanning the calls of a scope."""

from __future__ import annotations

from typing import Any

import pytest

from mockserver.protocol.faults import ChannelFaults, Fault, FaultError, FaultInjector


def faults(*specs: dict[str, Any]) -> list[Fault]:
    parsed = [Fault.from_dict(spec) for spec in specs]
    for index, fault in enumerate(parsed):
        fault.id = f"f{index}"
    return parsed


def sent_before_drop(channel: ChannelFaults, *types: str) -> list[str]:
    sent = []
    for event_type in types:
        if channel.drop_before(event_type):
            break
        sent.append(event_type)
    return sent


def test_drop_channel_at_an_event_or_after_n_events() -> None:
    at_event = ChannelFaults(lambda: faults({"name": "drop_channel", "event": "response.created"}))
    assert sent_before_drop(at_event, "session.created", "session.updated", "response.created", "x") == [
        "session.created", "session.updated"]
    assert at_event.dropped and at_event.drop_before("anything")  # nothing goes out after
    after = ChannelFaults(lambda: faults({"name": "drop_channel", "after_events": 2}))
    assert sent_before_drop(after, "a", "b", "c") == ["a", "b"]
    at_once = ChannelFaults(lambda: faults({"name": "drop_channel"}))
    assert sent_before_drop(at_once, "session.created") == []
    late = ChannelFaults(lambda: faults({"name": "drop_channel", "event": "b", "after_events": 2}))
    assert sent_before_drop(late, "b", "a", "b") == ["b", "a"]


def test_delay_channel_after_events_and_the_slowest_wins() -> None:
    channel = ChannelFaults(lambda: faults({"name": "delay_channel", "ms": 250, "after_events": 1},
                                           {"name": "delay_channel", "ms": 100}))
    assert channel.delay() == 0.1
    channel.drop_before("session.created")
    assert channel.delay() == 0.25
    assert ChannelFaults(lambda: []).delay() == 0.0


def test_count_counts_calls() -> None:
    shared = faults({"name": "delay_channel", "ms": 50, "count": 1}, {"name": "drop_channel", "count": 1})
    first, second = ChannelFaults(lambda: shared), ChannelFaults(lambda: shared)
    assert first.delay() == first.delay() == 0.05  # every message of the call it fired on
    assert first.drop_before("session.created")
    assert second.delay() == 0.0 and not second.drop_before("session.created")  # the next call: none
    assert [f.fired for f in shared] == [1, 1]


def test_the_socket_injector_leaves_them_to_the_channel() -> None:
    injector = FaultInjector(lambda: faults({"name": "drop_channel"}, {"name": "delay_channel", "ms": 5}))
    events = [{"type": "session.created"}, {"type": "response.done"}]
    assert injector.apply(list(events), 0) == events and injector.close is None


@pytest.mark.parametrize(("spec", "field"), [
    ({"name": "delay_channel"}, "ms"),
    ({"name": "delay_channel", "ms": -1}, "ms"),
    ({"name": "drop_channel", "event": ""}, "event"),
    ({"name": "drop_channel", "after_events": -1}, "after_events"),
])
def test_bad_call_faults_name_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(FaultError) as refused:
        Fault.from_dict(spec)
    assert refused.value.field == field
