"""A WebRTC caller for tests, made with aiortc: what a browser does in OpenAI's WebRTC guide.

    async with await WebRtcCaller.connect(base_url, api_key="sk-test") as call:
        first = await call.next_event()              # session.created, on the oai-events channel
        call.speak(speech.speak("what is the weather") + bytes(48_000))
        await call.until("output_audio_buffer.stopped")
        speech.transcribe(call.heard())               # the answer the track played

It makes an offer with the `oai-events` data channel and a send-and-receive audio track, posts it to
`POST /v1/realtime/calls` (raw SDP; multipart when a `session` is given), sets the answer, and takes the
call id from `Location`. Its microphone plays what `speak` queued, at real time, and silence otherwise;
`heard()` is what the server's track played to it (PCM16 24 kHz mono).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from mockserver.transports.webrtc import PCM_RATE, playback_track

LOOPBACK = ("127.0.0.1",)  # the caller's ICE candidates by default: loopback, no STUN (as the mock's)


class WebRtcCaller:
    def __init__(self, pc: Any, channel: Any | None, microphone: _Microphone) -> None:
        self.pc = pc
        self.channel = channel
        self.call_id = ""
        self.answer_sdp = ""
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.channel_closed = asyncio.Event()  # set when the data channel closes (the server's side too)
        self._microphone = microphone
        self._heard = bytearray()
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    async def offer(cls, *, data_channel: bool = True, audio: bool = True,
                    hosts: Sequence[str] | None = LOOPBACK) -> WebRtcCaller:
        """A caller with its offer made (`offer_sdp`), for posting it yourself (e.g. with the official SDK's
        `client.realtime.calls.create(sdp=...)`); then give it the answer with `answered`. Its candidates are
        on `hosts` (default loopback, as the mock's; None: aioice's choice, every interface but loopback, for
        a server elsewhere); never a STUN server (the server's checks learn a caller's address behind NAT)."""
        from aiortc import RTCConfiguration, RTCPeerConnection

        from mockserver.transports.webrtc import use_host_addresses

        use_host_addresses(hosts)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        microphone = _Microphone()
        channel = pc.createDataChannel("oai-events") if data_channel else None
        caller = cls(pc, channel, microphone)
        if audio:
            pc.addTransceiver(microphone.track(), direction="sendrecv")

            @pc.on("track")
            def on_track(track: Any) -> None:
                caller._spawn(caller._listen(track))

        if channel is not None:
            @channel.on("message")
            def on_message(message: str | bytes) -> None:
                caller.events.put_nowait(json.loads(message))

            @channel.on("close")
            def on_close() -> None:
                caller.channel_closed.set()

        await pc.setLocalDescription(await pc.createOffer())
        return caller

    @property
    def offer_sdp(self) -> str:
        return str(self.pc.localDescription.sdp)

    async def answered(self, answer_sdp: str, location: str) -> None:
        """The server's answer, and the `Location` it gave (the call id is its last segment)."""
        from aiortc import RTCSessionDescription

        self.call_id = location.rsplit("/", 1)[-1]
        self.answer_sdp = answer_sdp
        await self.pc.setRemoteDescription(RTCSessionDescription(answer_sdp, "answer"))

    @classmethod
    async def connect(cls, base_url: str, *, api_key: str = "sk-test", session: dict[str, Any] | None = None,
                      headers: dict[str, str] | None = None, data_channel: bool = True, audio: bool = True,
                      path: str = "/realtime/calls", hosts: Sequence[str] | None = LOOPBACK) -> WebRtcCaller:
        """Call the server at `base_url` (`http://127.0.0.1:8000/v1`): raw SDP, or multipart with a `session`."""
        import httpx2

        caller = await cls.offer(data_channel=data_channel, audio=audio, hosts=hosts)
        request_headers = {"Authorization": f"Bearer {api_key}", **(headers or {})}
        async with httpx2.AsyncClient() as http:
            if session is None:
                response = await http.post(base_url + path, content=caller.offer_sdp,
                                           headers={**request_headers, "Content-Type": "application/sdp"})
            else:
                response = await http.post(base_url + path, headers=request_headers, files={
                    "sdp": (None, caller.offer_sdp), "session": (None, json.dumps(session))})
        if response.status_code != 201:
            await caller.pc.close()
            raise CallRefused(response.status_code, response.text)
        await caller.answered(response.text, response.headers["location"])
        return caller

    # -- events on the data channel -------------------------------------------------------------------

    async def send(self, event: dict[str, Any]) -> None:
        assert self.channel is not None, "this call has no data channel"
        while self.channel.readyState == "connecting":
            await asyncio.sleep(0.005)  # real time: the channel opens once DTLS and SCTP are up
        if self.channel.readyState != "open":
            raise ConnectionError(f"the data channel is {self.channel.readyState}")
        self.channel.send(json.dumps(event))

    async def next_event(self, timeout: float = 10) -> dict[str, Any]:
        return await asyncio.wait_for(self.events.get(), timeout)

    async def until(self, event_type: str, timeout: float = 10) -> list[dict[str, Any]]:
        """The events up to and including the first of `event_type`."""
        seen: list[dict[str, Any]] = []

        async def collect() -> None:
            while True:
                seen.append(await self.events.get())
                if seen[-1]["type"] == event_type:
                    return

        await asyncio.wait_for(collect(), timeout)
        return seen

    # -- audio ------------------------------------------------------------------------------------------

    def speak(self, pcm: bytes) -> None:
        """Play PCM16 24 kHz mono into the call (after what is already queued)."""
        self._microphone.queue(pcm)

    @property
    def speaking(self) -> bool:
        return self._microphone.busy

    def heard(self) -> bytes:
        """What the server played on its track so far (PCM16 24 kHz mono)."""
        return bytes(self._heard)

    def forget_heard(self) -> None:
        self._heard.clear()

    async def _listen(self, track: Any) -> None:
        from aiortc.mediastreams import MediaStreamError
        from av import AudioResampler

        resampler = AudioResampler(format="s16", layout="mono", rate=PCM_RATE)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            for out in resampler.resample(frame):
                self._heard += bytes(out.planes[0])[:out.samples * 2]

    # -- the end ----------------------------------------------------------------------------------------

    async def close(self) -> None:
        await self.pc.close()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*self._tasks)

    async def __aenter__(self) -> WebRtcCaller:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await self.close()

    def _spawn(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class CallRefused(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"the server refused the call: {status} {body}")
        self.status = status
        self.body = body


class _Microphone:
    """Queued PCM played at real time in 20 ms frames; silence when nothing is queued."""

    def __init__(self) -> None:
        self._queued: deque[bytes] = deque()
        self._pending = bytearray()

    def queue(self, pcm: bytes) -> None:
        self._queued.append(pcm)

    @property
    def busy(self) -> bool:
        return bool(self._queued or self._pending)

    def take(self, size: int) -> bytes:
        while len(self._pending) < size and self._queued:
            self._pending += self._queued.popleft()
        out = bytes(self._pending[:size])
        del self._pending[:size]
        return out + bytes(size - len(out))

    def track(self) -> Any:
        """The caller's microphone: 20 ms frames at real time from what `speak` queued (silence otherwise)."""
        return playback_track(self.take)
