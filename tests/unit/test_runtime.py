"""The session runtime: several connections on one session, back-pressure, and crashes that are never silent."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from mockserver.protocol.responder import Reply, Responder, Turn
from mockserver.protocol.responses import Pacing
from mockserver.state import ServerConfig, ServerState

TEXT = json.dumps({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})
SAY = json.dumps({"type": "conversation.item.create", "item": {
    "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}})
RESPOND = json.dumps({"type": "response.create"})


class FakeSink:
    """A connection that keeps what it was sent; `paused` plays a client that does not read."""

    def __init__(self) -> None:
        self.frames: list[str] = []
        self.closed: tuple[int, str] | None = None
        self.paused = False
        self.on_resume: Callable[[], None] | None = None

    def deliver(self, frames: list[str]) -> None:
        self.frames += frames

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def resume(self) -> None:
        self.paused = False
        assert self.on_resume is not None
        self.on_resume()

    @property
    def types(self) -> list[str]:
        return [json.loads(frame)["type"] for frame in self.frames]


async def settle() -> None:
    """Let the runtime's scheduled pumps run."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_two_sinks_on_one_session_get_the_same_events() -> None:
    state = ServerState()
    runtime = state.open_session("realtime", "gpt-realtime")
    first, second = FakeSink(), FakeSink()
    runtime.attach(first)
    assert first.types == ["session.created"]
    runtime.attach(second)  # a second connection (the sideband socket of a call) joins a live session
    for frame in (TEXT, SAY, RESPOND):
        runtime.receive(frame)
    await settle()
    assert second.types[0] == "session.updated" and second.types[-1] == "rate_limits.updated"
    assert first.frames[1:] == second.frames  # the same frames, from the moment it attached
    assert state.registry.session(runtime.session_id) is runtime
    runtime.detach(first)  # one connection leaves: the session goes on for the other
    runtime.receive(RESPOND)
    await settle()
    assert second.types[-1] == "rate_limits.updated" and second.types.count("response.done") == 2
    runtime.detach(second)
    assert runtime.ended and state.registry.session(runtime.session_id) is None
    assert state.sessions == {} and runtime.journal.closed is not None


async def test_frames_from_either_sink_drive_the_session() -> None:
    state = ServerState()
    runtime = state.open_session("realtime", "gpt-realtime")
    sinks = [FakeSink(), FakeSink()]
    for sink in sinks:
        runtime.attach(sink)
    runtime.receive(TEXT)  # from one connection
    runtime.receive(SAY)  # from the other: the runtime does not care which
    entries = runtime.journal.entries
    assert [e["event"]["type"] for e in entries if e["direction"] == "client"] == ["session.update",
                                                                                   "conversation.item.create"]
    assert all(sink.types[-1] == "conversation.item.done" for sink in sinks)


async def test_a_paused_sink_holds_the_stream_back_until_it_drains() -> None:
    state = ServerState()
    runtime = state.open_session("realtime", "gpt-realtime")
    sink = FakeSink()
    runtime.attach(sink)
    runtime.receive(TEXT)
    runtime.receive(SAY)
    sink.paused = True
    runtime.receive(RESPOND)
    await settle()
    assert "response.created" not in sink.types  # nothing released while the client does not read
    sink.resume()
    await settle()
    assert sink.types[-1] == "rate_limits.updated"


async def test_paced_events_wait_on_the_loop_timers() -> None:
    state = ServerState(ServerConfig(pacing=Pacing(first_delta=0.05)))
    runtime = state.open_session("realtime", "gpt-realtime")
    sink = FakeSink()
    runtime.attach(sink)
    for frame in (TEXT, SAY, RESPOND):
        runtime.receive(frame)
    await settle()
    assert "response.output_text.delta" not in sink.types
    await asyncio.sleep(0.1)
    assert sink.types[-1] == "rate_limits.updated"


class Broken:
    """A responder with a bug."""

    def reply(self, turn: Turn) -> Reply:
        raise RuntimeError("the responder is broken")


def broken() -> Responder:
    return Broken()


async def test_a_crash_in_the_core_is_reported_and_closes_1011(caplog: pytest.LogCaptureFixture) -> None:
    state = ServerState(responder=broken)
    runtime = state.open_session("realtime", "gpt-realtime")
    sinks = [FakeSink(), FakeSink()]
    for sink in sinks:
        runtime.attach(sink)
    with caplog.at_level(logging.ERROR, logger="realtime_mock"):
        runtime.receive(RESPOND)
    for sink in sinks:
        error: dict[str, Any] = json.loads(sink.frames[-1])
        assert error["type"] == "error" and error["error"]["type"] == "server_error"
        assert error["error"]["message"].startswith("The server had an error while processing your request.")
        assert runtime.session_id in error["error"]["message"]
        assert sink.closed == (1011, "server_error")
    assert runtime.ended and runtime.close_code == 1011 and runtime.journal.close_code == 1011
    assert "the responder is broken" in caplog.text and "Traceback" in caplog.text
    assert state.registry.session(runtime.session_id) is None


async def test_a_closed_session_leaves_only_its_journal(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc
    import weakref

    from mockserver import state as state_module

    monkeypatch.setattr(state_module, "KEPT_JOURNALS", 3)
    state = ServerState()
    runtimes = []
    for _ in range(5):
        runtime = state.open_session("realtime", "gpt-realtime")
        sink = FakeSink()
        runtime.attach(sink)
        runtime.receive(SAY)
        runtime.detach(sink)
        runtimes.append(weakref.ref(runtime))
    del runtime, sink
    gc.collect()
    assert [r() for r in runtimes] == [None] * 5  # nothing holds a closed session's runtime or session
    assert len(state.scope().journals) == 3  # the journals of the last three stay readable
    assert state.registry.all() == [] and state.sessions == {}


async def test_a_quiet_session_compacts_its_journal(monkeypatch: pytest.MonkeyPatch) -> None:
    from mockserver.runtime import runtime as runtime_module

    monkeypatch.setattr(runtime_module, "QUIET", 0.01)
    state = ServerState()
    runtime = state.open_session("realtime", "gpt-realtime")
    sink = FakeSink()
    runtime.attach(sink)
    for frame in (TEXT, SAY, RESPOND):
        runtime.receive(frame)
    await settle()
    before, entries = runtime.journal.size, runtime.journal.entries
    await asyncio.sleep(0.05)
    assert runtime.journal.size < before / 2  # compressed
    assert runtime.journal.entries == entries  # and read back the same
    runtime.receive(SAY)  # new frames after a compaction are kept as they come, then compacted in turn
    assert runtime.journal.entries[-1]["event"]["type"] == "conversation.item.done"
    await asyncio.sleep(0.05)
    assert [e["event"]["type"] for e in runtime.journal.entries][-2:] == ["conversation.item.added",
                                                                          "conversation.item.done"]
    runtime.detach(sink)
