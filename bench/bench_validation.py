"""How fast client-event validation is, as a ratio to parsing the same frames with `json.loads`.

    python -m bench.bench_validation

The baseline (plain `json.loads`) is measured in the same run, so the ratios hold on a noisy
machine; absolute times are printed for context only.
"""

from __future__ import annotations

import base64
import json
import statistics
import time
from collections.abc import Callable

from mockserver import schema_store
from mockserver.protocol.realtime import RealtimeSession

FRAMES = {
    "append (100 ms audio)": json.dumps({"type": "input_audio_buffer.append",
                                         "audio": base64.b64encode(bytes(4800)).decode()}),
    "response.create": json.dumps({"type": "response.create", "response": {
        "output_modalities": ["text"], "instructions": "Be brief.", "metadata": {"k": "v"}}}),
    "session.update (full)": json.dumps({"type": "session.update", "session": {
        "type": "realtime", "instructions": "hi", "output_modalities": ["audio"],
        "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000},
                            "turn_detection": {"type": "server_vad", "threshold": 0.5},
                            "transcription": {"model": "gpt-4o-mini-transcribe"}},
                  "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy"}},
        "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]}}),
    "invalid (unknown field)": json.dumps({"type": "session.update", "session": {"type": "realtime", "bogus": 1}}),
}


def _best_of(fn: Callable[[], object], repeat: int = 7, number: int = 300) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return statistics.median(times)


def main() -> None:
    validator = schema_store.schemas().validator(RealtimeSession.EVENTS.schemas)
    for frame in FRAMES.values():
        validator.check_frame(frame)  # compile outside the measurement
    print(f"{'frame':<26}{'json.loads':>12}{'validate':>12}{'ratio':>8}")
    for name, frame in FRAMES.items():
        base = _best_of(lambda f=frame: json.loads(f))
        full = _best_of(lambda f=frame: validator.check_frame(f))
        print(f"{name:<26}{base * 1e6:>10.1f}us{full * 1e6:>10.1f}us{full / base:>7.1f}x")


if __name__ == "__main__":
    main()
