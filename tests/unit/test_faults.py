"""The fault injector alone (sans-I/O): what goes out for what the session produced."""

from __future__ import annotations

import re
from typing import Any

import pytest

from mockserver.protocol.faults import Fault, FaultError, FaultInjector, handshake_refusal


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
    ({"name": "drop", "event": "a", "count": 0}, "fault drop: `count` must be an integer >= 1, not 0"),
])
def test_bad_faults_are_refused_with_a_reason(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Fault.from_dict(data)


# Each was accepted once, and then broke every session of its scope (a comparison with a string, a close
# frame the socket library refuses to write).
@pytest.mark.parametrize(("data", "field"), [
    ({"name": "close", "after_events": "3"}, "after_events"),
    ({"name": "close", "after_events": -1}, "after_events"),
    ({"name": "close", "after_events": True}, "after_events"),
    ({"name": "refuse_handshake", "error": "x"}, "error"),
    ({"name": "refuse_handshake", "error": {"message": 5}}, "error"),
    ({"name": "refuse_handshake", "error": {"message": "m", "detail": "d"}}, "error"),
    ({"name": "refuse_handshake", "error": {"type": "t" * 100, "code": "c" * 30}}, "error"),  # reason > 123 bytes
    ({"name": "refuse_handshake", "code": 200}, "code"),
    ({"name": "refuse_handshake", "code": 1011}, "code"),
    ({"name": "close", "code": 1004}, "code"),
    ({"name": "close", "code": 1005}, "code"),
    ({"name": "close", "code": 1006}, "code"),
    ({"name": "close", "code": 1015}, "code"),
    ({"name": "close", "code": 2000}, "code"),
    ({"name": "close", "code": 5000}, "code"),
    ({"name": "close", "code": 1000.5}, "code"),
    ({"name": "close", "code": "1011"}, "code"),
    ({"name": "close", "code": True}, "code"),
    ({"name": "close", "reason": "é" * 62}, "reason"),  # 124 bytes of UTF-8 in 62 characters
    ({"name": "close", "reason": "\ud800"}, "reason"),
    ({"name": "close", "reason": 5}, "reason"),
    ({"name": "drop", "event": 5}, "event"),
    ({"name": "drop", "event": ""}, "event"),
    ({"name": "delay", "event": "a", "ms": -1}, "ms"),
    ({"name": "delay", "event": "a", "ms": "5"}, "ms"),
    ({"name": "delay", "event": "a", "ms": float("inf")}, "ms"),
    ({"name": "delay", "event": "a", "ms": float("nan")}, "ms"),
    ({"name": "drop", "event": "a", "count": 1.5}, "count"),
    ({"name": "drop", "event": "a", "count": False}, "count"),
    ({"name": "rate_limits", "limits": []}, "limits"),
    ({"name": "rate_limits", "limits": {"name": "tokens"}}, "limits"),
    ({"name": "rate_limits", "limits": [5]}, "limits"),
    ({"name": "rate_limits", "limits": [{"name": "tokens", "limit": 1, "remaining": 0}]}, "limits"),
    ({"name": "rate_limits", "limits": [{"name": "coins", "limit": 1, "remaining": 0, "reset_seconds": 1}]}, "limits"),
    ({"name": "rate_limits", "limits": [{"name": "tokens", "limit": -1, "remaining": 0, "reset_seconds": 1}]},
     "limits"),
    ({"name": "drop", "event": "a", "id": 7}, "id"),
])
def test_every_field_is_checked_and_named(data: dict[str, Any], field: str) -> None:
    with pytest.raises(FaultError) as refused:
        Fault.from_dict(data)
    assert refused.value.field == field and f"`{field}`" in str(refused.value)


@pytest.mark.parametrize("data", [None, 5, "close", ["close"]])
def test_a_fault_is_an_object(data: Any) -> None:
    with pytest.raises(FaultError, match="fault: expected an object"):
        Fault.from_dict(data)


@pytest.mark.parametrize("data", [
    {"name": "close", "code": code} for code in (1000, 1003, 1007, 1011, 1014, 3000, 4999)] + [
    {"name": "close", "reason": "é" * 61 + "a"},  # 123 bytes
    {"name": "close", "code": None, "event": "response.done"},  # null: the default
    {"name": "refuse_handshake", "code": 400},
    {"name": "refuse_handshake", "code": 599, "error": {"type": "t" * 200, "code": None}},  # HTTP: no close reason
    {"name": "refuse_handshake", "error": {"message": "m", "type": "t", "code": None, "param": None}},
    {"name": "delay", "event": "a", "ms": 0},
    {"name": "delay", "event": "a", "ms": 2.5},
    {"name": "expire", "after_events": 0, "count": 1},
])
def test_edges_that_are_fine(data: dict[str, Any]) -> None:
    assert Fault.from_dict(data).name == data["name"]


def test_a_fault_keeps_no_reference_to_what_it_was_made_from() -> None:
    limits = [{"name": "tokens", "limit": 1, "remaining": 0, "reset_seconds": 1}]
    fault = Fault.from_dict({"name": "rate_limits", "limits": limits})
    limits[0]["remaining"] = 99
    assert fault.limits == [{"name": "tokens", "limit": 1, "remaining": 0, "reset_seconds": 1}]


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
