"""Reading scenario files (YAML or JSON) into `Scenario`s, with errors that say where and what.

JSON is YAML, so one parser reads both. Every problem is reported, one per line, as
`file:line: rules[1] "weather": reply: unknown key 'txt' (allowed: ...)`: the line comes from the
YAML node the problem is about (PyYAML's composed nodes keep their marks), the rule from its index
and name. The schema (`scenario.schema.json`) catches structure and typos; this module adds what a
schema cannot check: regular expressions compile, template variables exist, duplicate keys and
rule names, rules that can never answer.

Loading is safe on text from anywhere (`PUT /_mock/scenario`): a file may hold `MAX_NODES` values,
aliases may add `MAX_ALIAS_NODES` more (a "billion laughs" of nested anchors is refused before
anything walks it), nesting is limited to `MAX_DEPTH` levels, and strings must be text (a `\\ud800`
escape without its pair is refused). Error lines are always printable.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import jsonschema
import yaml
from jsonschema.exceptions import ValidationError

from mockserver.scenarios.engine import ALWAYS_AVAILABLE, TEMPLATE, Rule, Scenario, When, merge_timing

__all__ = ["ScenarioError", "builtin_default", "load_builtin", "load_scenario", "parse_scenario", "scenario_schema"]


class ScenarioError(ValueError):
    """A scenario file cannot be used. `problems` holds one line per problem (also the message)."""

    def __init__(self, problems: Sequence[str]) -> None:
        # A lone surrogate (a file name, a quoted value) is written as its escape: the lines go to terminals and JSON.
        self.problems = tuple(p.encode("utf-8", "backslashreplace").decode("utf-8") for p in problems)
        super().__init__("\n".join(self.problems))


@functools.cache
def scenario_schema() -> dict[str, Any]:
    """The JSON Schema of scenario files (draft 2020-12)."""
    text = resources.files(__package__).joinpath("scenario.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(scenario_schema())


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read a scenario file; problems are named by `path` as given."""
    source = os.fspath(path)
    try:
        with open(path, encoding="utf-8-sig") as file:
            text = file.read()
    except OSError as error:
        raise ScenarioError([f"{source}: cannot read the scenario: {error.strerror or error}"]) from error
    except UnicodeDecodeError as error:
        raise ScenarioError([f"{source}: not UTF-8 text ({error.reason} at byte {error.start})"]) from error
    return parse_scenario(text, source)


@functools.cache
def builtin_default() -> Scenario:
    """The built-in default scenario (`builtin/default.yaml`): answers exactly as `EchoResponder`."""
    return load_builtin("default")


def load_builtin(name: str) -> Scenario:
    """A scenario shipped in `mockserver/scenarios/builtin/` (e.g. "default")."""
    text = resources.files(__package__).joinpath("builtin", f"{name}.yaml").read_text(encoding="utf-8")
    return parse_scenario(text, f"<builtin>/{name}.yaml")


def parse_scenario(text: str, source: str = "<string>") -> Scenario:
    """Parse a scenario from YAML or JSON text; raises `ScenarioError` listing every problem."""
    root, data = _compose(text, source)
    problems = _node_problems(root)
    if not any(p.fatal for p in problems):
        problems += _schema_problems(data) + _semantic_problems(data)
    if problems:
        # Placing a problem searches the document; past a screenful, more of them only cost time.
        lines = sorted({(_line(root, p), _format(source, root, data, p)) for p in problems[:MAX_REPORTED]})
        hidden = len(problems) - MAX_REPORTED
        more = [f"{source}: and {hidden} more problems"] if hidden > 0 else []
        raise ScenarioError([line for _, line in lines] + more)
    return _build(data, source)


# -- YAML -------------------------------------------------------------------------------------------


# PyYAML composes some 70,000 nodes a second: a large file of small values would keep a thread busy for long.
MAX_NODES = 50_000  # nodes in the file (scenarios have hundreds)
# Every later step (duplicate keys, the schema, the semantic checks) walks the document as a tree, in which an
# alias is a whole copy of what it names: a few hundred bytes of nested anchors stand for a billion nodes.
MAX_ALIAS_NODES = 10_000  # nodes aliases may add to the document, counted at every use
MAX_DEPTH = 64  # levels of mappings and lists
MAX_REPORTED = 50  # problems reported at once
_TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep"
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class _Oversized(Exception):
    """The document passed a limit while being composed."""

    def __init__(self, line: int, what: str) -> None:
        super().__init__(what)
        self.line, self.what = line, what


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads JSON-style exponents without a dot or sign (`1e3`) as numbers, joins the
    surrogate pairs of JSON-style escapes (`"\\ud83d\\ude00"`, as `json.dumps` writes an emoji) into one character,
    and stops composing past `MAX_NODES` nodes or `MAX_DEPTH` levels (PyYAML recurses per level)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.composed = 0
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self.composed += 1
        self.depth += 1
        try:
            if self.composed > MAX_NODES:
                raise _Oversized(self._line(), f"more than {MAX_NODES:,} values: too large for a scenario")
            if self.depth > MAX_DEPTH + 1:  # + 1: the values inside the deepest mappings and lists
                raise _Oversized(self._line(), _TOO_DEEP)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def _line(self) -> int:
        """The line of the node about to be composed."""
        return int(self.peek_event().start_mark.line) + 1  # type: ignore[no-untyped-call]  # untyped in the stubs


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def _joined_pairs(text: str) -> str:
    """`text` with each surrogate pair as the one character it encodes (lone surrogates stay)."""
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "surrogatepass")


def _construct_str(loader: _Loader, node: yaml.ScalarNode) -> str:
    return _joined_pairs(loader.construct_scalar(node))


_Loader.add_constructor("tag:yaml.org,2002:str", _construct_str)


def _compose(text: str, source: str) -> tuple[yaml.Node, Any]:
    loader: _Loader | None = None
    try:
        loader = _Loader(_untab_json(text))
        root = loader.get_single_node()
        if root is None:
            raise ScenarioError([f"{source}:1: the file is empty"])
        _check_shape(root, source)
        return root, loader.construct_document(root)
    except _Oversized as error:
        raise ScenarioError([f"{source}:{error.line}: {error.what}"]) from error
    except yaml.MarkedYAMLError as error:
        raise ScenarioError([_yaml_error(source, error)]) from error
    except yaml.reader.ReaderError as error:
        line = text.count("\n", 0, max(error.position, 0)) + 1
        raise ScenarioError([f"{source}:{line}: invalid YAML: unacceptable character "
                             f"{chr(error.character)!r}"]) from error
    finally:
        if loader is not None:
            loader.dispose()


def _yaml_error(source: str, error: yaml.MarkedYAMLError) -> str:
    mark = error.problem_mark or error.context_mark
    line = mark.line + 1 if mark is not None else 1
    what = error.problem or error.context or "cannot parse"
    if error.context and error.problem:
        context = error.context + (f" at line {error.context_mark.line + 1}" if error.context_mark else "")
        what = f"{context}, {what}" if what.startswith("but ") else f"{what} ({context})"
    if error.problem and "'\\t'" in error.problem:
        what = "a tab cannot start a token here (indent YAML with spaces, not tabs)"
    return f"{source}:{line}: invalid YAML: {what}"


def _check_shape(root: yaml.Node, source: str) -> None:
    """Refuse a document that aliases blow up, or that nests too deeply, before anything walks it."""
    tree_nodes, distinct_nodes, depth = _shape(root)
    line = root.start_mark.line + 1
    if tree_nodes - distinct_nodes > MAX_ALIAS_NODES:
        raise ScenarioError([f"{source}:{line}: aliases make the document more than {MAX_ALIAS_NODES:,} nodes larger "
                             f"(it would be {tree_nodes:,}); write repeated parts out, or alias smaller ones"])
    if depth > MAX_DEPTH:
        raise ScenarioError([f"{source}:{line}: {_TOO_DEEP}"])


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _shape(root: yaml.Node) -> tuple[int, int, int]:
    """(nodes of the document as a tree, each alias a copy; distinct nodes; levels of mappings and lists),
    each node visited once (no recursion). An alias to a node that contains it counts as one node
    (`_node_problems` reports it)."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_: set[int] = set()  # started and not finished: the current path from the root
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finishing = stack.pop()
        children = _children(node)
        if finishing:
            size[id(node)] = 1 + sum(size.get(id(child), 1) for child in children)
            nested = max((depth.get(id(child), 0) for child in children), default=0)
            depth[id(node)] = nested + 1 if isinstance(node, yaml.CollectionNode) else 0
            open_.discard(id(node))
        elif id(node) not in size and id(node) not in open_:
            open_.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in size and id(child) not in open_)
    return size[id(root)], len(size), depth[id(root)]


def _untab_json(text: str) -> str:
    """JSON may be indented with tabs, which YAML refuses: outside strings they become spaces."""
    if not text.lstrip().startswith(("{", "[")) or "\t" not in text:
        return text
    out: list[str] = []
    quote = ""
    escaped = False
    for char in text:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\" and quote == '"':
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "\t":
            char = " "
        out.append(char)
    return "".join(out)


def _key_is(node: yaml.Node, key: Any) -> bool:
    """Whether a mapping's key node stands for `key` (a constructed key: usually a string, maybe 1 or null)."""
    if not isinstance(node, yaml.ScalarNode):
        return False
    if isinstance(key, str):
        return bool(node.tag == "tag:yaml.org,2002:str" and node.value == key)
    try:
        return bool(_Loader("").construct_object(node) == key)
    except yaml.YAMLError:
        return False


def _child(node: yaml.Node, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        found = None
        for key, value in node.value:
            if _key_is(key, part):
                found = value  # the last one wins, as in the constructed data
        return found
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        child: yaml.Node = node.value[part]
        return child
    return None


# -- problems ---------------------------------------------------------------------------------------

_NO_KEY = object()


@dataclass(frozen=True)
class _Problem:
    path: tuple[str | int, ...]  # JSON-pointer-like path of the node the problem is about
    message: str
    key: Any = field(default=_NO_KEY)  # set: the problem is this key of the mapping at `path`
    line: int | None = None  # known already (duplicate keys)
    fatal: bool = False  # stop before validating (cycles)


def _node_at(root: yaml.Node, path: Sequence[str | int]) -> yaml.Node:
    """The node at `path`, or the deepest one that exists on the way."""
    node = root
    for part in path:
        child = _child(node, part)
        if child is None:
            break
        node = child
    return node


def _line(root: yaml.Node, problem: _Problem) -> int:
    if problem.line is not None:
        return problem.line
    node = _node_at(root, problem.path)
    if problem.key is not _NO_KEY and isinstance(node, yaml.MappingNode):
        for key, _ in node.value:
            if _key_is(key, problem.key):
                return int(key.start_mark.line) + 1
    return int(node.start_mark.line) + 1


def _format(source: str, root: yaml.Node, data: Any, problem: _Problem) -> str:
    where = _where(data, problem.path)
    message = problem.message
    node = _node_at(root, problem.path)
    if (message.endswith(("got true", "got false")) and isinstance(node, yaml.ScalarNode)
            and node.tag == "tag:yaml.org,2002:bool" and node.value.lower() not in ("true", "false")):
        message += f" (YAML reads a bare {node.value} as {message.rsplit(' ', 1)[1]}; quote it: \"{node.value}\")"
    return f"{source}:{_line(root, problem)}: " + (f"{where}: " if where else "") + message


def _where(data: Any, path: tuple[str | int, ...]) -> str:
    """`rules[1] "weather": reply.text`, `faults[0].code`, `fallback`, or "" for the document."""
    if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int):
        head = _rule_label(data, path[1])
        rest = _dotted(path[2:])
        return f"{head}: {rest}" if rest else head
    return _dotted(path)


def _rule_label(data: Any, index: int) -> str:
    rules = data.get("rules") if isinstance(data, dict) else None
    rule = rules[index] if isinstance(rules, list) and 0 <= index < len(rules) else None
    name = rule.get("name") if isinstance(rule, dict) else None
    return f'rules[{index}] "{name}"' if isinstance(name, str) and name else f"rules[{index}]"


def _dotted(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_$][\w$]*", part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


def _node_problems(root: yaml.Node) -> list[_Problem]:
    """Duplicate keys (YAML silently keeps the last) and recursive aliases (which no schema can walk)."""
    problems: list[_Problem] = []

    def walk(node: yaml.Node, path: tuple[str | int, ...], stack: tuple[int, ...]) -> None:
        if id(node) in stack:
            problems.append(_Problem(path, "an alias refers to a node that contains it", fatal=True))
            return
        stack += (id(node),)
        if isinstance(node, yaml.ScalarNode):
            _check_text(node, path, problems)
        if isinstance(node, yaml.MappingNode):
            seen: set[tuple[str, str]] = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    _check_text(key, path, problems)
                name = key.value if isinstance(key, yaml.ScalarNode) else None
                if isinstance(name, str) and name != "<<":
                    if (key.tag, name) in seen:
                        problems.append(_Problem(path, f"duplicate key {name!r}", line=key.start_mark.line + 1))
                    seen.add((key.tag, name))
                walk(value, (*path, name if name is not None else "?"), stack)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, (*path, index), stack)

    walk(root, (), ())
    return problems


def _check_text(node: yaml.ScalarNode, path: tuple[str | int, ...], problems: list[_Problem]) -> None:
    """A lone surrogate (an escape such as `"\\ud800"` without its pair) is no text: the "model" could not say it,
    and nothing could send it as UTF-8. Refused, rather than guarded in every place a string goes."""
    lone = _SURROGATE.search(_joined_pairs(node.value))
    if lone:
        escape = ascii(lone.group())[1:-1]
        problems.append(_Problem(path, f"a lone surrogate ({escape}) is not text: write the character itself, or both "
                                       "halves of its surrogate pair", line=node.start_mark.line + 1, fatal=True))


_TYPE_WORDS = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "true/false",
               "object": "a mapping", "array": "a list", "null": "null"}


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"{type(value).__name__} {value}"


def _types(types: Any) -> str:
    words = [_TYPE_WORDS.get(t, str(t)) for t in ([types] if isinstance(types, str) else types)]
    return " or ".join(dict.fromkeys(words))


def _schema_problems(data: Any) -> list[_Problem]:
    return [p for error in _validator().iter_errors(data) for p in _translate(error)]


def _translate(error: ValidationError) -> Iterator[_Problem]:
    """A jsonschema error in plain words (and, for `anyOf`, the errors of the form the value was meant as)."""
    path = tuple(error.absolute_path)
    kind = error.validator
    value: Any = error.validator_value
    instance: Any = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    custom = schema.get("x-message")
    got = _describe(instance)
    if kind == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        for key in instance:
            if key not in allowed:
                yield _Problem(path, f"unknown key {_describe(key)} (allowed: {', '.join(allowed)})", key=key)
    elif kind == "required":
        for key in value:
            if key not in instance:
                yield _Problem(path, f"missing required key {key!r}")
    elif kind == "type":
        yield _Problem(path, f"expected {_types(value)}, got {got}")
    elif kind == "enum":
        yield _Problem(path, f"must be one of: {', '.join(str(v) for v in value)} (got {got})")
    elif kind == "const":
        yield _Problem(path, f"must be {_describe(value)} (got {got})")
    elif kind in ("minProperties", "maxProperties"):
        forms = list(schema.get("properties", {}))
        given = [k for k in instance if k in forms]
        if kind == "minProperties" or len(given) > 1:
            yield _Problem(path, f"give exactly one of: {', '.join(forms)} (got {', '.join(given) or 'none'})")
    elif kind in ("anyOf", "oneOf"):
        yield from _translate_choice(error, path, custom, got)
    elif kind in _BOUNDS:
        yield _Problem(path, f"must be {_BOUNDS[kind]} {value} (got {got})")
    elif kind in ("minLength", "minItems"):
        yield _Problem(path, "must not be empty" if value == 1 else f"needs at least {value} {_unit(kind)}")
    elif kind in ("maxLength", "maxItems"):
        yield _Problem(path, f"may have at most {value} {_unit(kind)}")
    elif kind == "not" and custom:
        yield _Problem(path, custom.replace("{value}", got))
    else:
        yield _Problem(path, custom.replace("{value}", got) if custom else error.message)


_BOUNDS = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "greater than",
           "exclusiveMaximum": "less than"}


def _unit(kind: str) -> str:
    return "characters" if kind.endswith("Length") else "items"


def _translate_choice(error: ValidationError, path: tuple[str | int, ...], custom: str | None,
                      got: str) -> Iterator[_Problem]:
    """anyOf/oneOf: report the errors of the branches whose type fits the value, else what types would."""
    options: Any = error.validator_value
    branches: dict[int, list[ValidationError]] = {i: [] for i in range(len(options))}
    for sub in error.context or ():
        branches[int(sub.relative_schema_path[0])].append(sub)
    fitting = [errors for errors in branches.values()
               if not any(e.validator == "type" and not e.relative_path for e in errors)]
    if len(fitting) == 1:
        for sub in fitting[0]:
            yield from _translate(sub)
    elif custom:
        yield _Problem(path, custom.replace("{value}", got))
    elif not fitting:
        types = [b["type"] for b in options if isinstance(b, dict) and "type" in b]
        yield _Problem(path, f"expected {' or '.join(_types(t) for t in types)}, got {got}")
    else:
        for sub in min(fitting, key=len):
            yield from _translate(sub)


@dataclass(frozen=True)
class _Vars:
    """The template variables a reply may use."""

    names: tuple[str, ...]  # named groups, then the always-available variables
    groups: int | None  # how many numbered groups when.user_text has; None: there is no user_text


def _semantic_problems(data: Any) -> list[_Problem]:
    """What the schema cannot check (only looks at parts whose shape is right)."""
    problems: list[_Problem] = []
    if not isinstance(data, dict):
        return problems
    matched = data.get("mode", "matched") == "matched"
    rules: list[Any] = data["rules"] if isinstance(data.get("rules"), list) else []
    names: dict[str, int] = {}
    catch_all: int | None = None  # matched mode: the first rule that always matches
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict):
            continue
        path: tuple[str | int, ...] = ("rules", index)
        name = rule.get("name")
        if isinstance(name, str) and name:
            if name in names:
                problems.append(_Problem((*path, "name"), f"duplicate rule name {name!r} (also rules[{names[name]}])"))
            names.setdefault(name, index)
        if catch_all is not None:
            problems.append(_Problem(path, f"never answers: {_rule_label(data, catch_all)} above it always matches "
                                           "(give that one a 'when' or 'times', or move it last)"))
        variables = _check_when(rule.get("when"), (*path, "when"), problems)
        if variables is not None and "reply" in rule:
            _check_templates(rule["reply"], (*path, "reply"), variables, problems)
        if matched and catch_all is None and rule.get("when", {}) == {} and "times" not in rule:
            catch_all = index
    if "fallback" in data:
        if catch_all is not None:
            problems.append(_Problem(("fallback",), f"never answers: {_rule_label(data, catch_all)} always matches"))
        _check_templates(data["fallback"], ("fallback",), _Vars(ALWAYS_AVAILABLE, None), problems)
    return problems


def _check_when(when: Any, path: tuple[str | int, ...], problems: list[_Problem]) -> _Vars | None:
    """Compile the regexes and check session paths; the variables they offer (None: a regex is broken)."""
    if not isinstance(when, dict):
        return _Vars(ALWAYS_AVAILABLE, None)
    named: list[str] = []
    groups: int | None = None
    broken = False
    regexes: list[tuple[Any, tuple[str | int, ...]]] = [(when.get("instructions"), (*path, "instructions"))]
    result = when.get("tool_result")
    if isinstance(result, dict):
        regexes += [(result.get(k), (*path, "tool_result", k)) for k in ("name", "output")]
    regexes.append((when.get("user_text"), (*path, "user_text")))
    for pattern, where in regexes:
        if not isinstance(pattern, str):
            continue
        try:
            compiled = re.compile(pattern)
        except re.error as error:
            problems.append(_Problem(where, f"invalid regular expression: {error.msg}"))
            broken = True
            continue
        named += compiled.groupindex
        if where[-1] == "user_text":
            groups = compiled.groups
    session = when.get("session")
    if isinstance(session, dict):
        for key in session:
            if not isinstance(key, str) or not all(key.split(".")):
                problems.append(_Problem((*path, "session"), f"invalid path {_describe(key)} (write a dotted path "
                                                             "such as audio.output.voice)", key=key))
    if broken:
        return None
    return _Vars(tuple(dict.fromkeys([*sorted(named), *ALWAYS_AVAILABLE])), groups)


def _check_templates(value: Any, path: tuple[str | int, ...], variables: _Vars, problems: list[_Problem]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                _check_template(key, path, variables, problems)
            _check_templates(item, (*path, key), variables, problems)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_templates(item, (*path, index), variables, problems)
    elif isinstance(value, str):
        _check_template(value, path, variables, problems)


def _check_template(text: str, path: tuple[str | int, ...], variables: _Vars, problems: list[_Problem]) -> None:
    for match in TEMPLATE.finditer(text):
        name = match.group(1)
        if name.isascii() and name.isdigit():
            if variables.groups is None:
                problems.append(_Problem(path, f"unknown template variable {name!r} "
                                               "(numbered groups come from when.user_text, and there is none)"))
            elif int(name) > variables.groups:
                count = f"{variables.groups} group" + ("" if variables.groups == 1 else "s")
                problems.append(_Problem(path, f"unknown template variable {name!r} (when.user_text has {count})"))
        elif name not in variables.names:
            problems.append(_Problem(path, f"unknown template variable {name!r} "
                                           f"(known: {', '.join(variables.names)})"))


# -- building ---------------------------------------------------------------------------------------


def _build(data: dict[str, Any], source: str) -> Scenario:
    timing = data.get("timing") or {}
    return Scenario(
        name=data["name"],
        description=data.get("description", ""),
        mode=data.get("mode", "matched"),
        rules=tuple(_rule(index, rule) for index, rule in enumerate(data.get("rules") or ())),
        fallback=copy.deepcopy(data.get("fallback")),
        faults=tuple(copy.deepcopy(fault) for fault in data.get("faults") or ()),
        timing=merge_timing(None, _timing(timing)) if timing else None,
        source=source,
        unintelligible_audio=data.get("unintelligible_audio"),
        user_audio=tuple(data.get("user_audio") or ()),
        translations={language: dict(table) for language, table in (data.get("translations") or {}).items()},
    )


def _timing(given: dict[str, Any]) -> dict[str, float | None]:
    return {key: None if value is None else float(value) for key, value in given.items()}


def _rule(index: int, data: dict[str, Any]) -> Rule:
    when = data.get("when") or {}
    turn = when.get("turn")
    result = when.get("tool_result")
    result_patterns = result if isinstance(result, dict) else {}
    return Rule(
        index=index,
        name=data.get("name"),
        when=When(
            user_text=re.compile(when["user_text"]) if "user_text" in when else None,
            instructions=re.compile(when["instructions"]) if "instructions" in when else None,
            turns=None if turn is None else frozenset(int(t) for t in (turn if isinstance(turn, list) else [turn])),
            tool_result=None if result is None else result is not False,
            tool_name=re.compile(result_patterns["name"]) if "name" in result_patterns else None,
            tool_output=re.compile(result_patterns["output"]) if "output" in result_patterns else None,
            tool_named=when.get("tool_named"),
            session=tuple((path, copy.deepcopy(value)) for path, value in (when.get("session") or {}).items()),
            modality=when.get("modality"),
        ),
        reply=copy.deepcopy(data["reply"]),
        timing=_timing(data.get("timing") or {}),
        times=int(data["times"]) if "times" in data else None,
    )
