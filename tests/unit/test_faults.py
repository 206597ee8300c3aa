"""The fault injector alone (sans-I/O): what goes out for what the session produced."""

from __future__ import annotations

import re
from typing import Any

import pytest

from mockserver.protocol.faults import Fault, FaultInjector, handshake_refusal


def events(*names: str) -> list[dict[str, Any]]:
    return [{"type": n, "event_id": f"e{i}"} for i, n in enumerate(names)]


def injector(*faults: dict[str, Any]) -> FaultInjector:
    parsed = [Fault.from_dict(f) for f in faults]
    for i, fault in enumerate(parsed):
        fault.id = f"f{i}"
    return FaultInjector(lambda: parsed)


def names(out: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in out]


def test_drop_duplicate_reorder() -> None:
    assert names(injector({"name": "drop", "event": "b"}).apply(events("a", "b", "c"), 0)) == ["a", "c"]
    assert names(injector({"name": "duplicate", "event": "b"}).apply(events("a", "b", "c"), 0)) == ["a", "b", "b", "c"]
    assert names(injector({"name": "reorder", "event": "a"}).apply(events("a", "b", "c"), 0)) == ["b", "a", "c"]


def test_count_and_after_events() -> None:
    inj = injector({"name": "drop", "event": "x", "count": 1})
    assert names(inj.apply(events("x", "x", "x"), 0)) == ["x", "x"]
    inj = injector({"name": "drop", "event": "x", "after_events": 2})
    assert names(inj.apply(events("x", "x"), 0)) == ["x", "x"]
    assert names(inj.apply(events("x", "y"), 0)) == ["y"]


def test_delay_holds_an_event_until_it_is_due() -> None:
    inj = injector({"name": "delay", "event": "a", "ms": 500})
    assert names(inj.apply(events("a", "b"), 10.0)) == ["b"]
    assert inj.next_due() == 10.5
    assert inj.apply([], 10.4) == []
    assert names(inj.apply([], 10.5)) == ["a"]


def test_close_at_an_event_or_after_n_events() -> None:
    inj = injector({"name": "close", "event": "b", "code": 4001, "reason": "bye"})
    assert names(inj.apply(events("a", "b", "c"), 0)) == ["a"]
    assert inj.close is not None and (inj.close.code, inj.close.reason) == (4001, "bye")
    inj = injector({"name": "close", "after_events": 2})
    assert names(inj.apply(events("a"), 0)) == ["a"] and inj.close is None
    assert names(inj.apply(events("b", "c"), 0)) == ["b"]  # two events went out: close before the third
    assert inj.close is not None and inj.close.code == 1011


def test_stall_expire_and_rate_limits() -> None:
    inj = injector({"name": "stall", "count": 1})
    assert not inj.should_stall({"type": "response.output_item.added"})
    assert inj.should_stall({"type": "response.created"})
    assert not inj.should_stall({"type": "response.created"})  # count 1
    inj = injector({"name": "expire", "after_events": 1})
    inj.apply(events("a"), 0)
    assert inj.expire
    limits = [{"name": "tokens", "limit": 100, "remaining": 0, "reset_seconds": 9.5}]
    out = injector({"name": "rate_limits", "limits": limits}).apply(
        [{"type": "rate_limits.updated", "event_id": "e", "rate_limits": []}], 0)
    assert out[0]["rate_limits"] == limits


def test_faults_read_live_so_they_can_be_switched_off() -> None:
    faults = [Fault.from_dict({"name": "drop", "event": "a"})]
    inj = FaultInjector(lambda: faults)
    assert names(inj.apply(events("a"), 0)) == []
    faults.clear()
    assert names(inj.apply(events("a"), 0)) == ["a"]


def test_handshake_refusal() -> None:
    assert handshake_refusal([]) is None
    code, error = handshake_refusal([Fault.from_dict({"name": "refuse_handshake", "code": 429, "error": {
        "type": "requests", "code": "rate_limit_exceeded", "message": "slow down"}})]) or (0, None)
    assert code == 429 and error is not None and error.message == "slow down"


@pytest.mark.parametrize(("data", "message"), [
    ({"name": "explode"}, "fault: name must be one of close, drop"),
    ({"name": "drop"}, "fault drop: needs `event`"),
    ({"name": "delay", "event": "a"}, "fault delay: needs `ms` >= 0"),
    ({"name": "close", "code": 99}, "fault close: `code` must be a WebSocket close code"),
    ({"name": "drop", "event": "a", "cnt": 1}, "fault: unknown key(s) cnt"),
    ({"name": "drop", "event": "a", "count": 0}, "fault: `count` must be at least 1"),
])
def test_bad_faults_are_refused_with_a_reason(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Fault.from_dict(data)


def test_count_spans_the_connections_of_a_scope() -> None:
    shared = [Fault.from_dict({"name": "close", "after_events": 1, "count": 1})]
    shared[0].id = "f"
    first, second = FaultInjector(lambda: shared), FaultInjector(lambda: shared)
    first.apply(events("a", "b"), 0)
    second.apply(events("a", "b"), 0)
    assert first.close is not None and second.close is None  # a reconnecting app is not cut again
    uncounted = [Fault.from_dict({"name": "close", "after_events": 1})]
    a, b = FaultInjector(lambda: uncounted), FaultInjector(lambda: uncounted)
    a.apply(events("x", "y"), 0)
    b.apply(events("x", "y"), 0)
    assert a.close is not None and b.close is not None  # without a count: every connection, once
