"""WebRTC calls (`POST /v1/realtime/calls`): call setup, and concurrent calls with audio both ways, as ratios to a
bare aiortc answerer measured in the same run.

    python -m bench.bench_webrtc [--quick] [--only 1,2]

The mock (`python -m mockserver serve --port P --log-level warning`) and the baseline run in subprocesses of
their own (fresh ones for each figure); the callers run here, made as `mockserver.webrtc_client.WebRtcCaller`
makes them (aiortc, loopback ICE, an `oai-events` data channel and a send-and-receive audio track; the raw SDP
offer posted with a fresh HTTP client, as a browser page or the caller's `connect` posts it). The baseline
(bench/_bare_webrtc_server.py) answers the same offers with aiortc configured as the mock configures it and
sends the mock's `session.created` (captured in the same run) when the channel opens; it plays back what it
hears (an echo), so its calls carry audio both ways like the mock's, without a session.

Server CPU is the sum of the first field of /proc/<pid>/task/*/schedstat (ns on CPU, all threads: aiortc
decodes on a thread per track and encodes on the loop's executor).

1. Call setup: from starting the offer POST to the first data channel message (`session.created`), over
   sequential calls (after one warm-up call on each server), mock and bare alternately, each call hung up
   (and the servers left 0.2 s to tidy up) before the next. Target: the mock's p50 under 100 ms (a proof of
   concept measured 57-68 ms, reference transports.md 3.2). Details: the POST alone (the answer ready), and
   server CPU per call from the POST to 0.2 s after the hang-up.
2. Concurrent calls with two-way audio (20; 5 with --quick): the callers connect at once, each with its own
   microphone script queued before its track starts: 1 s of silence, a different short sentence (made with
   `speech.speak`), a pause long enough for the answer, the word "Over.", 1 s of silence. On the mock each
   caller enables input transcription (`session.update` on the channel), expects the sentence's transcript,
   the spoken answer and `output_audio_buffer.stopped`, then turns `create_response` off (another
   `session.update`) so that "Over." is transcribed but not answered; at the end the audio it heard must
   decode (`speech.transcribe`) to "You said: <sentence>". On the bare server the callers play the same
   scripts. Every call stays up until all have played their script.
   a. Frames the callers lost: gaps in the RTP timestamps of the frames each caller's track received
      (20 ms frames, so each missing 960 at 48 kHz is a lost frame), from the server's first frame to the
      hang-up. Target: none (up to one per call at the edges would be tolerable; none was seen).
   b. Receive rate: each caller's frames per second of call time (first to last frame), the lowest over the
      calls, against 50/s (the server's track keeping real time). Target: within 1 %. Detail: arrival
      jitter, |arrival - place in the stream| with the constant offset removed, p99 over every frame.
   c. Frames the mock lost (mock only): where its VAD placed the starts and ends of speech
      (`audio_start_ms`, `audio_end_ms`), against where the same VAD places them in the script as sent. The
      server's clock of input audio counts the frames it received, so each lost frame moves every later
      position 20 ms earlier; positions agree within [-1, +10] ms without loss (the Opus codec delays the
      audio by 6.5 ms, the VAD counts in 10 ms steps and restarts its grid, to the millisecond, when
      `session.update` changes turn detection). The last position ("Over." ending, about 1 s before the end
      of the script) covers nearly all of the call. Target: none.
   d. Turns right (mock only): transcripts, answers heard, one response per call, `output_audio_buffer.stopped`.
   e. Server CPU per call-second while all calls stream: from the moment the last caller got
      `session.created` to the moment the last finished its script, divided by calls x that time (so 50
      ms/s is 5 % of a core per call), mock against bare, alternately (3 runs each, 1 with --quick; medians).
      Target: at most 1.5x (the session's own work on a call, VAD on every frame, transcription and events,
      at most half what the call's media costs). Details: the same from each call's POST to its hang-up (setup
      included), this process's CPU (the callers), and the setup time of calls made all at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import math
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench.bench_audio import jitter
from bench.bench_session import HOST, Server, _free_port, mock_server, running
from mockserver.audio import codecs
from mockserver.audio.speech import speak, transcribe
from mockserver.audio.vad import Vad
from mockserver.webrtc_client import WebRtcCaller

BARE_SERVER = Path(__file__).resolve().with_name("_bare_webrtc_server.py")
API_KEY = "sk-test"

# Timeouts (seconds): every await below runs under one of these.
EVENT_TIMEOUT = 30.0
CALL_TIMEOUT = 120.0
SETTLE = 0.2  # after a hang-up: the server closes its side of the call

SILENCE = bytes(48_000)  # 1 s of PCM16 24 kHz
MARKER = "Over."
ANSWER_MARGIN = 1.5  # seconds of the pause after the sentence beyond the answer's length
TAIL = 0.2  # seconds a caller stays after its script has played
RTP_FRAME = 960  # 20 ms at Opus's 48 kHz RTP clock
FRAME_RATE = 50.0  # 20 ms frames per second
RATE_TOLERANCE = 0.01
SHIFT_WITHOUT_LOSS = (-1, 10)  # ms: VAD positions as heard against as sent, when no frame is lost
CPU_RATIO = 1.5  # figure 2e: the session's own work on a call at most half what the bare call's media costs

SENTENCES = (
    "Open the pod bay doors.", "What is the weather today?", "Call me a taxi please.", "Turn on the kitchen lights.",
    "Play some jazz music.", "How far is the moon?", "Book a table for two.", "Set a timer for ten minutes.",
    "Where did I park the car?", "Read me the news.", "Is the museum open now?", "Send a message to Anna.",
    "What time is it in Tokyo?", "Remind me to buy milk.", "How do I get to the station?", "Lock the front door.",
    "Who won the game last night?", "Add eggs to my list.", "Translate good morning.", "Tell me a short story.",
)

TRANSCRIBE = {"type": "session.update",
              "session": {"type": "realtime", "audio": {"input": {"transcription": {"model": "whisper-1"}}}}}
NO_AUTO_RESPONSE = {"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
    "turn_detection": {"type": "server_vad", "create_response": False}}}}}
COMPLETED = "conversation.item.input_audio_transcription.completed"


@dataclass(frozen=True)
class Counts:
    setup_calls: int = 30  # figure 1, per server
    concurrent: int = 20  # figure 2
    audio_runs: int = 3  # figure 2, per server


QUICK = Counts(setup_calls=10, concurrent=5, audio_runs=1)


# -- servers ----------------------------------------------------------------------------------------------


def bare_server(tmp: Path, created: Path) -> contextlib.AbstractAsyncContextManager[Server]:
    port = _free_port()
    return running("bare", [sys.executable, str(BARE_SERVER), str(port), str(created)], port,
                   tmp / f"bare-{port}.log")


@dataclass
class Target:
    """A server under test, its CPU meter and its base URL."""

    name: str
    server: Server
    meter: CpuMeter = field(init=False)
    url: str = field(init=False)

    def __post_init__(self) -> None:
        self.meter = CpuMeter(self.server)
        self.url = f"http://{HOST}:{self.server.port}/v1"


class CpuMeter:
    """A server's CPU (ns), its threads' schedstat summed, counting threads that have ended since they were last
    read at what they had then (aiortc decodes each call's audio on a thread that ends with the call: read
    the meter while the calls are up, and only their last moments are missed)."""

    def __init__(self, server: Server) -> None:
        self._tasks = Path(f"/proc/{server.process.pid}/task")
        self._main = self._tasks / str(server.process.pid) / "schedstat"
        self._seen: dict[str, int] = {}

    def read(self) -> int:
        for task in self._tasks.iterdir():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                self._seen[task.name] = int((task / "schedstat").read_text().split()[0])
        return sum(self._seen.values())

    def main_waited(self) -> int:
        """ns the server's main thread (its event loop) has spent runnable but waiting for a CPU."""
        return int(self._main.read_text().split()[1])


def machine_busy() -> int:
    """ns of CPU the whole machine has used (every process, every core), from /proc/stat."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


# -- the caller ---------------------------------------------------------------------------------------------


class _Counted:
    """The caller's inbound track, noting each frame's arrival and RTP timestamp (its `pts`)."""

    def __init__(self, track: Any, frames: list[tuple[float, int]]) -> None:
        self._track = track
        self._frames = frames

    async def recv(self) -> Any:
        frame = await self._track.recv()
        self._frames.append((time.perf_counter(), int(frame.pts)))
        return frame


class Caller(WebRtcCaller):
    """`WebRtcCaller`, noting the frames its track receives."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.frames: list[tuple[float, int]] = []  # (arrival, RTP timestamp)

    async def _listen(self, track: Any) -> None:
        await super()._listen(_Counted(track, self.frames))


@dataclass
class Setup:
    posted_ms: float  # the answer back
    created_ms: float  # session.created on the channel
    cpu_us: float  # server CPU from the POST to SETTLE after the hang-up


async def dial(url: str) -> tuple[Caller, float, float]:
    """Offer, POST it (as `WebRtcCaller.connect` does) and take the answer; wait for the first channel message.
    Returns the caller and the times: POST started, answer back, session.created."""
    import httpx2

    caller = await Caller.offer()
    try:
        async with httpx2.AsyncClient() as http:
            started = time.perf_counter()
            response = await http.post(url + "/realtime/calls", content=caller.offer_sdp, headers={
                "Authorization": f"Bearer {API_KEY}", "Content-Type": "application/sdp"})
            posted = time.perf_counter()
        if response.status_code != 201:
            raise RuntimeError(f"the call was refused: {response.status_code} {response.text[:200]}")
        await caller.answered(response.text, response.headers["location"])
        return caller, started, posted
    except BaseException:
        await caller.close()
        raise


async def call_setup(target: Target) -> Setup:
    cpu = target.meter.read()
    caller, started, posted = await dial(target.url)
    try:
        first = await caller.next_event(EVENT_TIMEOUT)
        created = time.perf_counter()
        target.meter.read()  # the call's threads are up
        if first["type"] != "session.created":
            raise RuntimeError(f"the first channel message was {first['type']}, not session.created")
    finally:
        await caller.close()
    await asyncio.sleep(SETTLE)
    return Setup((posted - started) * 1000, (created - started) * 1000, (target.meter.read() - cpu) / 1000)


async def capture_created(target: Target) -> str:
    """The mock's session.created, as its channel sent it (the bare server sends it verbatim)."""
    import json

    caller, *_ = await dial(target.url)
    try:
        return json.dumps(await caller.next_event(EVENT_TIMEOUT))
    finally:
        await caller.close()


# -- figure 2: concurrent calls -------------------------------------------------------------------------------


def script_for(sentence: str) -> bytes:
    """The caller's microphone: silence, the sentence, a pause for the answer, the marker, silence."""
    answer_seconds = len(speak(f"You said: {sentence}")) / 48_000
    pause = bytes(int((0.2 + answer_seconds + ANSWER_MARGIN) * 24_000) * 2)
    return SILENCE + speak(sentence) + pause + speak(MARKER) + SILENCE


def vad_positions(script: bytes) -> list[int]:
    """Where the server's VAD (server_vad defaults) places speech starts and ends in the script, in ms."""
    return [ms for _, ms in Vad().feed(codecs.pcm16_to_float(script))]


@dataclass
class CallResult:
    sentence: str
    started: float = 0.0  # POST
    created: float = 0.0  # session.created
    done: float = 0.0  # the script played (+ TAIL)
    ended: float = 0.0  # hung up
    frames: list[tuple[float, int]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)  # of the events
    microphone: Any = None  # the caller's outbound track
    heard: str | None = None
    problems: list[str] = field(default_factory=list)
    expected_positions: list[int] = field(default_factory=list)

    @property
    def lost_frames(self) -> int:
        """Gaps in the RTP timestamps of the frames received."""
        stamps = [pts for _, pts in self.frames]
        return sum(((b - a) % 2**32) // RTP_FRAME - 1 for a, b in itertools.pairwise(stamps))

    @property
    def rate(self) -> float:
        """Frames per second of call time, first frame to last."""
        if len(self.frames) < 2:
            return 0.0
        return (len(self.frames) - 1) / (self.frames[-1][0] - self.frames[0][0])

    @property
    def lateness_ms(self) -> list[float]:
        """Each frame's arrival against its place in the stream (RTP timestamp), the constant offset removed."""
        return jitter([(arrived, pts / 48) for arrived, pts in self.frames]) if self.frames else []

    @property
    def positions(self) -> list[int]:
        return [e.get("audio_start_ms", e.get("audio_end_ms", -1)) for e in self.events
                if e["type"] in ("input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped")]

    @property
    def shifts(self) -> list[int]:
        return [heard - sent for heard, sent in zip(self.positions, self.expected_positions, strict=False)]

    @property
    def server_lost_frames(self) -> int:
        """Frames the mock did not hear before the last VAD position (from how far it moved)."""
        if not self.shifts:
            return 0
        return math.ceil(max(0, SHIFT_WITHOUT_LOSS[0] - self.shifts[-1]) / 20)


async def _until_played(caller: Caller) -> None:
    while caller.speaking:
        await asyncio.sleep(0.05)  # real time: the microphone plays the script as it is spoken
    await asyncio.sleep(TAIL)


async def run_call(target: Target, result: CallResult, script: bytes, mock: bool, created: asyncio.Queue[None],
                   hang_up: asyncio.Event) -> None:
    caller, result.started, _ = await dial(target.url)
    try:
        if caller.pc.connectionState not in ("new", "connecting"):
            result.problems.append("the track had started before the script was queued")
        result.microphone = caller.pc.getSenders()[0].track
        caller.speak(script)  # queued before the track's first frame: the server hears it from its first sample
        first = await caller.next_event(EVENT_TIMEOUT)
        result.created = time.perf_counter()
        created.put_nowait(None)
        if first["type"] != "session.created":
            result.problems.append(f"first channel message {first['type']}")
        if mock:
            await _mock_turns(caller, result)
        await _until_played(caller)
        result.done = time.perf_counter()
        await hang_up.wait()
        result.frames = list(caller.frames)
        if mock:
            result.heard = transcribe(caller.heard())
            if result.heard != f"You said: {result.sentence}":
                result.problems.append(f"heard {result.heard!r}")
    finally:
        await caller.close()
        result.ended = time.perf_counter()


async def _mock_turns(caller: Caller, result: CallResult) -> None:
    """Transcription on; the sentence's turn and its spoken answer; auto-response off; the marker's turn."""
    await caller.send(TRANSCRIBE)
    events = result.events
    completed = 0
    while completed < 2:
        event = await caller.next_event(EVENT_TIMEOUT)
        events.append(event)
        result.arrivals.append(time.perf_counter())
        if event["type"] == "output_audio_buffer.stopped":
            await caller.send(NO_AUTO_RESPONSE)
        completed += event["type"] == COMPLETED
    types = [e["type"] for e in events]
    transcripts = [e["transcript"] for e in events if e["type"] == COMPLETED]
    if transcripts != [result.sentence, MARKER]:
        result.problems.append(f"transcripts {transcripts}")
    if types.count("response.created") != 1 or types.count("output_audio_buffer.stopped") != 1:
        result.problems.append(f"{types.count('response.created')} responses, "
                               f"{types.count('output_audio_buffer.stopped')} output_audio_buffer.stopped")
    if types.count("session.updated") != 2:
        result.problems.append(f"{types.count('session.updated')} session.updated")
    if len(result.positions) != len(result.expected_positions):
        result.problems.append(f"VAD positions {result.positions}, expected {result.expected_positions}")
    elif max(result.shifts) > SHIFT_WITHOUT_LOSS[1]:
        result.problems.append(f"VAD positions {result.positions} later than sent {result.expected_positions}")


@dataclass
class AudioRun:
    calls: list[CallResult]
    window: float  # seconds all calls streamed at once
    cpu_ms_per_call_second: float
    client_ms_per_call_second: float
    phase_cpu_ms_per_call_second: float  # from the first POST to SETTLE after the last hang-up
    main_waited: float  # fraction of the window the server's event loop was runnable but waited for a CPU
    others: float  # cores the rest of the machine used during the window


async def audio_run(target: Target, count: int) -> AudioRun:
    mock = target.name == "mock"
    sentences = [SENTENCES[i % len(SENTENCES)] for i in range(count)]
    scripts = [script_for(sentence) for sentence in sentences]
    results = [CallResult(sentence, expected_positions=vad_positions(script))
               for sentence, script in zip(sentences, scripts, strict=True)]
    created: asyncio.Queue[None] = asyncio.Queue()
    hang_up = asyncio.Event()
    phase_cpu = target.meter.read()
    tasks = [asyncio.create_task(run_call(target, result, script, mock, created, hang_up))
             for result, script in zip(results, scripts, strict=True)]
    try:
        async with asyncio.timeout(CALL_TIMEOUT):
            for _ in range(count):
                await created.get()
            cpu, own, start = target.meter.read(), time.process_time(), time.perf_counter()
            waited, busy = target.meter.main_waited(), machine_busy()
            while any(result.done == 0.0 for result in results):
                done, _ = await asyncio.wait(tasks, timeout=0.05)
                for task in done:
                    task.result()  # a call that failed fails the run
            cpu, own = target.meter.read() - cpu, time.process_time() - own
            waited, busy = target.meter.main_waited() - waited, machine_busy() - busy
            window = time.perf_counter() - start
            hang_up.set()
            await asyncio.gather(*tasks)
    finally:
        hang_up.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(SETTLE)
    phase_cpu = target.meter.read() - phase_cpu
    call_seconds = sum(result.ended - result.started for result in results)
    return AudioRun(results, window, cpu / 1e6 / (count * window), own * 1000 / (count * window),
                    phase_cpu / 1e6 / call_seconds, waited / 1e9 / window, (busy - cpu - own * 1e9) / 1e9 / window)


# -- figures ------------------------------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    unit: str
    mock: float
    bare: float | None  # None: the mock only
    target: str
    passed: bool | None  # None: no target

    def cells(self) -> tuple[str, ...]:
        ratio = f"{self.mock / self.bare:.2f}x" if self.bare else "-"
        bare = "-" if self.bare is None else f"{_number(self.bare)} {self.unit}"
        result = "-" if self.passed is None else "PASS" if self.passed else "MISS"
        return self.name, f"{_number(self.mock)} {self.unit}", bare, ratio, self.target, result


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1000:
        return f"{value:.0f}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def _p90(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[8]


async def figure_1(tmp: Path, created_path: Path, counts: Counts, details: list[str]) -> list[Row]:
    async with mock_server(tmp) as mock_process:
        mock = Target("mock", mock_process)
        warm = await call_setup(mock)  # aiortc and PyAV load with the mock's first call
        created_path.write_text(await capture_created(mock), encoding="utf-8")
        async with bare_server(tmp, created_path) as bare_process:
            bare = Target("bare", bare_process)
            await call_setup(bare)
            runs: dict[str, list[Setup]] = {"mock": [], "bare": []}
            for i in range(counts.setup_calls):
                for target in (mock, bare) if i % 2 == 0 else (bare, mock):
                    runs[target.name].append(await call_setup(target))
    m, b = ([s.created_ms for s in runs[name]] for name in ("mock", "bare"))
    rows = [Row(f"1. call setup p50, POST to session.created ({len(m)} calls)", "ms", statistics.median(m),
                statistics.median(b), "< 100 ms", statistics.median(m) < 100),
            Row("1. call setup p90", "ms", _p90(m), _p90(b), "-", None)]
    posted = {name: statistics.median(s.posted_ms for s in runs[name]) for name in runs}
    cpu = {name: statistics.median(s.cpu_us for s in runs[name]) for name in runs}
    details.append(f"1. the POST alone (answer back): p50 {posted['mock']:.1f} ms (mock), {posted['bare']:.1f} ms "
                   f"(bare); min-max mock {min(m):.1f}-{max(m):.1f} ms, bare {min(b):.1f}-{max(b):.1f} ms; the mock's "
                   f"first call (aiortc loads) {warm.created_ms:.0f} ms")
    details.append(f"1. server CPU per call (POST to {SETTLE:g} s after the hang-up), median: "
                   f"{cpu['mock'] / 1000:.1f} ms (mock), {cpu['bare'] / 1000:.1f} ms (bare), "
                   f"{cpu['mock'] / cpu['bare']:.2f}x")
    return rows


async def figure_2(tmp: Path, created_path: Path, counts: Counts, details: list[str]) -> list[Row]:
    n = counts.concurrent
    runs: dict[str, list[AudioRun]] = {"mock": [], "bare": []}
    async with mock_server(tmp) as mock_process:
        mock = Target("mock", mock_process)
        await call_setup(mock)  # aiortc and PyAV load with the first call
        if not created_path.exists():
            created_path.write_text(await capture_created(mock), encoding="utf-8")
        async with bare_server(tmp, created_path) as bare_process:
            bare = Target("bare", bare_process)
            await call_setup(bare)
            for i in range(counts.audio_runs):
                for target in (mock, bare) if i % 2 == 0 else (bare, mock):
                    runs[target.name].append(await audio_run(target, n))
    calls = {name: [call for run in runs[name] for call in run.calls] for name in runs}
    lost = {name: sum(call.lost_frames for call in calls[name]) for name in calls}
    worst = {name: max(call.lost_frames for call in calls[name]) for name in calls}
    rate = {name: min(call.rate for call in calls[name]) for name in calls}
    late = {name: statistics.quantiles([ms for call in calls[name] for ms in call.lateness_ms], n=100)[98]
            for name in calls}
    server_lost = sum(call.server_lost_frames for call in calls["mock"])
    shifts = [shift for call in calls["mock"] for shift in call.shifts]
    right = sum(not call.problems for call in calls["mock"])
    cpu = {name: statistics.median(run.cpu_ms_per_call_second for run in runs[name]) for name in runs}
    runs_note = f"{len(runs['mock'])} run{'s' if len(runs['mock']) > 1 else ''} x {n} calls"
    rows = [
        Row(f"2a. frames lost by the callers ({runs_note})", "frames", lost["mock"], lost["bare"], "0",
            lost["mock"] == 0),
        Row("2b. frames/s each caller received, lowest", "/s", rate["mock"], rate["bare"],
            f">= {FRAME_RATE * (1 - RATE_TOLERANCE):g}/s", rate["mock"] >= FRAME_RATE * (1 - RATE_TOLERANCE)),
        Row("2c. frames lost by the mock (VAD positions)", "frames", server_lost, None, "0", server_lost == 0),
        Row("2d. calls with every turn right", "calls", right, None, f"{len(calls['mock'])}",
            right == len(calls["mock"])),
        Row("2e. server CPU per call-second, all calls streaming", "ms/s", cpu["mock"], cpu["bare"],
            f"<= {CPU_RATIO:g}x", cpu["mock"] / cpu["bare"] <= CPU_RATIO),
    ]
    for name in runs:
        frames = sum(len(call.frames) for call in calls[name])
        windows = " ".join(f"{run.window:.1f}" for run in runs[name])
        per_run = " ".join(f"{run.cpu_ms_per_call_second:.1f}" for run in runs[name])
        phase = statistics.median(run.phase_cpu_ms_per_call_second for run in runs[name])
        client = statistics.median(run.client_ms_per_call_second for run in runs[name])
        setups = [(call.created - call.started) * 1000 for call in calls[name]]
        details.append(f"2. {name}: {frames:,} frames received, most lost in one call {worst[name]}, arrival "
                       f"jitter p99 {late[name]:.1f} ms; CPU ms per "
                       f"call-second per run {per_run} over windows of {windows} s; setup to hang-up "
                       f"{phase:.1f} ms/s; this process (the callers) {client:.1f} ms/s; setup of {n} calls at once "
                       f"p50 {statistics.median(setups):.0f} ms, p90 {_p90(setups):.0f} ms")
    details.append(f"2c. VAD position shifts (heard - sent), ms: {min(shifts)} to {max(shifts)} over {len(shifts)} "
                   f"positions (no loss: {SHIFT_WITHOUT_LOSS[0]} to {SHIFT_WITHOUT_LOSS[1]}; more: the mock heard "
                   "audio that was not sent)")
    for call in calls["mock"]:
        for problem in call.problems:
            details.append(f"2d. {call.sentence!r}: {problem}")
    return rows


async def run(figures: set[int], counts: Counts) -> tuple[list[Row], list[str]]:
    started = time.perf_counter()
    rows: list[Row] = []
    details: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench_webrtc_") as name:
        tmp = Path(name)
        created = tmp / "created.json"
        if 1 in figures:
            _progress("figure 1: call setup", started)
            rows += await figure_1(tmp, created, counts, details)
        if 2 in figures:
            _progress(f"figure 2: {counts.concurrent} concurrent calls with audio", started)
            rows += await figure_2(tmp, created, counts, details)
    return rows, details


def _progress(message: str, started: float) -> None:
    print(f"[{time.perf_counter() - started:6.0f} s] {message}", file=sys.stderr, flush=True)


def print_table(rows: Sequence[Row], details: Sequence[str]) -> None:
    header = ("figure", "mock", "bare", "ratio", "target", "result")
    cells = [row.cells() for row in rows]
    widths = [max(len(row[i]) for row in (header, *cells)) for i in range(len(header))]
    for row in (header, *cells):
        line = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        print("  " + "  ".join(line).rstrip())
    print()
    for detail in details:
        print(f"  {detail}")


def _figures_arg(text: str) -> set[int]:
    numbers = {int(part) for part in text.split(",") if part.strip()}
    if not numbers or not numbers <= {1, 2}:
        raise argparse.ArgumentTypeError("expected figure numbers 1 and/or 2")
    return numbers


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_webrtc", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls (a smoke run)")
    parser.add_argument("--only", type=_figures_arg, default={1, 2}, metavar="N[,N]", help="run only these figures")
    args = parser.parse_args(argv)
    counts = QUICK if args.quick else Counts()
    print("$ " + shlex.join(["python", "-m", "bench.bench_webrtc", *(sys.argv[1:] if argv is None else argv)]))
    environment = {"python": platform.python_version(), "cpus": os.cpu_count(),
                   **{name: version(name) for name in ("aiortc", "av", "aioice", "uvicorn", "realtime-mock")}}
    print(", ".join(f"{name} {value}" for name, value in environment.items()) + "\n")
    start = time.perf_counter()
    rows, details = asyncio.run(run(args.only, counts))
    print_table(rows, details)
    print(f"\n(finished in {time.perf_counter() - start:.0f} s; ratios are against the bare aiortc answerer "
          "measured in the same run)")


if __name__ == "__main__":
    main()
