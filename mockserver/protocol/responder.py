"""The "model": what a response says. Scenario files (a later issue) plug in behind `Responder`.

A responder sees the turn (conversation items in context, instructions, tools, the response
settings) and returns a `Reply`: messages and function calls, in output order. The session turns a
reply into the live event sequence, in text or audio as the response asks; responders never see
events, ids or audio.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Message:
    """An assistant message; spoken (audio + transcript) or written (text) as the response asks."""

    text: str


@dataclass(frozen=True)
class FunctionCall:
    name: str
    arguments: str  # a JSON string, exactly as it will be streamed
    call_id: str | None = None  # None: the session makes one


Output = Message | FunctionCall


@dataclass(frozen=True)
class Reply:
    outputs: tuple[Output, ...]


@dataclass(frozen=True)
class Turn:
    """What the responder may look at for one response."""

    items: list[dict[str, Any]]  # the conversation items in context, oldest first
    instructions: str
    tools: list[dict[str, Any]]
    tool_choice: Any
    output_modalities: list[str]
    metadata: dict[str, Any] | None = None
    index: int = 0  # how many responses this session created before this one
    session: dict[str, Any] = field(default_factory=dict)


class Responder(Protocol):
    def reply(self, turn: Turn) -> Reply: ...


def item_text(item: dict[str, Any]) -> str:
    """The words of a message item: text parts, then transcripts of audio parts."""
    words = []
    for part in item.get("content") or ():
        if isinstance(part, dict):
            words.append(part.get("text") or part.get("transcript") or "")
    return " ".join(w for w in words if w)


class EchoResponder:
    """The default "model": deterministic and configuration-free.

    - The last item is a function call's output: "The {name} tool returned: {output}".
    - A user message that names one of the session's function tools (or any message when
      `tool_choice` is "required" or names a function): a call to that tool, with the first JSON
      object in the message as arguments (`{}` when there is none).
    - Any other user message: "You said: {text}".
    - Nothing to answer: "Hello! How can I help you today?".
    """

    def reply(self, turn: Turn) -> Reply:
        last = turn.items[-1] if turn.items else None
        if last is not None and last.get("type") == "function_call_output":
            name = next((i.get("name") for i in turn.items
                         if i.get("type") == "function_call" and i.get("call_id") == last.get("call_id")), "function")
            return Reply((Message(f"The {name} tool returned: {last.get('output', '')}"),))
        user = next((i for i in reversed(turn.items) if i.get("type") == "message" and i.get("role") == "user"), None)
        text = item_text(user) if user is not None else ""
        tool = self._tool_to_call(turn, text)
        if tool is not None:
            return Reply((FunctionCall(tool, _first_json_object(text)),))
        if not text:
            return Reply((Message("Hello! How can I help you today?"),))
        return Reply((Message(f"You said: {text}"),))

    @staticmethod
    def _tool_to_call(turn: Turn, text: str) -> str | None:
        names = [t["name"] for t in turn.tools if t.get("type") == "function" and "name" in t]
        choice = turn.tool_choice
        if choice == "none" or not names:
            return None
        if isinstance(choice, dict) and choice.get("type") == "function":
            return str(choice.get("name"))
        mentioned = [str(n) for n in names if re.search(rf"\b{re.escape(n)}\b", text)]
        if mentioned:
            return mentioned[0]
        return str(names[0]) if choice == "required" else None


def _first_json_object(text: str) -> str:
    start = text.find("{")
    while start != -1:
        try:
            value, _ = json.JSONDecoder().raw_decode(text[start:])
        except ValueError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            return json.dumps(value)
        start = text.find("{", start + 1)
    return "{}"


class ScriptedResponder:
    """Answers the n-th response with the n-th reply, then falls back to another responder."""

    def __init__(self, replies: list[Reply], then: Responder | None = None) -> None:
        self._replies = list(replies)
        self._then: Responder = then or EchoResponder()

    def reply(self, turn: Turn) -> Reply:
        return self._replies.pop(0) if self._replies else self._then.reply(turn)
