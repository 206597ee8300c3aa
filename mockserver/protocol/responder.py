"""The "model": what a response says. Scenario files (a later issue) plug in behind `Responder`.

A responder sees the turn (conversation items in context, instructions, tools, the response
settings) and returns a `Reply`: messages and function calls, in output order. The session turns a
reply into the live event sequence, in text or audio as the response asks; responders never see
events, ids or audio.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Message:
    """An assistant message; spoken (audio + transcript) or written (text) as the response asks.

    `phase` on models that have phases (`gpt-realtime-2`): "commentary" for a preamble, "final_answer"
    (the default) for the answer. A commentary message right before a function call streams beside it;
    models without phases do not say commentary at all (responses.py leaves it out).
    """

    text: str
    phase: str | None = None


@dataclass(frozen=True)
class FunctionCall:
    name: str
    arguments: str  # a JSON string, exactly as it will be streamed
    call_id: str | None = None  # None: the session makes one


@dataclass(frozen=True)
class McpCall:
    """A call the server makes to a remote MCP tool (`mcp_call` item, `response.mcp_call*` events)."""

    server_label: str
    name: str
    arguments: str  # JSON string
    output: str | None = None
    error: str | None = None  # set: the call fails with a `tool_execution_error` carrying this message


@dataclass(frozen=True)
class McpListTools:
    """The server lists an MCP server's tools (`mcp_list_tools` item and `mcp_list_tools.*` events)."""

    server_label: str
    tools: tuple[dict[str, Any], ...]  # each {"name", "input_schema", "description"?, "annotations"?}


Output = Message | FunctionCall | McpCall | McpListTools


@dataclass(frozen=True)
class Timing:
    """How the response streams. None everywhere: as fast as the client reads."""

    first_delta_ms: float | None = None  # from response.created to the first delta
    tokens_per_second: float | None = None  # text, transcript and argument deltas
    audio_speed: float | None = None  # audio real-time factor: 1.0 plays in real time, 2.0 twice as fast
    jitter: float = 0.0  # each delay varies by up to this fraction, drawn from the session's seeded source


@dataclass(frozen=True)
class Reply:
    """A response: its outputs in order, and how it ends.

    status "completed"; "incomplete" with reason "max_output_tokens" or "content_filter" (the output
    is cut after `cut_after_tokens` tokens, default half of it); "failed" with `error`
    (`status_details.error`: {"type", "code", "message"}), usually with no outputs.
    """

    outputs: tuple[Output, ...] = ()
    status: str = "completed"
    reason: str | None = None
    error: dict[str, Any] | None = None
    cut_after_tokens: int | None = None
    timing: Timing | None = None


@dataclass(frozen=True)
class ErrorReply:
    """Answer `response.create` with an `error` event and no response at all."""

    message: str
    type: str = "invalid_request_error"
    code: str | None = None
    param: str | None = None


def rate_limited(model: str = "gpt-realtime") -> Reply:
    """A response that fails on the token rate limit, worded as live (reference 4, general properties)."""
    return Reply(status="failed", error={
        "type": "tokens", "code": "rate_limit_exceeded",
        "message": f"Rate limit reached for {model} in organization org-mock on tokens per min (TPM): Limit 40000, "
                   "Used 39000, Requested 9000. Please try again in 6.946s."})


def insufficient_quota() -> Reply:
    return Reply(status="failed", error={
        "type": "insufficient_quota", "code": "insufficient_quota",
        "message": "You exceeded your current quota, please check your plan and billing details."})


@dataclass(frozen=True)
class Turn:
    """What the responder may look at for one response: read-only views of the session's own data
    (never copies of it; a responder must not keep or change them)."""

    items: Sequence[Mapping[str, Any]]  # the conversation items in context, oldest first
    instructions: str
    tools: Sequence[Mapping[str, Any]]
    tool_choice: Any
    output_modalities: Sequence[str]
    metadata: Mapping[str, Any] | None = None
    index: int = 0  # how many responses this session created before this one
    session: Mapping[str, Any] = field(default_factory=dict)


class Responder(Protocol):
    def reply(self, turn: Turn) -> Reply | ErrorReply: ...


def item_text(item: Mapping[str, Any]) -> str:
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
      object in the message as arguments (`{}` when there is none), after a preamble, "I'll use the
      {name} tool for you." (said by models with phases only).
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
        tool = tool_to_call(turn, text)
        if tool is not None:
            return Reply((Message(preamble(tool), phase="commentary"), FunctionCall(tool, first_json_object(text))))
        if not text:
            return Reply((Message("Hello! How can I help you today?"),))
        return Reply((Message(f"You said: {text}"),))


def preamble(tool: str) -> str:
    """What the default "model" says before calling a tool (the live one: "I'll check the current weather in
    London for you.")."""
    return f"I'll use the {tool} tool for you."


def tool_to_call(turn: Turn, text: str) -> str | None:
    """The function tool a message names (whole word), or the one `tool_choice` requires."""
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


def first_json_object(text: str) -> str:
    """The first JSON object in `text`, re-serialised; "{}" when there is none."""
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

    def __init__(self, replies: list[Reply | ErrorReply], then: Responder | None = None, *,
                 user_audio: Sequence[str | None] = ()) -> None:
        self._replies = list(replies)
        self._then: Responder = then or EchoResponder()
        self.user_audio = tuple(user_audio)  # what each committed user audio says (None: what the codec hears)

    def reply(self, turn: Turn) -> Reply | ErrorReply:
        return self._replies.pop(0) if self._replies else self._then.reply(turn)
