"""SIP calls over UDP: the endpoint a trunk (or SIPp, or the test caller) sends INVITEs to, each call's leg,
its RTP media, and the `realtime.call.incoming` webhook (transports.md 2).

An INVITE with an SDP offer the mock can take (PCMU or PCMA, optionally telephone-event) makes a pending call
`rtc_...` (`Call(kind="sip", state="incoming")` in `state.calls`): the caller gets `100 Trying` and `180
Ringing`, and the scope's webhook URL gets `realtime.call.incoming`, signed (sip/webhook.py) and retried with
the same `webhook-id` while it does not answer 2xx. Then the app decides with the call control routes
(rest/calls.py), which call this leg:

- `accept(session)`: an RTP socket of its own, the call's session opened with the body as its configuration,
  `200 OK` with the SDP answer. From the caller's ACK on, RTP flows both ways: the caller's G.711 is decoded
  and resampled into the session's input; the session's answers (its `OutputAudioBuffer`) go out as 20 ms
  G.711 packets at real time, silence between them. RFC 4733 key presses become
  `input_audio_buffer.dtmf_event_received`. The leg is the session's own sink (it takes no JSON), so the call
  runs with no sideband too; sidebands (`?call_id=`) attach beside it.
- `reject(status)`: that final response (default 603). `refer(target)`: an in-dialog REFER; the caller
  answers 202, NOTIFYs how the transfer went, and hangs up. `end()` (hangup, and the server stopping): BYE on
  an answered call, 603 on a pending one. A BYE from the caller ends the session and closes its sidebands.

SIP messages go back to the address the INVITE came from (symmetric UDP, as `rport` asks), and RTP to the
address of the caller's SDP (not to where its packets come from). A pending call the app leaves unanswered is
refused with `480 Temporarily Unavailable` after RING_SECONDS. The SIP logic is sans-I/O in mockserver/sip/.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from mockserver.audio import codecs
from mockserver.protocol.calls import Call
from mockserver.protocol.ids import IdSource
from mockserver.sip import rtp, sdp, webhook
from mockserver.sip.dialog import GIVE_UP, ServerDialog
from mockserver.sip.message import Message, SipError, parse, response

if TYPE_CHECKING:
    from mockserver.runtime import SessionRuntime
    from mockserver.state import ServerState

log = logging.getLogger("realtime_mock")

RING_SECONDS = 120.0  # a pending call nobody accepts or rejects is refused (480) after this long
SCOPE_HEADER = "X-Mock-Scope"  # the INVITE header that names the call's scope (the mock's own callers send it)
PCM_RATE = 24_000
PCM_PACKET = PCM_RATE * rtp.PACKET_MS // 1000 * 2  # bytes of PCM16 24 kHz in one 20 ms packet
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, NOTIFY, UPDATE"


def host_for_uri(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class SipEndpoint(asyncio.DatagramProtocol):
    """The UDP socket SIP comes in on, and the calls it carries (by SIP Call-ID)."""

    def __init__(self, state: ServerState, host: str) -> None:
        self.state = state
        self.host = host  # what it is bound to
        self.port = 0
        self.transport: asyncio.DatagramTransport | None = None
        self.calls: dict[str, SipCall] = {}
        self.callers: dict[str, Any] = {}  # the mock's own simulated callers (sip_client.py), by call id

    @property
    def address(self) -> tuple[str, int]:
        """Where callers send INVITEs (a wildcard bind is reached on loopback)."""
        return ({"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host), self.port)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            message = parse(data)
        except SipError as exc:
            if data.strip(b"\r\n"):
                log.debug("realtime-mock: SIP datagram from %s ignored: %s", addr, exc)
            return
        try:
            self._dispatch(message, addr)
        except SipError as exc:  # a field a call needs is malformed
            log.debug("realtime-mock: SIP %s from %s refused: %s", message.method or message.status, addr, exc)
            if message.is_request and message.method != "ACK":
                self.send(response(message, 400, reason=str(exc)[:80]).encode(), addr)
        except Exception:  # never let one datagram stop the endpoint
            log.exception("realtime-mock: SIP %s from %s failed", message.method or message.status, addr)

    def _dispatch(self, message: Message, addr: tuple[str, int]) -> None:
        leg = self.calls.get(message.call_id)
        if leg is not None:
            leg.receive(message, addr)
        elif not message.is_request or message.method == "ACK":
            return  # a response or an ACK of nothing this side knows
        elif message.method == "INVITE" and message.to_tag is None:
            self._incoming(message, addr)
        elif message.method == "OPTIONS":
            self.send(response(message, 200, headers=[("Allow", ALLOW), ("Accept", "application/sdp")]).encode(),
                      addr)
        elif message.method in ("CANCEL", "BYE") or message.to_tag is not None:  # for a call that is not here
            self.send(response(message, 481).encode(), addr)
        else:
            self.send(response(message, 405, headers=[("Allow", ALLOW)]).encode(), addr)

    def _incoming(self, invite: Message, addr: tuple[str, int]) -> None:
        offer = sdp.negotiate(sdp.parse(invite.body.decode("utf-8", "replace")))
        scope = self.state.scope(invite.get(SCOPE_HEADER))
        ids = IdSource(scope.child_seed())
        leg = SipCall(self, invite, addr, offer, Call(ids.rtc(), "sip", scope.name, "incoming"), ids)
        self.calls[invite.call_id] = leg
        leg.ring()

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, addr)

    def contact(self, invite: Message) -> tuple[str, str]:
        """(this side's host for Contact and SDP, its sent-by `host:port`)."""
        host = self.host
        if host in ("0.0.0.0", "::", ""):  # bound to every address: the one the caller dialled
            from mockserver.sip.message import host_port

            host = host_port(invite.uri)[0] or self.address[0]
        return host, f"{host_for_uri(host)}:{self.port}"

    def webhook_for(self, scope: str) -> tuple[str, str] | None:
        """Where a scope's incoming calls are announced, and the secret they are signed with."""
        configured = self.state.scope(scope).webhook
        url, secret = configured if configured is not None else (self.state.config.webhook_url,
                                                                  self.state.config.webhook_secret)
        if not url:
            return None
        if not secret:
            log.error("realtime-mock: no webhook secret configured: %s gets no realtime.call.incoming", url)
            return None
        return url, secret

    def forget(self, leg: SipCall) -> None:
        if self.calls.get(leg.sip_call_id) is leg:
            del self.calls[leg.sip_call_id]

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class RtpSink:
    """The call's leg as a session sink: it never pauses and takes no JSON (the audio goes on RTP); the
    session ending hangs the call up."""

    def __init__(self, on_close: Callable[[], None]) -> None:
        self.paused = False
        self.on_resume: Callable[[], None] | None = None
        self._on_close = on_close

    def deliver(self, frames: list[bytes]) -> None:
        pass

    def close(self, code: int, reason: str) -> None:
        self._on_close()


class SipCall:
    """One SIP call: its dialog, its session once accepted, its RTP."""

    def __init__(self, endpoint: SipEndpoint, invite: Message, peer: tuple[str, int], offer: sdp.Negotiated | None,
                 call: Call, ids: IdSource) -> None:
        self.endpoint = endpoint
        self.call = call
        self.peer = peer
        self.offer = offer
        self.sip_call_id = invite.call_id
        self.sip_headers = webhook.sip_headers(invite.headers)
        self.host, sent_by = endpoint.contact(invite)
        self.dialog = ServerDialog(invite, contact=f"sip:realtime-mock@{sent_by}", via=sent_by)
        self.runtime: SessionRuntime | None = None
        self.media: RtpMedia | None = None
        self.sink = RtpSink(self._closed_by_runtime)
        self.refer_status: int | None = None  # the caller's answer to a REFER
        self.transfer_status: int | None = None  # how the transfer went (its NOTIFYs)
        self._ids = ids
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._ring_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def describe(self) -> dict[str, Any]:
        """What the admin API shows of it."""
        media = self.media
        return {"sip_call_id": self.sip_call_id, "sip_headers": self.sip_headers, "dialog": self.dialog.phase,
                "codec": self.offer.codec if self.offer else None,
                "rtp": {"local_port": media.port, "remote": list(media.remote), "received": media.received,
                        "sent": media.sent} if media else None,
                "refer_status": self.refer_status, "transfer_status": self.transfer_status}

    # -- the call's start -----------------------------------------------------------------------------

    def ring(self) -> None:
        if self.offer is None:  # no SDP offer, or nothing in it this side can take (e.g. only SRTP, or G.729)
            self.call.state = "ended"
            self._send(self.dialog.reject(488, self._now()))
            self._after()
            return
        self.endpoint.state.calls[self.call.call_id] = self
        for data in self.dialog.ringing():
            self._send(data)
        self._ring_timer = self._loop.call_later(RING_SECONDS, self._unanswered)
        target = self.endpoint.webhook_for(self.call.scope)
        if target is not None:
            self._spawn(self._announce(*target))

    async def _announce(self, url: str, secret: str) -> None:
        event = webhook.incoming_call_event("evt_" + self._ids.rtc()[4:], int(self.endpoint.state.clock.now()),
                                            self.call.call_id, self.sip_headers)
        await deliver_webhook(url, secret, event, "wh_" + self._ids.rtc()[4:])

    def _unanswered(self) -> None:
        if self.call.state == "incoming":
            log.info("realtime-mock: SIP call %s was not accepted in %.0f s: 480", self.call.call_id, RING_SECONDS)
            self._refuse(480)

    # -- call control (rest/calls.py) -----------------------------------------------------------------

    async def accept(self, session: dict[str, Any], safety_identifier: str | None = None) -> None:
        """Answer the call (`safety_identifier`: the accept request's `OpenAI-Safety-Identifier`, kept with the
        session as for any other)."""
        assert self.offer is not None
        self.call.state = "active"  # taken now: a second accept meanwhile is refused
        if self._ring_timer is not None:
            self._ring_timer.cancel()
        media = RtpMedia(self.offer, self._heard, self._key_pressed)
        await self._loop.create_datagram_endpoint(lambda: media, local_addr=(self.endpoint.host, 0))
        if self.call.state != "active":  # the caller cancelled meanwhile
            media.close()
            return
        self.media = media
        state = self.endpoint.state
        runtime = state.open_session("realtime", session.get("model") or "gpt-realtime", self.call.scope,
                                     initial=session, on_call=True, call_id=self.call.call_id,
                                     safety_identifier=safety_identifier)
        self.runtime = runtime
        runtime.on_ended(self._forget_call)
        runtime.attach(self.sink)
        answer = sdp.answer(self.offer, self.host, media.port, session_id=secrets.randbits(31))
        self._send(self.dialog.accept(answer, self._now()))

    async def reject(self, status_code: int) -> None:
        self._refuse(status_code)

    async def refer(self, target_uri: str) -> None:
        self._send(self.dialog.refer(target_uri, self._now()))

    def end(self, reason: str = "call ended") -> None:
        """Hang up: a pending call is declined (603), an answered one gets a BYE and its session ends."""
        if self.call.state == "incoming":
            self._refuse(603)
        elif self.runtime is not None and not self.runtime.ended:
            self.runtime.end(1000, reason)  # its sink closes: the BYE goes out there
        else:
            self._closed_by_runtime()

    async def closed(self, timeout: float = 1.0) -> None:
        """Wait (a little) until the call's last request is answered, then stop everything (shutdown)."""
        deadline = self._loop.time() + timeout
        while not self.dialog.quiet and self._loop.time() < deadline:
            await asyncio.sleep(0.02)
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*self._tasks)
        if self.media is not None:
            self.media.close()

    # -- SIP from the caller --------------------------------------------------------------------------

    def receive(self, message: Message, addr: tuple[str, int]) -> None:
        for data in self.dialog.receive(message, self._now()):
            self._send(data)
        self._after()

    def _after(self) -> None:
        """Act on what the dialog reported; keep its timer; forget the call once nothing more can come."""
        events, self.dialog.events = self.dialog.events, []
        for event in events:
            if event.kind == "acked" and self.media is not None and self.runtime is not None:
                self._spawn(self.media.play(self.runtime.core.media.read))
            elif event.kind == "cancelled":
                self.call.state = "ended"
                self._forget_call()
            elif event.kind == "bye":
                self.end("the caller hung up")
            elif event.kind == "ack_timeout":
                log.info("realtime-mock: SIP call %s: no ACK for the 200 OK; hanging up", self.call.call_id)
                self.end("the caller did not acknowledge the answer")
            elif event.kind == "response" and event.method == "REFER":
                self.refer_status = event.status
            elif event.kind == "notify":
                self.transfer_status = event.status or self.transfer_status
            elif event.kind == "reoffer" and self.media is not None:
                offered = sdp.negotiate(sdp.parse(event.body.decode("utf-8", "replace")))
                if offered is not None:
                    self.media.remote, self.media.sends = offered.remote, offered.sends
            elif event.kind == "timeout":
                log.info("realtime-mock: SIP call %s: the caller did not answer our %s", self.call.call_id,
                         event.method)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        due = self.dialog.next_due()
        if due is not None:
            self._timer = self._loop.call_at(self._loop.time() + max(0.0, due - self._now()), self._tick)
        elif self.dialog.phase == "terminated" or (self.call.state == "ended" and self.dialog.quiet):
            self._timer = self._loop.call_later(GIVE_UP, self.endpoint.forget, self)  # answers retransmissions

    def _tick(self) -> None:
        self._timer = None
        for data in self.dialog.tick(self._now()):
            self._send(data)
        self._after()

    # -- inside --------------------------------------------------------------------------------------------

    def _refuse(self, status: int) -> None:
        if self.dialog.phase != "proceeding":
            return
        if self._ring_timer is not None:
            self._ring_timer.cancel()
        self.call.state = "ended"
        self._forget_call()
        self._send(self.dialog.reject(status, self._now()))
        self._after()

    def _closed_by_runtime(self) -> None:
        """The session ended (a hangup, the caller's BYE, expiry, the server stopping): so does the call."""
        self.call.state = "ended"
        self._forget_call()
        if self.dialog.phase in ("accepted", "confirmed"):
            self._send(self.dialog.bye(self._now()))
        elif self.dialog.phase == "proceeding":  # hung up while its accept was still opening the media
            self._send(self.dialog.reject(603, self._now()))
        if self.media is not None:
            self.media.close()
        self._after()

    def _forget_call(self) -> None:
        calls = self.endpoint.state.calls
        if calls.get(self.call.call_id) is self:
            del calls[self.call.call_id]

    def _heard(self, pcm: bytes) -> None:
        if self.runtime is not None:
            self.runtime.hear(pcm)

    def _key_pressed(self, key: str) -> None:
        runtime = self.runtime
        if runtime is not None and not runtime.ended:
            runtime.core.dtmf(key)
            runtime.wake()

    def _send(self, data: bytes) -> None:
        self.endpoint.send(data, self.peer)

    def _now(self) -> float:
        return self._loop.time()

    def _spawn(self, work: Any) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class RtpMedia(asyncio.DatagramProtocol):
    """A call's RTP socket: G.711 in (decoded, resampled to 24 kHz), telephone events in, and G.711 out at real
    time. Resampling is PyAV's (stateful, so 20 ms packets join seamlessly)."""

    def __init__(self, offer: sdp.Negotiated, on_audio: Callable[[bytes], None],
                 on_key: Callable[[str], None]) -> None:
        self.offer = offer
        self.remote = offer.remote
        self.sends = offer.sends
        self.port = 0
        self.received = 0
        self.sent = 0
        self.sender = rtp.RtpSender(offer.payload_type)
        self._format = sdp.FORMATS[offer.codec]
        self._on_audio = on_audio
        self._on_key = on_key
        self._dtmf = rtp.DtmfReceiver()
        self._transport: asyncio.DatagramTransport | None = None
        self._decoder: Any = None
        self._encoder: Any = None
        self._narrow = bytearray()  # PCM16 8 kHz resampled for sending, not sent yet
        self._closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        packet = rtp.parse(data)
        if packet is None or self._closed:
            return
        self.received += 1
        if packet.payload_type == self.offer.payload_type:
            self._on_audio(self._decode(packet.payload))
        elif packet.payload_type == self.offer.dtmf_payload_type:
            key = self._dtmf.receive(packet)
            if key is not None:
                self._on_key(key)

    async def play(self, read: Callable[[int], bytes]) -> None:
        """Send a packet every 20 ms at real time: the session's answer while there is one, silence otherwise."""
        loop = asyncio.get_running_loop()
        start, sent = loop.time(), 0
        while not self._closed:
            pcm = read(PCM_PACKET)
            payload = self._encode(pcm + bytes(PCM_PACKET - len(pcm)))
            if self.sends and self._transport is not None:
                self._transport.sendto(self.sender.audio(payload), self.remote)
                self.sent += 1
            sent += 1
            await asyncio.sleep(max(0.0, start + sent * rtp.PACKET_MS / 1000 - loop.time()))

    def close(self) -> None:
        self._closed = True
        if self._transport is not None:
            self._transport.close()

    def _decode(self, payload: bytes) -> bytes:
        import av

        if self._decoder is None:
            self._decoder = av.AudioResampler(format="s16", layout="mono", rate=PCM_RATE)
        samples = codecs.ulaw_decode(payload) if self._format == "audio/pcmu" else codecs.alaw_decode(payload)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = codecs.G711_RATE
        return b"".join(bytes(out.planes[0])[:out.samples * 2] for out in self._decoder.resample(frame))

    def _encode(self, pcm: bytes) -> bytes:
        import av

        if self._encoder is None:
            self._encoder = av.AudioResampler(format="s16", layout="mono", rate=codecs.G711_RATE)
        frame = av.AudioFrame.from_ndarray(np.frombuffer(pcm, dtype="<i2").reshape(1, -1), format="s16",
                                           layout="mono")
        frame.sample_rate = PCM_RATE
        for out in self._encoder.resample(frame):
            self._narrow += bytes(out.planes[0])[:out.samples * 2]
        want = rtp.SAMPLES_PER_PACKET * 2
        taken = bytes(self._narrow[:want])
        del self._narrow[:want]
        samples = np.frombuffer(taken + bytes(want - len(taken)), dtype="<i2")
        return codecs.ulaw_encode(samples) if self._format == "audio/pcmu" else codecs.alaw_encode(samples)


async def deliver_webhook(url: str, secret: str, event: dict[str, Any], webhook_id: str) -> int:
    """POST a webhook event until the app answers 2xx: the number of the attempt it took (0: it never did).
    Each attempt is signed with its own timestamp under the same `webhook-id`; redirects count as failures."""
    import httpx2

    body = webhook.body_of(event)
    async with httpx2.AsyncClient(timeout=webhook.ATTEMPT_TIMEOUT, follow_redirects=False, trust_env=False) as http:
        for attempt, delay in enumerate((*webhook.RETRY_DELAYS, None), start=1):
            headers = webhook.signed_headers(secret, webhook_id, int(time.time()), body)
            try:
                reply = await http.post(url, content=body, headers=headers)
                if 200 <= reply.status_code < 300:
                    return attempt
                why = f"HTTP {reply.status_code}"
            except httpx2.HTTPError as exc:
                why = str(exc) or type(exc).__name__
            if delay is None:
                log.warning("realtime-mock: webhook %s %s to %s: no 2xx after %d attempts (last: %s)",
                            webhook_id, event.get("type"), url, attempt, why)
                return 0
            log.info("realtime-mock: webhook %s to %s: %s; retrying in %.2f s", webhook_id, url, why, delay)
            await asyncio.sleep(delay)
    return 0


async def listen(state: ServerState, sock: Any = None) -> SipEndpoint:
    """Open the SIP endpoint (`state.sip`) on `sock`, or on ServerConfig.sip_host and sip_port."""
    loop = asyncio.get_running_loop()
    host = state.config.sip_host
    endpoint = SipEndpoint(state, sock.getsockname()[0] if sock is not None else host)
    if sock is not None:
        await loop.create_datagram_endpoint(lambda: endpoint, sock=sock)
    else:
        await loop.create_datagram_endpoint(lambda: endpoint, local_addr=(host, state.config.sip_port or 0))
    state.sip = endpoint
    return endpoint


async def endpoint(state: ServerState) -> SipEndpoint:
    """The server's SIP endpoint; one on loopback (a free port) when none was configured, for the mock's own
    simulated callers (the admin API, the pytest plugin)."""
    if state.sip is None:
        await listen(state)
    assert isinstance(state.sip, SipEndpoint)
    return state.sip
