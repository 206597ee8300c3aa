"""WebRTC calls: an aiortc peer connection per call, attached to the call's session runtime.

The answer is made as the live one (transports.md 1.2, 3.3): full ICE on the configured host addresses
only (loopback by default, and never a STUN server: aiortc asks Google's by default, and aioice leaves
loopback out), its own candidates in the answer (no trickle), Opus first with PCMU and PCMA as fallbacks,
and mDNS (`.local`) candidates removed from the offer, since resolving them needs multicast and aioice
gives up on them; the browser's checks then teach aiortc its peer-reflexive address.

The client's `oai-events` data channel is the call's `Sink`: it carries every event the session sends
and every client event it reads, exactly as a WebSocket does. The runtime holds the session's events
until the channel opens (so `session.created` is its first message). Audio: the inbound track is decoded
and resampled to PCM16 24 kHz into the session's input (VAD, transcription); the outbound track plays
the session's `OutputAudioBuffer` (protocol/output_audio.py) at real time, silence between answers.

aiortc and PyAV are imported on the first call (about 0.4 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import functools
import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from mockserver.protocol.calls import Call
from mockserver.runtime import SessionRuntime

log = logging.getLogger("realtime_mock")

CHANNEL = "oai-events"
FRAME_SAMPLES = 480  # 20 ms at 24 kHz
PCM_RATE = 24_000
CHANNEL_BUFFER_BYTES = 1024 * 1024  # unsent data channel bytes above which the session waits (back-pressure)
CODECS = ("audio/opus", "audio/PCMU", "audio/PCMA")  # in the live answer's order

_ice_hosts: tuple[str, ...] | None = None


def use_host_addresses(hosts: Sequence[str]) -> None:
    """Gather ICE candidates on these addresses only (aioice otherwise skips loopback and takes every
    other interface)."""
    global _ice_hosts
    import aioice.ice

    _ice_hosts = tuple(hosts)
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: list(_ice_hosts or ())


def sanitize_offer(sdp: str) -> str:
    """The offer without mDNS candidates and `a=end-of-candidates` (see the module's docstring)."""
    lines = sdp.splitlines()
    kept = [line for line in lines
            if not (line.startswith("a=candidate:") and re.search(r"\s\S+\.local\s", line))
            and line != "a=end-of-candidates"]
    return "\r\n".join(kept) + "\r\n"


def playback_track(read: Callable[[int], bytes]) -> Any:
    """The call's outbound audio: 20 ms frames at real time, from `read` (the session's output buffer)."""
    return _playback_track_class()(read)


@functools.cache
def _playback_track_class() -> type:
    from aiortc.mediastreams import MediaStreamTrack
    from av import AudioFrame

    class PlaybackTrack(MediaStreamTrack):
        kind = "audio"

        def __init__(self, read: Callable[[int], bytes]) -> None:
            super().__init__()
            self._read = read
            self._started: float | None = None
            self._pts = 0

        async def recv(self) -> AudioFrame:
            if self._started is None:
                self._started = time.monotonic()
            else:
                self._pts += FRAME_SAMPLES
                wait = self._started + self._pts / PCM_RATE - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)  # real time is the point: a track plays as it is heard
            pcm = self._read(FRAME_SAMPLES * 2)
            frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
            frame.planes[0].update(pcm + bytes(FRAME_SAMPLES * 2 - len(pcm)))
            frame.sample_rate = PCM_RATE
            frame.pts = self._pts
            frame.time_base = fractions.Fraction(1, PCM_RATE)
            return frame

    return PlaybackTrack


class ChannelSink:
    """The `oai-events` data channel as a runtime sink. Paused until the channel opens (when the offer
    asked for one) and while the channel holds more than CHANNEL_BUFFER_BYTES unsent."""

    def __init__(self, expects_channel: bool, on_close: Callable[[], None]) -> None:
        self.on_resume: Callable[[], None] | None = None
        self._expects_channel = expects_channel
        self._channel: Any = None
        self._on_close = on_close

    @property
    def paused(self) -> bool:
        if self._channel is None:
            return self._expects_channel
        return bool(self._channel.bufferedAmount > CHANNEL_BUFFER_BYTES)

    def bind(self, channel: Any) -> None:
        """The client's channel opened: events flow from now on."""
        self._channel = channel
        channel.bufferedAmountLowThreshold = CHANNEL_BUFFER_BYTES // 2

        @channel.on("bufferedamountlow")  # type: ignore[untyped-decorator]
        def drained() -> None:
            if self.on_resume is not None:
                self.on_resume()

        if self.on_resume is not None:
            self.on_resume()

    def deliver(self, frames: list[bytes]) -> None:
        channel = self._channel
        if channel is None or channel.readyState != "open":
            return  # a call without a channel (audio only): the events go to its sidebands only
        for frame in frames:
            channel.send(frame.decode("utf-8", "surrogatepass"))

    def close(self, code: int, reason: str) -> None:
        self._on_close()


class WebRtcCall:
    """A live WebRTC call: its peer connection, its session runtime and its state."""

    def __init__(self, call: Call, runtime: SessionRuntime) -> None:
        self.call = call
        self.runtime = runtime
        self.pc: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.sink = ChannelSink(False, self._closed_by_runtime)

    async def answer(self, offer: str) -> str:
        """Take the offer, make the answer (candidates gathered), and attach the call to its session."""
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription

        if _ice_hosts is None:
            use_host_addresses(("127.0.0.1",))
        offer = sanitize_offer(offer)
        self.pc = pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.sink = ChannelSink("m=application" in offer, self._closed_by_runtime)
        if "m=audio" in offer:
            # Before the remote description: the answerer negotiates codecs inside it (transports.md 3.3).
            media = self.runtime.core.media
            transceiver = pc.addTransceiver(playback_track(media.read), direction="sendrecv")
            capabilities = RTCRtpSender.getCapabilities("audio").codecs
            transceiver.setCodecPreferences(
                [codec for name in CODECS for codec in capabilities if codec.mimeType.lower() == name.lower()])

        @pc.on("datachannel")
        def on_channel(channel: Any) -> None:
            if channel.label != CHANNEL:
                return

            @channel.on("message")  # type: ignore[untyped-decorator]
            def on_message(message: str | bytes) -> None:
                self.runtime.receive(message)

            @channel.on("close")  # type: ignore[untyped-decorator]
            def on_close() -> None:
                self.end("the caller closed the data channel")

            self.sink.bind(channel)

        @pc.on("track")
        def on_track(track: Any) -> None:
            if track.kind == "audio":
                self._spawn(self._hear(track))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                self.end("the peer connection closed")

        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        self.runtime.attach(self.sink)
        return str(pc.localDescription.sdp)

    def end(self, reason: str = "call ended") -> None:
        """Hang up: the session ends, its sidebands are closed, the peer connection is closed."""
        self.call.state = "ended"
        if not self.runtime.ended:
            self.runtime.end(1000, reason)
        else:
            self._closed_by_runtime()

    def _closed_by_runtime(self) -> None:
        self.call.state = "ended"
        if self.pc is not None:
            pc, self.pc = self.pc, None
            self._spawn(pc.close())

    async def _hear(self, track: Any) -> None:
        """The caller's audio, decoded by aiortc (48 kHz stereo for Opus), into the session at 24 kHz mono."""
        from aiortc.mediastreams import MediaStreamError
        from av import AudioResampler

        resampler = AudioResampler(format="s16", layout="mono", rate=PCM_RATE)
        while not self.runtime.ended:
            try:
                frame = await track.recv()
            except MediaStreamError:  # the caller's track ended (its peer connection closed)
                self.end("the caller hung up")
                return
            for out in resampler.resample(frame):
                self.runtime.hear(bytes(out.planes[0])[:out.samples * 2])

    def _spawn(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def closed(self, timeout: float = 2.0) -> None:
        """Wait until the peer connection has closed (shutdown); what is still running then is cancelled
        (aiortc may wait long for a DTLS handshake that a departed caller never finishes)."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*self._tasks), timeout)
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*self._tasks)
