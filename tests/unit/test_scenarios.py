"""Scenario files: loading, the schema, matching, templating, reply forms, and the errors bad files give."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mockserver.protocol.responder import (
    EchoResponder,
    ErrorReply,
    FunctionCall,
    McpCall,
    McpListTools,
    Message,
    Reply,
    Timing,
    Turn,
    insufficient_quota,
    rate_limited,
)
from mockserver.scenarios import (
    Scenario,
    ScenarioError,
    ScenarioResponder,
    builtin_default,
    load_scenario,
    parse_scenario,
    scenario_schema,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = sorted((ROOT / "fixtures").glob("*.yaml"))


# -- helpers ----------------------------------------------------------------------------------------


def user(text: str, *, audio: bool = False) -> dict[str, Any]:
    part = {"type": "input_audio", "transcript": text} if audio else {"type": "input_text", "text": text}
    return {"type": "message", "role": "user", "content": [part]}


def assistant(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}


def call(name: str, call_id: str = "call_1", arguments: str = "{}") -> dict[str, Any]:
    return {"type": "function_call", "name": name, "call_id": call_id, "arguments": arguments}


def output(text: str, call_id: str = "call_1") -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": text}


def tool(name: str) -> dict[str, Any]:
    return {"type": "function", "name": name, "parameters": {"type": "object"}}


def turn(*items: dict[str, Any], tools: list[dict[str, Any]] | None = None, tool_choice: Any = "auto",
         modality: str = "text", index: int = 0, session: dict[str, Any] | None = None,
         instructions: str = "Be brief.") -> Turn:
    return Turn(items=list(items), instructions=instructions, tools=tools or [], tool_choice=tool_choice,
                output_modalities=[modality], index=index, session=session or {"model": "gpt-realtime"})


def scenario(text: str) -> Scenario:
    return parse_scenario(text, "test.yaml")


def responder(text: str, **kwargs: Any) -> ScenarioResponder:
    return ScenarioResponder(scenario(text), **kwargs)


def says(reply: Reply | ErrorReply) -> str:
    assert isinstance(reply, Reply)
    (message,) = reply.outputs
    assert isinstance(message, Message)
    return message.text


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "x.yaml")
    assert str(caught.value) == "\n".join(caught.value.problems)
    return list(caught.value.problems)


# -- loading ------------------------------------------------------------------------------------------


def test_the_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(scenario_schema())


def test_the_schema_forbids_unknown_keys_throughout() -> None:
    # Free-form on purpose: session values to compare, function arguments, an MCP tool's own schema, and
    # phrase tables (languages and sentences as keys; their values are still typed).
    free_form = {"session", "arguments", "input_schema", "annotations", "translations", "additionalProperties"}
    checked = []

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, dict):
            types = node.get("type")
            if types == "object" or (isinstance(types, list) and "object" in types):
                owner = next((p for p in reversed(path) if p not in ("anyOf", "0", "1", "properties", "$defs")), "")
                if owner not in free_form:
                    assert node.get("additionalProperties") is False, "/".join(path)
                    checked.append(path)
            for key, value in node.items():
                walk(value, (*path, key))
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, (*path, str(index)))

    walk(scenario_schema(), ())
    assert len(checked) >= 15
    tables = scenario_schema()["properties"]["translations"]
    assert tables["additionalProperties"]["additionalProperties"] == {"type": "string", "minLength": 1}


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_the_fixtures_load_and_say_what_they_are_for(path: Path) -> None:
    loaded = load_scenario(path)
    assert loaded.source == str(path)
    assert loaded.name and loaded.description
    assert path.read_text().startswith("# App test:")


def test_all_four_fixtures_exist() -> None:
    assert [p.name for p in FIXTURES] == ["barge_in.yaml", "rate_limited.yaml", "reconnect.yaml", "tool_agent.yaml"]


def test_the_builtin_default_loads() -> None:
    default = builtin_default()
    assert default.name == "default"
    assert [r.name for r in default.rules] == ["tool-result", "call-named-tool", "echo", "greeting"]
    assert builtin_default() is default  # read once


def test_json_files_load_too(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"name": "j", "timing": {"first_delta_ms": 1e3},
                                "rules": [{"when": {"turn": [0, 1]}, "reply": {"text": "hi {{turn}}"}}]}, indent="\t"))
    loaded = load_scenario(path)
    assert loaded.timing == Timing(first_delta_ms=1000.0)
    assert says(ScenarioResponder(loaded).reply(turn(index=1))) == "hi 1"


def test_json_errors_name_the_line() -> None:
    text = '{\n\t"name": "j",\n\t"rules": [\n\t\t{"reply": {"txt": "a"}}\n\t]\n}'
    assert problems(text) == [
        "x.yaml:4: rules[0]: reply: unknown key 'txt' (allowed: text, refusal, function_call, function_calls, "
        "mcp_call, mcp_list_tools, fail, incomplete, error, outputs)"]


def test_faults_are_passed_through_untouched() -> None:
    loaded = load_scenario(ROOT / "fixtures" / "reconnect.yaml")
    assert loaded.faults == ({"name": "close", "code": 1011, "reason": "internal error", "after_events": 30,
                             "count": 1},)
    loaded = load_scenario(ROOT / "fixtures" / "rate_limited.yaml")
    (fault,) = loaded.faults
    assert fault["name"] == "rate_limits"
    assert {"name": "tokens", "limit": 40000, "remaining": 0, "reset_seconds": 6.946} in fault["limits"]


def test_every_fault_name_and_field_is_accepted() -> None:
    loaded = scenario("""
name: faults
faults:
  - {name: close, code: 4000, reason: bye, after_events: 0, count: 1}
  - {name: drop, event: response.output_audio.delta, count: 3}
  - {name: delay, event: response.done, ms: 1500}
  - {name: duplicate, event: response.output_text.delta}
  - {name: reorder, event: conversation.item.added, after_events: 5}
  - {name: stall, ms: 0}
  - {name: expire, after_events: 10, error: {type: invalid_request_error, code: session_expired, message: gone}}
  - {name: rate_limits, limits: [{name: requests, limit: 1, remaining: 0, reset_seconds: 1}]}
  - {name: refuse_handshake, code: 429}
  - {name: refuse_handshake, code: 4001, reason: 'no'}
  - {name: refuse_handshake, code: 4002, error: {message: m, type: t, code: c, param: p}}
""")
    assert [f["name"] for f in loaded.faults][-3:] == ["refuse_handshake"] * 3
    assert len(loaded.faults) == 11
    from mockserver.protocol.faults import Fault

    assert all(Fault.from_dict(spec) for spec in loaded.faults)  # what the schema takes, the injector takes


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_the_fixtures_faults_are_accepted_by_the_fault_injector(path: Path) -> None:
    faults = pytest.importorskip("mockserver.protocol.faults")
    for fault in load_scenario(path).faults:
        faults.Fault.from_dict(dict(fault))


# -- matching ----------------------------------------------------------------------------------------

CONDITIONS = """
name: conditions
rules:
  - name: weather
    when: {user_text: "(?i)weather in (?P<city>\\\\w+)"}
    reply: "weather {{city}}"
  - name: second-turn
    when: {turn: [1, 3]}
    reply: "turn {{turn}}"
  - name: tool-ok
    when: {tool_result: {name: "^get_", output: "(?i)sunny"}}
    reply: "sunny from {{tool_name}}"
  - name: any-tool
    when: {tool_result: true}
    reply: "tool {{tool_name}}: {{tool_output}}"
  - name: named
    when: {tool_named: true}
    reply: "named {{tool_in_text}}"
  - name: voice
    when: {session: {"audio.output.voice": marin, "tools.0.name": lookup}}
    reply: "marin"
  - name: spoken
    when: {modality: audio}
    reply: "spoken"
  - name: pirate
    when: {instructions: "(?i)pirate"}
    reply: "arr"
fallback: "fallback"
"""


def answer(text: str, t: Turn) -> str:
    return says(responder(text).reply(t))


def test_user_text_is_searched_in_the_last_user_message_only() -> None:
    assert answer(CONDITIONS, turn(user("What's the WEATHER in Oslo today?"))) == "weather Oslo"
    assert answer(CONDITIONS, turn(user("weather in Oslo"), assistant("ok"), user("thanks"))) == "fallback"
    assert answer(CONDITIONS, turn(user("weather in Rome", audio=True))) == "weather Rome"  # transcripts count


def test_turn_matches_the_response_index() -> None:
    assert answer(CONDITIONS, turn(user("hi"), index=1)) == "turn 1"
    assert answer(CONDITIONS, turn(user("hi"), index=3)) == "turn 3"
    assert answer(CONDITIONS, turn(user("hi"), index=2)) == "fallback"
    assert answer("name: t\nrules: [{when: {turn: 0}, reply: zero}]\nfallback: other", turn()) == "zero"


def test_tool_result_matches_the_last_item_by_name_and_output() -> None:
    items = [user("weather?"), call("get_weather", "c1")]
    assert answer(CONDITIONS, turn(*items, output("Sunny, 20C", "c1"))) == "sunny from get_weather"
    assert answer(CONDITIONS, turn(*items, output("rain", "c1"))) == "tool get_weather: rain"
    assert answer(CONDITIONS, turn(call("lookup", "c2"), output("sunny", "c2"))) == "tool lookup: sunny"
    assert answer(CONDITIONS, turn(output("sunny", "nope"))) == "tool function: sunny"  # no matching call
    assert answer(CONDITIONS, turn(*items, output("sunny", "c1"), user("and?"))) == "fallback"  # not the last


def test_tool_result_false_and_empty() -> None:
    text = "name: t\nrules:\n  - {when: {tool_result: false}, reply: 'no'}\n  - {when: {tool_result: {}}, reply: 'yes'}"
    assert answer(text, turn(user("x"))) == "no"
    assert answer(text, turn(call("f"), output("o"))) == "yes"


def test_tool_named_by_word_or_by_tool_choice() -> None:
    tools = [tool("lookup"), tool("get_weather")]
    assert answer(CONDITIONS, turn(user("please get_weather now"), tools=tools)) == "named get_weather"
    assert answer(CONDITIONS, turn(user("get_weathers"), tools=tools)) == "fallback"  # whole words only
    assert answer(CONDITIONS, turn(user("hi"), tools=tools, tool_choice="required")) == "named lookup"
    choice = {"type": "function", "name": "get_weather"}
    assert answer(CONDITIONS, turn(user("hi"), tools=tools, tool_choice=choice)) == "named get_weather"
    assert answer(CONDITIONS, turn(user("lookup"), tools=tools, tool_choice="none")) == "fallback"
    assert answer(CONDITIONS, turn(user("lookup"), tools=[{"type": "mcp", "server_label": "lookup"}])) == "fallback"
    text = "name: t\nrules: [{when: {tool_named: false}, reply: none}]\nfallback: some"
    assert answer(text, turn(user("lookup"), tools=tools)) == "some"
    assert answer(text, turn(user("hello"), tools=tools)) == "none"


def test_session_paths_must_all_equal() -> None:
    session = {"model": "gpt-realtime", "audio": {"output": {"voice": "marin"}}, "tools": [tool("lookup")]}
    assert answer(CONDITIONS, turn(user("hi"), session=session)) == "marin"
    other = {**session, "audio": {"output": {"voice": "alloy"}}}
    assert answer(CONDITIONS, turn(user("hi"), session=other)) == "fallback"
    assert answer(CONDITIONS, turn(user("hi"), session={"tools": []})) == "fallback"  # missing path
    text = "name: t\nrules: [{when: {session: {flag: true, list: [1, 2]}}, reply: 'yes'}]\nfallback: 'no'"
    assert answer(text, turn(session={"flag": True, "list": [1, 2]})) == "yes"
    assert answer(text, turn(session={"flag": 1, "list": [1, 2]})) == "no"  # true is not 1
    assert answer(text, turn(session={"flag": True, "list": [True, 2]})) == "no"


def test_modality_and_instructions() -> None:
    assert answer(CONDITIONS, turn(user("hi"), modality="audio")) == "spoken"
    assert answer(CONDITIONS, turn(user("hi"), instructions="Talk like a Pirate.")) == "arr"


def test_all_conditions_must_hold() -> None:
    text = """
name: t
rules:
  - when: {user_text: hello, turn: 0, modality: text}
    reply: "yes"
fallback: "no"
"""
    assert answer(text, turn(user("hello"))) == "yes"
    assert answer(text, turn(user("hello"), index=1)) == "no"
    assert answer(text, turn(user("hello"), modality="audio")) == "no"
    assert answer(text, turn(user("bye"))) == "no"


def test_the_first_matching_rule_answers_and_an_empty_when_always_matches() -> None:
    text = "name: t\nrules:\n  - {when: {user_text: a}, reply: first}\n  - {when: {}, reply: second}"
    r = responder(text)
    assert says(r.reply(turn(user("abc")))) == "first"
    assert says(r.reply(turn(user("xyz")))) == "second"
    assert r.journal == ["rules[0]", "rules[1]"]


# -- times, ordered mode, fallbacks -------------------------------------------------------------------


def test_times_limits_a_rule_then_it_is_skipped() -> None:
    text = """
name: t
rules:
  - {name: twice, reply: "busy {{turn}}", times: 2}
  - {name: after, when: {user_text: .}, reply: "ok"}
"""
    r = responder(text)
    replies = [says(r.reply(turn(user("x"), index=i))) for i in range(4)]
    assert replies == ["busy 0", "busy 1", "ok", "ok"]
    assert r.journal == ['rules[0] "twice"', 'rules[0] "twice"', 'rules[1] "after"', 'rules[1] "after"']
    assert r.last_rule == 'rules[1] "after"'


def test_each_session_has_its_own_counts() -> None:
    loaded = scenario("name: t\nrules: [{reply: once, times: 1}]\nfallback: again")
    first, second = ScenarioResponder(loaded), ScenarioResponder(loaded)
    assert [says(first.reply(turn())), says(first.reply(turn()))] == ["once", "again"]
    assert says(second.reply(turn())) == "once"


def test_ordered_mode_answers_the_nth_response_with_the_nth_rule() -> None:
    text = """
name: steps
mode: ordered
rules:
  - reply: one
  - {reply: two, times: 2}
  - {when: {tool_result: true}, reply: "three: {{tool_output}}"}
fallback: "later {{user_text}}"
"""
    r = responder(text)
    assert says(r.reply(turn(user("a")))) == "one"
    assert says(r.reply(turn(user("a")))) == "two"
    assert says(r.reply(turn(user("a")))) == "two"
    assert says(r.reply(turn(user("b")))) == "later b"  # step 3 waits for a tool result
    assert says(r.reply(turn(call("f"), output("42")))) == "three: 42"
    assert says(r.reply(turn(call("f"), output("43")))) == "later "  # all steps done
    assert r.journal == ["rules[0]", "rules[1]", "rules[1]", "fallback", "rules[2]", "fallback"]


def test_without_fallback_the_builtin_default_or_then_answers() -> None:
    r = responder("name: t\nmode: ordered\nrules: [{reply: scripted}]")
    assert says(r.reply(turn(user("hi")))) == "scripted"
    assert says(r.reply(turn(user("hi")))) == "You said: hi"
    assert r.journal == ["rules[0]", "default"]
    then = responder("name: t\nrules: [{when: {turn: 0}, reply: first}]", then=EchoResponder())
    assert says(then.reply(turn(user("x"), index=5))) == "You said: x"

    class Fixed:
        def reply(self, turn: Turn) -> Reply:
            return Reply((Message("fixed"),))

    assert says(responder("name: t", then=Fixed()).reply(turn(user("x")))) == "fixed"


# -- templating ---------------------------------------------------------------------------------------


def test_named_and_numbered_groups_fill_templates() -> None:
    text = r"""
name: t
rules:
  - when: {user_text: '(\w+) to (?P<city>\w+)'}
    reply: "{{1}} / {{ 2 }} / {{city}} / {{0}} / {{ city }}"
"""
    assert answer(text, turn(user("fly to Paris"))) == "fly / Paris / Paris / fly to Paris / Paris"


def test_groups_that_do_not_take_part_render_empty() -> None:
    text = "name: t\nrules: [{when: {user_text: 'a(?P<b>b)?'}, reply: '[{{b}}] [{{1}}]'}]"
    assert answer(text, turn(user("a"))) == "[] []"


def test_groups_of_tool_result_and_instructions_are_variables_too() -> None:
    text = r"""
name: t
rules:
  - when:
      tool_result: {name: '^(?P<fn>get)_', output: '(?P<deg>\d+) degrees'}
      instructions: 'in (?P<lang>\w+)$'
    reply: "{{fn}} {{deg}} {{lang}}"
"""
    assert answer(text, turn(call("get_x"), output("it is 21 degrees"), instructions="answer in French")) == \
        "get 21 French"


def test_always_available_variables() -> None:
    text = """
name: t
rules:
  - reply: "[{{user_text}}] [{{turn}}] [{{tool_name}}] [{{tool_output}}] [{{json_in_text}}] [{{tool_in_text}}]"
"""
    t = turn(user('call lookup with {"q": "x y", "n": 1} please'), tools=[tool("lookup")], index=4)
    assert answer(text, t) == '[call lookup with {"q": "x y", "n": 1} please] [4] [] [] [{"q": "x y", "n": 1}] [lookup]'
    t = turn(user("no json here"), call("get_weather"), output("cloudy"))
    assert answer(text, t) == "[no json here] [0] [get_weather] [cloudy] [{}] []"


def test_templates_do_not_clash_with_json_and_values_are_not_rendered_again() -> None:
    text = """name: t\nrules: [{reply: '{"a": {"b": 1}} {{user_text}} {{ not a var }} {{}}'}]"""
    assert answer(text, turn(user("{{turn}}"))) == '{"a": {"b": 1}} {{turn}} {{ not a var }} {{}}'


def test_function_call_arguments_are_rendered_then_serialised() -> None:
    text = r"""
name: t
rules:
  - when: {user_text: 'weather(?: in (?P<city>\w+))?'}
    reply:
      function_call: {name: get_weather, arguments: {city: "{{city}}", days: 3, nested: ["{{turn}}"]}}
"""
    reply = responder(text).reply(turn(user("weather?")))
    assert reply == Reply((FunctionCall("get_weather", '{"city": "", "days": 3, "nested": ["0"]}'),))
    reply = responder(text).reply(turn(user("weather in Oslo")))
    assert isinstance(reply, Reply)
    (fc,) = reply.outputs
    assert isinstance(fc, FunctionCall) and json.loads(fc.arguments) == {"city": "Oslo", "days": 3, "nested": ["0"]}


# -- reply forms ---------------------------------------------------------------------------------------

FORMS = """
name: forms
rules:
  - {when: {user_text: ^text$}, reply: {text: "Hello."}}
  - {when: {user_text: ^short$}, reply: "Hello."}
  - {when: {user_text: ^refusal$}, reply: {refusal: "I can't help with that."}}
  - when: {user_text: ^call$}
    reply: {function_call: {name: f, arguments: '{"raw": true', call_id: call_fixed}}
  - when: {user_text: ^calls$}
    reply: {function_calls: [{name: a, arguments: {}}, {name: b}]}
  - when: {user_text: ^mcp$}
    reply: {mcp_call: {server_label: deepwiki, name: ask, arguments: {q: x}, output: "42"}}
  - when: {user_text: ^mcp-error$}
    reply: {mcp_call: {server_label: deepwiki, name: ask, arguments: '{}', error: boom}}
  - when: {user_text: ^list$}
    reply:
      mcp_list_tools:
        server_label: deepwiki
        tools: [{name: ask, input_schema: {type: object}, description: Ask.}, {name: read}]
  - {when: {user_text: ^rate$}, reply: {fail: rate_limit}}
  - {when: {user_text: ^quota$}, reply: {fail: insufficient_quota}}
  - {when: {user_text: ^fail$}, reply: {fail: {type: server_error, message: "Oops {{turn}}"}}}
  - when: {user_text: ^filtered$}
    reply: {incomplete: {reason: content_filter, text: "One two three four.", cut_after_tokens: 3}}
  - when: {user_text: ^long$}
    reply: {incomplete: {reason: max_output_tokens, outputs: [{text: a}, {function_call: {name: f}}]}}
  - {when: {user_text: ^cut$}, reply: {incomplete: {reason: max_output_tokens}}}
  - when: {user_text: ^error$}
    reply: {error: {message: "Bad {{user_text}}", code: invalid_value, param: response.x}}
  - {when: {user_text: ^error-min$}, reply: {error: {message: Nope}}}
  - when: {user_text: ^outputs$}
    reply: {outputs: ["Checking.", {refusal: "No."}, {function_call: {name: f}},
                      {mcp_call: {server_label: s, name: t}}, {mcp_list_tools: {server_label: s, tools: []}}]}
"""


@pytest.mark.parametrize(("said", "expected"), [
    ("text", Reply((Message("Hello."),))),
    ("short", Reply((Message("Hello."),))),
    ("refusal", Reply((Message("I can't help with that."),))),
    ("call", Reply((FunctionCall("f", '{"raw": true', call_id="call_fixed"),))),
    ("calls", Reply((FunctionCall("a", "{}"), FunctionCall("b", "{}")))),
    ("mcp", Reply((McpCall("deepwiki", "ask", '{"q": "x"}', output="42"),))),
    ("mcp-error", Reply((McpCall("deepwiki", "ask", "{}", error="boom"),))),
    ("list", Reply((McpListTools("deepwiki", (
        {"name": "ask", "input_schema": {"type": "object"}, "description": "Ask."},
        {"name": "read", "input_schema": {"type": "object", "properties": {}}})),))),
    ("rate", rate_limited("gpt-realtime-mini")),
    ("quota", insufficient_quota()),
    ("fail", Reply(status="failed", error={"type": "server_error", "code": None, "message": "Oops 0"})),
    ("filtered", Reply((Message("One two three four."),), status="incomplete", reason="content_filter",
                       cut_after_tokens=3)),
    ("long", Reply((Message("a"), FunctionCall("f", "{}")), status="incomplete", reason="max_output_tokens")),
    ("cut", Reply((), status="incomplete", reason="max_output_tokens")),
    ("error", ErrorReply("Bad error", code="invalid_value", param="response.x")),
    ("error-min", ErrorReply("Nope", type="invalid_request_error")),
    ("outputs", Reply((Message("Checking."), Message("No."), FunctionCall("f", "{}"), McpCall("s", "t", "{}"),
                       McpListTools("s", ())))),
])
def test_each_reply_form_makes_the_right_reply(said: str, expected: Reply | ErrorReply) -> None:
    session = {"model": "gpt-realtime-mini"}
    assert responder(FORMS).reply(turn(user(said), session=session)) == expected


# -- timing ----------------------------------------------------------------------------------------------


def test_timing_merges_field_by_field() -> None:
    text = """
name: t
timing: {first_delta_ms: 300, tokens_per_second: 40, jitter: 0.1}
rules:
  - {when: {turn: 0}, reply: a}
  - {when: {turn: 1}, reply: b, timing: {tokens_per_second: 5, audio_speed: 1}}
  - {when: {turn: 2}, reply: c, timing: {first_delta_ms: null, jitter: 0}}
fallback: d
"""
    r = responder(text)
    timings = [r.reply(turn(index=i)) for i in range(4)]
    assert [t.timing for t in timings if isinstance(t, Reply)] == [
        Timing(300, 40, None, 0.1),
        Timing(300, 5, 1.0, 0.1),
        Timing(None, 40, None, 0.0),
        Timing(300, 40, None, 0.1),
    ]


def test_rule_timing_alone_and_no_timing() -> None:
    r = responder("name: t\nrules:\n  - {when: {turn: 0}, reply: a, timing: {audio_speed: 2}}\n  - {reply: b}")
    assert r.reply(turn()) == Reply((Message("a"),), timing=Timing(audio_speed=2.0))
    assert r.reply(turn(index=1)) == Reply((Message("b"),))
    failed = responder("name: t\ntiming: {first_delta_ms: 5}\nrules: [{reply: {fail: rate_limit}}]").reply(turn())
    assert isinstance(failed, Reply) and failed.timing == Timing(first_delta_ms=5.0) and failed.status == "failed"


def test_barge_in_speaks_slowly_in_real_time() -> None:
    r = ScenarioResponder(load_scenario(ROOT / "fixtures" / "barge_in.yaml"))
    long = r.reply(turn(user("Tell me a story"), modality="audio"))
    assert isinstance(long, Reply) and long.timing is not None and long.timing.audio_speed == 1.0
    assert len(says(long).split()) > 100
    short = r.reply(turn(user("Tell me a story"), assistant("Let me"), user("wait, stop"), modality="audio"))
    assert isinstance(short, Reply) and short.timing is not None and short.timing.tokens_per_second is None
    assert says(short).startswith("Sure")


# -- the fixtures' conversations ------------------------------------------------------------------------


def test_tool_agent_calls_the_tool_then_answers_from_its_result() -> None:
    r = ScenarioResponder(load_scenario(ROOT / "fixtures" / "tool_agent.yaml"))
    ask = user("What's the weather in New York?")
    first = r.reply(turn(ask, tools=[tool("get_weather")]))
    assert first == Reply((Message("Let me check the weather in New York."),
                           FunctionCall("get_weather", '{"city": "New York"}')))
    history = [ask, assistant("Let me check the weather in New York."), call("get_weather", "c9")]
    done = r.reply(turn(*history, output('{"temperature_c": 18, "conditions": "sunny"}', "c9")))
    assert says(done) == "It's 18 degrees and sunny in New York."
    raw = r.reply(turn(*history, output("Rain all day", "c9")))
    assert says(raw) == "Here is the weather in New York: Rain all day"
    assert says(r.reply(turn(user("hello")))).startswith("I can look up the weather")
    assert r.journal == ['rules[3] "look-up-weather"', 'rules[0] "weather-report"', 'rules[1] "weather-raw"',
                         "fallback"]


def test_rate_limited_fails_once_then_answers_normally() -> None:
    r = ScenarioResponder(load_scenario(ROOT / "fixtures" / "rate_limited.yaml"))
    assert r.reply(turn(user("hi"))) == rate_limited("gpt-realtime")
    assert r.reply(turn(user("hi"), index=1)) == Reply((Message("You said: hi"),))


def test_reconnect_converses_normally() -> None:
    r = ScenarioResponder(load_scenario(ROOT / "fixtures" / "reconnect.yaml"))
    assert says(r.reply(turn(user("Hello there")))) == "Hello! What can I do for you?"
    assert says(r.reply(turn(user("Are you still there?")))).startswith("I'm here.")
    assert says(r.reply(turn(user("Book a table")))) == "Got it: Book a table"


# -- the built-in default is EchoResponder ----------------------------------------------------------------

NAMES = ["get_weather", "lookup", "send_email", "a.b", "x"]
PIECES = st.one_of(st.text(max_size=12), st.sampled_from(NAMES), st.sampled_from([
    '{"city": "Paris"}', "{", "}", "{{user_text}}", "[1]", '{"a": {"b": [1, 2]}}', "{1: 2}", '"', "\\", "\n"]))
TEXTS = st.lists(PIECES, max_size=5).map(" ".join)
ITEMS = st.one_of(
    st.builds(user, TEXTS, audio=st.booleans()),
    st.builds(assistant, TEXTS),
    st.builds(call, st.sampled_from(NAMES), st.sampled_from(["c1", "c2"])),
    st.builds(output, TEXTS, st.sampled_from(["c1", "c2", "c3"])),
    st.just({"type": "message", "role": "user", "content": []}),
    st.just({"type": "message", "role": "system", "content": [{"type": "input_text", "text": "sys"}]}),
)
TOOLS = st.lists(st.one_of(st.sampled_from(NAMES).map(tool), st.just({"type": "mcp", "server_label": "lookup"})),
                 max_size=3)
CHOICES = st.one_of(st.sampled_from(["auto", "none", "required"]),
                    st.sampled_from(NAMES).map(lambda n: {"type": "function", "name": n}),
                    st.just({"type": "mcp", "server_label": "lookup"}))


@given(items=st.lists(ITEMS, max_size=5), tools=TOOLS, choice=CHOICES, index=st.integers(0, 5),
       modality=st.sampled_from(["text", "audio"]))
def test_the_builtin_default_answers_as_echo_responder(items: list[dict[str, Any]], tools: list[dict[str, Any]],
                                                       choice: Any, index: int, modality: str) -> None:
    t = turn(*items, tools=tools, tool_choice=choice, index=index, modality=modality)
    assert ScenarioResponder(builtin_default()).reply(t) == EchoResponder().reply(t)


@given(text=TEXTS)
def test_the_builtin_default_echoes_any_user_text(text: str) -> None:
    t = turn(user(text), tools=[tool("lookup")])
    assert ScenarioResponder(builtin_default()).reply(t) == EchoResponder().reply(t)


@pytest.mark.parametrize("t", [
    turn(),
    turn(user("")),
    turn(user("hello")),
    turn(user("use lookup {\"q\": 1}"), tools=[tool("lookup")]),
    turn(user("anything"), tools=[tool("lookup")], tool_choice="required"),
    turn(user("anything"), tools=[tool("lookup")], tool_choice={"type": "function", "name": "other"}),
    turn(call("lookup", "c1"), output("42", "c1")),
    turn(output("orphan", "zz")),
], ids=["nothing", "empty", "echo", "named", "required", "forced", "tool-result", "orphan-output"])
def test_the_default_responder_is_the_builtin_scenario(t: Turn) -> None:
    assert responder("name: empty").reply(t) == EchoResponder().reply(t)


# -- bad files --------------------------------------------------------------------------------------------

ALL_FORMS = "text, refusal, function_call, function_calls, mcp_call, mcp_list_tools, fail, incomplete, error, outputs"


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param(
        'name: x\nrules:\n  - name: weather\n    reply:\n      txt: "hi"\n',
        f"x.yaml:5: rules[0] \"weather\": reply: unknown key 'txt' (allowed: {ALL_FORMS})", id="unknown-key"),
    pytest.param(
        'name: x\nrules:\n  - name: weather\n    when:\n      user_text: "(?P<city>\\\\w+"\n    reply: hi\n',
        'x.yaml:5: rules[0] "weather": when.user_text: invalid regular expression: missing ), unterminated subpattern',
        id="bad-regex"),
    pytest.param(
        'name: x\nrules:\n  - name: weather\n    when: {user_text: "in (?P<city>\\\\w+)"}\n'
        '    reply: "It is sunny in {{cty}}."\n',
        "x.yaml:5: rules[0] \"weather\": reply: unknown template variable 'cty' (known: city, user_text, "
        "tool_name, tool_output, turn, json_in_text, tool_in_text)", id="unknown-variable"),
    pytest.param(
        'name: x\nrules:\n  - name: echo\n    when: {user_text: "(a)"}\n    reply: "{{2}}"\n',
        "x.yaml:5: rules[0] \"echo\": reply: unknown template variable '2' (when.user_text has 1 group)",
        id="numbered-group"),
    pytest.param(
        "name: x\nrules:\n  - name: once\n    reply: hi\n    times: 0\n",
        'x.yaml:5: rules[0] "once": times: must be at least 1 (got 0)', id="times-zero"),
    pytest.param(
        "name: x\nrules:\n  - reply: a\n    when: {turn: 0}\n  - name: empty\n    when: {turn: 1}\n",
        "x.yaml:5: rules[1] \"empty\": missing required key 'reply'", id="missing-reply"),
    pytest.param(
        "name: x\nrules:\n  - name: both\n    reply:\n      text: a\n      function_call: {name: f}\n",
        f'x.yaml:5: rules[0] "both": reply: give exactly one of: {ALL_FORMS} (got text, function_call)',
        id="two-forms"),
    pytest.param(
        "name: x\nrules:\n  - name: when\n    when:\n      turn: first\n    reply: a\n",
        "x.yaml:5: rules[0] \"when\": when.turn: expected an integer or a list, got 'first'", id="turn-type"),
    pytest.param(
        "name: x\nrules:\n  - name: dup\n    reply: a\n    reply: b\n",
        "x.yaml:5: rules[0] \"dup\": duplicate key 'reply'", id="duplicate-key"),
    pytest.param(
        "name: x\nrules:\n  - name: all\n    reply: a\n  - name: late\n    when: {turn: 0}\n    reply: b\n",
        "x.yaml:5: rules[1] \"late\": never answers: rules[0] \"all\" above it always matches (give that one a "
        "'when' or 'times', or move it last)", id="unreachable"),
    pytest.param(
        "name: x\nrules:\n  - {name: a, when: {turn: 0}, reply: a}\n  - {name: a, reply: b}\n",
        "x.yaml:4: rules[1] \"a\": name: duplicate rule name 'a' (also rules[0])", id="duplicate-name"),
    pytest.param(
        "name: x\nrules:\n  - name: mcp\n    reply:\n      mcp_call: {server_label: s, name: t, output: o, error: e}\n",
        'x.yaml:5: rules[0] "mcp": reply.mcp_call: give either output or error, not both', id="mcp-both"),
    pytest.param(
        "name: x\nrules:\n  - name: fail\n    reply: {fail: rate_limt}\n",
        "x.yaml:4: rules[0] \"fail\": reply.fail: must be one of: rate_limit, insufficient_quota (got 'rate_limt')",
        id="fail-typo"),
    pytest.param(
        "name: x\nrules:\n  - name: bare-word\n    reply: yes\n",
        'x.yaml:4: rules[0] "bare-word": reply: expected a string or a mapping, got true (YAML reads a bare yes as '
        'true; quote it: "yes")', id="yaml-boolean"),
    pytest.param(
        "name: x\nrules:\n  - name: null-reply\n    reply:\n",
        'x.yaml:4: rules[0] "null-reply": reply: expected a string or a mapping, got null', id="null-reply"),
    pytest.param(
        "name: x\nrules:\n  - name: voice\n    when:\n      session: {audio..voice: alloy}\n    reply: a\n",
        "x.yaml:5: rules[0] \"voice\": when.session: invalid path 'audio..voice' (write a dotted path such as "
        "audio.output.voice)", id="session-path"),
    pytest.param(
        "name: x\nrules:\n  - name: slow\n    reply: a\n    timing: {tokens_per_second: 0}\n",
        'x.yaml:5: rules[0] "slow": timing.tokens_per_second: must be greater than 0 (got 0)', id="timing"),
    pytest.param(
        "name: x\nrules:\n  - name: cut\n    reply: {incomplete: {reason: length}}\n",
        'x.yaml:4: rules[0] "cut": reply.incomplete.reason: must be one of: max_output_tokens, content_filter '
        "(got 'length')", id="incomplete-reason"),
])
def test_each_mistake_names_file_line_rule_and_problem(text: str, expected: str) -> None:
    assert problems(text) == [expected]


@pytest.mark.parametrize(("text", "expected"), [
    ("mode: ordered\n", "x.yaml:1: missing required key 'name'"),
    ("name: x\nmode: orderd\n", "x.yaml:2: mode: must be one of: matched, ordered (got 'orderd')"),
    ("name: x\nrule: []\n", "x.yaml:2: unknown key 'rule' (allowed: $schema, name, description, mode, timing, "
                            "rules, unintelligible_audio, user_audio, translations, fallback, faults)"),
    ("name: x\nfallback: '{{city}}'\n", "x.yaml:2: fallback: unknown template variable 'city' (known: user_text, "
                                        "tool_name, tool_output, turn, json_in_text, tool_in_text)"),
    ("name: x\nfaults:\n  - {name: close, code: 1006}\n",
     "x.yaml:3: faults[0].code: 1006 cannot be sent in a close frame (1000-1003, 1007-1014 or 3000-4999: 1004-1006 "
     "and 1015 are reserved, 1016-2999 unassigned); use 1011 for a server error"),
    ("name: x\nfaults:\n  - {name: close, code: 2000}\n",
     "x.yaml:3: faults[0].code: 2000 cannot be sent in a close frame (1000-1003, 1007-1014 or 3000-4999: 1004-1006 "
     "and 1015 are reserved, 1016-2999 unassigned); use 1011 for a server error"),
    ("name: x\nfaults:\n  - {name: refuse_handshake, code: 700}\n",
     "x.yaml:3: faults[0].code: must be an HTTP status 400-599 or a WebSocket close code 3000-4999 (got 700)"),
    ("name: x\nfaults:\n  - name: stall\n    after: 3\n",
     "x.yaml:4: faults[0]: unknown key 'after' (allowed: name, event, after_events, code, reason, ms, count, limits, "
     "error, path)"),
    ("name: x\nfaults:\n  - {name: drop, count: 2}\n", "x.yaml:3: faults[0]: missing required key 'event'"),
    ("name: x\nfaults:\n  - {name: rate_limits, limits: [{name: tokens, limit: 1, remaining: 0}]}\n",
     "x.yaml:3: faults[0].limits[0]: missing required key 'reset_seconds'"),
    ("- name: x\n", "x.yaml:1: expected a mapping, got a list"),
    ("", "x.yaml:1: the file is empty"),
])
def test_mistakes_outside_rules(text: str, expected: str) -> None:
    assert problems(text) == [expected]


def test_every_problem_is_reported_at_once_in_line_order() -> None:
    found = problems("""name: x
mode: orderd
rules:
  - name: a
    when: {user_text: "("}
    reply: {txt: a}
  - name: b
    reply: "{{nope}}"
    times: 0
""")
    assert [line.split(": ", 1)[0] for line in found] == ["x.yaml:2", "x.yaml:5", "x.yaml:6", "x.yaml:8", "x.yaml:9"]
    assert found[1].startswith('x.yaml:5: rules[0] "a": when.user_text: invalid regular expression')
    assert found[3].startswith("x.yaml:8: rules[1] \"b\": reply: unknown template variable 'nope'")


@pytest.mark.parametrize(("text", "line", "words"), [
    ('name: x\nrules:\n  - reply: "unclosed\n  - reply: b\n', 5, "while scanning a quoted scalar at line 3"),
    ("name: x\nrules:\n  - reply: a\n   when: {}\n", 4, "expected <block end>"),
    ("name: x\nrules:\n\t- reply: a\n", 3, "indent YAML with spaces, not tabs"),
    ("name: x\nrules: [a, b\n", 3, "expected ',' or ']'"),
    ("name: a\n---\nname: b\n", 2, "expected a single document in the stream at line 1, but found another document"),
    ('{\n  "name": "x",\n  "rules": [\n    {"reply": "a"\n  ]\n}\n', 5, "expected ',' or '}'"),
])
def test_yaml_syntax_errors_name_the_line(text: str, line: int, words: str) -> None:
    (found,) = problems(text)
    assert found.startswith(f"x.yaml:{line}: invalid YAML: ")
    assert words in found


def test_load_scenario_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nrules:\n  - name: weather\n    reply: {txt: hi}\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value).startswith(f"{path}:4: rules[0] \"weather\": reply: unknown key 'txt'")
    with pytest.raises(ScenarioError, match="cannot read the scenario"):
        load_scenario(tmp_path / "missing.yaml")


# -- text from anywhere (PUT /_mock/scenario) --------------------------------------------------------

# 350 bytes of nested anchors that stand for half a billion strings: walked as a tree, it took seconds (the
# 413-byte version with nine levels, minutes).
BILLION_LAUGHS = 'name: x\na: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f'{name}: &{name} [{", ".join(["*" + below] * 9)}]\n' for below, name in zip("abcdefgh", "bcdefghi", strict=True))


def test_an_alias_bomb_is_refused_at_once() -> None:
    started = time.perf_counter()
    (found,) = problems(BILLION_LAUGHS)
    assert time.perf_counter() - started < 0.5
    assert found.startswith("x.yaml:1: aliases make the document more than 10,000 nodes larger")


def test_aliases_of_modest_size_still_work() -> None:
    loaded = scenario("""
name: anchors
rules:
  - name: a
    when: {turn: 1}
    reply: &answer {outputs: [{text: "one"}, {text: "two"}]}
  - name: b
    when: {turn: 2}
    reply: *answer
""")
    assert loaded.rules[0].reply == loaded.rules[1].reply


@pytest.mark.parametrize("text", [
    "name: x\nfallback: " + "[" * 70 + "]" * 70,
    "[" * 5000 + "]" * 5000,  # deeper than PyYAML's recursion could go
    "name: x\na: &a " + "[" * 40 + "]" * 40 + "\nb: " + "[" * 40 + "*a" + "]" * 40,  # deep through an alias
])
def test_deep_nesting_is_refused(text: str) -> None:
    (found,) = problems(text)
    assert found.endswith("nested more than 64 levels deep")


def test_too_many_values_are_refused_early() -> None:
    started = time.perf_counter()
    (found,) = problems("name: x\nfallback: [" + ",".join(["1"] * 60_000) + "]")
    assert found == "x.yaml:2: more than 50,000 values: too large for a scenario"
    assert time.perf_counter() - started < 5


def test_many_problems_are_cut_short() -> None:
    found = problems("name: x\n" + "".join(f"k{i}: 1\n" for i in range(200)))
    assert len(found) == 51 and found[-1] == "x.yaml: and 150 more problems"


@pytest.mark.parametrize(("text", "line"), [
    ('name: x\nfallback: "say \\ud800"\n', 'x.yaml:2: fallback: a lone surrogate (\\ud800) is not text'),
    ('{"name": "x",\n "rules": [{"reply": {"text": "\\udc00 hi"}}]}', 'x.yaml:2: rules[0]: reply.text: a lone '
                                                                      'surrogate (\\udc00) is not text'),
    ('name: x\nfaults:\n  - {name: close, reason: "\\ud83d"}\n', "x.yaml:3: faults[0].reason: a lone surrogate"),
    ('name: x\n"\\ud800": 1\n', "x.yaml:2: a lone surrogate (\\ud800) is not text"),
])
def test_a_lone_surrogate_is_refused_with_its_place(text: str, line: str) -> None:
    (found,) = problems(text)
    assert found.startswith(line)
    found.encode("utf-8")  # the message itself is text


def test_surrogate_pairs_are_one_character() -> None:
    """`json.dumps` writes an emoji as a pair of escapes (so does the pytest plugin for a dict scenario)."""
    loaded = parse_scenario(json.dumps({"name": "emoji", "fallback": "Sunny ☀️ and 😀"}), "x.json")
    assert loaded.fallback == "Sunny ☀️ and 😀"


def test_an_error_line_is_always_text(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(tmp_path / "missing-\udcff.yaml")  # a file name the file system gave as bytes
    assert "missing-\\udcff.yaml" in str(caught.value)
    str(caught.value).encode("utf-8")


def test_phrase_tables_of_translation_sessions() -> None:
    loaded = scenario("name: phrases\ntranslations:\n  es: {'Where is the station?': '¿Dónde está la estación?'}\n"
                      "  fr: {Thank you.: Merci.}\n")
    assert loaded.translations == {"es": {"Where is the station?": "¿Dónde está la estación?"},
                                   "fr": {"Thank you.": "Merci."}}
    assert ScenarioResponder(loaded).phrases == loaded.translations  # what a translation session reads
    assert scenario("name: none\n").translations == {}


@pytest.mark.parametrize("text", [
    "name: x\ntranslations:\n  es: {Hello.: 3}\n",
    "name: x\ntranslations:\n  es: [Hello.]\n",
    "name: x\ntranslations:\n  es: {Hello.: ''}\n",
])
def test_phrase_tables_are_checked(text: str) -> None:
    with pytest.raises(ScenarioError, match=r"x\.yaml:3: translations\.es"):
        parse_scenario(text, "x.yaml")


def test_user_audio_says_what_each_turn_said() -> None:
    loaded = scenario('name: said\nuser_audio: ["Hello.", null, "Bye."]\n')
    assert loaded.user_audio == ("Hello.", None, "Bye.")
    assert ScenarioResponder(loaded).user_audio == ("Hello.", None, "Bye.")
    with pytest.raises(ScenarioError, match=r"x\.yaml:2: user_audio\[0\]"):
        parse_scenario("name: x\nuser_audio: [3]\n", "x.yaml")
