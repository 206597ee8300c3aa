"""A real browser: headless Chromium runs the browser flow of OpenAI's WebRTC guide ("Connecting using an
ephemeral token", tests/browser/app.js) against the mock, from a page served on another origin.

The app server (a Starlette app on its own loopback port, as a real app's server) serves the page and
`/session`, which mints an `ek_` key with the official SDK's `client.realtime.client_secrets.create` against the
mock. The page fetches the key, makes its offer with the microphone's track and the `oai-events` channel, posts it
to the mock's `/v1/realtime/calls` itself (cross-origin: the mock's CORS headers let it, and let it read
`Location`), plays the answer's track in an `<audio>` element and records it with WebAudio, and reports back to
the app server, in order, every event of the channel, the call's `Location`, and the recorded audio.

The fake microphone plays a WAV file written here once (Chromium loops it unless its path ends with `%noloop`):
silence while the call connects, a sentence made by `speak`, silence. The mock's VAD hears the sentence on the
track and transcribes it; its answer is spoken on the server's track, and `transcribe` reads it back from what
the page recorded.

Without `chromium` on PATH these tests are skipped, except in CI (the `CI` environment variable), where that is an
error (`.ci/run` installs it).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncOpenAI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from mockserver.audio.codecs import PCM_RATE
from mockserver.audio.speech import is_quiet, speak, transcribe
from mockserver.runner import RunningServer
from tests.functional.conftest import Served

pytestmark = pytest.mark.functional

PAGE_DIR = Path(__file__).resolve().parents[1] / "browser"
SENTENCE = "what is the weather in Paris"
ANSWER = f"You said: {SENTENCE}"
LEAD_SECONDS = 3.0  # silence before the sentence, from getUserMedia on: the call connects meanwhile (in ~0.3 s)
TAIL_SECONDS = 1.0
SESSION = {"type": "realtime", "output_modalities": ["audio"],
           "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}}}
# The browser's audio processing off, as an app that wants the raw microphone asks for it (the guide's
# `{audio: true}` is tested too).
UNPROCESSED = {"echoCancellation": False, "noiseSuppression": False, "autoGainControl": False}
QUIET_END = 300 * PCM_RATE * 2 // 1000  # the answer's longest pause is 180 ms: 300 ms of quiet means it has ended
TIMEOUT = 60.0  # the conversation takes about 8 s; this only guards against a wedged browser


@pytest.fixture(scope="module")
def chromium() -> str:
    executable = shutil.which("chromium")
    if executable is None:
        if os.environ.get("CI"):  # in CI the browser must run: a lost install must not turn this into a skip
            raise RuntimeError("`chromium` is not on PATH (CI is set; .ci/run installs it)")
        pytest.skip("`chromium` is not on PATH")
    return executable


@dataclass
class PageLog:
    """What the page reported to the app server: its reports in order, and the remote audio it recorded."""

    reports: list[dict[str, Any]] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def add(self, report: dict[str, Any] | None = None, audio: bytes = b"") -> None:
        with self.changed:
            if report is not None:
                self.reports.append(report)
            self.audio += audio
            self.changed.notify_all()

    def events(self) -> list[dict[str, Any]]:
        with self.changed:
            return [r["event"] for r in self.reports if "event" in r]

    def first(self, key: str) -> dict[str, Any]:
        """The first report with `key` ({} when there is none)."""
        with self.changed:
            return next((r for r in self.reports if key in r), {})

    def at(self, event_type: str) -> int | None:
        """When the page received the first event of `event_type` (ms since its navigation started)."""
        with self.changed:
            return next((r["at"] for r in self.reports if r.get("event", {}).get("type") == event_type), None)

    def wait(self, done: Callable[[], bool], timeout: float, browser: subprocess.Popen[bytes]) -> bool:
        """Wait until `done()` (checked on each report), the page reports an error, or the browser exits."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not done():
                left = deadline - time.monotonic()
                if left <= 0 or browser.poll() is not None or any("error" in r for r in self.reports):
                    return False
                self.changed.wait(min(left, 0.5))  # woken by each report; the timeout only notices the browser
        return True


def app_server(mock: RunningServer, log: PageLog) -> Starlette:
    """The app's own server: the page, `/session` (an ephemeral key minted with a standard key, as a real
    app's server does), and where the page reports."""

    async def session(request: Request) -> Response:
        client = AsyncOpenAI(api_key="sk-test", base_url=mock.base_url)
        secret = await client.realtime.client_secrets.create(session=SESSION)
        return JSONResponse({"value": secret.value, "expires_at": secret.expires_at})

    async def report(request: Request) -> Response:
        log.add(json.loads(await request.body()))
        return Response(status_code=204)

    async def audio(request: Request) -> Response:
        log.add(audio=await request.body())
        return Response(status_code=204)

    def static(path: str, name: str) -> Route:
        async def page_file(request: Request) -> Response:
            return FileResponse(PAGE_DIR / name, headers={"cache-control": "no-store"})
        return Route(path, page_file)

    return Starlette(routes=[
        static("/", "index.html"), static("/app.js", "app.js"), static("/recorder.js", "recorder.js"),
        Route("/session", session), Route("/report", report, methods=["POST"]),
        Route("/audio", audio, methods=["POST"]),
    ])


def microphone_wav(path: Path) -> Path:
    """Silence, the sentence, silence: PCM16 24 kHz mono (Chromium resamples it)."""
    pcm = bytes(int(LEAD_SECONDS * PCM_RATE) * 2) + speak(SENTENCE) + bytes(int(TAIL_SECONDS * PCM_RATE) * 2)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(PCM_RATE)
        wav.writeframes(pcm)
    return path


@contextlib.contextmanager
def browser(chromium: str, url: str, folder: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Headless Chromium on `url` with a fresh profile, its microphone playing folder/microphone.wav once; its
    log in folder/chromium.log. Stopped at the end, with every process it started."""
    wav = microphone_wav(folder / "microphone.wav")
    flags = [
        "--headless=new", "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
        f"--user-data-dir={folder / 'profile'}", "--no-first-run", "--no-default-browser-check", "--disable-gpu",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",  # getUserMedia granted, no device
        f"--use-file-for-fake-audio-capture={wav}%noloop",
        "--allow-loopback-in-peer-connection",  # ICE on 127.0.0.1, where the mock's candidate is
        "--autoplay-policy=no-user-gesture-required",  # the <audio> element and the AudioContext play
        "--enable-logging=stderr", "--v=0",  # the page's console too, for the failure message
    ]
    with (folder / "chromium.log").open("wb") as log:
        # In its own process group (Debian's `chromium` is a shell script that runs the browser as its child).
        process = subprocess.Popen([chromium, *flags, url], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                   start_new_session=True)
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.mark.parametrize(("microphone", "offer"), [
    pytest.param(UNPROCESSED, "offer.sdp", id="guide"),
    # The offer once ICE gathering is complete, with the browser's own candidates (as some apps send it).
    pytest.param(UNPROCESSED, "gathered", id="gathered-offer"),
    # Exactly the guide's `getUserMedia({audio: true})`: Chromium's noise suppression and gain control stretch each
    # word of `speak` by ~5 ms at both ends, which the speech codec's decoder allows for.
    pytest.param(True, "offer.sdp", id="browser-audio-processing"),
])
def test_the_webrtc_guide_in_headless_chromium(chromium: str, mock: RunningServer,
                                               serve: Callable[[Starlette], Served], tmp_path: Path,
                                               microphone: Any, offer: str) -> None:
    log = PageLog()
    app = serve(app_server(mock, log))
    assert app.port != mock.port  # the page's origin is not the mock's
    query = urllib.parse.urlencode({"mock": mock.base_url, "microphone": json.dumps(microphone), "offer": offer})
    importlib.import_module("aiortc")  # the mock imports it with the first call (~0.4 s): not while the mic plays

    def finished() -> bool:
        """The answer has played: announced as stopped, and heard whole (followed by quiet) on the page."""
        audio = bytes(log.audio)
        return ("output_audio_buffer.stopped" in (e["type"] for e in log.events())
                and len(audio) > QUIET_END and is_quiet(audio[-QUIET_END:]) and transcribe(audio) is not None)

    with browser(chromium, f"http://127.0.0.1:{app.port}/?{query}", tmp_path) as process:
        ended = log.wait(finished, TIMEOUT, process)
        exit_code = process.poll()
    said = (tmp_path / "chromium.log").read_text("utf-8", "replace")[-3000:]
    reports = [r if "event" not in r else r["event"]["type"] for r in log.reports]
    assert ended, (f"the page did not finish (browser exit code {exit_code}); it reported {reports}, recorded "
                   f"{len(log.audio) / 2 / PCM_RATE:.1f} s of the answer; chromium said:\n{said}")

    call = log.first("call")["call"]
    assert call["status"] == 201 and call["call_id"].startswith("rtc_")  # `Location` is exposed by CORS
    events = log.events()
    names = [e["type"] for e in events]
    assert names[0] == "session.created"  # the channel's first message
    assert events[0]["session"]["audio"]["input"]["transcription"]["model"] == "gpt-4o-transcribe"  # the ek's
    microphone_at, connected_at = log.first("microphone")["at"], log.first("connection")["at"]
    turn = ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped", "input_audio_buffer.committed",
            "output_audio_buffer.started", "response.done", "output_audio_buffer.stopped"]
    assert [n for n in names if n in turn] == turn, (names, f"mic on at {microphone_at} ms, connected "
                                                            f"at {connected_at} ms")
    # The transcription runs beside the response (as live): after the commit, in any order with the answer.
    assert names.index("input_audio_buffer.committed") < names.index(
        "conversation.item.input_audio_transcription.completed")
    completed = next(e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed")
    assert completed["transcript"] == SENTENCE  # the fake microphone, heard exactly
    assert "response.output_audio.delta" not in names  # on WebRTC the answer is on the track
    assert transcribe(bytes(log.audio)) == ANSWER  # what the page's <audio> played, recorded
    print(f"[{offer}] page load to session.created {log.at('session.created')} ms, to the transcription "
          f"{log.at('conversation.item.input_audio_transcription.completed')} ms, to output_audio_buffer.stopped "
          f"{log.at('output_audio_buffer.stopped')} ms (microphone on at {microphone_at} ms, the sentence "
          f"{LEAD_SECONDS:.0f} s later)")
