"""Server-wide state: a scenario is applied in one place, and the server's own reaches every scope."""

from __future__ import annotations

import dataclasses

import pytest

from mockserver import journal as journal_module
from mockserver.journal import Journal
from mockserver.protocol.responder import Turn
from mockserver.scenarios import parse_scenario
from mockserver.state import ServerState

SCENARIO = """
name: flaky
rules: [{reply: scripted}]
faults: [{name: drop, event: rate_limits.updated}]
"""


def says(state: ServerState, scope: str | None = None) -> str:
    reply = state.scope(scope).responder_factory().reply(Turn(items=[], instructions="", tools=[], tool_choice="auto",
                                                              output_modalities=["text"]))
    return reply.outputs[0].text  # type: ignore[union-attr]


def test_the_servers_scenario_reaches_every_scope_and_survives_a_reset() -> None:
    state = ServerState()
    before = state.scope("before")
    state.use_scenario(parse_scenario(SCENARIO))  # realtime-mock serve --scenario
    after = state.scope("after")
    for scope in (before, after, state.scope()):
        assert scope.scenario_name == "flaky" and [f.name for f in scope.faults] == ["drop"]
        assert says(state, scope.name) == "scripted"
    after.faults.clear()
    after.use_default_responder()
    state.reset()
    assert [f.name for f in after.faults] == ["drop"] and says(state, "after") == "scripted"


def test_a_scopes_own_scenario_goes_on_reset() -> None:
    state = ServerState()
    scope = state.scope("test-1")
    added = scope.use_scenario(parse_scenario(SCENARIO))
    assert [f.id for f in added] == [f.id for f in scope.faults] and says(state, "test-1") == "scripted"
    scope.reset()
    assert scope.faults == [] and scope.scenario_name is None
    assert says(state, "test-1") == "Hello! How can I help you today?"  # the built-in scenario again


def test_a_scenario_with_a_bad_fault_changes_nothing() -> None:
    state = ServerState()
    bad = dataclasses.replace(parse_scenario(SCENARIO), faults=({"name": "close", "code": 99},))
    with pytest.raises(ValueError, match="close code"):
        state.scope().use_scenario(bad)
    with pytest.raises(ValueError, match="close code"):
        state.use_scenario(bad)
    assert state.scope().faults == [] and state.scope().scenario_name is None


def test_a_journal_is_bounded_in_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal_module, "MAX_BYTES", 1000)
    journal = Journal("sess_1", "m", "default", 0.0)
    for index in range(20):
        journal.server(float(index), [b'{"type":"x","n":%d,"pad":"%s"}' % (index, b"." * 80)])
    assert journal.size <= 1000 and journal.dropped > 0
    kept = [entry["event"]["n"] for entry in journal.entries]
    assert kept == list(range(20 - len(kept), 20))  # the newest, in order
    journal.client(20.0, b"\x00\x01")
    journal.client(21.0, "not json")
    assert [e["event"] for e in journal.entries[-2:]] == [{"binary_frame_bytes": 2}, {"unparsed_text": "not json"}]
