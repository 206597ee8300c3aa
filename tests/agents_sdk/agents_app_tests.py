"""An Agents SDK app's test, as its own project writes it: the realtime runner (openai-agents), pointed at the
mock by the pytest plugin, runs a tool-using conversation from a scenario. The scenario makes the "model" call
the tool, the SDK runs it and sends its output, and the scenario answers from that output.

Run by tests/functional/test_agents_sdk.py with the Python of tests/agents_sdk/.venv (see requirements.txt);
the file name keeps it out of the main suite, whose environment has no Agents SDK.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from agents import function_tool
from agents.realtime import RealtimeAgent, RealtimeRunner

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


@pytest.mark.realtime_scenario(SCENARIO)
async def test_agents_sdk_runs_a_tool_round_from_a_scenario(realtime_mock: Any) -> None:
    calls: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        calls.append(city)
        return f"foggy and 12 degrees in {city}"

    agent = RealtimeAgent(name="Weather", instructions="Answer weather questions.", tools=[get_weather])
    session = await RealtimeRunner(starting_agent=agent).run(model_config=realtime_mock.agents_model_config())
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
    realtime_mock.assert_sent("conversation.item.create",
                              item={"type": "function_call_output", "output": "foggy and 12 degrees in Oslo"})
    done = [e["response"] for e in realtime_mock.server_events("response.done")]
    assert json.loads(done[0]["output"][0]["arguments"]) == {"city": "Oslo"}
    assert done[1]["output"][0]["content"][0]["transcript"] == "Right now it is foggy and 12 degrees in Oslo."


def test_this_environment_has_the_websockets_the_sdk_allows() -> None:
    """The point of a separate environment: the SDK's websockets (below 17) serves both it and the mock here."""
    assert int(websockets.__version__.split(".")[0]) < 17
