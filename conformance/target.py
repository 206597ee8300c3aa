"""Replay a cassette's client frames against a target WebSocket and collect what the target sends back.

Pacing follows the recording. A client frame is sent once the target has sent, of every structural
(non-delta) event type, as many events as the recording shows before that frame (counting per type,
an event the target adds, such as an extra `rate_limits.updated`, does not release a frame early), and,
with `pace="recorded"`, not before its recorded time offset (times `pace_scale`) since the connection
opened. Recorded ids in client frames (`item_`, `call_`, `resp_`, ... under `id` or `*_id` keys) are
replaced by the target's: the k-th structural event of a type the target sends is paired with the k-th
recorded one, and the ids at the same places are mapped.

Bounded: a wait that sees no event for `event_timeout` seconds gives up (the frame is sent anyway and a
note says what was missing), the whole run stops after `timeout` seconds, and a closed connection ends
it. After the last frame the replay waits for every recorded structural event and then listens
`settle` seconds more for trailing ones.

Targets: `mock` starts an in-process mock (`start_in_thread`) whose model is the cassette's script
(script.py), replays, and stops it; a URL (a base URL as the SDKs take it, conformance/urls.py: the live API
is `wss://api.openai.com/v1`, and each cassette's endpoint is dialled under it) needs an API key, sent as
`Authorization: Bearer <key>`; without one the run is skipped. A connection that cannot be opened is the
run's result, not a crash.

A sideband cassette (`?call_id=` in its query, or a recording without `session.created`: a socket of its own
always gets one first, a sideband of a call never does) needs a call to attach to: on either target a WebRTC
call is made first (mockserver/webrtc_client.py: an offer with an audio track and no data channel, as a
call a server drives; with the recording's model), its sideband is dialled, the recorded call id is mapped
to the new one, and the call is hung up at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from conformance import script, urls
from conformance.cassette import Cassette
from conformance.normalize import id_kind, is_id_key
from mockserver.protocol.faults import Fault
from mockserver.protocol.responder import Responder

MOCK = "mock"
LIVE_URL = "wss://api.openai.com/v1"
NO_KEY = "skipped: --target URL needs --api-key or OPENAI_API_KEY"
MOCK_KEY = "sk-conformance"
MAX_FRAME_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class ReplayOptions:
    pace: str = "recorded"  # "recorded": not before the recorded offsets; "none": as soon as the events allow
    pace_scale: float = 1.0  # recorded offsets are multiplied by this (0.5: twice as fast)
    event_timeout: float | None = None  # seconds without an event before a wait gives up (None: 3 mock, 10 URL)
    timeout: float = 120.0  # the whole replay
    settle: float = 0.5  # after the last expected event, listen this long for trailing ones

    def wait_limit(self, target: str) -> float:
        if self.event_timeout is not None:
            return self.event_timeout
        return 3.0 if target == MOCK else 10.0


@dataclass
class Replay:
    """What a replay saw."""

    events: list[dict[str, Any]] = field(default_factory=list)  # server events received, in order
    sent: list[dict[str, Any]] = field(default_factory=list)  # client frames as sent (ids mapped)
    status: str = "ok"  # "ok", "skipped: ...", "error: ..."
    close_code: int | None = None
    close_reason: str = ""
    notes: list[str] = field(default_factory=list)  # waits that gave up, the overall timeout
    url: str = ""
    seconds: float = 0.0


Tick = Callable[[int, int, int], None]  # (client frames sent, client frames recorded, events received): progress


@dataclass
class _Step:
    index: int  # in cassette.frames
    event: dict[str, Any]
    needed: Counter[str]  # structural server events (by type) recorded before this frame
    t: float


def structural(event_type: str) -> bool:
    return not event_type.endswith(".delta")


def plan(cassette: Cassette) -> tuple[list[_Step], Counter[str]]:
    """Each client frame with what must have arrived before it; and every recorded structural event."""
    steps: list[_Step] = []
    seen: Counter[str] = Counter()
    for index, frame in enumerate(cassette.frames):
        if frame.direction == "server":
            event_type = str(frame.event.get("type"))
            if structural(event_type):
                seen[event_type] += 1
        else:
            steps.append(_Step(index, frame.event, Counter(seen), frame.t))
    return steps, seen


def map_ids(recorded: Any, target: Any, ids: dict[str, str], key: str = "") -> None:
    """Pair the ids at the same places of a recorded event and the target's (first pairing wins)."""
    if isinstance(recorded, dict) and isinstance(target, dict):
        for name in recorded.keys() & target.keys():
            map_ids(recorded[name], target[name], ids, name)
    elif isinstance(recorded, list) and isinstance(target, list):
        for a, b in zip(recorded, target, strict=False):
            map_ids(a, b, ids, key)
    elif isinstance(recorded, str) and isinstance(target, str) and is_id_key(key):
        kind = id_kind(recorded)
        if kind is not None and kind != "event" and id_kind(target) == kind:
            ids.setdefault(recorded, target)


def rename(value: Any, ids: dict[str, str]) -> Any:
    """A client frame with the recorded ids replaced by the target's."""
    if isinstance(value, dict):
        return {k: rename(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [rename(v, ids) for v in value]
    return ids.get(value, value) if isinstance(value, str) else value


def target_url(target: str, cassette: Cassette) -> str:
    """The URL to dial: the cassette's endpoint under the target's base URL (urls.py), with the target's query,
    else the cassette's (`model=...`)."""
    base = urls.parse(target)
    return base.websocket_url(cassette.endpoint, base.query or urlencode(cassette.query))


class _Session:
    def __init__(self, cassette: Cassette, options: ReplayOptions, wait_limit: float, tick: Tick | None = None) -> None:
        self.cassette = cassette
        self.options = options
        self.wait_limit = wait_limit
        self.tick = tick
        self.frames = sum(frame.direction == "client" for frame in cassette.frames)
        self.result = Replay()
        self.ids: dict[str, str] = {}
        self.counts: Counter[str] = Counter()
        self.recorded: dict[str, list[dict[str, Any]]] = {}
        for event in cassette.server_events():
            if structural(str(event.get("type"))):
                self.recorded.setdefault(str(event.get("type")), []).append(event)
        self.arrived = asyncio.Event()
        self.closed = False
        self.closing = False

    async def read(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                self.take(message)
        except ConnectionClosed:
            pass
        finally:
            self.closed = True
            if not self.closing:  # the target closed the connection (not the replay, at its end)
                self.result.close_code, self.result.close_reason = ws.close_code, ws.close_reason or ""
                self.result.notes.append(f"the target closed the connection: code {ws.close_code}"
                                         + (f", reason {ws.close_reason!r}" if ws.close_reason else ""))
            self.arrived.set()

    def take(self, message: str | bytes) -> None:
        try:
            event = json.loads(message)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            event = {"type": "<not an event>", "unparsed_text": message if isinstance(message, str) else repr(message)}
        self.result.events.append(event)
        self.ticked()
        event_type = str(event.get("type"))
        if structural(event_type):
            self.counts[event_type] += 1
            recorded = self.recorded.get(event_type, [])
            if self.counts[event_type] <= len(recorded):
                map_ids(recorded[self.counts[event_type] - 1], event, self.ids)
        self.arrived.set()

    def ticked(self) -> None:
        if self.tick is not None:
            self.tick(len(self.result.sent), self.frames, len(self.result.events))

    def missing(self, needed: Counter[str]) -> list[str]:
        return [f"{n - self.counts[t]} x {t}" for t, n in needed.items() if self.counts[t] < n]

    async def wait_for(self, needed: Counter[str]) -> list[str]:
        """Wait until the target sent what is needed; what is still missing when it gives up."""
        while self.missing(needed) and not self.closed:
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), self.wait_limit)
            except TimeoutError:
                break
        return self.missing(needed)

    async def settle(self) -> None:
        while not self.closed:
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), self.options.settle)
            except TimeoutError:
                return

    async def send_all(self, ws: ClientConnection, opened: float) -> None:
        steps, everything = plan(self.cassette)
        for step in steps:
            missing = await self.wait_for(step.needed)
            if self.closed:
                self.result.notes.append(f"the target closed the connection before client frame #{step.index} "
                                         f"({step.event.get('type')})")
                return
            if missing:
                self.result.notes.append(f"gave up waiting for {', '.join(missing)} before client frame "
                                         f"#{step.index} ({step.event.get('type')}); sent it anyway")
            if self.options.pace == "recorded":
                delay = opened + step.t * self.options.pace_scale - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            frame = rename(step.event, self.ids)
            try:
                await ws.send(_wire(frame))
            except ConnectionClosed:
                self.result.notes.append(f"the connection closed while sending client frame #{step.index}")
                return
            self.result.sent.append(frame)
            self.ticked()
        missing = await self.wait_for(everything)
        if missing and not self.closed:
            self.result.notes.append(f"gave up waiting for {', '.join(missing)} after the last client frame")
        await self.settle()


def _wire(frame: dict[str, Any]) -> str | bytes:
    """A cassette's client frame as it went out (non-JSON and binary frames are kept in cassettes as stand-ins)."""
    if set(frame) == {"unparsed_text"}:
        return str(frame["unparsed_text"])
    if set(frame) == {"binary_frame_bytes"}:
        return bytes(int(frame["binary_frame_bytes"]))
    return json.dumps(frame, ensure_ascii=False)


async def replay(cassette: Cassette, url: str, api_key: str, options: ReplayOptions | None = None,
                 wait_limit: float = 10.0, tick: Tick | None = None, ids: dict[str, str] | None = None) -> Replay:
    """Replay against `url` (the full URL, query included); `tick` hears of every frame sent and event received;
    `ids`: recorded ids already known to be the target's others (a sideband's call id)."""
    options = options or ReplayOptions()
    session = _Session(cassette, options, wait_limit, tick)
    session.ids.update(ids or {})
    session.result.url = url
    started = time.monotonic()
    try:
        ws = await asyncio.wait_for(connect(url, additional_headers={"Authorization": f"Bearer {api_key}"},
                                            max_size=MAX_FRAME_BYTES, open_timeout=None), wait_limit)
    except (OSError, InvalidURI, InvalidHandshake, TimeoutError) as exc:
        session.result.status = f"error: cannot connect to {url}: {str(exc) or type(exc).__name__}"
        session.result.seconds = time.monotonic() - started
        return session.result
    reader = asyncio.create_task(session.read(ws))
    try:
        await asyncio.wait_for(session.send_all(ws, time.monotonic()), options.timeout)
    except TimeoutError:
        session.result.notes.append(f"stopped after the overall timeout of {options.timeout:g} s")
    finally:
        session.closing = True
        await ws.close()
        if not reader.done():
            reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    session.result.seconds = time.monotonic() - started
    return session.result


def sideband_call_id(cassette: Cassette) -> str | None:
    """The recorded call id of a sideband cassette ("" when the recording does not say it), None for any other."""
    if "call_id" in cassette.query:
        return cassette.query["call_id"]
    if cassette.endpoint != "/v1/realtime":
        return None
    types = [event.get("type") for event in cassette.server_events()]
    return "" if types and "session.created" not in types else None


def _call_session(cassette: Cassette) -> dict[str, Any] | None:
    """The session configuration to make the call with: the recording's model (None: the default session)."""
    for event in cassette.server_events():
        session = event.get("session")
        if isinstance(session, dict) and isinstance(session.get("model"), str):
            return {"type": "realtime", "model": session["model"]}
    model = cassette.query.get("model")
    return {"type": "realtime", "model": model} if model else None


async def replay_on_call(cassette: Cassette, base: urls.BaseUrl, api_key: str, options: ReplayOptions,
                         wait_limit: float, tick: Tick | None = None) -> Replay:
    """Replay a sideband cassette: make a call at `base`, replay on its `?call_id=` socket, hang up."""
    import httpx2

    from mockserver.webrtc_client import CallRefused, WebRtcCaller

    hosts = ("127.0.0.1",) if base.host.startswith(urls.LOOPBACK) else None  # the caller's ICE candidates
    calls = base.http_url("/v1/realtime/calls")
    started = time.monotonic()
    try:
        call = await asyncio.wait_for(WebRtcCaller.connect(base.http, api_key=api_key, session=_call_session(cassette),
                                                           data_channel=False, hosts=hosts), max(wait_limit, 10.0))
    except (CallRefused, httpx2.HTTPError, OSError, TimeoutError) as exc:
        return Replay(status=f"error: cannot make a call to attach the sideband to at {calls}: "
                             f"{str(exc) or type(exc).__name__}", url=calls, seconds=time.monotonic() - started)
    try:
        recorded = sideband_call_id(cassette)
        url = base.websocket_url(cassette.endpoint, urlencode({"call_id": call.call_id}))
        return await replay(cassette, url, api_key, options, wait_limit, tick,
                            ids={recorded: call.call_id} if recorded else None)
    finally:
        await call.close()


def run(cassette: Cassette, target: str, *, api_key: str | None = None, options: ReplayOptions | None = None,
        faults: Iterable[Fault] = (), responder: Callable[[], Responder] | None = None,
        tick: Tick | None = None) -> Replay:
    """Replay one cassette against `mock` (an in-process mock, with optional faults and model) or a URL."""
    options = options or ReplayOptions()
    if target == MOCK:
        return run_mock(cassette, options, faults=faults, responder=responder, tick=tick)
    if not api_key:
        return Replay(status=NO_KEY, url=target)
    if sideband_call_id(cassette) is not None:
        return asyncio.run(replay_on_call(cassette, urls.parse(target), api_key, options, options.wait_limit(target),
                                          tick))
    return asyncio.run(replay(cassette, target_url(target, cassette), api_key, options, options.wait_limit(target),
                              tick))


def run_mock(cassette: Cassette, options: ReplayOptions, *, faults: Iterable[Fault] = (),
             responder: Callable[[], Responder] | None = None, tick: Tick | None = None) -> Replay:
    from mockserver.runner import start_in_thread
    from mockserver.state import ServerState

    state = ServerState(responder=responder or script.responder_factory(cassette))
    for fault in faults:
        state.scope().add_fault(replace(fault, fired=0))
    server = start_in_thread(state)
    try:
        if sideband_call_id(cassette) is not None:
            return asyncio.run(replay_on_call(cassette, urls.parse(f"http://{server.host}:{server.port}/v1"), MOCK_KEY,
                                              options, options.wait_limit(MOCK), tick))
        url = f"ws://{server.host}:{server.port}{cassette.endpoint}"
        url += f"?{urlencode(cassette.query)}" if cassette.query else ""
        return asyncio.run(replay(cassette, url, MOCK_KEY, options, options.wait_limit(MOCK), tick))
    finally:
        server.stop()
