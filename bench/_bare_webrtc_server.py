"""The baseline of `bench_webrtc`: a bare aiortc answerer behind a bare uvicorn ASGI app (no Starlette).

    python bench/_bare_webrtc_server.py PORT CREATED.json

`POST /v1/realtime/calls` with a raw SDP offer is answered as the mock answers it, with aiortc configured the
same way: `RTCConfiguration(iceServers=[])`, ICE on loopback only (`use_host_addresses`, the mock's patch of
aioice), mDNS candidates taken out of the offer (`sanitize_offer`), a send-and-receive audio transceiver
with Opus, PCMU, PCMA preferred (set before the remote description), the answer with its candidates, `201`
and a `Location`. uvicorn runs as the mock's does (httptools, no lifespan, log level warning).

What a call does, and nothing else:
- when the caller's `oai-events` channel opens, it sends CREATED.json's text (the mock's `session.created`,
  captured in the same run) on it, and ignores whatever the caller sends;
- audio: it decodes the caller's track and resamples it to PCM16 24 kHz mono (as the mock feeds its session),
  and plays that back (an echo) on its own track, 20 ms frames at real time, silence when it has nothing:
  the same audio both ways as the mock's call, without a session.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from typing import Any

import uvicorn

from mockserver.transports.webrtc import playback_track, sanitize_offer, use_host_addresses

FRAME_SAMPLES = 480  # 20 ms at 24 kHz
PCM_RATE = 24_000
CODECS = ("audio/opus", "audio/PCMU", "audio/PCMA")
MAX_ECHO_BYTES = 10 * 48_000  # never hold more than 10 s of echo (the track reads it as fast as it comes)

created = ""
tasks: set[asyncio.Task[Any]] = set()
calls: set[Any] = set()


def _spawn(work: Any) -> None:
    task = asyncio.ensure_future(work)
    tasks.add(task)
    task.add_done_callback(tasks.discard)


class Echo:
    """The caller's audio, resampled to PCM16 24 kHz mono, played back on the call's track."""

    def __init__(self) -> None:
        self.pending = bytearray()

    def read(self, size: int) -> bytes:
        out = bytes(self.pending[:size])
        del self.pending[:size]
        return out

    async def hear(self, track: Any) -> None:
        from aiortc.mediastreams import MediaStreamError
        from av import AudioResampler

        resampler = AudioResampler(format="s16", layout="mono", rate=PCM_RATE)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            for out in resampler.resample(frame):
                self.pending += bytes(out.planes[0])[:out.samples * 2]
            if len(self.pending) > MAX_ECHO_BYTES:
                del self.pending[:len(self.pending) - MAX_ECHO_BYTES]


async def answer(offer: str) -> str:
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription

    offer = sanitize_offer(offer)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    calls.add(pc)
    echo = Echo()
    if "m=audio" in offer:
        transceiver = pc.addTransceiver(playback_track(echo.read), direction="sendrecv")  # the mock's own track
        capabilities = RTCRtpSender.getCapabilities("audio").codecs
        transceiver.setCodecPreferences(
            [codec for name in CODECS for codec in capabilities if codec.mimeType.lower() == name.lower()])

    @pc.on("datachannel")
    def on_channel(channel: Any) -> None:
        if channel.label == "oai-events":
            channel.send(created)

    @pc.on("track")
    def on_track(track: Any) -> None:
        if track.kind == "audio":
            _spawn(echo.hear(track))

    @pc.on("connectionstatechange")
    async def on_state() -> None:
        if pc.connectionState in ("failed", "closed") and pc in calls:
            calls.discard(pc)
            _spawn(pc.close())

    await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    return str(pc.localDescription.sdp)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = bytearray()
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if (scope["method"], scope["path"]) != ("POST", "/v1/realtime/calls"):
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    sdp = await answer(body.decode("utf-8", "replace"))
    location = f"/v1/realtime/calls/rtc_{uuid.uuid4().hex}".encode()
    await send({"type": "http.response.start", "status": 201,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"location", location)]})
    await send({"type": "http.response.body", "body": sdp.encode()})


def main(port: int, created_path: str) -> None:
    global created
    with open(created_path, encoding="utf-8") as file:
        created = file.read()
    use_host_addresses(("127.0.0.1",))
    import aiortc  # noqa: F401  (loaded before the first call, as the mock's warm-up call loads it)

    uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off",
                                  http="httptools")).run()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
