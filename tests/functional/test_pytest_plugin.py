"""The pytest plugin, exercised as a downstream app's test suite uses it (pytester, a subprocess each)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.functional
pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[2]

SCENARIO = '''
name: weather-agent
rules:
  - when: {tool_result: {name: get_weather}}
    reply: {text: "It is {{tool_output}} in Oslo."}
  - when: {user_text: "(?i)weather in (?P<city>\\\\w+)"}
    reply: {function_call: {name: get_weather, arguments: {city: "{{city}}"}}}
'''

DOWNSTREAM_TESTS = '''
import asyncio
import json

import pytest

TEXT = {"type": "realtime", "output_modalities": ["text"]}
TOOLS = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]


async def until(conn, event_type):
    async def collect():
        seen = []
        async for event in conn:
            seen.append(event)
            if event.type == event_type:
                return seen
    return await asyncio.wait_for(collect(), 10)


async def ask(conn, text):
    await conn.conversation.item.create(item={"type": "message", "role": "user",
                                              "content": [{"type": "input_text", "text": text}]})
    await conn.response.create()
    return await until(conn, "response.done")


@pytest.mark.realtime_scenario("scenario.yaml")
async def test_tool_agent(realtime_mock):
    async with realtime_mock.async_client().realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={**TEXT, "tools": TOOLS})
        done = (await ask(conn, "What is the weather in Oslo?"))[-1]
        call = done.response.output[0]
        assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Oslo"})
        await conn.conversation.item.create(item={"type": "function_call_output", "call_id": call.call_id,
                                                  "output": "foggy"})
        await conn.response.create()
        events = await until(conn, "response.done")
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "It is foggy in Oslo."
    realtime_mock.assert_sent("conversation.item.create", item={"type": "function_call_output",
                                                                 "call_id": call.call_id, "output": "foggy"})
    assert len(realtime_mock.server_events("response.done")) == 2


async def test_default_scenario_and_isolation(realtime_mock):
    async with realtime_mock.async_client().realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session=TEXT)
        events = await ask(conn, "hello")
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "You said: hello"
    assert len(realtime_mock.sessions()) == 1  # only this test's session, though all share one server


async def test_fault_from_the_fixture(realtime_mock):
    realtime_mock.add_fault("drop", event="response.done")
    async with realtime_mock.async_client().realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session=TEXT)
        await conn.conversation.item.create(item={"type": "message", "role": "user",
                                                  "content": [{"type": "input_text", "text": "hi"}]})
        await conn.response.create()
        names = [e.type for e in await until(conn, "rate_limits.updated")]
    assert "response.done" not in names
    with pytest.raises(AssertionError, match="the app sent no response.cancel"):
        realtime_mock.assert_sent("response.cancel", timeout=0.1)


async def test_safety_identifier(realtime_mock):
    client = realtime_mock.async_client(default_headers={"OpenAI-Safety-Identifier": "user-9"})
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session=TEXT)
        await ask(conn, "hello")
    realtime_mock.assert_safety_identifier("user-9")
    with pytest.raises(AssertionError, match="has safety identifier 'user-9', not 'someone'"):
        realtime_mock.assert_safety_identifier("someone")


async def test_translation(realtime_mock):
    import base64

    from mockserver.audio.speech import speak

    realtime_mock.load_scenario({"name": "phrases", "translations": {"es": {"Good morning.": "Buenos días."}}})
    pcm = speak("Good morning.") + bytes(48 * 600)
    async with realtime_mock.async_client().realtime.translations.connect(model="gpt-realtime-translate") as conn:
        await conn.session.update(session={"audio": {"output": {"language": "es"}}})
        await conn.session.input_audio_buffer.append(audio=base64.b64encode(pcm).decode())
        await conn.session.close()
        events = await until(conn, "session.closed")
    assert "".join(e.delta for e in events if e.type == "session.output_transcript.delta") == "Buenos días."
    realtime_mock.assert_sent("session.close")
    assert len(realtime_mock.server_events("session.output_audio.delta")) >= 1


@pytest.mark.parametrize("n", range(4))
async def test_many_in_parallel(realtime_mock, n):
    async with realtime_mock.async_client().realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session=TEXT)
        events = await ask(conn, f"number {n}")
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == f"You said: number {n}"
    assert len(realtime_mock.sessions()) == 1
'''


@pytest.fixture
def downstream(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".yaml", scenario=SCENARIO)
    pytester.makepyfile(test_app=DOWNSTREAM_TESTS)
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    return pytester


def test_a_downstream_suite_runs_with_the_plugin(downstream: pytest.Pytester) -> None:
    result = downstream.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=9)


def test_a_downstream_suite_runs_under_xdist(downstream: pytest.Pytester) -> None:
    result = downstream.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=9)
    assert re.search(r"2 workers", result.stdout.str())


def test_a_bad_scenario_fails_the_test_with_the_reason(pytester: pytest.Pytester) -> None:
    broken = "name: broken\nrules:\n  - when: {user_text: '(unclosed'}\n    reply: {text: x}\n"
    pytester.makefile(".yaml", broken=broken)
    pytester.makepyfile(test_broken='''
import pytest

@pytest.mark.realtime_scenario("broken.yaml")
def test_it(realtime_mock):
    pass
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    assert re.search(r"broken\.yaml:3: rules\[0\].*user_text", result.stdout.str())


def test_the_plugin_is_registered_by_its_entry_point(pytester: pytest.Pytester) -> None:
    # No conftest and no -p: the installed package's pytest11 entry point provides the fixture and marker.
    result = pytester.runpytest_subprocess("--fixtures", "--markers", "-p", "no:cacheprovider")
    output = result.stdout.str()
    assert "realtime_mock" in output and "realtime_scenario(scenario)" in output
    assert shutil.which("realtime-mock")
