"""The mock's "model" for one cassette: a `ScriptedResponder` that answers what the live model answered.

Each recorded `response.done` says what its response contained; the n-th response the mock creates
gets the reply of the n-th recorded `response.created` (responses out of band may finish in another
order than they start, so replies follow the start order and are looked up by response id):

- a `message` item: its text (`output_text`) or transcript (`output_audio`); spoken or written as the
  response asks, as the live model did; with its `phase` (a preamble is `commentary`);
- a `function_call` item: its name and arguments (the call id is the mock's own: the replay maps ids);
- `mcp_call` / `mcp_list_tools` items: the server label, tool, arguments, output or error;
- status `failed`: `status_details.error`; status `incomplete`: the recorded output and then one more
  token, cut there with the recorded reason; status `cancelled`: the recorded output and a long
  filler streamed at 50 tokens/s (audio in real time), so that the client's `response.cancel` (or a
  turn) arrives mid-stream as it did live.

Anything after the script runs out is answered by the mock's echo responder.

What the user said is scripted too: the n-th committed user audio turn says what the recorded
`conversation.item.input_audio_transcription.completed` of the n-th recorded `committed` item says (a
recording of a real voice carries no speech codec the mock could hear).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from conformance.cassette import Cassette
from mockserver.protocol.responder import (
    FunctionCall,
    McpCall,
    McpListTools,
    Message,
    Output,
    Reply,
    Responder,
    ScriptedResponder,
    Timing,
)
from mockserver.protocol.tokens import count_tokens

CANCELLED_FILLER = " and so on" * 200
CANCELLED_TIMING = Timing(tokens_per_second=50, audio_speed=1.0)


def outputs_of(response: dict[str, Any]) -> list[Output]:
    """The outputs a recorded response object (`response.done`'s `response`) contains, in order."""
    outputs: list[Output] = []
    for item in response.get("output") or ():
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "message":
            words = [str(p.get("text") or p.get("transcript") or "") for p in item.get("content") or ()
                     if isinstance(p, dict)]
            phase = item.get("phase")
            outputs.append(Message("".join(words), phase=str(phase) if phase is not None else None))
        elif kind == "function_call":
            outputs.append(FunctionCall(str(item.get("name", "")), str(item.get("arguments", ""))))
        elif kind == "mcp_call":
            error = item.get("error")
            message = error.get("message") if isinstance(error, dict) else error
            outputs.append(McpCall(str(item.get("server_label", "")), str(item.get("name", "")),
                                   str(item.get("arguments", "")), item.get("output"),
                                   str(message) if message is not None else None))
        elif kind == "mcp_list_tools":
            outputs.append(McpListTools(str(item.get("server_label", "")), tuple(item.get("tools") or ())))
    return outputs


def reply_for(response: dict[str, Any]) -> Reply:
    """The reply that makes the mock's response end as the recorded one did."""
    outputs = outputs_of(response)
    status = response.get("status") or "completed"
    details = response.get("status_details") or {}
    if status == "failed":
        return Reply(tuple(outputs), status="failed", error=details.get("error"))
    if status == "incomplete":
        spoken = _tokens(outputs)
        return Reply(tuple(_extend(outputs, " ...")), status="incomplete",
                     reason=details.get("reason") or "max_output_tokens", cut_after_tokens=spoken)
    if status == "cancelled":
        return Reply(tuple(_extend(outputs, CANCELLED_FILLER)), timing=CANCELLED_TIMING)
    return Reply(tuple(outputs))


def replies(cassette: Cassette) -> list[Reply]:
    """One reply per recorded response, in the order the responses were created."""
    done: dict[str, dict[str, Any]] = {}
    started: list[str] = []
    for event in cassette.server_events():
        response = event.get("response")
        if not isinstance(response, dict):
            continue
        if event.get("type") == "response.created":
            started.append(str(response.get("id")))
        elif event.get("type") == "response.done":
            done[str(response.get("id"))] = response
            if str(response.get("id")) not in started:
                started.append(str(response.get("id")))
    return [reply_for(done[rid]) if rid in done else Reply((Message(""),)) for rid in started]


def user_audio(cassette: Cassette) -> list[str | None]:
    """What each recorded user audio turn said, in commit order (None where no transcript was recorded)."""
    committed: list[str] = []
    said: dict[str, str] = {}
    for event in cassette.server_events():
        kind = event.get("type")
        if kind == "input_audio_buffer.committed":
            committed.append(str(event.get("item_id")))
        elif kind == "conversation.item.input_audio_transcription.completed":
            said[str(event.get("item_id"))] = str(event.get("transcript") or "")
    return [said.get(item_id) for item_id in committed]


def responder_factory(cassette: Cassette) -> Callable[[], Responder]:
    """For `ServerState(responder=...)`: every session the mock opens gets a fresh copy of the script."""
    script, said = replies(cassette), user_audio(cassette)
    return lambda: ScriptedResponder(list(script), user_audio=said)


def _tokens(outputs: list[Output]) -> int:
    total = 0
    for output in outputs:
        if isinstance(output, Message):
            total += count_tokens(output.text)
        elif isinstance(output, (FunctionCall, McpCall)):
            total += count_tokens(output.arguments)
    return total


def _extend(outputs: list[Output], more: str) -> list[Output]:
    """The outputs with `more` added to the last message or call (what the model would have gone on to say)."""
    for position in range(len(outputs) - 1, -1, -1):
        output = outputs[position]
        if isinstance(output, Message):
            return [*outputs[:position], replace(output, text=output.text + more), *outputs[position + 1:]]
        if isinstance(output, (FunctionCall, McpCall)):
            return [*outputs[:position], replace(output, arguments=output.arguments + more), *outputs[position + 1:]]
    return [*outputs, Message(more.strip())]
