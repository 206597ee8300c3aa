"""Request-based audio: how much faster than real time the mock makes speech files and transcribes uploads.

    python -m bench.bench_audio_rest [--quick] [--formats mp3,opus,...]

For each format, with ~30 s of speech (the speech codec saying a paragraph):

1. Speech: `speak_at` + encoding with PyAV (what `POST /v1/audio/speech` does per request), as a multiple of
   real time; the baseline in the same run is encoding the same PCM alone (the floor: FFmpeg's encoder).
2. Transcription: decoding the file with PyAV, resampling to 24 kHz and hearing the words with the speech
   codec (what `POST /v1/audio/transcriptions` does), as a multiple of real time; the baseline is decoding
   alone.
3. End to end over a socket: the official SDK's `audio.speech.create` and `audio.transcriptions.create`
   against a mock on loopback, per request, as a multiple of real time.

The figures are on one core (PyAV releases the GIL in FFmpeg, but the mock encodes one request per worker
thread). Targets: speech >= 20x real time, transcription >= 20x real time.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable

from mockserver import media
from mockserver.audio.speech import transcribe
from mockserver.audio.speed import speak_at

PARAGRAPH = ("The quick brown fox jumps over the lazy dog while the weather stays fine. "
             "Every test of a voice agent wants audio that says exactly what it should. ")
UPLOAD_NAMES = {"mp3": "b.mp3", "opus": "b.ogg", "aac": "b.m4a", "flac": "b.flac", "wav": "b.wav"}
TARGET = 20.0


def _best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def offline(fmt: str, text: str, repeat: int) -> tuple[float, float, float, float, float]:
    pcm = speak_at(text)
    seconds = media.duration(pcm)
    encoded = media.encode(pcm, fmt)
    speak_time = _best(lambda: media.encode(speak_at(text), fmt), repeat)
    encode_floor = _best(lambda: media.encode(pcm, fmt), repeat)

    def hear() -> None:
        assert transcribe(media.decode(encoded)) == text

    hear_time = _best(hear, repeat)
    decode_floor = _best(lambda: media.decode(encoded), repeat)
    return seconds, speak_time, encode_floor, hear_time, decode_floor


async def over_a_socket(formats: list[str], text: str, repeat: int) -> dict[str, tuple[float, float]]:
    from openai import AsyncOpenAI

    from mockserver.runner import start_in_thread

    server = start_in_thread()
    sdk = AsyncOpenAI(api_key="sk-bench", base_url=server.base_url, max_retries=0)
    seconds = media.duration(speak_at(text))
    out = {}
    try:
        for fmt in formats:
            made, heard = [], []
            for _ in range(repeat):
                started = time.perf_counter()
                answer = await sdk.audio.speech.create(model="gpt-4o-mini-tts", voice="alloy", input=text,
                                                       response_format=fmt)  # type: ignore[arg-type]
                made.append(time.perf_counter() - started)
                if fmt == "pcm":
                    continue
                started = time.perf_counter()
                result = await sdk.audio.transcriptions.create(model="whisper-1",
                                                               file=(UPLOAD_NAMES[fmt], answer.content))
                heard.append(time.perf_counter() - started)
                assert result.text == text
            out[fmt] = (seconds / min(made), seconds / min(heard) if heard else 0.0)
    finally:
        server.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="~10 s of speech, fewer repeats")
    parser.add_argument("--formats", default=",".join(media.FORMATS))
    args = parser.parse_args()
    formats = [f for f in args.formats.split(",") if f]
    text = (PARAGRAPH * (1 if args.quick else 3)).strip()
    repeat = 2 if args.quick else 5
    print(f"{'format':<6} {'audio s':>8} {'speech x rt':>12} {'encode only':>12} {'ratio':>6} "
          f"{'transcribe x rt':>16} {'decode only':>12} {'ratio':>6}")
    for fmt in (f for f in formats if f != "pcm"):  # pcm is no file: nothing to encode or decode
        seconds, speak_time, encode_floor, hear_time, decode_floor = offline(fmt, text, repeat)
        print(f"{fmt:<6} {seconds:>8.1f} {seconds / speak_time:>11,.0f}x {seconds / encode_floor:>11,.0f}x "
              f"{speak_time / encode_floor:>5.1f}x {seconds / hear_time:>15,.0f}x {seconds / decode_floor:>11,.0f}x "
              f"{hear_time / decode_floor:>5.1f}x")
    print("\nEnd to end (official SDK, loopback, per request; x real time):")
    for fmt, (made, heard) in asyncio.run(over_a_socket(formats, text, repeat)).items():
        verdict = "PASS" if made >= TARGET and (not heard or heard >= TARGET) else "MISS"
        shown = f"{heard:,.0f}x" if heard else "-"
        print(f"  {fmt:<5} speech {made:,.0f}x, transcription {shown} (target >= {TARGET:.0f}x: {verdict})")


if __name__ == "__main__":
    main()
