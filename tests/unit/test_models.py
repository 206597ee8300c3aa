"""What differs between realtime models (protocol/models.py): defaults per family, reasoning, phases and the
preamble that streams beside a tool call, as the live recordings show them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mockserver.protocol.clock import FakeClock
from mockserver.protocol.responder import Responder
from mockserver.scenarios import ScenarioResponder, parse_scenario
from tests.unit.sessions import Driver, errors_of, realtime_session, types

TOOLS = [{"type": "function", "name": "get_weather", "description": "Weather for a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]


class Model(Driver):
    """A session of one model, driven without sockets; every server event is checked against schemas/."""

    def __init__(self, model: str, responder: Responder | None = None) -> None:
        clock = FakeClock()
        super().__init__(session=realtime_session(7, clock, model=model, responder=responder), clock=clock)

    def turn(self, text: str, **response: Any) -> list[dict[str, Any]]:
        self.send({"type": "conversation.item.create", "item": {
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}})
        return self.send({"type": "response.create", **({"response": response} if response else {})})


@pytest.mark.parametrize(("model", "voice", "silence_ms"), [
    ("gpt-realtime", "alloy", 200),
    ("gpt-realtime-2025-08-28", "alloy", 200),  # a dated gpt-realtime, not a 2.x
    ("gpt-realtime-mini", "alloy", 200),
    ("gpt-4o-realtime-preview", "alloy", 200),
    ("gpt-realtime-2", "marin", 500),
    ("gpt-realtime-2.1", "marin", 500),
    ("gpt-realtime-2.1-mini", "marin", 500),
])
def test_each_family_opens_with_its_defaults(model: str, voice: str, silence_ms: int) -> None:
    session = Model(model).sent[0]["session"]
    assert session["model"] == model
    assert session["audio"]["output"]["voice"] == voice
    assert session["audio"]["input"]["turn_detection"]["silence_duration_ms"] == silence_ms
    assert "reasoning" not in session  # live shows none until a client sets it


def test_the_recorded_gpt_realtime_2_1_session_created_has_the_same_settings(reference: Any) -> None:
    import yaml

    recording = yaml.safe_load((reference / "recordings" / "newer" /
                                "gpt-realtime-2.1.test_text_tool_round_parity.yaml").read_text())
    live = recording["interactions"][0]["data"]["session"]
    mock = Model("gpt-realtime-2.1").sent[0]["session"]
    for path in (("audio", "output", "voice"), ("audio", "input", "turn_detection"), ("output_modalities",),
                 ("tool_choice",), ("truncation",), ("max_output_tokens",)):
        here, there = mock, live
        for key in path:
            here, there = here[key], there[key]
        assert here == there, path


@pytest.mark.parametrize(("effort", "tokens"), [("minimal", 0), ("low", 12), ("high", 160), ("xhigh", 480)])
def test_a_reasoning_model_takes_an_effort_and_counts_its_tokens(effort: str, tokens: int) -> None:
    m = Model("gpt-realtime-2")
    updated = m.send({"type": "session.update", "session": {"type": "realtime", "reasoning": {"effort": effort}}})
    assert types(updated) == ["session.updated"] and updated[0]["session"]["reasoning"] == {"effort": effort}
    done = next(e for e in m.turn("hello") if e["type"] == "response.done")
    assert done["response"]["usage"]["output_token_details"]["reasoning_tokens"] == tokens


def test_an_effort_per_response_and_none_asked_none_reported() -> None:
    m = Model("gpt-realtime-2.1")
    done = next(e for e in m.turn("hello") if e["type"] == "response.done")
    assert "reasoning_tokens" not in done["response"]["usage"]["output_token_details"]  # as the recording
    done = next(e for e in m.turn("again", reasoning={"effort": "medium"}) if e["type"] == "response.done")
    assert done["response"]["usage"]["output_token_details"]["reasoning_tokens"] == 48


def test_a_model_without_reasoning_refuses_it_and_keeps_the_rest_of_nothing() -> None:
    m = Model("gpt-realtime")
    sent = m.send({"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief.",
                                                         "reasoning": {"effort": "low"}}})
    (error,) = errors_of(sent)
    assert (error["code"], error["param"], error["message"]) == (
        "unsupported_parameter", "session.reasoning",
        "Unsupported parameter: 'session.reasoning' is not supported with this model.")
    assert m.session.config["instructions"] != "Be brief."  # the whole update is discarded, as live does
    (error,) = errors_of(m.send({"type": "response.create", "response": {"reasoning": {"effort": "low"}}}))
    assert (error["code"], error["param"]) == ("unsupported_parameter", "response.reasoning")
    assert "response.created" not in types(m.sent)


def shape(events: list[dict[str, Any]]) -> list[str]:
    """Event types with the kind and phase of items, runs of one delta type folded (the recording's view)."""
    out: list[str] = []
    for event in events:
        name = event["type"]
        if "item" in event and name != "conversation.item.create":
            name += f" {event['item']['type']} {event['item'].get('phase')}"
        if not (name.endswith(".delta") and out and out[-1] == name):
            out.append(name)
    return out


def recorded_first_response(reference: Any) -> list[str]:
    import yaml

    recording = yaml.safe_load((reference / "recordings" / "newer" /
                                "gpt-realtime-2.1.test_text_tool_round_parity.yaml").read_text())
    events = [i["data"] for i in recording["interactions"] if i["direction"] == "received"]
    start = next(n for n, e in enumerate(events) if e["type"] == "response.created")
    end = next(n for n, e in enumerate(events) if e["type"] == "response.done")
    return shape([e for e in events[start:end + 1]])


def test_the_default_model_says_a_preamble_beside_its_tool_call_in_the_recorded_order(reference: Any) -> None:
    m = Model("gpt-realtime-2.1")
    m.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"], "tools": TOOLS}})
    events = m.turn('What is the weather in London? Use get_weather {"city": "London"}')
    response = events[next(n for n, e in enumerate(events) if e["type"] == "response.created"):]
    response = response[:next(n for n, e in enumerate(response) if e["type"] == "response.done") + 1]
    assert shape(response) == recorded_first_response(reference)
    done = response[-1]["response"]
    message, call = done["output"]
    assert (message["phase"], message["content"][0]["text"]) == ("commentary", "I'll use the get_weather tool for you.")
    assert (call["name"], json.loads(call["arguments"])) == ("get_weather", {"city": "London"})
    # Then the tool's output: a final answer.
    m.send({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": call["call_id"],
                                                          "output": "rain"}})
    answer = next(e for e in m.send({"type": "response.create"}) if e["type"] == "response.done")["response"]
    assert [(o["type"], o.get("phase")) for o in answer["output"]] == [("message", "final_answer")]


def test_a_model_without_phases_calls_the_tool_with_no_preamble() -> None:
    m = Model("gpt-realtime")
    m.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"], "tools": TOOLS}})
    done = next(e for e in m.turn("use get_weather") if e["type"] == "response.done")["response"]
    assert [o["type"] for o in done["output"]] == ["function_call"]
    assert all("phase" not in o for o in done["output"])


SCENARIO = """
name: phased
rules:
  - when: {tool_result: true}
    reply:
      outputs:
        - {text: "Here is the forecast.", phase: final_answer}
  - reply:
      outputs:
        - {text: "Let me look that up.", phase: commentary}
        - function_call: {name: get_weather, arguments: {city: Oslo}}
"""


@pytest.mark.parametrize(("model", "first"), [
    ("gpt-realtime-2", [("message", "commentary"), ("function_call", None)]),
    ("gpt-realtime", [("function_call", None)]),
])
def test_a_scenario_scripts_preambles_and_phases(model: str, first: list[tuple[str, str | None]]) -> None:
    m = Model(model, ScenarioResponder(parse_scenario(SCENARIO, "phased.yaml")))
    m.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"], "tools": TOOLS}})
    done = next(e for e in m.turn("weather?") if e["type"] == "response.done")["response"]
    assert [(o["type"], o.get("phase")) for o in done["output"]] == first
    call = done["output"][-1]
    m.send({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": call["call_id"],
                                                          "output": "sunny"}})
    answer = next(e for e in m.send({"type": "response.create"}) if e["type"] == "response.done")["response"]
    phase = "final_answer" if model == "gpt-realtime-2" else None
    assert [(o["type"], o.get("phase")) for o in answer["output"]] == [("message", phase)]
