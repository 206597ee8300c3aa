"""Translation sessions in real time: when the translated output starts and how evenly its audio comes.

    python -m bench.bench_translation [--quick]

The mock runs in its own process (`serve --realtime-audio`); the client is the official SDK
(`client.realtime.translations.connect`), which appends speech made with the speech codec in 200 ms
chunks at the rate it would be spoken (as a microphone sends it), a pause after each sentence, and
timestamps every event as it arrives.

1. First-output latency: from sending the chunk after which the sentence is heard whole (its last word
   followed by quiet, as the session's engine hears it) to the first translated transcript delta of that
   sentence. Target: `translation.LATENCY`, 1.5 s, within 50 ms (live was seen starting about 2.2 s after
   the session opened, reference 2.3). Reported as a ratio to the target.
2. Output frame timing: each sentence's 400 ms audio frames should arrive as the audio before them has
   played. Jitter is |actual - scheduled| after removing the constant offset (target p99 < 10 ms); a bare
   asyncio timer scheduling the same frames in the same run is the baseline.
3. Trailing output: after `session.close`, the rest comes at the rate it plays and `session.closed`
   follows the last frame: its arrival against when it is due (LATENCY after the last sentence, plus the
   audio before it), within 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from openai import AsyncOpenAI

from bench.bench_audio import bare_timer, jitter
from mockserver.audio.speech import Listener, speak
from mockserver.protocol.translation import ENGINE_FRAME, LATENCY

SENTENCES = ("Where is the station?", "The train leaves at nine.", "Two tickets to the coast, please.",
             "Is there a later one?", "Thank you very much.")
PAUSE = bytes(48 * 1000)  # one second of silence after each sentence
LANGUAGE = "es"


@dataclass
class Run:
    sentence_ends: list[float] = field(default_factory=list)  # when the chunk that ends each sentence went out
    closed_sent: float = 0.0
    events: list[tuple[float, Any]] = field(default_factory=list)  # (arrival, SDK event)


def _program(sentences: tuple[str, ...]) -> tuple[bytes, list[int]]:
    """The audio the client sends, and the index of the chunk that ends each sentence: the first after which
    a listener hears the sentence whole (its last word followed by quiet), as the session's engine does."""
    pcm = bytes(48 * 200) + b"".join(speak(sentence) + PAUSE for sentence in sentences)
    ends, listener = [], Listener()
    for index in range(0, len(pcm) // ENGINE_FRAME + 1):
        listener.feed(pcm[index * ENGINE_FRAME:(index + 1) * ENGINE_FRAME])
        if listener.text(settled=True) is not None:
            ends.append(index)
            listener = Listener()
    assert len(ends) == len(sentences)
    return pcm, ends


async def _session(port: int, sentences: tuple[str, ...]) -> Run:
    pcm, ends = _program(sentences)
    chunks = [pcm[i:i + ENGINE_FRAME] for i in range(0, len(pcm), ENGINE_FRAME)]
    client = AsyncOpenAI(api_key="sk-test", base_url=f"http://127.0.0.1:{port}/v1",
                         websocket_base_url=f"ws://127.0.0.1:{port}/v1")
    run = Run()
    async with client.realtime.translations.connect(model="gpt-realtime-translate") as conn:
        await conn.session.update(session={"audio": {"output": {"language": LANGUAGE}}})

        async def receive() -> None:
            while True:
                event = await conn.recv()
                run.events.append((time.perf_counter(), event))
                if event.type == "session.closed":
                    return

        receiver = asyncio.create_task(receive())
        started = time.perf_counter()
        for index, chunk in enumerate(chunks):  # real time is the point: a microphone's pace
            await asyncio.sleep(max(0.0, started + index * 0.2 - time.perf_counter()))
            await conn.session.input_audio_buffer.append(audio=base64.b64encode(chunk).decode())
            if index in ends:
                run.sentence_ends.append(time.perf_counter())
        run.closed_sent = time.perf_counter()
        await conn.session.close()
        await asyncio.wait_for(receiver, 60)
    return run


def _per_sentence(run: Run, sentences: tuple[str, ...]) -> list[list[tuple[float, Any]]]:
    """The output events of each sentence: its transcript is `[es] <sentence>`, its audio frames follow it."""
    expected = [f"[{LANGUAGE}] {s}" for s in sentences]
    out: list[list[tuple[float, Any]]] = [[] for _ in sentences]
    index, said = 0, ""
    for arrived, event in run.events:
        if event.type == "session.output_transcript.delta":
            if said == expected[index]:
                index, said = index + 1, ""
            said += event.delta
        if event.type in ("session.output_transcript.delta", "session.output_audio.delta"):
            out[index].append((arrived, event))
    assert [''.join(e.delta for _, e in events if e.type == "session.output_transcript.delta")
            for events in out] == expected, "the translation is not what the codec said"
    return out


def _frames(events: list[tuple[float, Any]]) -> list[tuple[float, float]]:
    """(arrival, ms of this sentence's audio before the frame) for each audio frame."""
    played, out = 0.0, []
    for arrived, event in events:
        if event.type == "session.output_audio.delta":
            out.append((arrived, played))
            played += len(base64.b64decode(event.delta)) / 48
    return out


async def measure(sentences: tuple[str, ...]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "mockserver", "serve", "--port", str(port), "--log-level",
                               "warning", "--realtime-audio"], env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        for _ in range(400):  # the server process is starting: bounded retries
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        await _session(port, ("Warming up.",))  # NumPy and the codec load with the first sentence
        run = await _session(port, sentences)
    finally:
        server.terminate()
        server.wait(10)

    outputs = _per_sentence(run, sentences)
    latencies = [events[0][0] - end for events, end in zip(outputs, run.sentence_ends, strict=True)]
    worst = max(latencies, key=lambda latency: abs(latency - LATENCY))
    print(f"1. first-output latency over {len(sentences)} sentences: median {statistics.median(latencies):.3f} s, "
          f"farthest from the target {worst:.3f} s = {worst / LATENCY:.3f}x the target of {LATENCY} s: "
          f"{'PASS' if abs(worst - LATENCY) < 0.05 else 'MISS'}")

    spread: list[float] = []
    baseline: list[float] = []
    for events in outputs:
        frames = _frames(events)
        spread += jitter(frames)
        baseline += jitter(await bare_timer([played for _, played in frames]))
    p99 = statistics.quantiles(spread, n=100)[98]
    base99 = statistics.quantiles(baseline, n=100)[98]
    print(f"2. output audio frames ({len(spread)}, 400 ms each): jitter p50 {statistics.median(spread):.2f} ms, "
          f"p99 {p99:.2f} ms (target < 10 ms: {'PASS' if p99 < 10 else 'MISS'}); a bare asyncio timer on the same "
          f"schedule: p99 {base99:.2f} ms ({p99 / max(base99, 0.01):.1f}x)")

    # The last sentence's last frame is due LATENCY after its end, plus the audio before that frame.
    frames = _frames(outputs[-1])
    due = run.sentence_ends[-1] + LATENCY + frames[-1][1] / 1000 - run.closed_sent
    closed = next(arrived for arrived, event in run.events if event.type == "session.closed") - run.closed_sent
    after = sum(1 for arrived, _ in frames if arrived > run.closed_sent)
    last = frames[-1][0] - run.closed_sent
    print(f"3. trailing output: {after} audio frames after session.close, the last {last:.3f} s after it (due at "
          f"{due:.3f} s: {last / due:.3f}x), session.closed at {closed:.3f} s: "
          f"{'PASS' if after and abs(closed - due) < 0.05 else 'MISS'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="two sentences instead of five")
    quick = parser.parse_args().quick
    print("$ python -m bench.bench_translation" + (" --quick" if quick else ""))
    asyncio.run(measure(SENTENCES[:2] if quick else SENTENCES))


if __name__ == "__main__":
    main()
