"""Audio performance: how much faster than real time the VAD and the speech decoder run, and how evenly
real-time pacing spaces a long spoken answer.

    python -m bench.bench_audio [--quick]

1. VAD + decoding on one core, as a multiple of real time (target: at least 200x). The baseline in the
   same run is the cost of only reading the same PCM into floats (the floor any analysis pays).
2. Real-time pacing: a ~30 s answer streamed by a mock with real-time audio pacing, over a loopback
   WebSocket; each audio delta's arrival is compared with when it should arrive (the audio before it
   has played). Jitter is |actual - scheduled| after removing the constant offset; target p99 < 5 ms.
   A bare asyncio timer scheduling the same deltas is the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import time

import numpy as np

from mockserver.audio import codecs
from mockserver.audio.speech import speak, transcribe
from mockserver.audio.vad import Vad

SENTENCE = "The quick brown fox jumps over the lazy dog while the weather stays fine. "


def _best(fn: object, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


def vad_and_decode(seconds_of_speech: float) -> None:
    text = SENTENCE * max(1, int(seconds_of_speech / 5))
    pcm = bytes(48_000) + speak(text) + bytes(48_000)
    duration = len(pcm) / 48_000

    def analyse() -> None:
        vad = Vad()
        samples = codecs.pcm16_to_float(pcm)
        for start in range(0, len(samples), 2400):  # 100 ms appends, as apps send them
            vad.feed(samples[start:start + 2400])
        assert transcribe(pcm) == text

    full = _best(analyse)
    floor = _best(lambda: codecs.pcm16_to_float(pcm))
    print(f"1. VAD + decoding of {duration:.1f} s of audio: {full * 1000:.1f} ms = {duration / full:,.0f}x real "
          f"time (target >= 200x: {'PASS' if duration / full >= 200 else 'MISS'}); reading the PCM alone: "
          f"{floor * 1000:.2f} ms ({full / floor:.0f}x that floor)")


async def pacedjitter(answer_seconds: float) -> None:
    """The mock in its own process (`serve --realtime-audio`), a raw WebSocket client timestamping arrivals."""
    import os
    import socket
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from websockets.asyncio.client import connect

    words = int(answer_seconds / 0.3)  # the codec speaks this text at about 3.3 words a second
    text = " ".join(SENTENCE.split() * (words // 14 + 1))[: words * 6]
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "long.json"
        # A short first answer warms the server process up (NumPy and the codec load with the first spoken
        # answer); the second, long one is measured.
        scenario.write_text(json.dumps({"name": "long", "mode": "ordered", "rules": [
            {"reply": {"text": "Warming up."}}, {"reply": {"text": text}}]}))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = subprocess.Popen([sys.executable, "-m", "mockserver", "serve", "--port", str(port), "--log-level",
                                   "warning", "--realtime-audio", "--scenario", str(scenario)],
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})
        arrivals: list[tuple[float, float]] = []  # (arrival time, audio ms before this delta)
        try:
            url = f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime"
            for _ in range(200):  # the server process is starting: bounded retries
                try:
                    ws = await connect(url, additional_headers={"Authorization": "Bearer sk-test"}, max_size=None)
                    break
                except OSError:
                    await asyncio.sleep(0.05)
            else:
                raise RuntimeError("the mock did not start")
            async with ws:
                await ws.send(json.dumps({"type": "response.create"}))
                while json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] != "rate_limits.updated":
                    pass
                await ws.send(json.dumps({"type": "response.create"}))
                played = 0.0
                while True:
                    frame = await asyncio.wait_for(ws.recv(), 30)
                    arrived = time.perf_counter()
                    event = json.loads(frame)
                    if event["type"] == "response.output_audio.delta":
                        arrivals.append((arrived, played))
                        played += codecs.duration_ms(len(base64.b64decode(event["delta"])), "audio/pcm")
                    if event["type"] == "response.done":
                        break
        finally:
            server.terminate()
            server.wait(10)
    mock_jitter = jitter(arrivals)
    baseline = jitter(await bare_timer([played for _, played in arrivals]))
    p99 = statistics.quantiles(mock_jitter, n=100)[98]
    verdict = "PASS" if p99 < 5 else "MISS"
    print(f"2. real-time pacing of a {arrivals[-1][1] / 1000:.1f} s answer ({len(arrivals)} audio deltas): jitter p50 "
          f"{statistics.median(mock_jitter):.2f} ms, p99 {p99:.2f} ms (target p99 < 5 ms: {verdict}); "
          f"a bare asyncio timer on the same schedule: p99 {statistics.quantiles(baseline, n=100)[98]:.2f} ms")


def jitter(arrivals: list[tuple[float, float]]) -> list[float]:
    """|actual - scheduled| in ms for (arrival, ms of audio before it) pairs, the constant offset removed."""
    offsets = [(arrived - arrivals[0][0]) * 1000 - (played - arrivals[0][1]) for arrived, played in arrivals]
    middle = statistics.median(offsets)
    return [abs(o - middle) for o in offsets]


async def bare_timer(schedule_ms: list[float]) -> list[tuple[float, float]]:
    """The baseline: a bare asyncio timer firing at the same offsets (ms), as (arrival, offset) pairs."""
    started = time.perf_counter()
    out = []
    for due in schedule_ms:
        await asyncio.sleep(max(0.0, started + due / 1000 - time.perf_counter()))
        out.append((time.perf_counter(), due))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a 5 s answer instead of 30 s")
    quick = parser.parse_args().quick
    print("$ python -m bench.bench_audio" + (" --quick" if quick else ""))
    np.random.seed(0)
    vad_and_decode(10 if quick else 60)
    asyncio.run(pacedjitter(5 if quick else 30))


if __name__ == "__main__":
    main()
