"""One response as the live event sequence (reference section 4 and the recordings).

`ResponseRun` turns a responder's `Reply` into events, one at a time, so that a response streams,
can be paced, and can be cancelled between any two events. Order for each output item:

    response.output_item.added, conversation.item.added,
    message: response.content_part.added, deltas, *.done, response.content_part.done
    function call: response.function_call_arguments.delta x N, .done
    conversation.item.done, response.output_item.done

then `response.done` and `rate_limits.updated`. A cancelled run finalises the item in flight
(its `*.done` events carry what was sent, status `incomplete`) and ends with `response.done`
status `cancelled`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

from mockserver.audio import formats
from mockserver.protocol import models
from mockserver.protocol.conversation import Conversation, base64_length, public
from mockserver.protocol.ids import IdSource
from mockserver.protocol.responder import FunctionCall, McpCall, McpListTools, Message, Reply, Timing
from mockserver.protocol.tokens import count_tokens, tokens

AUDIO_OUT_TOKENS_PER_SECOND = 20
AUDIO_IN_TOKENS_PER_SECOND = 10
RATE_LIMIT_TOKENS = 15_000_000


@dataclass(frozen=True)
class Pacing:
    """How long to hold events back (seconds). Zero everywhere: as fast as the client reads."""

    first_delta: float = 0.0
    between_deltas: float = 0.0
    realtime_audio: bool = False  # each audio delta waits for the previous one to have played


@dataclass
class ResponseSettings:
    """The effective settings of one response: the session's, overridden by `response.create`."""

    output_modalities: list[str]
    instructions: str
    tools: list[dict[str, Any]]
    tool_choice: Any
    max_output_tokens: int | str
    output_format: dict[str, Any]
    voice: Any
    metadata: dict[str, Any] | None
    in_conversation: bool  # False for `conversation: "none"` (out of band)
    # What the model takes in: text tokens (instructions, tools and the items in context) and audio milliseconds.
    context_cost: tuple[int, float]
    profile: models.Profile = models.DEFAULT  # how the model speaks (phases, which items name their previous)
    reasoning_effort: str | None = None  # the effort the client asked for (None: the model's default, unreported)
    on_call: bool = False  # the session is a WebRTC or SIP call's


@dataclass
class _Part:
    kind: str  # "text" | "audio"
    text: str = ""
    audio: bytearray = field(default_factory=bytearray)


@dataclass
class _Flight:
    """An output item being streamed (usually one at a time; a preamble streams beside its function call)."""

    item: dict[str, Any]  # as stored in the conversation
    index: int  # its output_index
    part: _Part | None = None
    overtaken: bool = False  # another item was added after it while it streamed


class ResponseRun:
    def __init__(self, *, response_id: str, settings: ResponseSettings, reply: Reply, conversation: Conversation,
                 ids: IdSource, pacing: Pacing, previous_input_tokens: int,
                 on_audio: Callable[[str, formats.Format], None]) -> None:
        self.id = response_id
        self.settings = settings
        self._reply = reply
        self._conversation = conversation
        self._ids = ids
        self._pacing = pacing
        self._previous_input_tokens = previous_input_tokens
        self._on_audio = on_audio  # (item id, format): assistant audio now exists (voice lock, truncation)
        self.output: list[dict[str, Any]] = []
        self.response: dict[str, Any] = {
            "object": "realtime.response", "id": response_id, "status": "in_progress", "status_details": None,
            "output": [], "conversation_id": conversation.id if settings.in_conversation else None,
            "output_modalities": list(settings.output_modalities), "max_output_tokens": settings.max_output_tokens,
            "audio": {"output": {"format": settings.output_format, "voice": settings.voice}},
            "usage": None, "metadata": settings.metadata,
        }
        self._flights: dict[str, _Flight] = {}  # the items in flight by id, in the order they were added
        self.has_output = False  # an output item was added
        self._timing = reply.timing or Timing()
        self._budget = settings.max_output_tokens if isinstance(settings.max_output_tokens, int) else None
        # An incomplete reply is cut after `cut_after_tokens` (default: half of what it would say).
        self._cut_reason = "max_output_tokens"
        if reply.status == "incomplete":
            cut = reply.cut_after_tokens if reply.cut_after_tokens is not None else _total_tokens(reply) // 2
            if self._budget is None or cut < self._budget:
                self._budget, self._cut_reason = cut, reply.reason or "max_output_tokens"
        self._out_text_tokens = 0
        self._out_audio_ms = 0.0
        self._truncated = False
        self._final = False  # response.done has been generated
        self._events: Generator[dict[str, Any], None, None] = self._run()
        self._next: dict[str, Any] | None = None  # the event generated but not yet released
        # Pacing at all? (when nothing is paced every delay is 0: the time arithmetic is skipped)
        self._paced = bool(pacing.first_delta or pacing.between_deltas or pacing.realtime_audio
                           or self._timing.first_delta_ms or self._timing.tokens_per_second
                           or self._timing.audio_speed)
        self._deltas_sent = 0
        self._last_audio_s = 0.0  # how long the last audio delta plays (real-time pacing)
        self.due_at = 0.0
        self.finished = False
        self.stalled = False  # a `stall` fault: nothing more streams until the response is cancelled
        self.stall_when: Callable[[dict[str, Any]], bool] | None = None

    # -- the session's interface ----------------------------------------------------------------

    def created_event(self) -> dict[str, Any]:
        # A shallow copy is enough: the response's own keys are replaced when it ends, never changed in place.
        return self._event("response.created", response=dict(self.response))

    def sync(self) -> None:
        """Bring the stored items in flight up to date with the audio sent so far (their bytes are encoded
        once, when an item is done, or when a client event reads it before that)."""
        for flight in self._flights.values():
            if flight.part is not None and flight.part.kind == "audio":
                flight.item["content"][0]["audio"] = base64.b64encode(flight.part.audio).decode()

    def release(self, now: float, limit: int) -> list[dict[str, Any]]:
        """The events that are due at `now` (at most `limit`); sets `due_at` for the next one."""
        out: list[dict[str, Any]] = []
        stall_when = self.stall_when
        while not self.finished and not self.stalled and len(out) < limit:
            event = self._next
            if event is None:
                try:
                    event = self._next = next(self._events)
                except StopIteration:
                    self.finished = True
                    break
                if self._paced:
                    # On a schedule: after a stall (a slow reader) the due events go out at once and the
                    # stream keeps its long-run rate, instead of drifting late.
                    self.due_at += self._delay_before(event)
            if self.due_at > now:
                break
            out.append(self._account(event))
            self._next = None
            if stall_when is not None and stall_when(event):
                self.stalled = True
        return out

    def cancel(self, reason: str) -> list[dict[str, Any]]:
        """Stop now: finalise what is in flight, then `response.done` with status `cancelled`."""
        if self._final:  # too late to cancel: what is left is response.done and rate_limits.updated
            pending = [self._next] if self._next else []
            self.finished = True
            return pending + list(self._events)
        # A held delta was never sent and is dropped; a held structural event (only held by `limit`) goes out first.
        held = self._next
        events = [self._account(held)] if held is not None and not held["type"].endswith(".delta") else []
        self._events.close()
        self._next = None
        for item_id in list(self._flights):
            events += self._finish_item(item_id, "incomplete")
        events += self._finish("cancelled", {"type": "cancelled", "reason": reason})
        self.finished = True
        return events

    # -- building events --------------------------------------------------------------------------

    def _account(self, event: dict[str, Any]) -> dict[str, Any]:
        """Record what a released delta told the client, so a cancelled item holds exactly that."""
        kind = event["type"]
        if not kind.endswith(".delta"):
            return event
        flight = self._flights[event["item_id"]]
        if kind in ("response.output_text.delta", "response.output_audio_transcript.delta"):
            part = flight.part
            assert part is not None
            part.text += event["delta"]
            flight.item["content"][0]["text" if kind == "response.output_text.delta" else "transcript"] = part.text
            self._out_text_tokens += 1
        elif kind == "response.output_audio.delta":
            assert flight.part is not None
            chunk = base64.b64decode(event["delta"])
            flight.part.audio += chunk  # the stored item gets the bytes when it is done (`sync`)
            self._out_audio_ms += formats.duration_ms(len(chunk), formats.format_of(self.settings.output_format))
        elif kind in ("response.function_call_arguments.delta", "response.mcp_call_arguments.delta"):
            flight.item["arguments"] += event["delta"]
            self._out_text_tokens += 1
        return event

    def _event(self, event_type: str, **fields: Any) -> dict[str, Any]:
        return {"type": event_type, "event_id": self._ids.event(), **fields}

    def _delay_before(self, event: dict[str, Any]) -> float:
        """Seconds to hold this event: the reply's timing where it says, else the server's pacing."""
        kind = event["type"]
        if not kind.endswith(".delta"):
            return 0.0
        timing, pacing = self._timing, self._pacing
        self._deltas_sent += 1
        previous_audio = 0.0
        if kind == "response.output_audio.delta":
            fmt = formats.format_of(self.settings.output_format)
            previous_audio = self._last_audio_s
            self._last_audio_s = formats.duration_ms(base64_length(event["delta"]), fmt) / 1000
        if self._deltas_sent == 1:
            delay = timing.first_delta_ms / 1000 if timing.first_delta_ms is not None else pacing.first_delta
        elif kind == "response.output_audio.delta":
            # Real-time audio: a chunk goes out when the chunk before it has played (at `audio_speed`).
            speed = timing.audio_speed or (1.0 if pacing.realtime_audio else None)
            delay = previous_audio / speed if speed else pacing.between_deltas
        else:
            delay = 1 / timing.tokens_per_second if timing.tokens_per_second else pacing.between_deltas
        if timing.jitter and delay:
            delay *= 1 + timing.jitter * (self._ids.randint(-1000, 1000) / 1000)
        return delay

    def _ids_of(self, output_index: int, item_id: str) -> dict[str, Any]:
        return {"response_id": self.id, "item_id": item_id, "output_index": output_index}

    def _take_tokens(self, pieces: list[str]) -> list[str]:
        """Spend the `max_output_tokens` budget; what does not fit is cut and the response is incomplete."""
        if self._budget is None:
            return pieces
        room = max(0, self._budget - self._out_text_tokens)
        if len(pieces) > room:
            self._truncated = True
            return pieces[:room]
        return pieces

    def _run(self) -> Generator[dict[str, Any], None, None]:
        index = 0
        outputs = list(self._reply.outputs)
        if not self.settings.profile.phases:  # a preamble is a phased model's habit: others go straight on
            outputs = [o for o in outputs if not (isinstance(o, Message) and o.phase == "commentary")]
        while outputs and not self._truncated:
            output = outputs.pop(0)
            if isinstance(output, McpListTools):  # a conversation item, not a response output
                yield from self._list_tools(output)
                continue
            if isinstance(output, FunctionCall):
                yield from self._function_call(index, output)
            elif isinstance(output, McpCall):
                yield from self._mcp_call(index, output)
            elif (self.settings.profile.phases and output.phase == "commentary" and outputs
                  and isinstance(outputs[0], FunctionCall)):
                # A preamble streams beside the call it announces (recording newer/...parity): the message's
                # words, then the call's arguments, then the message is done, then the call.
                call = outputs.pop(0)
                assert isinstance(call, FunctionCall)
                message_id = yield from self._message_start(index, output)
                call_id = yield from self._function_call_start(index + 1, call)
                yield from self._message_done(message_id)
                yield from self._function_call_done(call_id, call)
                index += 1
            else:
                yield from self._message(index, output)
            index += 1
        if self._reply.status == "failed":
            yield from self._finish("failed", {"type": "failed", "error": self._reply.error})
        elif self._truncated:
            yield from self._finish("incomplete", {"type": "incomplete", "reason": self._cut_reason})
        else:
            yield from self._finish("completed", None)

    def _add_item(self, index: int, item: dict[str, Any], part: _Part | None = None) -> Iterator[dict[str, Any]]:
        for flight in self._flights.values():
            flight.overtaken = True
        self._flights[item["id"]] = _Flight(item, index, part)
        self.has_output = True
        yield self._event("response.output_item.added", response_id=self.id, output_index=index, item=public(item))
        if self.settings.in_conversation:
            previous = self._conversation.insert(item)
            yield self._event("conversation.item.added", previous_item_id=previous, item=public(item))

    def _message(self, index: int, message: Message) -> Iterator[dict[str, Any]]:
        item_id = yield from self._message_start(index, message)
        yield from self._message_done(item_id)

    def _message_start(self, index: int, message: Message) -> Generator[dict[str, Any], None, str]:
        """A message up to its last delta; returns its item id."""
        item_id = self._ids.item()
        item: dict[str, Any] = {"id": item_id, "type": "message", "status": "in_progress", "role": "assistant",
                                "content": []}
        if self.settings.profile.phases:  # last, as live puts it
            item["phase"] = message.phase or "final_answer"
        spoken = "audio" in self.settings.output_modalities
        yield from self._add_item(index, item, _Part("audio" if spoken else "text"))
        ids = {**self._ids_of(index, item_id), "content_index": 0}
        pieces = self._take_tokens(tokens(message.text))
        if spoken:
            item["content"] = [{"type": "output_audio", "audio": "", "transcript": ""}]
            yield self._event("response.content_part.added", **ids, part={"type": "audio", "transcript": ""})
            yield from self._speak(item_id, ids, pieces)
        else:
            item["content"] = [{"type": "output_text", "text": ""}]
            yield self._event("response.content_part.added", **ids, part={"type": "text", "text": ""})
            yield from self._deltas("response.output_text.delta", ids, pieces)
        return item_id

    def _message_done(self, item_id: str) -> Iterator[dict[str, Any]]:
        yield from self._finish_item(item_id, "incomplete" if self._truncated else "completed")

    def _speak(self, item_id: str, ids: dict[str, Any], pieces: list[str]) -> Iterator[dict[str, Any]]:
        """Transcript deltas interleaved with audio deltas, as live (recordings). The audio is synthesised a
        word at a time as the transcript advances, so a long answer starts playing at once."""
        # NumPy is imported with the first spoken response, not at start-up (the pytest fixture starts faster).
        from mockserver.audio.codecs import encode
        from mockserver.audio.speech import speak_stream

        fmt = formats.format_of(self.settings.output_format)
        self._on_audio(item_id, fmt)
        words = speak_stream("".join(pieces))  # the codec: the audio carries exactly the transcript
        per_ms = formats.bytes_per_second(fmt) // 1000
        buffered, said, heard = bytearray(), 0, 0  # wire audio not yet sent; characters spoken; transcript sent
        size = self._ids.randint(50, 250) * per_ms  # deltas of varying size (50-250 ms), on sample boundaries
        for piece in [*pieces, None]:
            if piece is not None:
                yield self._event("response.output_audio_transcript.delta", **ids, delta=piece,
                                  obfuscation=self._ids.obfuscation())
                heard += len(piece)
            while said < heard or piece is None:  # synthesise up to where the transcript is
                chunk = next(words, None)
                if chunk is None:
                    break
                said += len(chunk[0])
                buffered += encode(chunk[1], fmt)
            while len(buffered) >= size or (piece is None and buffered):
                yield self._audio_delta(ids, bytes(buffered[:size]))
                del buffered[:size]
                size = self._ids.randint(50, 250) * per_ms

    def _deltas(self, event_type: str, ids: dict[str, Any], pieces: list[str]) -> Iterator[dict[str, Any]]:
        """Text deltas, one per piece (the hot loop of a response: each event built in one step)."""
        event_id, obfuscation = self._ids.event, self._ids.obfuscation
        for piece in pieces:
            yield {"type": event_type, "event_id": event_id(), **ids, "delta": piece, "obfuscation": obfuscation()}

    def _audio_delta(self, ids: dict[str, Any], chunk: bytes) -> dict[str, Any]:
        return self._event("response.output_audio.delta", **ids, delta=base64.b64encode(chunk).decode())

    def _function_call(self, index: int, call: FunctionCall) -> Iterator[dict[str, Any]]:
        item_id = yield from self._function_call_start(index, call)
        yield from self._function_call_done(item_id, call)

    def _function_call_start(self, index: int, call: FunctionCall) -> Generator[dict[str, Any], None, str]:
        """A function call up to its last arguments delta; returns its item id."""
        item_id = self._ids.item()
        item: dict[str, Any] = {"id": item_id, "type": "function_call", "status": "in_progress", "name": call.name,
                                "call_id": call.call_id or self._ids.call(), "arguments": ""}
        yield from self._add_item(index, item)
        pieces = self._take_tokens(tokens(call.arguments))
        yield from self._deltas("response.function_call_arguments.delta", self._call_ids(item), pieces)
        return item_id

    def _function_call_done(self, item_id: str, call: FunctionCall) -> Iterator[dict[str, Any]]:
        item = self._flights[item_id].item
        yield self._event("response.function_call_arguments.done", **self._call_ids(item), name=call.name,
                          arguments=item["arguments"])
        yield from self._finish_item(item_id, "incomplete" if self._truncated else "completed")

    def _call_ids(self, item: dict[str, Any]) -> dict[str, Any]:
        return {**self._ids_of(self._flights[item["id"]].index, item["id"]), "call_id": item["call_id"]}

    def _mcp_call(self, index: int, call: McpCall) -> Iterator[dict[str, Any]]:
        item_id = self._ids.item()
        item: dict[str, Any] = {"id": item_id, "type": "mcp_call", "server_label": call.server_label,
                                "name": call.name, "arguments": "", "output": None, "error": None}
        yield from self._add_item(index, item)
        ids = self._ids_of(index, item_id)
        for piece in self._take_tokens(tokens(call.arguments)):
            yield self._event("response.mcp_call_arguments.delta", **ids, delta=piece,
                              obfuscation=self._ids.obfuscation())
        yield self._event("response.mcp_call_arguments.done", **ids, arguments=item["arguments"])
        yield self._event("response.mcp_call.in_progress", item_id=item_id, output_index=index)
        if call.error is not None:
            item["error"] = {"type": "tool_execution_error", "message": call.error}
            yield self._event("response.mcp_call.failed", item_id=item_id, output_index=index)
        else:
            item["output"] = call.output if call.output is not None else ""
            yield self._event("response.mcp_call.completed", item_id=item_id, output_index=index)
        yield from self._finish_item(item_id, "incomplete" if self._truncated else "completed")

    def _list_tools(self, listing: McpListTools) -> Iterator[dict[str, Any]]:
        item: dict[str, Any] = {"id": self._ids.item(), "type": "mcp_list_tools",
                                "server_label": listing.server_label, "tools": []}
        previous = self._conversation.insert(item) if self.settings.in_conversation else None
        if self.settings.in_conversation:
            yield self._event("conversation.item.added", previous_item_id=previous, item=public(item))
        yield self._event("mcp_list_tools.in_progress", item_id=item["id"])
        item["tools"] = [dict(tool) for tool in listing.tools]
        yield self._event("mcp_list_tools.completed", item_id=item["id"])
        if self.settings.in_conversation:
            self._conversation.refresh(item["id"])
            yield self._event("conversation.item.done", previous_item_id=previous, item=public(item))

    def _finish_item(self, item_id: str, status: str) -> Iterator[dict[str, Any]]:
        """The `*.done` events of an item in flight, with what was sent so far."""
        self.sync()
        flight = self._flights.pop(item_id)
        item, part, index = flight.item, flight.part, flight.index
        if part is not None:
            ids = {**self._ids_of(index, item_id), "content_index": 0}
            if part.kind == "audio":
                yield self._event("response.output_audio.done", **ids)
                yield self._event("response.output_audio_transcript.done", **ids, transcript=part.text)
                yield self._event("response.content_part.done", **ids, part={"type": "audio", "transcript": part.text})
            else:
                yield self._event("response.output_text.done", **ids, text=part.text)
                yield self._event("response.content_part.done", **ids, part={"type": "text", "text": part.text})
        if item["type"] != "mcp_call":  # mcp_call items have no status (SDK RealtimeMcpToolCall)
            item["status"] = status
        if self.settings.in_conversation:
            # Live quirks, by model (models.Profile): which `conversation.item.done` name the item before theirs.
            spoken = part is not None and part.kind == "audio"
            # On a call every item's done says null (the live sideband recording, a written answer).
            names = not self.settings.on_call and self.settings.profile.item_done_names_previous(
                item["type"], spoken=spoken, overtaken=flight.overtaken)
            previous = self._conversation.previous_id(item_id) if names else None
            self._conversation.refresh(item_id)
            yield self._event("conversation.item.done", previous_item_id=previous, item=public(item))
        shown = public(item)
        yield self._event("response.output_item.done", response_id=self.id, output_index=index, item=shown)
        self.output.append(shown)  # copied with the whole response for response.done

    def _finish(self, status: str, details: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
        self._final = True
        self.response.update(status=status, status_details=details, output=list(self.output), usage=self._usage())
        yield self._event("response.done", response=dict(self.response))
        remaining = RATE_LIMIT_TOKENS - self.response["usage"]["total_tokens"]
        yield self._event("rate_limits.updated", rate_limits=[
            {"name": "tokens", "limit": RATE_LIMIT_TOKENS, "remaining": remaining, "reset_seconds": 0.001}])

    def _usage(self) -> dict[str, Any]:
        text_in, audio_in = self.settings.context_cost
        audio_in_tokens = round(audio_in / 1000 * AUDIO_IN_TOKENS_PER_SECOND)
        audio_out_tokens = round(self._out_audio_ms / 1000 * AUDIO_OUT_TOKENS_PER_SECOND)
        input_tokens = text_in + audio_in_tokens
        # Prompt caching works on 64-token blocks of a prefix seen before (the live figures are multiples of 64).
        cached = min(text_in, self._previous_input_tokens // 64 * 64)
        reasoning = models.REASONING_TOKENS[self.settings.reasoning_effort] if self.settings.reasoning_effort else 0
        output_tokens = self._out_text_tokens + audio_out_tokens + reasoning
        return {
            "total_tokens": input_tokens + output_tokens, "input_tokens": input_tokens, "output_tokens": output_tokens,
            "input_token_details": {"text_tokens": text_in, "audio_tokens": audio_in_tokens, "image_tokens": 0,
                                    "cached_tokens": cached,
                                    "cached_tokens_details": {"text_tokens": cached, "audio_tokens": 0,
                                                              "image_tokens": 0}},
            "output_token_details": {"text_tokens": self._out_text_tokens, "audio_tokens": audio_out_tokens,
                                     **({"reasoning_tokens": reasoning} if self.settings.reasoning_effort else {})},
        }

    @property
    def input_tokens(self) -> int:
        usage = self.response.get("usage") or {}
        return int(usage.get("input_tokens", 0))


def _total_tokens(reply: Reply) -> int:
    total = 0
    for output in reply.outputs:
        if isinstance(output, Message):
            total += count_tokens(output.text)
        elif isinstance(output, (FunctionCall, McpCall)):
            total += count_tokens(output.arguments)
    return total
