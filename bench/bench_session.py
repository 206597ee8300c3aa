"""Session-level cost of the mock, as ratios to the strongest bare baseline measured in the same run.

    python -m bench.bench_session [--quick] [--only 1,3] [--json FILE]

The mock (`python -m mockserver serve`) and the baseline run in subprocesses of their own, started afresh for
each figure (state a server keeps from one figure must not weigh on the next); the clients run here. The
baseline (bench/_bare_server.py) is a bare `websockets` server without compression that answers each client
frame with the frames the mock sent for it (captured from the mock once at the start), all written in one
batch, and sends the mock's `session.created` right after the handshake. Clients connect as the official SDK
does (no compression, no frame size limit) and never parse what they receive: a turn ends at the frame whose
head names `rate_limits.updated`.

Server CPU is the sum of the first field of /proc/<pid>/task/*/schedstat (ns on CPU, all threads) read
before and after a phase. Figures 1-3 and 7 run each phase on both servers alternately, several times after
a warm-up, and compare the medians (5 alternates its two answer lengths likewise; 4 and 6 are single runs).
A "text turn" is conversation.item.create + response.create on a text session (~60 server events).

1. Server CPU per streamed event: 200 text turns on one connection.
2. The same with a fresh connection every 10 turns (connection setup and close included).
3. Server CPU per session open: connect, wait for `session.created`, close.
4. Mock only: CPU per turn over 1,000 turns on one connection, the last 100 turns over the first 100.
5. Mock only, audio mode: CPU per word of an 800-word spoken answer over a 50-word one.
6. RSS per idle session: (RSS with 1,000 idle sessions - RSS before) / 1,000; fresh server processes,
   warmed up by a few sessions (opened and closed) before the first reading.
7. Events per second received by one official SDK client (which parses every event) over one long text
   response. While the machine has a core to spare, the client's parsing bounds this rate, not the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
BARE_SERVER = Path(__file__).resolve().with_name("_bare_server.py")
HEADERS = {"Authorization": "Bearer sk-test"}

# Timeouts (seconds): every await below runs under one of these.
READY_TIMEOUT = 30.0
CONNECT_TIMEOUT = 10.0
TURN_TIMEOUT = 60.0
SPOKEN_TIMEOUT = 300.0  # an 800-word spoken answer
PHASE_TIMEOUT = 600.0
CLOSE_TIMEOUT = 5.0
STOP_TIMEOUT = 10.0

SETTLE = 0.05  # seconds between the end of a phase and the CPU reading (the server's last bookkeeping)
SETUP_CONCURRENCY = 50  # figure 6: sessions in connection setup at once (opened ones stay open)
CLOSE_CONCURRENCY = 100
WARMUP_SESSIONS = 10  # figure 6: opened and closed before the first RSS reading
MAX_FRAMES = 50_000  # bound on the frames of one turn (an 800-word spoken answer is ~2,500)
HEAD = 96  # an event's type is among the first bytes of its frame

UPDATED = b'"session.updated"'
ITEM_DONE = b'"conversation.item.done"'
LAST = b'"rate_limits.updated"'  # the last event of a turn

WORDS = ("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "seven", "wise", "owls",
         "watch", "from", "an", "old", "oak", "tree", "near", "the", "river", "bank", "at", "dusk")
TURN_WORDS = 45  # 2 item events + 10 response events + 3 deltas for "You said:" + one per word = 60
SHORT_WORDS = 8
LONG_WORDS = 2000
SPOKEN_WORDS = (50, 800)


def _words(count: int) -> str:
    return " ".join(WORDS[i % len(WORDS)] for i in range(count))


# Client events, and their frames as the SDK serializes them (`json.dumps`): the bare server looks replies up by
# the exact frame. The response.create event ids tell it which captured response to replay.
def _item(text: str) -> dict[str, Any]:
    return {"type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}}


TEXT_UPDATE_EVENT = {"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}}
TURN_ITEM_EVENT = _item(_words(TURN_WORDS))
TURN_RESPONSE_EVENT = {"type": "response.create", "event_id": "event_bench_turn"}
SHORT_ITEM_EVENT = _item(_words(SHORT_WORDS))
SHORT_RESPONSE_EVENT = {"type": "response.create", "event_id": "event_bench_short"}
LONG_ITEM_EVENT = _item(_words(LONG_WORDS))
LONG_RESPONSE_EVENT = {"type": "response.create", "event_id": "event_bench_long"}
PLAIN_RESPONSE_EVENT = {"type": "response.create"}

TEXT_UPDATE = json.dumps(TEXT_UPDATE_EVENT)
TURN = (json.dumps(TURN_ITEM_EVENT), json.dumps(TURN_RESPONSE_EVENT))
SHORT = (json.dumps(SHORT_ITEM_EVENT), json.dumps(SHORT_RESPONSE_EVENT))
LONG = (json.dumps(LONG_ITEM_EVENT), json.dumps(LONG_RESPONSE_EVENT))


@dataclass(frozen=True)
class Counts:
    repeat: int = 7  # interleaved repetitions of figures 1-3
    turns: int = 200  # figure 1
    connections: int = 20  # figure 2: connections of `turns_each` turns
    turns_each: int = 10
    opens: int = 300  # figure 3
    growth_turns: int = 1000  # figure 4
    window: int = 100
    spoken_runs: int = 5  # figure 5
    sessions: int = 1000  # figure 6
    sdk_runs: int = 9  # figure 7


QUICK = Counts(repeat=3, opens=100, growth_turns=300, spoken_runs=3, sessions=200, sdk_runs=5)


# -- servers in subprocesses ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    threads: frozenset[str] = frozenset()
    thread_exited: bool = False  # a thread ended between two CPU readings: its CPU time was not counted

    def cpu_ns(self) -> int:
        """Nanoseconds on CPU so far, summed over the server's threads."""
        total, threads = 0, set()
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                total += int((task / "schedstat").read_text().split()[0])
                threads.add(task.name)
        self.thread_exited |= not self.threads <= threads
        self.threads = frozenset(threads)
        return total

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError(f"no VmRSS for {self.name} (pid {self.process.pid})")

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} server exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                async with asyncio.timeout(1.0):
                    _, writer = await asyncio.open_connection(HOST, self.port)
                    writer.close()
                    await writer.wait_closed()
                return
            except (OSError, TimeoutError):
                await asyncio.sleep(0.05)
        raise RuntimeError(f"{self.name} server not accepting on port {self.port} after {READY_TIMEOUT:.0f} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        if self.thread_exited:
            print(f"warning: a thread of the {self.name} server ended during a measurement; its CPU time is missing",
                  file=sys.stderr)


@contextlib.asynccontextmanager
async def running(name: str, argv: Sequence[str], port: int, log: Path) -> AsyncIterator[Server]:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT)
    server = Server(name, port, process, log)
    try:
        await server.wait_ready()
        await asyncio.sleep(0.2)  # let it settle before the first readings
        yield server
    finally:
        server.stop()


def mock_server(tmp: Path) -> contextlib.AbstractAsyncContextManager[Server]:
    port = _free_port()
    argv = [sys.executable, "-m", "mockserver", "serve", "--host", HOST, "--port", str(port), "--log-level", "warning"]
    return running("mock", argv, port, tmp / f"mock-{port}.log")


def bare_server(tmp: Path, script: Path) -> contextlib.AbstractAsyncContextManager[Server]:
    port = _free_port()
    return running("bare", [sys.executable, str(BARE_SERVER), str(port), str(script)], port, tmp / f"bare-{port}.log")


# -- raw clients (as the SDK connects; frames are never parsed) -----------------------------------


def _connect(port: int) -> connect:
    return connect(f"ws://{HOST}:{port}/v1/realtime?model=gpt-realtime", additional_headers=HEADERS,
                   compression=None, max_size=None, ping_interval=None, open_timeout=CONNECT_TIMEOUT,
                   close_timeout=CLOSE_TIMEOUT, proxy=None)


async def _read_until(ws: ClientConnection, marker: bytes) -> list[bytes]:
    """Frames up to and including the first whose head holds `marker` (callers bound the time)."""
    frames = []
    for _ in range(MAX_FRAMES):
        frame = await ws.recv(decode=False)
        frames.append(frame)
        if marker in frame[:HEAD]:
            return frames
    raise RuntimeError(f"no {marker.decode()} within {MAX_FRAMES} frames")


async def _count_until(ws: ClientConnection, marker: bytes) -> int:
    """Like `_read_until`, but only counts the frames."""
    for count in range(1, MAX_FRAMES + 1):
        if marker in (await ws.recv(decode=False))[:HEAD]:
            return count
    raise RuntimeError(f"no {marker.decode()} within {MAX_FRAMES} frames")


async def _close(ws: ClientConnection) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await ws.close()


async def _open(port: int, *, text: bool) -> ClientConnection:
    """Connect and read `session.created`; with `text`, also switch the session to text output."""
    async with asyncio.timeout(CONNECT_TIMEOUT):
        ws = await _connect(port)
    try:
        async with asyncio.timeout(TURN_TIMEOUT):
            await ws.recv(decode=False)
            if text:
                await ws.send(TEXT_UPDATE)
                await _count_until(ws, UPDATED)
    except BaseException:
        await _close(ws)
        raise
    return ws


@contextlib.asynccontextmanager
async def session(port: int, *, text: bool = True) -> AsyncIterator[ClientConnection]:
    ws = await _open(port, text=text)
    try:
        yield ws
    finally:
        await _close(ws)


async def text_turn(ws: ClientConnection, frames: tuple[str, str] = TURN) -> int:
    """Send the user message and response.create; read through `rate_limits.updated`. Returns the events."""
    async with asyncio.timeout(TURN_TIMEOUT):
        for frame in frames:
            await ws.send(frame)
        return await _count_until(ws, LAST)


# -- the baseline's script ----------------------------------------------------------------------------


@dataclass
class Script:
    """What the mock sent: its first frame, and the frames it answered each client frame with."""

    created: bytes
    replies: dict[str, list[bytes]]

    def events(self, frames: tuple[str, str]) -> int:
        return sum(len(self.replies[frame]) for frame in frames)

    def write(self, path: Path) -> None:
        data = {"created": self.created.decode(),
                "replies": {frame: [f.decode() for f in frames] for frame, frames in self.replies.items()}}
        path.write_text(json.dumps(data), encoding="utf-8")


async def capture(port: int) -> Script:
    """Each (user message, response.create) pair on a fresh text session, as the figures send them."""
    replies: dict[str, list[bytes]] = {}
    created = b""
    for item, response in (TURN, SHORT, LONG):
        async with asyncio.timeout(TURN_TIMEOUT), _connect(port) as ws:
            created = await ws.recv(decode=False)
            for frame, marker in ((TEXT_UPDATE, UPDATED), (item, ITEM_DONE), (response, LAST)):
                await ws.send(frame)
                replies[frame] = await _read_until(ws, marker)
    return Script(created, replies)


# -- measurements -----------------------------------------------------------------------------------


async def _cpu_since(server: Server, before: int) -> float:
    """Server CPU seconds since the `before` reading, after letting the server finish its bookkeeping."""
    await asyncio.sleep(SETTLE)
    return (server.cpu_ns() - before) / 1e9


async def interleaved(first: Callable[[], Awaitable[float]], second: Callable[[], Awaitable[float]], repeat: int,
                      *, warm_up: bool = True) -> tuple[list[float], list[float]]:
    """`repeat` results of each measurement, alternating which goes first, after one unrecorded run of each."""
    if warm_up:
        await first()
        await second()
    results: tuple[list[float], list[float]] = ([], [])
    for i in range(repeat):
        for index in (0, 1) if i % 2 == 0 else (1, 0):
            results[index].append(await (first, second)[index]())
    return results


async def cpu_per_event(server: Server, connections: int, turns_each: int) -> float:
    """Server CPU µs per turn event over `connections` sessions of `turns_each` text turns.

    With one connection, its setup is outside the measurement; with several, setup and close are inside.
    """
    events = 0
    if connections == 1:
        async with session(server.port) as ws:
            before = server.cpu_ns()
            for _ in range(turns_each):
                events += await text_turn(ws)
            cpu = await _cpu_since(server, before)
    else:
        before = server.cpu_ns()
        for _ in range(connections):
            async with session(server.port) as ws:
                for _ in range(turns_each):
                    events += await text_turn(ws)
        cpu = await _cpu_since(server, before)
    return cpu * 1e6 / events


async def cpu_per_open(server: Server, sessions: int) -> float:
    """Server CPU µs per session: connect, read `session.created`, close."""
    before = server.cpu_ns()
    for _ in range(sessions):
        async with session(server.port, text=False):
            pass
    return await _cpu_since(server, before) * 1e6 / sessions


async def cpu_per_turn_windows(server: Server, turns: int, window: int) -> list[float]:
    """Server CPU ms per turn in each `window` of `turns` text turns on one connection."""
    async with session(server.port) as ws:  # warm-up: one-time costs stay out of the first window
        for _ in range(3):
            await text_turn(ws)
    windows = []
    async with session(server.port) as ws:
        before = server.cpu_ns()
        for turn in range(1, turns + 1):
            await text_turn(ws)
            if turn % window == 0:
                now = server.cpu_ns()
                windows.append((now - before) / 1e6 / window)
                before = now
    return windows


async def spoken_cpu_per_word(server: Server, words: int) -> float:
    """Server CPU µs per word of a spoken answer ("You said: " + `words` words), from response.create
    through `rate_limits.updated`, on a fresh audio (default) session."""
    async with session(server.port, text=False) as ws:
        async with asyncio.timeout(TURN_TIMEOUT):
            await ws.send(json.dumps(_item(_words(words))))
            await _count_until(ws, ITEM_DONE)
        before = server.cpu_ns()
        async with asyncio.timeout(SPOKEN_TIMEOUT):
            await ws.send(json.dumps(PLAIN_RESPONSE_EVENT))
            await _count_until(ws, LAST)
        return await _cpu_since(server, before) * 1e6 / (words + 2)


@dataclass
class Crowd:
    sessions: int
    succeeded: int
    first_error: str
    rss_before: int  # KiB, after the warm-up sessions closed
    rss_idle: int  # KiB, with all sessions open and idle

    @property
    def per_session(self) -> float:
        return (self.rss_idle - self.rss_before) / max(1, self.succeeded)


async def _open_idle(port: int, gate: asyncio.Semaphore, opened: list[ClientConnection]) -> None:
    """Connect, switch to text, one short turn; the connection stays open (in `opened`)."""
    async with gate:
        ws = await _open(port, text=True)
        try:
            await text_turn(ws, SHORT)
        except BaseException:
            await _close(ws)
            raise
        opened.append(ws)


async def _close_all(sessions: list[ClientConnection]) -> None:
    gate = asyncio.Semaphore(CLOSE_CONCURRENCY)

    async def close_one(ws: ClientConnection) -> None:
        async with gate:
            await _close(ws)

    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(PHASE_TIMEOUT):
            await asyncio.gather(*(close_one(ws) for ws in sessions))


async def idle_sessions(server: Server, count: int) -> Crowd:
    for _ in range(WARMUP_SESSIONS):
        async with session(server.port) as ws:
            await text_turn(ws, SHORT)
    await asyncio.sleep(0.5)
    rss_before = server.rss_kib()
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)
    opened: list[ClientConnection] = []
    try:
        async with asyncio.timeout(PHASE_TIMEOUT):
            results = await asyncio.gather(*(_open_idle(server.port, gate, opened) for _ in range(count)),
                                           return_exceptions=True)
            await asyncio.sleep(1.0)  # all idle: let the server finish the bookkeeping of the last turns
        rss_idle = server.rss_kib()
        errors = [r for r in results if isinstance(r, BaseException)]
        first_error = f"{type(errors[0]).__name__}: {errors[0]}" if errors else ""
        return Crowd(count, len(opened), first_error, rss_before, rss_idle)
    finally:
        await _close_all(opened)


async def sdk_events_per_second(server: Server, costs: list[tuple[float, float]]) -> float:
    """Events/s one official SDK client receives (and parses) from response.create through
    `rate_limits.updated` of the long text answer, on a fresh connection. Appends to `costs` the server's
    and this process's CPU µs per event over the answer."""
    from openai import AsyncOpenAI

    async def until(conn: Any, event_type: str) -> int:
        for count in range(1, MAX_FRAMES + 1):
            if (await conn.recv()).type == event_type:
                return count
        raise RuntimeError(f"no {event_type} within {MAX_FRAMES} events")

    client = AsyncOpenAI(api_key="sk-test", base_url=f"http://{HOST}:{server.port}/v1",
                         websocket_base_url=f"ws://{HOST}:{server.port}/v1")
    try:
        async with asyncio.timeout(TURN_TIMEOUT), client.realtime.connect(model="gpt-realtime") as conn:
            await until(conn, "session.created")
            await conn.send(TEXT_UPDATE_EVENT)
            await until(conn, "session.updated")
            await conn.send(LONG_ITEM_EVENT)
            await until(conn, "conversation.item.done")
            cpu, own, start = server.cpu_ns(), time.process_time(), time.perf_counter()
            await conn.send(LONG_RESPONSE_EVENT)
            events = await until(conn, "rate_limits.updated")
            seconds = time.perf_counter() - start
            costs.append(((server.cpu_ns() - cpu) / 1e3 / events, (time.process_time() - own) * 1e6 / events))
            return events / seconds
    finally:
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await client.close()


# -- figures ------------------------------------------------------------------------------------------


@dataclass
class Figure:
    number: int
    title: str
    unit: str
    mock: float
    baseline: float  # the bare server's figure, or for mock-only figures the mock's earlier/smaller one
    limit: float
    at_least: bool = False  # the target is a floor, not a ceiling
    absolute: bool = False  # the target applies to the mock's figure, not to the ratio
    details: list[str] = field(default_factory=list)
    samples: dict[str, list[float]] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.mock / self.baseline

    @property
    def target(self) -> str:
        return f"{'>=' if self.at_least else '<='} {self.limit:g}{f' {self.unit}' if self.absolute else 'x'}"

    @property
    def passed(self) -> bool:
        value = self.mock if self.absolute else self.ratio
        return value >= self.limit if self.at_least else value <= self.limit


def _median_figure(number: int, title: str, unit: str, samples: tuple[list[float], list[float]], limit: float,
                   *, names: tuple[str, str] = ("mock", "bare"), at_least: bool = False) -> Figure:
    mock, baseline = samples
    figure = Figure(number, title, unit, statistics.median(mock), statistics.median(baseline), limit, at_least,
                    samples={names[0]: mock, names[1]: baseline})
    ratios = " ".join(f"{m / b:.2f}" for m, b in zip(mock, baseline, strict=True))
    figure.details.append(f"median of {len(mock)}, interleaved; pairwise ratios {ratios}")
    return figure


async def figure_1(mock: Server, bare: Server, counts: Counts, turn_events: int) -> Figure:
    samples = await interleaved(lambda: cpu_per_event(mock, 1, counts.turns),
                                lambda: cpu_per_event(bare, 1, counts.turns), counts.repeat)
    title = f"CPU/event, {counts.turns} x {turn_events}-event turns, one connection"
    return _median_figure(1, title, "µs/event", samples, 3.0)


async def figure_2(mock: Server, bare: Server, counts: Counts, turn_events: int) -> Figure:
    n, each = counts.connections, counts.turns_each
    samples = await interleaved(lambda: cpu_per_event(mock, n, each), lambda: cpu_per_event(bare, n, each),
                                counts.repeat)
    return _median_figure(2, f"CPU/event, {n} connections x {each} {turn_events}-event turns", "µs/event", samples,
                          2.5)


async def figure_3(mock: Server, bare: Server, counts: Counts) -> Figure:
    samples = await interleaved(lambda: cpu_per_open(mock, counts.opens), lambda: cpu_per_open(bare, counts.opens),
                                counts.repeat)
    figure = _median_figure(3, "CPU/session open (connect, created, close)", "µs/session", samples, 1.2)
    figure.details.append(f"{counts.opens} sequential sessions per run")
    return figure


async def figure_4(mock: Server, counts: Counts) -> Figure:
    windows = await cpu_per_turn_windows(mock, counts.growth_turns, counts.window)
    last = f"{counts.growth_turns - counts.window + 1}-{counts.growth_turns}"
    figure = Figure(4, f"mock CPU/turn, turns {last} / 1-{counts.window}", "ms/turn", windows[-1], windows[0], 1.3,
                    samples={"windows": windows})
    figure.details.append(f"ms/turn per window of {counts.window} turns: " + " ".join(f"{w:.2f}" for w in windows))
    return figure


async def figure_5(mock: Server, counts: Counts) -> Figure:
    short, long = SPOKEN_WORDS
    await spoken_cpu_per_word(mock, short)  # warm-up
    samples = await interleaved(lambda: spoken_cpu_per_word(mock, long), lambda: spoken_cpu_per_word(mock, short),
                                counts.spoken_runs, warm_up=False)
    figure = _median_figure(5, f"mock CPU/spoken word, {long} / {short} words", "µs/word", samples, 1.3,
                            names=(f"{long} words", f"{short} words"))
    figure.details.append(f"audio session; per word of the answer (\"You said:\" + N words): {long} words "
                          f"{figure.mock:,.0f} µs, {short} words {figure.baseline:,.0f} µs")
    return figure


async def figure_6(tmp: Path, script: Path, counts: Counts) -> Figure:
    crowds = {}
    async with mock_server(tmp) as mock:
        crowds["mock"] = await idle_sessions(mock, counts.sessions)
    async with bare_server(tmp, script) as bare:
        crowds["bare"] = await idle_sessions(bare, counts.sessions)
    m, b = crowds["mock"], crowds["bare"]
    figure = Figure(6, f"RSS/idle session, {counts.sessions} sessions", "KiB", m.per_session, b.per_session, 40.0,
                    absolute=True)
    for name, crowd in crowds.items():
        figure.details.append(f"{name}: {crowd.succeeded}/{crowd.sessions} sessions, RSS {crowd.rss_before / 1024:.1f}"
                              f" -> {crowd.rss_idle / 1024:.1f} MiB")
        if crowd.first_error:
            figure.details.append(f"{name}: first failure ({crowd.sessions - crowd.succeeded} in all): "
                                  f"{crowd.first_error}")
    return figure


async def figure_7(mock: Server, bare: Server, counts: Counts, long_events: int) -> Figure:
    costs: dict[str, list[tuple[float, float]]] = {"mock": [], "bare": []}
    samples = await interleaved(lambda: sdk_events_per_second(mock, costs["mock"]),
                                lambda: sdk_events_per_second(bare, costs["bare"]), counts.sdk_runs)
    figure = _median_figure(7, f"SDK client events/s, one {long_events:,}-event answer", "events/s", samples, 0.85,
                            at_least=True)
    medians = {name: [statistics.median(cost[i] for cost in runs[1:]) for i in (0, 1)]  # [1:]: not the warm-up
               for name, runs in costs.items()}
    m, b = medians["mock"], medians["bare"]
    figure.details.append(f"CPU per event over the answer (medians): server {m[0]:.1f} µs (mock) vs {b[0]:.1f} "
                          f"(bare); this SDK client {m[1]:.1f} vs {b[1]:.1f}")
    return figure


# -- running and reporting ----------------------------------------------------------------------------


def _raise_open_files_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        new = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


def _progress(message: str, started: float) -> None:
    print(f"[{time.perf_counter() - started:6.0f} s] {message}", file=sys.stderr, flush=True)


async def run(figures: set[int], counts: Counts) -> tuple[list[Figure], list[str]]:
    """The selected figures, and notes on the workload."""
    _raise_open_files_limit(2 * counts.sessions + 256)  # inherited by the servers, which hold as many sockets
    started = time.perf_counter()
    results: list[Figure] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench_session_") as name:
        tmp = Path(name)
        script_path = tmp / "bare_script.json"
        turn_events = long_events = 0
        if figures & {1, 2, 3, 6, 7}:
            _progress("capturing the mock's frames for the bare server", started)
            async with mock_server(tmp) as mock:
                script = await capture(mock.port)
            script.write(script_path)
            turn_events, long_events = script.events(TURN), script.events(LONG)
            notes.append(f"text turn: a {TURN_WORDS}-word user message + response.create = {turn_events} events "
                         f"({script.events(TURN[:1])} + {script.events(TURN[1:])}); session.created "
                         f"{len(script.created)} bytes")
            if abs(turn_events - 60) > 2:
                notes.append(f"warning: a text turn is {turn_events} events, not 60 +- 2: adjust TURN_WORDS")
        paired: dict[int, Callable[[Server, Server], Awaitable[Figure]]] = {
            1: lambda mock, bare: figure_1(mock, bare, counts, turn_events),
            2: lambda mock, bare: figure_2(mock, bare, counts, turn_events),
            3: lambda mock, bare: figure_3(mock, bare, counts),
            7: lambda mock, bare: figure_7(mock, bare, counts, long_events),
        }
        alone: dict[int, Callable[[Server], Awaitable[Figure]]] = {4: lambda mock: figure_4(mock, counts),
                                                                   5: lambda mock: figure_5(mock, counts)}
        for number in sorted(figures - {6}):
            _progress(f"figure {number}", started)
            async with contextlib.AsyncExitStack() as servers:
                mock = await servers.enter_async_context(mock_server(tmp))
                rss = mock.rss_kib()
                if number in paired:
                    bare = await servers.enter_async_context(bare_server(tmp, script_path))
                    figure = await paired[number](mock, bare)
                else:
                    figure = await alone[number](mock)
                figure.details.append(f"the mock's RSS went from {rss / 1024:.1f} to {mock.rss_kib() / 1024:.1f} MiB "
                                      "over this figure")
            results.append(figure)
        if 6 in figures:
            _progress("figure 6", started)
            results.append(await figure_6(tmp, script_path, counts))
    return sorted(results, key=lambda figure: figure.number), notes


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def print_table(figures: Sequence[Figure], notes: Sequence[str]) -> None:
    header = ("figure", "mock", "baseline", "ratio", "target", "result")
    rows = [(f"{f.number}. {f.title}", f"{_number(f.mock)} {f.unit}", f"{_number(f.baseline)} {f.unit}",
             f"{f.ratio:.2f}x", f.target, "PASS" if f.passed else "MISS") for f in figures]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        print("  " + "  ".join(cells).rstrip())
    print("\n  baseline: the bare server, except 4 (the mock's first window) and 5 (the mock's 50-word answer)")
    for note in notes:
        print(f"  {note}")
    for figure in figures:
        for detail in figure.details:
            print(f"  {figure.number}. {detail}")


def _figures_arg(text: str) -> set[int]:
    numbers = {int(part) for part in text.split(",") if part.strip()}
    if not numbers or not numbers <= set(range(1, 8)):
        raise argparse.ArgumentTypeError("expected figure numbers from 1 to 7, e.g. 1,3")
    return numbers


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_session", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, turns and sessions (a smoke run)")
    parser.add_argument("--only", type=_figures_arg, default=set(range(1, 8)), metavar="N[,N...]",
                        help="run only these figures")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures to FILE as JSON")
    args = parser.parse_args(argv)
    counts = QUICK if args.quick else Counts()
    command = shlex.join(["python", "-m", "bench.bench_session", *(sys.argv[1:] if argv is None else argv)])
    print(f"$ {command}")
    environment = {"python": platform.python_version(), "cpus": os.cpu_count(),
                   **{name: version(name) for name in ("websockets", "uvicorn", "openai", "realtime-mock")}}
    print(", ".join(f"{name} {value}" for name, value in environment.items()) + "\n")
    start = time.perf_counter()
    figures, notes = asyncio.run(run(args.only, counts))
    seconds = time.perf_counter() - start
    print_table(figures, notes)
    print(f"\n(finished in {seconds:.0f} s; ratios are against the baseline measured in the same run)")
    if args.json:
        data = {"command": command, "environment": environment, "seconds": round(seconds, 1), "counts": asdict(counts),
                "notes": list(notes),
                "figures": [{**asdict(f), "ratio": f.ratio, "target": f.target, "passed": f.passed} for f in figures]}
        args.json.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
