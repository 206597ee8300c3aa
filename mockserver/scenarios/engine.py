"""Scenarios at run time: which rule answers a turn, and the `Reply` it makes.

A `Scenario` is what `loader.parse_scenario` builds from a file; `ScenarioResponder` plays one for
one session (it counts how often each rule answered, and in `ordered` mode which step is current).
Everything here is pure and deterministic: the same scenario and the same turns give the same replies.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mockserver.protocol.responder import (
    EchoResponder,
    ErrorReply,
    FunctionCall,
    McpCall,
    McpListTools,
    Message,
    Output,
    Reply,
    Responder,
    Timing,
    Turn,
    first_json_object,
    insufficient_quota,
    item_text,
    rate_limited,
    tool_to_call,
)
from mockserver.protocol.schema_check import same

# Variables every reply template may use, whatever the rule's regular expressions.
ALWAYS_AVAILABLE = ("user_text", "tool_name", "tool_output", "turn", "json_in_text", "tool_in_text")

# `{{ name }}` or `{{ 1 }}`; anything else with braces is left alone (JSON in replies).
TEMPLATE = re.compile(r"\{\{\s*(\w+)\s*\}\}")

TIMING_FIELDS = tuple(f.name for f in dataclasses.fields(Timing))

ReplySpec = str | Mapping[str, Any]  # a validated `reply`/`fallback` value, rendered per turn


def render(text: str, variables: Mapping[str, str]) -> str:
    """Fill `{{ name }}` placeholders; one pass, so values are never rendered again; unknown ones become ''."""
    return TEMPLATE.sub(lambda m: variables.get(m.group(1), ""), text)


def render_value(value: Any, variables: Mapping[str, str]) -> Any:
    """Render every string (and mapping key) inside a YAML value."""
    if isinstance(value, str):
        return render(value, variables)
    if isinstance(value, Mapping):
        return {render(str(k), variables): render_value(v, variables) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render_value(v, variables) for v in value]
    return value


@dataclass(frozen=True)
class TurnView:
    """What the conditions and templates look at, worked out once per turn."""

    index: int
    user_text: str  # the words of the last user message ("" when there is none)
    instructions: str
    modalities: tuple[str, ...]
    session: Mapping[str, Any]
    tool_name: str | None  # the last item is a function call output: the function's name ...
    tool_output: str | None  # ... and the output; both None otherwise
    tool_in_text: str | None  # the function tool the user named, or the one tool_choice requires
    json_in_text: str

    @classmethod
    def of(cls, turn: Turn) -> TurnView:
        last = turn.items[-1] if turn.items else None
        tool_name = tool_output = None
        if last is not None and last.get("type") == "function_call_output":
            name = next((i.get("name") for i in turn.items
                         if i.get("type") == "function_call" and i.get("call_id") == last.get("call_id")), "function")
            tool_name, tool_output = str(name), str(last.get("output", ""))
        user = next((i for i in reversed(turn.items) if i.get("type") == "message" and i.get("role") == "user"), None)
        text = item_text(user) if user is not None else ""
        return cls(index=turn.index, user_text=text, instructions=turn.instructions or "",
                   modalities=tuple(turn.output_modalities or ()), session=turn.session or {},
                   tool_name=tool_name, tool_output=tool_output, tool_in_text=tool_to_call(turn, text),
                   json_in_text=first_json_object(text))

    def variables(self) -> dict[str, str]:
        found = {"user_text": self.user_text, "turn": str(self.index), "json_in_text": self.json_in_text}
        optional = {"tool_name": self.tool_name, "tool_output": self.tool_output, "tool_in_text": self.tool_in_text}
        found.update({k: v for k, v in optional.items() if v is not None})
        return found


def _lookup(data: Any, path: str) -> tuple[bool, Any]:
    """Follow a dotted path (numbers index lists); (found, value)."""
    for part in path.split("."):
        if isinstance(data, Mapping) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return False, None
    return True, data


def _groups(match: re.Match[str] | None, *, numbered: bool) -> dict[str, str]:
    if match is None:
        return {}
    found = {name: value or "" for name, value in match.groupdict().items()}
    if numbered:
        found.update({str(i): match.group(i) or "" for i in range(match.re.groups + 1)})
    return found


@dataclass(frozen=True)
class When:
    """A rule's conditions; None (or empty) means "not given"."""

    user_text: re.Pattern[str] | None = None
    instructions: re.Pattern[str] | None = None
    turns: frozenset[int] | None = None
    tool_result: bool | None = None  # True: the last item is a function call output; False: it is not
    tool_name: re.Pattern[str] | None = None
    tool_output: re.Pattern[str] | None = None
    tool_named: bool | None = None
    session: tuple[tuple[str, Any], ...] = ()
    modality: str | None = None

    @property
    def always(self) -> bool:
        return self == When()

    def match(self, view: TurnView) -> dict[str, str] | None:
        """The template variables this rule adds (its regexes' groups), or None when a condition fails."""
        if self.turns is not None and view.index not in self.turns:
            return None
        if self.modality is not None and self.modality not in view.modalities:
            return None
        if self.tool_named is not None and (view.tool_in_text is not None) != self.tool_named:
            return None
        if self.tool_result is not None and (view.tool_output is not None) != self.tool_result:
            return None
        for path, expected in self.session:
            found, value = _lookup(view.session, path)
            if not found or not same(value, expected):
                return None
        groups: dict[str, str] = {}
        searches = ((self.tool_name, view.tool_name, False), (self.tool_output, view.tool_output, False),
                    (self.instructions, view.instructions, False), (self.user_text, view.user_text, True))
        for pattern, subject, numbered in searches:
            if pattern is None:
                continue
            match = pattern.search(subject) if subject is not None else None
            if match is None:
                return None
            groups.update(_groups(match, numbered=numbered))
        return groups


@dataclass(frozen=True)
class Rule:
    index: int
    name: str | None
    when: When
    reply: ReplySpec
    timing: Mapping[str, float | None] = dataclasses.field(default_factory=dict)  # overrides, field by field
    times: int | None = None  # None: unlimited in matched mode, once in ordered mode

    @property
    def label(self) -> str:
        return f'rules[{self.index}] "{self.name}"' if self.name else f"rules[{self.index}]"


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str = ""
    mode: str = "matched"  # "matched" | "ordered"
    rules: tuple[Rule, ...] = ()
    fallback: ReplySpec | None = None
    faults: tuple[dict[str, Any], ...] = ()  # validated, otherwise untouched: the server applies them
    timing: Timing | None = None
    source: str = "<string>"
    unintelligible_audio: str | None = None  # "empty" | "fail": transcription of audio that carries no words
    user_audio: tuple[str | None, ...] = ()  # what each committed user audio turn says (None: the codec's)
    # Translation sessions: target language -> sentence said -> its translation.
    translations: Mapping[str, Mapping[str, str]] = dataclasses.field(default_factory=dict)


def merge_timing(base: Timing | None, overrides: Mapping[str, float | None]) -> Timing | None:
    if not overrides:
        return base
    fields: dict[str, Any] = {k: (0.0 if k == "jitter" and v is None else v) for k, v in overrides.items()}
    return dataclasses.replace(base or Timing(), **fields)


def build_reply(spec: ReplySpec, variables: Mapping[str, str], *, timing: Timing | None = None,
                model: str = "gpt-realtime") -> Reply | ErrorReply:
    """The `Reply` (or `ErrorReply`) a validated reply spec makes in a turn with these variables."""
    if isinstance(spec, str):
        return Reply((Message(render(spec, variables)),), timing=timing)
    ((form, value),) = spec.items()
    if form == "fail":
        if value == "rate_limit":
            return dataclasses.replace(rate_limited(model), timing=timing)
        if value == "insufficient_quota":
            return dataclasses.replace(insufficient_quota(), timing=timing)
        error = render_value(value, variables)
        return Reply(status="failed", timing=timing,
                     error={"type": error["type"], "code": error.get("code"), "message": error["message"]})
    if form == "error":
        error = render_value(value, variables)
        return ErrorReply(error["message"], type=error.get("type", "invalid_request_error"),
                          code=error.get("code"), param=error.get("param"))
    if form == "incomplete":
        outputs = _outputs(value["outputs"], variables) if "outputs" in value else (
            (Message(render(value["text"], variables)),) if "text" in value else ())
        return Reply(outputs, status="incomplete", reason=value["reason"],
                     cut_after_tokens=value.get("cut_after_tokens"), timing=timing)
    if form == "outputs":
        return Reply(_outputs(value, variables), timing=timing)
    if form == "function_calls":
        return Reply(tuple(_function_call(call, variables) for call in value), timing=timing)
    return Reply((_output(form, value, variables),), timing=timing)


def _outputs(specs: list[Any], variables: Mapping[str, str]) -> tuple[Output, ...]:
    outputs: list[Output] = []
    for spec in specs:
        if isinstance(spec, str):
            outputs.append(Message(render(spec, variables)))
        elif "phase" in spec:
            outputs.append(Message(render(spec["text"], variables), phase=spec["phase"]))
        else:
            ((form, value),) = spec.items()
            outputs.append(_output(form, value, variables))
    return tuple(outputs)


def _output(form: str, value: Any, variables: Mapping[str, str]) -> Output:
    if form in ("text", "refusal"):
        return Message(render(value, variables))
    if form == "function_call":
        return _function_call(value, variables)
    if form == "mcp_call":
        return McpCall(render(value["server_label"], variables), render(value["name"], variables),
                       _arguments(value.get("arguments", {}), variables),
                       output=render(value["output"], variables) if "output" in value else None,
                       error=render(value["error"], variables) if "error" in value else None)
    if form == "mcp_list_tools":
        tools = tuple({"name": tool["name"], "input_schema": {"type": "object", "properties": {}}, **tool}
                      for tool in render_value(value["tools"], variables))
        return McpListTools(render(value["server_label"], variables), tools)
    raise ValueError(f"unknown reply form {form!r}")  # the loader's schema makes this unreachable


def _function_call(value: Mapping[str, Any], variables: Mapping[str, str]) -> FunctionCall:
    call_id = value.get("call_id")
    return FunctionCall(render(value["name"], variables), _arguments(value.get("arguments", {}), variables),
                        call_id=render(call_id, variables) if call_id is not None else None)


def _arguments(value: Any, variables: Mapping[str, str]) -> str:
    if isinstance(value, str):
        return render(value, variables)
    return json.dumps(render_value(value, variables))


class ScenarioResponder:
    """Plays a scenario for one session (make one per session: it remembers which rules answered).

    When no rule answers and the scenario has no fallback, `then` answers (default: `EchoResponder`,
    which answers exactly as the built-in default scenario does; a test holds the two equal). `journal`
    names what answered each response: a rule's label, "fallback" or "default".
    """

    def __init__(self, scenario: Scenario, *, then: Responder | None = None) -> None:
        self.scenario = scenario
        self.unintelligible_audio = scenario.unintelligible_audio  # read by the session at each commit
        self.phrases = scenario.translations  # read by a translation session per sentence
        self.user_audio = scenario.user_audio  # read by the session at each commit
        self._then = then
        self._uses = [0] * len(scenario.rules)
        self._step = 0  # ordered mode: the current rule
        self.journal: list[str] = []

    @property
    def last_rule(self) -> str | None:
        return self.journal[-1] if self.journal else None

    def reply(self, turn: Turn) -> Reply | ErrorReply:
        view = TurnView.of(turn)
        chosen = self._choose(view)
        model = str(turn.session.get("model") or "gpt-realtime")
        if chosen is not None:
            rule, groups = chosen
            self._uses[rule.index] += 1
            if self.scenario.mode == "ordered" and self._uses[rule.index] >= (rule.times or 1):
                self._step += 1
            self.journal.append(rule.label)
            return build_reply(rule.reply, {**view.variables(), **groups},
                               timing=merge_timing(self.scenario.timing, rule.timing), model=model)
        if self.scenario.fallback is not None:
            self.journal.append("fallback")
            return build_reply(self.scenario.fallback, view.variables(), timing=self.scenario.timing, model=model)
        self.journal.append("default")
        if self._then is None:
            self._then = EchoResponder()
        return self._then.reply(turn)

    def _choose(self, view: TurnView) -> tuple[Rule, dict[str, str]] | None:
        rules = self.scenario.rules
        if self.scenario.mode == "ordered":
            if self._step >= len(rules):
                return None
            rule = rules[self._step]
            groups = rule.when.match(view)
            return (rule, groups) if groups is not None else None
        for rule in rules:
            if rule.times is not None and self._uses[rule.index] >= rule.times:
                continue
            groups = rule.when.match(view)
            if groups is not None:
                return rule, groups
        return None
