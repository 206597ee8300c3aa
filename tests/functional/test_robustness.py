"""A running server under hostile clients, over real sockets: thousands of generated bad frames (every
category of `strategies.invalid_client_events`) and connections dropped at every point of a session.

Every bad frame gets the live error (type, code, param, message, echoed event_id), in order; no session
the live API keeps is closed; nothing is logged with a traceback; and when the clients are gone the
server holds no live session, `SessionRuntime` or task on its loop more than before (RSS is not compared:
the allocator keeps freed pages; the journals of closed sessions are kept, within their documented bounds).

The number of examples follows the Hypothesis profile (tests/conftest.py): `ci` (with `CI` set) and `dev`
run a few thousand frames, `HYPOTHESIS_PROFILE=long` a hundred thousand or so, for a nightly run.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect

from mockserver import strategies
from mockserver.protocol.errors import ApiError
from mockserver.runner import RunningServer, start_in_thread
from mockserver.runtime import SessionRuntime
from mockserver.state import ServerState

pytestmark = pytest.mark.functional

AUTH = {"Authorization": "Bearer sk-test"}
def _audio_turn() -> list[dict[str, Any]]:
    """Speech appended under server VAD (commit, transcription, a spoken answer), in 100 ms appends."""
    import base64

    from mockserver.audio.speech import speak

    pcm = bytes(48 * 300) + speak("what is the weather") + bytes(48 * 900)
    return [{"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "transcription": {"model": "gpt-4o-transcribe"}}}}}] + [
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm[i:i + 4800]).decode()}
        for i in range(0, len(pcm), 4800)]


TEXT_TURN = [
    {"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}},
    {"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "Tell me something long enough to stream."}]}},
    {"type": "response.create"},
]


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


LOGGERS = ("", "realtime_mock", "uvicorn", "uvicorn.error", "websockets")  # uvicorn's do not propagate


@pytest.fixture
def log() -> Iterator[Kept]:
    """Every record logged while the test runs (one test at a time runs in a process, xdist or not)."""
    kept = Kept()
    for name in LOGGERS:
        logging.getLogger(name).addHandler(kept)
    yield kept
    for name in LOGGERS:
        logging.getLogger(name).removeHandler(kept)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    """One server for the module: the hypothesis examples share it, as a test suite's clients would."""
    running = start_in_thread(ServerState())
    yield running
    running.stop()


def on_server_loop(server: RunningServer, what: Any) -> Any:
    """Run `what()` on the server's event loop (its state is the loop's) and return the result."""
    async def call() -> Any:
        return what()
    return asyncio.run_coroutine_threadsafe(call(), server.loop).result(timeout=10)


def footprint(server: RunningServer, *, runtimes: bool = True) -> dict[str, int]:
    """What a session leaves behind if it leaks: live sessions, tasks on the server loop, and (a heap walk)
    `SessionRuntime`s alive."""
    def ours(runtime: SessionRuntime) -> bool:  # other tests' servers may share this process (xdist)
        return getattr(runtime._on_end, "__self__", None) is server.state

    def count() -> dict[str, int]:
        found = {"live sessions": len(server.state.registry), "tasks": len(asyncio.all_tasks())}
        if runtimes:
            gc.collect()
            found["runtimes"] = sum(isinstance(o, SessionRuntime) and ours(o) for o in gc.get_objects())
        return found
    result: dict[str, int] = on_server_loop(server, count)
    return result


async def settled(server: RunningServer) -> dict[str, int]:
    """The footprint once the server has seen every close: the cheap counts stop changing (closes arrive a
    moment later), then the heap is walked once."""
    last = footprint(server, runtimes=False)
    for _ in range(200):
        await asyncio.sleep(0.05)  # real time: the server notices closed sockets on its own loop
        now = footprint(server, runtimes=False)
        if now == last and now["live sessions"] == 0:
            break
        last = now
    return footprint(server)


async def open_session(server: RunningServer) -> ClientConnection:
    ws = await connect(f"ws://{server.host}:{server.port}/v1/realtime?model=gpt-realtime", additional_headers=AUTH,
                       compression=None, max_size=None)
    assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "session.created"
    return ws


def as_answered(error: ApiError) -> dict[str, Any]:
    return {"type": error.type, "code": error.code, "message": error.message, "param": error.param,
            "event_id": error.event_id}


async def hostile_session(server: RunningServer, cases: list[tuple[str | bytes, ApiError]], abort: bool) -> None:
    ws = await open_session(server)
    try:
        for frame, expected in cases:
            await ws.send(frame)
            event = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert event["type"] == "error", (frame, event)
            assert event["error"] == as_answered(expected), frame
        # The session is still there and still itself: a valid update is answered as usual.
        await ws.send(json.dumps(TEXT_TURN[0]))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "session.updated"
    finally:
        if abort:  # the client vanishes: no close frame, the TCP connection just ends
            ws.transport.abort()
        else:
            await ws.close()


def no_traceback(log: Kept) -> None:
    assert [r for r in log.records if r.exc_info or r.levelno >= logging.ERROR or "Traceback" in r.getMessage()] == []


def test_every_hostile_frame_gets_the_live_error_and_the_session_goes_on(server: RunningServer, log: Kept) -> None:
    baseline = asyncio.run(settled(server))
    sent: list[int] = []

    @settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], deadline=None)
    @given(cases=st.lists(strategies.invalid_client_events(), min_size=10, max_size=40), abort=st.booleans())
    def hostile(cases: list[tuple[str | bytes, ApiError]], abort: bool) -> None:
        asyncio.run(hostile_session(server, cases, abort))
        sent.append(len(cases))

    hostile()
    assert sum(sent) >= 1000  # about 4,000 in the ci profile (200 examples), 2,000 in dev (100)
    assert asyncio.run(settled(server)) == baseline
    no_traceback(log)


@pytest.mark.parametrize("turn", ["text", "audio"])
async def test_a_connection_dropped_at_any_point_of_a_turn_leaves_nothing_behind(server: RunningServer,
                                                                                log: Kept, turn: str) -> None:
    baseline = await settled(server)
    frames = [json.dumps(event) for event in (TEXT_TURN if turn == "text" else _audio_turn())]
    # The turn, dropped after each of its events in turn (sessions differ a little: each has its own seed,
    # so its audio deltas have their own sizes). A turn ends with rate_limits.updated.
    ended, drop_after = 0, 0
    while ended < 2:
        ws = await open_session(server)
        for frame in frames:
            await ws.send(frame)
        for _ in range(drop_after):
            if json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "rate_limits.updated":
                ended += 1
                break
        ws.transport.abort()
        drop_after += 1
    count = drop_after
    assert count > 20
    assert await settled(server) == baseline
    no_traceback(log)
