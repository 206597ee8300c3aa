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

The call faults (protocol/faults.py `ChannelFaults`) act on the channel only: `drop_channel` closes it
(the call, its track and its sidebands go on), `delay_channel` holds every message, both ways, for its
`ms` (in order). The session's own faults (`drop`, `close`, ...) act before any of this, as on a socket.

aiortc and PyAV are imported on the first call (about 0.4 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import functools
import json
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from mockserver.protocol.calls import Call
from mockserver.protocol.faults import CHANNEL_FAULTS, ChannelFaults, Fault
from mockserver.runtime import SessionRuntime

log = logging.getLogger("realtime_mock")

CHANNEL = "oai-events"
FRAME_SAMPLES = 480  # 20 ms at 24 kHz
PCM_RATE = 24_000
CHANNEL_BUFFER_BYTES = 1024 * 1024  # unsent data channel bytes above which the session waits (back-pressure)
CODECS = ("audio/opus", "audio/PCMU", "audio/PCMA")  # in the live answer's order

_ice_hosts: tuple[str, ...] | None = None
_aioice_hosts: Any = None  # aioice's own `get_host_addresses`, before it was replaced


def use_host_addresses(hosts: Sequence[str] | None) -> None:
    """Gather ICE candidates on these addresses only (aioice otherwise skips loopback and takes every
    other interface); None: aioice's own choice again (a caller of a server elsewhere)."""
    global _ice_hosts, _aioice_hosts
    import aioice.ice

    if _aioice_hosts is None:
        _aioice_hosts = aioice.ice.get_host_addresses
    if hosts is None:
        _ice_hosts = None
        aioice.ice.get_host_addresses = _aioice_hosts
        return
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
    asked for one) and while the channel holds more than CHANNEL_BUFFER_BYTES unsent. It applies the
    call faults: messages held for `delay_channel` (`_held`, in order), the close of `drop_channel`."""

    def __init__(self, expects_channel: bool, on_close: Callable[[], None],
                 faults: Callable[[], Sequence[Fault]] = tuple) -> None:
        self.on_resume: Callable[[], None] | None = None
        self.faults = ChannelFaults(faults)
        self._expects_channel = expects_channel
        self._channel: Any = None
        self._on_close = on_close
        self._held: deque[tuple[float, str | None]] = deque()  # (loop time due, text; None: close the channel)
        self._timer: asyncio.TimerHandle | None = None
        self._inbound_due = 0.0  # loop time the last delayed client message is due

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
        if channel is None or channel.readyState != "open" or self.faults.dropped:
            return  # a call without a channel (audio only): the events go to its sidebands only
        if not self._held and not any(f.name in CHANNEL_FAULTS for f in self.faults.faults()):
            self.faults.sent += len(frames)  # no call fault: the common case
            for frame in frames:
                channel.send(frame.decode("utf-8", "surrogatepass"))
            return
        for frame in frames:
            text = frame.decode("utf-8", "surrogatepass")
            if self.faults.drop_before(_event_type(text)):
                self._hold(self.faults.delay(), None)
                return
            self._hold(self.faults.delay(), text)

    def received(self, message: str | bytes, receive: Callable[[str | bytes], None]) -> None:
        """A client message from the channel: to `receive` now, or once `delay_channel` says (in order)."""
        loop = asyncio.get_running_loop()
        delay = self.faults.delay() if self.faults.faults() else 0.0
        if delay <= 0 and loop.time() >= self._inbound_due:
            receive(message)
            return
        self._inbound_due = max(loop.time() + delay, self._inbound_due)
        loop.call_at(self._inbound_due, receive, message)

    def _hold(self, delay: float, text: str | None) -> None:
        """Send `text` (None: close the channel) once `delay` has passed and what is held before it went."""
        if delay <= 0 and not self._held:
            self._out(text)
            return
        loop = asyncio.get_running_loop()
        self._held.append((max(loop.time() + delay, self._last_due()), text))
        if self._timer is None:
            self._timer = loop.call_at(self._held[0][0], self._release)

    def _last_due(self) -> float:
        return self._held[-1][0] if self._held else 0.0

    def _release(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        while self._held and self._held[0][0] <= loop.time():
            self._out(self._held.popleft()[1])
        if self._held:
            self._timer = loop.call_at(self._held[0][0], self._release)

    def _out(self, text: str | None) -> None:
        channel = self._channel
        if channel is None or channel.readyState != "open":
            return
        if text is not None:
            channel.send(text)
        else:
            log.info("realtime-mock: fault drop_channel closes the data channel of a call")
            self._held.clear()
            channel.close()

    def close(self, code: int, reason: str) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._held.clear()
        self._on_close()


def _event_type(text: str) -> str:
    try:
        event = json.loads(text)
    except ValueError:
        return ""
    return str(event.get("type", "")) if isinstance(event, dict) else ""


class WebRtcCall:
    """A live WebRTC call: its peer connection, its session runtime and its state."""

    def __init__(self, call: Call, runtime: SessionRuntime, faults: Callable[[], Sequence[Fault]] = tuple) -> None:
        self.call = call
        self.runtime = runtime
        self.pc: Any = None
        self._faults = faults  # the scope's, read live (the call faults: ChannelSink)
        self._tasks: set[asyncio.Task[None]] = set()
        self.sink = ChannelSink(False, self._closed_by_runtime)

    async def answer(self, offer: str) -> str:
        """Take the offer, make the answer (candidates gathered), and attach the call to its session."""
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription

        if _ice_hosts is None:
            use_host_addresses(("127.0.0.1",))
        offer = sanitize_offer(offer)
        self.pc = pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.sink = sink = ChannelSink("m=application" in offer, self._closed_by_runtime, self._faults)
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
                sink.received(message, self.runtime.receive)

            @channel.on("close")  # type: ignore[untyped-decorator]
            def on_close() -> None:
                if not sink.faults.dropped:  # a channel the drop_channel fault closed leaves the call up
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
