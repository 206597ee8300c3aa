"""A Chat Completions request as the "model" sees it: its messages turned into the conversation items a
realtime session would hold (protocol/responder.py `Turn`), so the same scenario engine answers both.

- `system` and `developer` messages are the instructions;
- `user` text parts are `input_text`; `input_audio` parts (base64 wav or mp3) are heard (rest/hearing.py)
  and become `input_audio` with their transcript; the audio of the last user message is new and takes
  the scenario's next `user_audio` entry;
- `assistant` text is `output_text`; `audio: {id}` refers to an earlier answer's audio, remembered per
  scope (its transcript), refused when unknown or expired; `tool_calls` are `function_call` items;
- `tool` messages are `function_call_output` items.

Tools and `tool_choice` are given in the realtime form (`{"type": "function", "name": ...}`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mockserver.protocol import base64_audio, errors
from mockserver.protocol.responder import Turn
from mockserver.protocol.tokens import count_tokens
from mockserver.rest import audio_rules as rules
from mockserver.rest import hearing
from mockserver.rest.endpoint import Call, Refused


def _text(content: Any) -> str:
    """The words of a message's content: a string, or its text parts joined."""
    if isinstance(content, str):
        return content
    parts = content or []
    return " ".join(str(p.get("text", "")) for p in parts if isinstance(p, Mapping) and p.get("type") == "text")


class ChatTurn:
    """The items, instructions and counts of one request."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.instructions: list[str] = []
        self.audio_seconds = 0.0  # of the audio the request sends (its prompt's audio tokens)
        self.answers = 0  # assistant messages so far: the index of this turn

    def prompt_text_tokens(self) -> int:
        words = [*self.instructions]
        for item in self.items:
            for part in item.get("content") or ():
                words.append(part.get("text") or part.get("transcript") or "")
            words.append(str(item.get("arguments") or item.get("output") or ""))
        return sum(count_tokens(w) for w in words)

    def turn(self, body: Mapping[str, Any], modalities: list[str]) -> Turn:
        return Turn(items=self.items, instructions="\n".join(self.instructions), tools=_tools(body.get("tools")),
                    tool_choice=_tool_choice(body.get("tool_choice")), output_modalities=modalities,
                    metadata=body.get("metadata"), index=self.answers, session={"model": body["model"]})


async def read_turn(call: Call, body: Mapping[str, Any]) -> ChatTurn:
    """The request's messages as conversation items (input audio heard; Refused on audio that cannot be)."""
    turn = ChatTurn()
    messages = body["messages"]
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    for index, message in enumerate(messages):
        role = message.get("role")
        if role in ("system", "developer"):
            turn.instructions.append(_text(message.get("content")))
        elif role == "user":
            turn.items.append(await _user(call, body["model"], message, index, new=index == last_user, turn=turn))
        elif role == "assistant":
            turn.answers += 1
            turn.items += _assistant(call, message, index)
        elif role in ("tool", "function"):
            turn.items.append({"type": "function_call_output", "call_id": message.get("tool_call_id") or "",
                               "output": _text(message.get("content"))})
    return turn


async def _user(call: Call, model: str, message: Mapping[str, Any], index: int, *, new: bool,
                turn: ChatTurn) -> dict[str, Any]:
    content = message.get("content")
    if isinstance(content, str):
        return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": content}]}
    parts: list[dict[str, Any]] = []
    for at, part in enumerate(content or []):
        where = f"messages[{index}].content[{at}]"
        if part.get("type") == "text":
            parts.append({"type": "input_text", "text": part.get("text", "")})
        elif part.get("type") == "input_audio":
            if not rules.is_audio_model(model):
                raise Refused(400, rules.no_audio_input(f"{where}.type"))
            try:
                data = base64_audio.decode(part["input_audio"]["data"])
            except ValueError:
                raise Refused(400, errors.bad_base64(f"{where}.input_audio.data")) from None
            heard = await hearing.hear(call, data, new=new, param=f"{where}.input_audio.data")
            turn.audio_seconds += heard.seconds
            parts.append({"type": "input_audio", "transcript": heard.text})
    return {"type": "message", "role": "user", "content": parts}


def _assistant(call: Call, message: Mapping[str, Any], index: int) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = []
    text = _text(message.get("content"))
    if text:
        content.append({"type": "output_text", "text": text})
    audio = message.get("audio")
    if isinstance(audio, Mapping) and audio.get("id"):
        stored = call.scope.rest.audio.get(str(audio["id"]))
        if stored is None or stored.expires_at <= call.now():
            raise Refused(400, rules.unknown_audio(str(audio["id"]), f"messages[{index}].audio.id"))
        content.append({"type": "output_audio", "transcript": stored.transcript})
    items: list[dict[str, Any]] = []
    if content:
        items.append({"type": "message", "role": "assistant", "content": content})
    for call_ in message.get("tool_calls") or ():
        function = call_.get("function") or {}
        items.append({"type": "function_call", "call_id": call_.get("id", ""), "name": function.get("name", ""),
                      "arguments": function.get("arguments", "")})
    return items


def _tools(tools: Any) -> list[dict[str, Any]]:
    """Chat tools (`{"type": "function", "function": {...}}`) in the realtime form (`{"type", "name", ...}`)."""
    out = []
    for tool in tools or ():
        if tool.get("type") == "function" and isinstance(tool.get("function"), Mapping):
            out.append({"type": "function", **tool["function"]})
    return out


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, Mapping) and choice.get("type") == "function":
        return {"type": "function", "name": (choice.get("function") or {}).get("name")}
    return choice or "auto"
