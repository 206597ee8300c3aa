"""A state machine over the session core: whatever a client sends, in any order, the session keeps the live
grammar and its word, and stays open.

Invariants after every step:
- every server event validates against `schemas/realtime/server` (the Driver checks each one);
- every `response.created` gets exactly one `response.done`, after which its response says nothing more;
  within a response each item is added before its parts, and done (in the conversation) before it is
  done in the response;
- the conversation the server reported (added after `previous_item_id`, deleted) is the one it keeps;
- errors never close the session (only expiry does, and this machine never waits an hour).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from mockserver.audio.speech import speak
from mockserver.protocol.responses import Pacing
from tests.unit.sessions import Driver

WORDS = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
DELTA_TIME = st.sampled_from([0.0, 0.005, 0.02, 0.2])


def user_item(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


class SessionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.driver = Driver(pacing=Pacing(between_deltas=0.01))  # responses take time: cancels land mid-stream
        self.seen = len(self.driver.sent)
        self.order: list[str] = []  # the conversation as the server reported it
        self.open: set[str] = set()  # responses created and not done
        self.done: set[str] = set()
        self.item_state: dict[str, str] = {}  # item id -> the last step of its response life

    # -- what a client may do -----------------------------------------------------------------------

    @rule(text=WORDS, where=st.sampled_from(["end", "root", "after"]), index=st.integers(0, 50))
    def create_item(self, text: str, where: str, index: int) -> None:
        event: dict[str, Any] = {"type": "conversation.item.create", "item": user_item(text)}
        if where == "root":
            event["previous_item_id"] = "root"
        elif where == "after" and self.order:
            event["previous_item_id"] = self.order[index % len(self.order)]
        self.driver.send(event)

    @rule(index=st.integers(0, 50), unknown=st.booleans())
    def delete_item(self, index: int, unknown: bool) -> None:
        item_id = "item_unknown" if unknown or not self.order else self.order[index % len(self.order)]
        self.driver.send({"type": "conversation.item.delete", "item_id": item_id})

    @rule(index=st.integers(0, 50))
    def retrieve_item(self, index: int) -> None:
        item_id = self.order[index % len(self.order)] if self.order else "item_unknown"
        self.driver.send({"type": "conversation.item.retrieve", "item_id": item_id})

    @rule(index=st.integers(0, 50), end_ms=st.integers(0, 3000))
    def truncate_item(self, index: int, end_ms: int) -> None:
        item_id = self.order[index % len(self.order)] if self.order else "item_unknown"
        self.driver.send({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0,
                          "audio_end_ms": end_ms})

    @rule(out_of_band=st.booleans(), modality=st.sampled_from(["text", "audio", None]))
    def create_response(self, out_of_band: bool, modality: str | None) -> None:
        response: dict[str, Any] = {}
        if out_of_band:
            response["conversation"] = "none"
        if modality is not None:
            response["output_modalities"] = [modality]
        self.driver.send({"type": "response.create", "response": response})

    @rule(known=st.booleans())
    def cancel_response(self, known: bool) -> None:
        event: dict[str, Any] = {"type": "response.cancel"}
        if known and self.open:
            event["response_id"] = sorted(self.open)[0]
        self.driver.send(event)

    @rule(modality=st.sampled_from(["text", "audio"]), vad=st.booleans())
    def update_session(self, modality: str, vad: bool) -> None:
        audio = {"input": {"turn_detection": {"type": "server_vad"} if vad else None}}
        self.driver.send({"type": "session.update", "session": {
            "type": "realtime", "output_modalities": [modality], "audio": audio}})

    @rule(words=st.sampled_from(["hello there", "what is the weather", ""]), then=st.sampled_from(
        ["commit", "clear", "nothing"]))
    def speak_audio(self, words: str, then: str) -> None:
        audio = bytes(4800) + speak(words) + bytes(24000) if words else bytes(9600)
        for start in range(0, len(audio), 9600):
            self.driver.send({"type": "input_audio_buffer.append",
                              "audio": base64.b64encode(audio[start:start + 9600]).decode()})
        if then != "nothing":
            self.driver.send({"type": f"input_audio_buffer.{then}"})

    @rule(frame=st.sampled_from(['{"type": "nope"}', "not json", '{"event_id": "x"}', "[" * 1200 + "]" * 1200,
                                 json.dumps({"type": "session.update", "session": {"type": "realtime", "bogus": 1}}),
                                 json.dumps({"type": "input_audio_buffer.append", "audio": "AB=="}),
                                 json.dumps({"type": "response.create", "response": {"conversation": "x"}})]))
    def send_invalid(self, frame: str) -> None:
        before = len(self.driver.sent)
        self.driver.send(frame)
        assert [e["type"] for e in self.driver.sent[before:]] == ["error"]  # one error, nothing else

    @rule(seconds=DELTA_TIME)
    def wait(self, seconds: float) -> None:
        self.driver.clock.advance(seconds)
        self.driver.pump()

    @precondition(lambda self: bool(self.open))
    @rule()
    def wait_for_responses(self) -> None:
        for _ in range(10_000):
            if not self.open:
                return
            self.driver.clock.advance(0.05)
            self.driver.pump()
            self._read()
        raise AssertionError(f"responses never finished: {self.open}")

    # -- reading what the server said -----------------------------------------------------------------

    def _read(self) -> None:
        for event in self.driver.sent[self.seen:]:
            self._follow(event)
        self.seen = len(self.driver.sent)

    def _follow(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        response_id = event.get("response_id") or (event.get("response") or {}).get("id")
        if kind == "response.created":
            assert response_id not in self.open and response_id not in self.done
            self.open.add(response_id)
        elif kind == "response.done":
            assert response_id in self.open, "response.done without response.created, or twice"
            self.open.remove(response_id)
            self.done.add(response_id)
        elif response_id is not None and kind.startswith("response."):
            assert response_id in self.open, f"{kind} after response.done"
        if kind == "conversation.item.added":
            item_id, previous = event["item"]["id"], event["previous_item_id"]
            assert item_id not in self.order
            self.order.insert(self.order.index(previous) + 1 if previous is not None else 0, item_id)
        elif kind == "conversation.item.deleted":
            self.order.remove(event["item_id"])
        self._follow_item(kind, event)

    def _follow_item(self, kind: str, event: dict[str, Any]) -> None:
        """Within a response: added, then parts and deltas, then done in the conversation, then in the response."""
        item_id = (event.get("item") or {}).get("id") or event.get("item_id")
        if item_id is None or not (kind.startswith("response.") or kind.startswith("conversation.item.")):
            return
        state = self.item_state.get(item_id)
        if kind == "response.output_item.added":
            assert state is None
            self.item_state[item_id] = "added"
        elif kind == "response.output_item.done":
            assert state in ("added", "conversation done"), (kind, state)
            self.item_state[item_id] = "response done"
        elif kind == "conversation.item.done" and state is not None:
            assert state == "added", (kind, state)
            self.item_state[item_id] = "conversation done"
        elif kind.startswith(("response.content_part.", "response.output_")) and kind != "response.output_item.done":
            assert state == "added", (kind, state)

    # -- invariants -----------------------------------------------------------------------------------

    @invariant()
    def follows_the_grammar(self) -> None:
        self._read()

    @invariant()
    def reports_the_conversation_it_keeps(self) -> None:
        self._read()
        assert self.order == [item["id"] for item in self.driver.session.conversation.items()]

    @invariant()
    def stays_open(self) -> None:
        assert self.driver.session.close is None


SessionMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestSessionMachine = SessionMachine.TestCase
