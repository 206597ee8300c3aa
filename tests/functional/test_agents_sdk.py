"""The Agents SDK's realtime runner (openai-agents), pointed at the mock, runs a tool-using conversation
from a scenario: the scenario makes the "model" call the tool, the SDK runs it and sends its output,
and the scenario answers from that output."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from mockserver.runner import RunningServer
from tests.functional.conftest import Start

pytestmark = pytest.mark.functional

SCENARIO = """
name: weather-agent
rules:  # first match wins, and the user's question is still the last user message after the tool ran
  - name: answer from the tool
    when: {tool_result: {name: get_weather}}
    reply: {text: "Right now it is {{tool_output}}."}
  - name: look it up
    when: {user_text: "(?i)weather in (?P<city>[A-Za-z]+)"}
    reply: {function_call: {name: get_weather, arguments: {city: "{{city}}"}}}
"""


async def test_agents_sdk_runs_a_tool_round_from_a_scenario(start_mock: Start) -> None:
    from agents import function_tool
    from agents.realtime import RealtimeAgent, RealtimeRunner

    from mockserver.scenarios import ScenarioResponder, parse_scenario

    scenario = parse_scenario(SCENARIO)
    server: RunningServer = start_mock(responder=lambda: ScenarioResponder(scenario))
    calls: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        calls.append(city)
        return f"foggy and 12 degrees in {city}"

    agent = RealtimeAgent(name="Weather", instructions="Answer weather questions.", tools=[get_weather])
    runner = RealtimeRunner(starting_agent=agent)
    session = await runner.run(model_config={"url": f"{server.websocket_base_url}/realtime?model=gpt-realtime",
                                             "api_key": "sk-test"})
    seen: list[Any] = []
    async with session:
        await session.send_message("What is the weather in Oslo?")

        async def converse() -> None:
            ends = 0
            async for event in session:
                seen.append(event)
                if event.type == "error":
                    raise AssertionError(f"the SDK reported an error: {event}")
                ends += event.type == "agent_end"
                if ends == 2:  # the tool call's response, then the answer's
                    return

        await asyncio.wait_for(converse(), 20)

    assert calls == ["Oslo"]
    types = [e.type for e in seen]
    assert types.index("tool_start") < types.index("tool_end")
    journal = next(iter(server.state.scope().journals.values()))
    sent = [e["event"] for e in journal.entries if e["direction"] == "client"]
    output = next(e["item"] for e in sent if e["type"] == "conversation.item.create"
                  and e["item"]["type"] == "function_call_output")
    assert output["output"] == "foggy and 12 degrees in Oslo"
    done = [e["event"]["response"] for e in journal.entries
            if e["direction"] == "server" and e["event"]["type"] == "response.done"]
    assert json.loads(done[0]["output"][0]["arguments"]) == {"city": "Oslo"}
    assert done[1]["output"][0]["content"][0]["transcript"] == "Right now it is foggy and 12 degrees in Oslo."
