"""Session-level performance of the mock, as ratios to a bare `websockets` server doing the same wire work.

    python -m bench.bench_session [--quick]

1. Connect latency: from starting the WebSocket connect to the first frame (`session.created`; the bare
   server sends the bytes of a real `session.created` right after its handshake).
2. Streaming throughput: server events per second in one long text response (the bare server replays
   the frames the mock sent for the same client frames, captured once at the start).
3. Concurrency: many sessions that each connect, switch to text, do one short turn and then stay open;
   how many succeed, the wall time, and the server's RSS per idle session.

The mock (`python -m mockserver serve`) and the bare server run in subprocesses of their own; the client
side runs here. Both servers negotiate the same permessage-deflate settings with the client (the
`websockets` defaults, which uvicorn copies). The baseline is measured in the same run, interleaved where
it can be, so the ratios hold on a noisy machine; absolute figures are for context only.
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
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
HEADERS = {"Authorization": "Bearer sk-test"}
MAX_FRAME = 16 * 1024 * 1024

# Timeouts (seconds): every await below runs under one of these.
READY_TIMEOUT = 30.0
CONNECT_TIMEOUT = 10.0
TURN_TIMEOUT = 60.0
SESSION_TIMEOUT = 60.0
PHASE_TIMEOUT = 120.0
CLOSE_TIMEOUT = 5.0
STOP_TIMEOUT = 10.0

SETUP_CONCURRENCY = 50  # sessions in connection setup at once (the rest wait; opened ones stay open)
CLOSE_CONCURRENCY = 100
MAX_TURN_FRAMES = 20_000  # bound on the frames of one turn (a 5,000-word reply is ~5,015)
HEAD = 96  # an event's type is among the first bytes of its frame

# Client frames. The response.create event ids tell the bare server which captured response to replay.
TEXT_UPDATE = json.dumps({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})
SHORT_RESPONSE = json.dumps({"type": "response.create", "event_id": "event_bench_short"})
STREAM_RESPONSE = json.dumps({"type": "response.create", "event_id": "event_bench_stream"})
SHORT_TEXT = "Hello there, could you tell me how the weather is today?"
WORDS = ("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "seven", "wise", "owls",
         "watch", "from", "an", "old", "oak", "tree", "near", "the", "river", "bank", "at", "dusk")
LONG_WORDS = 5000

UPDATED = b'"session.updated"'
ITEM_DONE = b'"conversation.item.done"'
LAST = b'"rate_limits.updated"'  # the last event of a turn

BARE_SERVER = '''\
"""A bare websockets server: sends `created` after the handshake, then answers each client frame with
the frames recorded for it (nothing for unknown frames)."""
import asyncio
import json
import sys

from websockets.asyncio.server import serve


async def main(port: int, script_path: str) -> None:
    with open(script_path, encoding="utf-8") as file:
        script = json.load(file)
    created, replies = script["created"], script["replies"]

    async def handler(websocket):
        await websocket.send(created)
        async for message in websocket:
            for frame in replies.get(message, ()):
                await websocket.send(frame)

    async with serve(handler, "127.0.0.1", port, backlog=2048, max_size=16 * 1024 * 1024) as server:
        await server.serve_forever()


asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
'''


def _item_frame(text: str) -> str:
    return json.dumps({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}})


SHORT_ITEM = _item_frame(SHORT_TEXT)
LONG_ITEM = _item_frame(" ".join(WORDS[i % len(WORDS)] for i in range(LONG_WORDS)))


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

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError(f"no VmRSS for {self.name} (pid {self.process.pid})")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

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


@contextlib.asynccontextmanager
async def running(name: str, argv: Sequence[str], port: int, log: Path) -> AsyncIterator[Server]:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT)
    server = Server(name, port, process, log)
    try:
        await server.wait_ready()
        await asyncio.sleep(0.2)  # let it settle before the first reading of its RSS
        yield server
    finally:
        server.stop()


def mock_server(tmp: Path) -> contextlib.AbstractAsyncContextManager[Server]:
    port = _free_port()
    argv = [sys.executable, "-m", "mockserver", "serve", "--host", HOST, "--port", str(port), "--log-level", "warning"]
    return running("mock", argv, port, tmp / f"mock-{port}.log")


def bare_server(tmp: Path) -> contextlib.AbstractAsyncContextManager[Server]:
    port = _free_port()
    argv = [sys.executable, str(tmp / "bare_server.py"), str(port), str(tmp / "bare_script.json")]
    return running("bare", argv, port, tmp / f"bare-{port}.log")


# -- client helpers ---------------------------------------------------------------------------------


def _connect(port: int) -> connect:
    return connect(f"ws://{HOST}:{port}/v1/realtime?model=gpt-realtime", additional_headers=HEADERS,
                   open_timeout=CONNECT_TIMEOUT, close_timeout=CLOSE_TIMEOUT, ping_interval=None,
                   max_size=MAX_FRAME, proxy=None)


async def _recv_through(ws: ClientConnection, marker: bytes, limit: int = MAX_TURN_FRAMES) -> list[bytes]:
    """Frames up to and including the first whose type is `marker` (callers bound the time)."""
    frames = []
    for _ in range(limit):
        frame = await ws.recv(decode=False)
        frames.append(frame)
        if marker in frame[:HEAD]:
            return frames
    raise RuntimeError(f"no {marker.decode()} within {limit} frames")


async def _close(ws: ClientConnection) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await ws.close()


async def _setup(ws: ClientConnection, item: str) -> bytes:
    """`session.created`, switch to text, add a user message; returns the `session.created` frame."""
    created = await ws.recv(decode=False)
    await ws.send(TEXT_UPDATE)
    await _recv_through(ws, UPDATED, 16)
    await ws.send(item)
    await _recv_through(ws, ITEM_DONE, 16)
    return created


@dataclass
class Script:
    """What the mock sent: its first frame, and the frames it answered each client frame with."""

    created: bytes
    replies: dict[str, list[bytes]]

    def write(self, path: Path) -> None:
        data = {"created": self.created.decode(),
                "replies": {frame: [f.decode() for f in frames] for frame, frames in self.replies.items()}}
        path.write_text(json.dumps(data), encoding="utf-8")


async def capture(port: int) -> Script:
    replies: dict[str, list[bytes]] = {}
    created = b""
    for item, response in ((SHORT_ITEM, SHORT_RESPONSE), (LONG_ITEM, STREAM_RESPONSE)):
        async with asyncio.timeout(TURN_TIMEOUT), _connect(port) as ws:
            created = await ws.recv(decode=False)
            for frame, marker in ((TEXT_UPDATE, UPDATED), (item, ITEM_DONE), (response, LAST)):
                await ws.send(frame)
                replies[frame] = await _recv_through(ws, marker)
    return Script(created, replies)


# -- 1. connect latency -----------------------------------------------------------------------------


async def first_frame_seconds(port: int) -> float:
    async with asyncio.timeout(CONNECT_TIMEOUT + CLOSE_TIMEOUT):
        start = time.perf_counter()
        ws = await _connect(port)
        try:
            await ws.recv(decode=False)
            return time.perf_counter() - start
        finally:
            await ws.close()


async def latencies(mock: Server, bare: Server, count: int, warmup: int = 10) -> tuple[list[float], list[float]]:
    """`count` sequential connections to each server, interleaved (alternating which goes first)."""
    for _ in range(warmup):
        await first_frame_seconds(mock.port)
        await first_frame_seconds(bare.port)
    times: dict[str, list[float]] = {"mock": [], "bare": []}
    for i in range(count):
        for server in (mock, bare) if i % 2 == 0 else (bare, mock):
            times[server.name].append(await first_frame_seconds(server.port))
    return times["mock"], times["bare"]


# -- 2. streaming throughput ------------------------------------------------------------------------


async def stream_once(port: int) -> tuple[int, float]:
    """(events, seconds) from sending `response.create` to `rate_limits.updated`, on a fresh connection."""
    async with asyncio.timeout(TURN_TIMEOUT), _connect(port) as ws:
        await _setup(ws, LONG_ITEM)
        start = time.perf_counter()
        await ws.send(STREAM_RESPONSE)
        frames = await _recv_through(ws, LAST)
        return len(frames), time.perf_counter() - start


@dataclass
class Streams:
    runs: list[tuple[int, float]]  # (events, seconds) per run
    cpu: float  # server CPU seconds over all runs, connection setup included

    @property
    def rate(self) -> float:
        return statistics.median(events / seconds for events, seconds in self.runs)

    @property
    def seconds(self) -> float:
        return statistics.median(seconds for _, seconds in self.runs)


async def throughputs(mock: Server, bare: Server, repeat: int) -> dict[str, Streams]:
    """`repeat` runs on each server, interleaved, after one unrecorded warm-up run each."""
    await stream_once(mock.port)
    await stream_once(bare.port)
    streams = {"mock": Streams([], 0.0), "bare": Streams([], 0.0)}
    for i in range(repeat):
        for server in (mock, bare) if i % 2 == 0 else (bare, mock):
            cpu = server.cpu_seconds()
            streams[server.name].runs.append(await stream_once(server.port))
            streams[server.name].cpu += server.cpu_seconds() - cpu
    return streams


# -- 3. concurrency -----------------------------------------------------------------------------------


@dataclass
class Crowd:
    sessions: int
    succeeded: int
    first_error: str
    seconds: float
    rss_before: int  # KiB, before the first connection
    rss_first: int  # KiB, with the first session open and idle
    rss_idle: int  # KiB, with all sessions open and idle

    @property
    def per_session(self) -> float:
        return (self.rss_idle - self.rss_before) / max(1, self.succeeded)

    @property
    def marginal(self) -> float:
        return (self.rss_idle - self.rss_first) / max(1, self.succeeded - 1)


async def open_session(port: int, gate: asyncio.Semaphore, opened: list[ClientConnection]) -> None:
    """Connect, switch to text, one short turn; the connection stays open (in `opened`)."""
    async with gate:
        ws: ClientConnection | None = None
        try:
            async with asyncio.timeout(SESSION_TIMEOUT):
                ws = await _connect(port)
                await _setup(ws, SHORT_ITEM)
                await ws.send(SHORT_RESPONSE)
                await _recv_through(ws, LAST)
            opened.append(ws)
        except BaseException:
            if ws is not None:
                await _close(ws)
            raise


async def close_all(sessions: list[ClientConnection]) -> None:
    gate = asyncio.Semaphore(CLOSE_CONCURRENCY)

    async def close_one(ws: ClientConnection) -> None:
        async with gate:
            await _close(ws)

    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(PHASE_TIMEOUT):
            await asyncio.gather(*(close_one(ws) for ws in sessions))


async def crowd(server: Server, count: int) -> Crowd:
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)
    opened: list[ClientConnection] = []
    rss_before = server.rss_kib()
    try:
        async with asyncio.timeout(PHASE_TIMEOUT):
            start = time.perf_counter()
            results = list(await asyncio.gather(open_session(server.port, gate, opened), return_exceptions=True))
            rss_first = server.rss_kib()
            results += await asyncio.gather(*(open_session(server.port, gate, opened) for _ in range(count - 1)),
                                            return_exceptions=True)
            seconds = time.perf_counter() - start
            await asyncio.sleep(1.0)  # all idle: let the server finish the bookkeeping of the last turns
        rss_idle = server.rss_kib()
        errors = [r for r in results if isinstance(r, BaseException)]
        first_error = f"{type(errors[0]).__name__}: {errors[0]}" if errors else ""
        return Crowd(count, len(opened), first_error, seconds, rss_before, rss_first, rss_idle)
    finally:
        await close_all(opened)


# -- report -----------------------------------------------------------------------------------------


def _table(title: str, rows: Sequence[Sequence[str]], note: str = "") -> None:
    header = ("", "mock", "bare", "mock/bare", "target", "result")
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    print(title)
    for row in (header, *rows):
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        print("  " + "  ".join(cells).rstrip())
    if note:
        print(f"  ({note})")
    print()


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def _p95(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def _raise_open_files_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        new = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


async def run(quick: bool) -> None:
    connections = 50 if quick else 200
    repeat = 3 if quick else 7
    sessions = 200 if quick else 1000
    _raise_open_files_limit(2 * sessions + 256)  # inherited by the servers, which hold as many sockets

    with tempfile.TemporaryDirectory(prefix="bench_session_") as name:
        tmp = Path(name)
        (tmp / "bare_server.py").write_text(BARE_SERVER, encoding="utf-8")
        async with mock_server(tmp) as mock:
            script = await capture(mock.port)
            script.write(tmp / "bare_script.json")
            async with bare_server(tmp) as bare:
                mock_times, bare_times = await latencies(mock, bare, connections)
                streams = await throughputs(mock, bare, repeat)
        async with mock_server(tmp) as mock:
            mock_crowd = await crowd(mock, sessions)
        async with bare_server(tmp) as bare:
            bare_crowd = await crowd(bare, sessions)

    m50, b50 = statistics.median(mock_times), statistics.median(bare_times)
    m95, b95 = _p95(mock_times), _p95(bare_times)
    _table(f"1. Connect latency: connect -> first frame ({len(script.created)} bytes), "
           f"{connections} sequential connections each", [
               ("p50", _ms(m50), _ms(b50), f"{m50 / b50:.2f}x", "<= 1.5x", _verdict(m50 / b50 <= 1.5)),
               ("p95", _ms(m95), _ms(b95), f"{m95 / b95:.2f}x", "", ""),
           ])

    ms, bs = streams["mock"], streams["bare"]
    m_cpu, b_cpu = ms.cpu / repeat, bs.cpu / repeat
    _table(f"2. Streaming throughput: one {LONG_WORDS}-word text reply, response.create -> rate_limits.updated, "
           f"median of {repeat}", [
               ("events", str(ms.runs[0][0]), str(bs.runs[0][0]), "", "", ""),
               ("time", _ms(ms.seconds), _ms(bs.seconds), f"{ms.seconds / bs.seconds:.2f}x", "", ""),
               ("server CPU/run", _ms(m_cpu), _ms(b_cpu), f"{m_cpu / b_cpu:.2f}x" if b_cpu else "", "", ""),
               ("events/s", f"{ms.rate:,.0f}", f"{bs.rate:,.0f}", f"{ms.rate / bs.rate:.2f}x", ">= 0.6x",
                _verdict(ms.rate / bs.rate >= 0.6)),
           ], note="server CPU/run: the server process's mean per run, connect and setup included; 10 ms ticks")

    m, b = mock_crowd, bare_crowd
    _table(f"3. Concurrency: {sessions} sessions (connect, text, one short turn, then idle), "
           f"{SETUP_CONCURRENCY} in setup at once", [
               ("succeeded", f"{m.succeeded}/{m.sessions}", f"{b.succeeded}/{b.sessions}", "", "all",
                _verdict(m.succeeded == m.sessions)),
               ("wall time", f"{m.seconds:.2f} s", f"{b.seconds:.2f} s", f"{m.seconds / b.seconds:.2f}x", "", ""),
               ("RSS before", f"{m.rss_before / 1024:.1f} MiB", f"{b.rss_before / 1024:.1f} MiB", "", "", ""),
               ("RSS, 1 idle", f"{m.rss_first / 1024:.1f} MiB", f"{b.rss_first / 1024:.1f} MiB", "", "", ""),
               ("RSS, all idle", f"{m.rss_idle / 1024:.1f} MiB", f"{b.rss_idle / 1024:.1f} MiB", "", "", ""),
               ("KiB/session", f"{m.per_session:.1f}", f"{b.per_session:.1f}", f"{m.per_session / b.per_session:.2f}x",
                "< 100", _verdict(m.per_session < 100)),
               ("  after the 1st", f"{m.marginal:.1f}", f"{b.marginal:.1f}", f"{m.marginal / b.marginal:.2f}x", "", ""),
           ])
    for result in (m, b):
        if result.first_error:
            print(f"first failure ({result.sessions - result.succeeded} in all): {result.first_error}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_session", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer connections and sessions (a smoke run)")
    args = parser.parse_args(argv)
    command = shlex.join(["python", "-m", "bench.bench_session", *(sys.argv[1:] if argv is None else argv)])
    print(f"$ {command}")
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, websockets {version('websockets')}, "
          f"uvicorn {version('uvicorn')}, realtime-mock {version('realtime-mock')}\n")
    start = time.perf_counter()
    asyncio.run(run(args.quick))
    print(f"(finished in {time.perf_counter() - start:.0f} s; ratios are against the bare server in the same run)")


if __name__ == "__main__":
    main()
