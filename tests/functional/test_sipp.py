"""SIPp places real SIP calls at `realtime-mock serve --sip-port ... --webhook-url ... --webhook-secret ...`
(transports.md 2.3), while an app under test, written as OpenAI's SIP guide shows it, receives each signed
`realtime.call.incoming` webhook, verifies it with the official SDK (`client.webhooks.unwrap`), and drives the
call with `client.realtime.calls.*` and the sideband (`client.realtime.connect(call_id=...)`).

The scenarios are in `sipp/`: a call that is accepted, spoken to over RTP (a PCMU file of the speech codec,
made here, played with `rtp_stream`) and sent four RFC 4733 key presses (`play_dtmf`), which the app hangs up;
calls that are rejected (486, and the default 603); a call that is accepted, greeted over the sideband and
referred, after which the caller leaves with BYE. What the app does is in the INVITE (`X-App-Action`).

SIPp 3.6.1 cannot keep the audio it receives, so the offer names a tap (`RtpTap`) as the caller's media
address: the tap passes the mock's RTP on to SIPp's media port, SIPp (`-rtp_echo`) sends each packet back,
and the tap keeps what came back, which is therefore what SIPp received. `play_dtmf` sends through a raw socket:
SIPp must run as root (CI does).

Without `sipp` on PATH (Debian's `sip-tester`) these tests are skipped, except in CI (the `CI` environment
variable), where that is an error: .ci/run installs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import openai
import pytest
from websockets.exceptions import ConnectionClosed

from mockserver.audio import codecs
from mockserver.audio.speech import speak, transcribe
from mockserver.sip import rtp
from tests.functional.sip_helpers import SECRET, TRANSCRIBED, WebhookApp, serving

pytestmark = pytest.mark.functional

SCENARIOS = Path(__file__).parent / "sipp"
ROOT = Path(__file__).resolve().parents[2]
TURN = bytes(24_000) + speak("what is the weather") + bytes(48_000)  # 0.5 s, the words, 1 s: a turn
KEYS = "19#*"  # what uac_accepted.xml presses
TRANSFER_TARGET = "tel:+14155550123"
SAFETY_IDENTIFIER = "caller-42"


@pytest.fixture
def sipp() -> str:
    path = shutil.which("sipp")
    if path is None:
        if os.environ.get("CI"):  # in CI SIPp must run: a lost install must not turn this into a skip
            raise RuntimeError("`sipp` is not on PATH (CI is set; .ci/run installs Debian's sip-tester)")
        pytest.skip("`sipp` is not on PATH (Debian package sip-tester)")
    return path


# -- the mock, as a user starts it -------------------------------------------------------------------------

def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _media_port() -> int:
    """A free even UDP port whose port + 2 is free too (SIPp's `-mp` takes both, for audio and video)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as audio:
            audio.bind(("127.0.0.1", 0))
            port = int(audio.getsockname()[1])
            if port % 2 or port > 65_000:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as video:
                try:
                    video.bind(("127.0.0.1", port + 2))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free pair of UDP ports for SIPp's media")


@dataclass
class Served:
    port: int
    sip_port: int
    log: Path

    @property
    def client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(api_key="sk-test", base_url=f"http://127.0.0.1:{self.port}/v1",
                                  websocket_base_url=f"ws://127.0.0.1:{self.port}/v1")

    def admin(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as response:
            return json.loads(response.read())


@contextlib.asynccontextmanager
async def realtime_mock(folder: Path, port: int, webhook_url: str) -> AsyncIterator[Served]:
    """`realtime-mock serve` with SIP on a free UDP port, its incoming calls announced to `webhook_url`."""
    served = Served(port, _free_port(socket.SOCK_DGRAM), folder / "realtime-mock.log")
    with served.log.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            "realtime-mock", "serve", "--port", str(port), "--log-level", "warning", "--sip-port",
            str(served.sip_port), "--webhook-url", webhook_url, "--webhook-secret", SECRET,
            cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=log, stderr=log)
    try:
        for _ in range(600):
            try:
                await asyncio.to_thread(served.admin, "/_mock/health")
                break
            except OSError:
                if proc.returncode is not None:
                    break
                await asyncio.sleep(0.05)  # real time: a real process starting to listen
        else:
            raise AssertionError(f"realtime-mock did not start: {served.log.read_text()}")
        assert proc.returncode is None, f"realtime-mock did not start: {served.log.read_text()}"
        assert f"SIP on udp 127.0.0.1:{served.sip_port}" in served.log.read_text()
        yield served
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


# -- SIPp ----------------------------------------------------------------------------------------------------

@dataclass
class SippRun:
    returncode: int
    messages: str  # -trace_msg: every SIP message sent and received
    output: str

    def check(self) -> None:
        assert self.returncode == 0, f"SIPp exited {self.returncode}:\n{self.output}\n{self.messages}"


async def run_sipp(sipp: str, scenario: str, served: Served, folder: Path, *, action: str,
                   rtp_port: int | None = None, media_port: int | None = None, echo: bool = False) -> SippRun:
    """One call of `scenario` (in sipp/) at the mock; `rtp_port` is the audio port the offer names (default:
    SIPp's own media port)."""
    media_port = media_port or _media_port()
    folder.mkdir(parents=True, exist_ok=True)
    name = Path(scenario).stem
    messages, errors, output = (folder / f"{name}.{kind}" for kind in ("messages.log", "errors.log", "out"))
    args = [sipp, f"127.0.0.1:{served.sip_port}", "-sf", str(SCENARIOS / scenario), "-s", "proj_test",
            "-m", "1", "-l", "1", "-i", "127.0.0.1", "-p", str(_free_port(socket.SOCK_DGRAM)),
            "-mi", "127.0.0.1", "-mp", str(media_port),
            "-key", "app_action", action, "-key", "rtp_port", str(rtp_port or media_port),
            "-timeout", "60s", "-timeout_error", "-nostdin",
            "-trace_msg", "-message_file", str(messages), "-trace_err", "-error_file", str(errors),
            *(["-rtp_echo"] if echo else [])]
    with output.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(*args, cwd=folder, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=out, stderr=asyncio.subprocess.STDOUT)
        try:
            returncode = await asyncio.wait_for(proc.wait(), 90)
        except TimeoutError:
            proc.kill()
            returncode = await proc.wait()

    def text(path: Path) -> str:
        return path.read_text(errors="replace") if path.exists() else ""

    return SippRun(returncode, text(messages), text(output)[-4000:] + text(errors)[-4000:])


class RtpTap(asyncio.DatagramProtocol):
    """The caller's media address in SIPp's offer: what the mock sends goes on to SIPp's media port; what SIPp
    echoes back (`-rtp_echo`) is what it received, kept here."""

    def __init__(self, sipp_media: tuple[str, int]) -> None:
        self.sipp_media = sipp_media
        self.forwarded = 0
        self.echoed: list[rtp.RtpPacket] = []
        self.port = 0
        self._transport: asyncio.DatagramTransport | None = None

    @classmethod
    async def open(cls, sipp_media_port: int) -> RtpTap:
        tap = cls(("127.0.0.1", sipp_media_port))
        await asyncio.get_running_loop().create_datagram_endpoint(lambda: tap, local_addr=("127.0.0.1", 0))
        return tap

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if addr == self.sipp_media:
            packet = rtp.parse(data)
            if packet is not None:
                self.echoed.append(packet)
        elif self._transport is not None:
            self.forwarded += 1
            self._transport.sendto(data, self.sipp_media)

    def heard(self, payload_type: int) -> bytes:
        """What SIPp received of the mock's audio, as PCM16 24 kHz."""
        return codecs.decode(b"".join(p.payload for p in self.echoed if p.payload_type == payload_type),
                             "audio/pcmu")

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


# -- the app under test ----------------------------------------------------------------------------------------

@dataclass
class PhoneApp:
    """What the app does with a call is in its INVITE's `X-App-Action`: `converse` (accept with transcription,
    listen on the sideband to a turn and the caller's keys, then hang up), `transfer` (accept, greet over the
    sideband, refer), `reject` (the default status) or `busy` (486)."""

    sidebands: dict[str, list[Any]] = field(default_factory=dict)  # call id -> what its sideband saw
    closed: set[str] = field(default_factory=set)  # calls whose sideband the mock closed
    failures: list[BaseException] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def __call__(self, client: openai.AsyncOpenAI, event: Any) -> None:
        call_id = event.data.call_id
        action = next(h.value for h in event.data.sip_headers if h.name == "X-App-Action")
        if action == "reject":
            await client.realtime.calls.reject(call_id)
        elif action == "busy":
            await client.realtime.calls.reject(call_id, status_code=486)
        elif action == "converse":
            await client.realtime.calls.accept(call_id, **TRANSCRIBED,
                                               extra_headers={"OpenAI-Safety-Identifier": SAFETY_IDENTIFIER})
            self._spawn(self._converse(client, call_id))
        elif action == "transfer":
            await client.realtime.calls.accept(call_id, type="realtime", model="gpt-realtime",
                                               output_modalities=["audio"])
            self._spawn(self._transfer(client, call_id))

    async def _converse(self, client: openai.AsyncOpenAI, call_id: str) -> None:
        seen = self.sidebands[call_id] = []
        async with client.realtime.connect(call_id=call_id) as side:
            def done() -> bool:
                types = [e.type for e in seen]
                return ("output_audio_buffer.stopped" in types
                        and types.count("input_audio_buffer.dtmf_event_received") == len(KEYS))

            while not done():
                seen.append(await asyncio.wait_for(side.recv(), 30))
            await client.realtime.calls.hangup(call_id)
            await self._until_closed(side, call_id)

    async def _transfer(self, client: openai.AsyncOpenAI, call_id: str) -> None:
        seen = self.sidebands[call_id] = []
        async with client.realtime.connect(call_id=call_id) as side:
            await side.response.create(response={"instructions": "Tell the caller you are transferring them."})
            while not seen or seen[-1].type != "response.done":
                seen.append(await asyncio.wait_for(side.recv(), 30))
            await client.realtime.calls.refer(call_id, target_uri=TRANSFER_TARGET)
            await self._until_closed(side, call_id)  # the caller leaves (BYE): the session ends

    async def _until_closed(self, side: Any, call_id: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                self.sidebands[call_id].append(await asyncio.wait_for(side.recv(), 30))
        self.closed.add(call_id)

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is not None:
            self.failures.append(error)

    async def settle(self, timeout: float = 30) -> None:
        if self._tasks:
            await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), timeout)
        assert not self.failures, self.failures


@contextlib.asynccontextmanager
async def deployment(folder: Path) -> AsyncIterator[tuple[Served, WebhookApp, PhoneApp]]:
    """The app (its webhook receiver) and the mock pointed at it."""
    port = _free_port()
    phone = PhoneApp()
    client = openai.AsyncOpenAI(api_key="sk-test", base_url=f"http://127.0.0.1:{port}/v1",
                                websocket_base_url=f"ws://127.0.0.1:{port}/v1")
    async with serving(WebhookApp(client, policy=phone)) as app, realtime_mock(folder, port, app.url) as served:
        yield served, app, phone


def _headers(event: Any) -> dict[str, str]:
    return {h.name: h.value for h in event.data.sip_headers}


async def test_sipp_call_accepted_spoken_to_with_keys_and_hung_up_by_the_app(sipp: str, tmp_path: Path) -> None:
    pcmu = codecs.encode(TURN, "audio/pcmu")
    (tmp_path / "turn.ulaw").write_bytes(pcmu + b"\xff" * (-len(pcmu) % rtp.SAMPLES_PER_PACKET))  # whole packets
    media_port = _media_port()
    tap = await RtpTap.open(media_port)
    try:
        async with deployment(tmp_path) as (served, app, phone):
            run = await run_sipp(sipp, "uac_accepted.xml", served, tmp_path, action="converse",
                                 rtp_port=tap.port, media_port=media_port, echo=True)
            run.check()
            await phone.settle()
            (delivery,) = app.deliveries
            event = delivery.event
            call_id = event.data.call_id
            # the webhook, verified by the SDK: the INVITE's headers, in order
            assert delivery.status == 200 and delivery.headers["webhook-id"].startswith("wh_")
            assert call_id.startswith("rtc_") and event.data.sip_media_security == "rtp"
            headers = _headers(event)
            assert list(headers)[:4] == ["Via", "From", "To", "Call-ID"]
            assert headers["X-App-Action"] == "converse" and headers["User-Agent"] == "SIPp"
            assert f"Call-ID: {headers['Call-ID']}" in run.messages
            # the answer: PCMU and the offer's telephone-event type (96), this side's RTP address
            answer = run.messages.split("SIP/2.0 200 OK", 1)[1].split("\n\n", 2)[1]
            assert "m=audio " in answer and " RTP/AVP 0 96" in answer and "a=rtpmap:96 telephone-event/8000" in answer
            # the turn SIPp spoke, heard exactly; the keys it pressed, each once; the answer on RTP only
            seen = phone.sidebands[call_id]
            transcripts = [e.transcript for e in seen
                           if e.type == "conversation.item.input_audio_transcription.completed"]
            assert transcripts == ["what is the weather"]
            keys = [e for e in seen if e.type == "input_audio_buffer.dtmf_event_received"]
            assert [k.event for k in keys] == list(KEYS) and all(k.received_at > 0 for k in keys)
            types = [e.type for e in seen]
            assert "output_audio_buffer.started" in types and "response.output_audio.delta" not in types
            assert call_id in phone.closed  # the app's hangup ended the call and its sideband
            assert re.search(r"^BYE sip:sipp@127\.0\.0\.1:\d+ SIP/2\.0", run.messages, re.M)
            # what SIPp received (and echoed): the mock's answer, spoken
            assert tap.forwarded > 100 and len(tap.echoed) > 100
            assert transcribe(tap.heard(0)) == "You said: what is the weather"
            # the accept's OpenAI-Safety-Identifier, kept with the call's session
            (session,) = [s for s in served.admin("/_mock/sessions")["sessions"] if s["call_id"] == call_id]
            assert session["safety_identifier"] == SAFETY_IDENTIFIER and session["live"] is False
            assert served.admin("/_mock/calls")["calls"] == []
    finally:
        tap.close()


async def test_sipp_calls_rejected_and_referred(sipp: str, tmp_path: Path) -> None:
    async with deployment(tmp_path) as (served, app, phone):
        for action, status in (("busy", "486 Busy Here"), ("reject", "603 Decline")):
            run = await run_sipp(sipp, "uac_rejected.xml", served, tmp_path / action, action=action)
            run.check()
            assert re.search(rf"^SIP/2\.0 {status}$", run.messages, re.M), run.messages
            assert re.search(r"^SIP/2\.0 180 Ringing$", run.messages, re.M)  # it rang while the app decided

        run = await run_sipp(sipp, "uac_referred.xml", served, tmp_path / "transfer", action="transfer")
        run.check()
        await phone.settle()
        call_id = app.deliveries[-1].event.data.call_id
        refer = run.messages.split("REFER sip:", 1)[1].split("\n\n", 1)[0]
        assert f"Refer-To: <{TRANSFER_TARGET}>" in refer
        seen = phone.sidebands[call_id]
        assert [e.type for e in seen].count("response.done") == 1  # the greeting, over the sideband
        assert call_id in phone.closed  # the caller's BYE ended the session and its sideband
        assert [d.status for d in app.deliveries] == [200, 200, 200]  # every webhook verified by the SDK
        assert len({d.headers["webhook-id"] for d in app.deliveries}) == 3
        assert served.admin("/_mock/calls")["calls"] == []
