"""A SIP caller for tests: a minimal user agent client over UDP, what a trunk sends the mock (or SIPp does).

    async with await SipCaller.dial("127.0.0.1", 5060, headers=[("X-Customer", "42")]) as call:
        await call.until("answered")                  # the app accepted (calls.accept)
        call.speak(speech.speak("what is the weather") + bytes(48_000))
        call.dtmf("12#")
        await asyncio.sleep(4)
        speech.transcribe(call.heard())               # what the call played back

It sends an INVITE with an SDP offer (PCMU and PCMA, telephone-event 101) and the headers given, ACKs the
final response, and once answered sends RTP every 20 ms at real time: what `speak` queued (G.711), the key
presses `dtmf` queued (RFC 4733), silence otherwise. `heard()` is what the server's RTP carried (PCM16
24 kHz). It answers the server's BYE (200), OPTIONS (200) and REFER (202, NOTIFYs of the transfer, then it
hangs up, as a trunk does); `hangup()` sends BYE, or CANCEL while it rings. The INVITE and its own requests
are sent again at T1, doubling, until answered. `scope` goes in an `X-Mock-Scope` header (the mock's own;
the webhook leaves it out).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections import deque
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from mockserver.audio import codecs
from mockserver.sip import rtp, sdp
from mockserver.sip.dialog import T1, T2
from mockserver.sip.message import (
    Message,
    SipError,
    new_branch,
    new_call_id,
    new_tag,
    parse,
    request,
    response,
    uri_of,
)

SILENCE = {"PCMU": 0xFF, "PCMA": 0xD5}  # a G.711 byte of silence
STATES = ("calling", "ringing", "answered", "ended")
# Headers the caller writes itself (From and To may be given: they name the two parties).
RESERVED = frozenset({"via", "call-id", "cseq", "contact", "content-type", "content-length", "max-forwards",
                      "x-mock-scope"})


class SipCaller:
    def __init__(self, local: tuple[str, int], remote: tuple[str, int], *, from_uri: str, to_uri: str) -> None:
        self.local = local
        self.remote = remote
        self.state = "calling"
        self.status: int | None = None  # the INVITE's final status
        self.ended_by: str | None = None  # "caller" or "server"
        self.referred_to: str | None = None  # a REFER's target
        self.call_id = ""  # the server's rtc_ id, when known (the admin API and the plugin fill it in)
        self.scope = "default"  # the mock scope it calls in (its X-Mock-Scope header)
        self.sip_call_id = new_call_id(local[0])
        self.answer: sdp.Negotiated | None = None
        self._from = f"<{from_uri}>;tag={new_tag()}"
        self._to = f"<{to_uri}>"
        self._target = to_uri
        self._cseq = 1
        self._invite: Message | None = None
        self._sip: asyncio.DatagramTransport | None = None
        self._rtp: asyncio.DatagramTransport | None = None
        self._rtp_port = 0
        self._sender: rtp.RtpSender | None = None
        # What to send, in order: G.711 audio, key presses, ticks of silence between them (None).
        self._queue: deque[bytearray | str | None] = deque()
        self._pressing: deque[list[bytes]] = deque()  # the packets of the press under way, a list per tick
        self._heard = bytearray()  # the G.711 payloads received
        self._answered: dict[tuple[int, str], bytes] = {}
        self._waiting: dict[tuple[int, str], asyncio.Future[Message]] = {}
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._codecs: tuple[str, ...] = ("PCMU", "PCMA")
        self._press_ms = 100

    # -- placing the call ---------------------------------------------------------------------------------

    @classmethod
    async def dial(cls, host: str, port: int, *, headers: Sequence[tuple[str, str]] | Mapping[str, str] = (),
                   scope: str | None = None, codecs: tuple[str, ...] = ("PCMU", "PCMA"), dtmf: bool = True,
                   from_uri: str = "sip:+14155550100@127.0.0.1", to_uri: str | None = None,
                   audio: bytes | None = None, local_host: str = "127.0.0.1") -> SipCaller:
        """Call the SIP endpoint at host:port; returns once the INVITE has an answer (100 Trying, or final).
        `headers` go in the INVITE in their order (`From` and `To`, when given, name the parties); `audio`
        (PCM16 24 kHz) is played once the call is answered. ValueError for a header the caller writes itself."""
        loop = asyncio.get_running_loop()
        given = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
        named = {name.lower(): value for name, value in given}
        reserved = sorted(RESERVED & named.keys())
        if reserved:
            raise ValueError(f"the caller writes these headers itself: {', '.join(reserved)}")
        given = [(name, value) for name, value in given if name.lower() not in ("from", "to")]
        from_uri = uri_of(named.get("from", from_uri))
        to_uri = uri_of(named.get("to", to_uri or f"sip:proj_test@{host}:{port}"))
        caller = cls((local_host, 0), (host, port), from_uri=from_uri, to_uri=to_uri)
        caller.scope = scope or "default"
        caller._codecs = codecs
        sip_transport, _ = await loop.create_datagram_endpoint(lambda: _Socket(caller._on_sip),
                                                               local_addr=(local_host, 0))
        rtp_transport, _ = await loop.create_datagram_endpoint(lambda: _Socket(caller._on_rtp),
                                                               local_addr=(local_host, 0))
        caller._sip, caller._rtp = sip_transport, rtp_transport
        caller.local = (local_host, sip_transport.get_extra_info("sockname")[1])
        caller._rtp_port = rtp_transport.get_extra_info("sockname")[1]
        if audio:
            caller.speak(audio)
        offer = sdp.offer(local_host, caller._rtp_port, codecs=codecs, session_id=secrets.randbits(31),
                          dtmf_payload_type=sdp.DTMF_PAYLOAD if dtmf else None)
        extra = [*given, *([("X-Mock-Scope", scope)] if scope else []), ("Content-Type", "application/sdp")]
        caller._invite = caller._request("INVITE", to_uri, extra, offer.encode(), to=caller._to)
        await asyncio.wait_for(caller._send_request(caller._invite), 10)
        return caller

    # -- what a test does with it -----------------------------------------------------------------------

    def speak(self, pcm: bytes) -> None:
        """Play PCM16 24 kHz into the call (after what is queued), as G.711 at real time."""
        codec = self.answer.codec if self.answer else self._codecs[0]
        self._queue.append(bytearray(codecs.encode(pcm, sdp.FORMATS[codec])))

    def dtmf(self, digits: str, duration_ms: int = 100, gap_ms: int = 60) -> None:
        """Press these keys (RFC 4733 events in the RTP stream), after what is queued."""
        if self.answer is None or self.answer.dtmf_payload_type is None:
            raise RuntimeError("the call is not answered, or its answer has no telephone-event type")
        for key in digits:
            if key.upper() not in rtp.KEYS:
                raise ValueError(f"not a DTMF key: {key!r}")
            self._queue.append(key)
            self._queue.extend([None] * max(0, gap_ms // rtp.PACKET_MS))
        self._press_ms = duration_ms

    @property
    def speaking(self) -> bool:
        return bool(self._queue or self._pressing)

    def heard(self) -> bytes:
        """What the server's RTP played so far, as PCM16 24 kHz."""
        codec = self.answer.codec if self.answer else "PCMU"
        return codecs.decode(bytes(self._heard), sdp.FORMATS[codec])

    def forget_heard(self) -> None:
        self._heard.clear()

    async def until(self, state: str, timeout: float = 10) -> None:
        """Wait until the call is in `state` (calling, ringing, answered, ended) or past it."""
        if state not in STATES:
            raise ValueError(f"not a state: {state!r}")

        async def reached() -> None:
            while STATES.index(self.state) < STATES.index(state):
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(reached(), timeout)

    async def hangup(self, timeout: float = 5) -> None:
        """End the call: BYE when answered, CANCEL while it rings; returns once the server has answered."""
        if self.state == "answered":
            self._end("caller")
            await asyncio.wait_for(self._send_request(self._in_dialog("BYE")), timeout)
        elif self.state in ("calling", "ringing") and self._invite is not None:
            cancel = request("CANCEL", self._invite.uri, [
                ("Via", self._invite.require("Via")), ("Max-Forwards", "70"), ("From", self._from),
                ("To", self._to), ("Call-ID", self.sip_call_id), ("CSeq", f"{self._invite.cseq[0]} CANCEL")])
            await asyncio.wait_for(self._send_request(cancel), timeout)
            await self.until("ended", timeout)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.state != "ended":
                await self.hangup(2)
        self._end(self.ended_by or "caller")
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*self._tasks)
        for transport in (self._sip, self._rtp):
            if transport is not None:
                transport.close()

    async def __aenter__(self) -> SipCaller:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    # -- SIP -------------------------------------------------------------------------------------------

    def _on_sip(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            message = parse(data)
        except SipError:
            return
        if message.is_request:
            self._serve(message)
            return
        number, method = message.cseq
        waiting = self._waiting.get((number, method))
        if waiting is not None and not waiting.done() and (message.status >= 200 or method == "INVITE"):
            waiting.set_result(message)
        if method == "INVITE":
            self._invite_response(message)
        if message.status >= 200:
            self._waiting.pop((number, method), None)

    def _invite_response(self, message: Message) -> None:
        if message.status < 200:
            self._to = message.get("To") or self._to
            self._set("ringing" if self.state == "calling" else self.state)
            return
        self._to = message.get("To") or self._to
        if message.status >= 300:  # the same transaction's ACK
            assert self._invite is not None
            self.status = self.status or message.status
            ack = request("ACK", self._invite.uri, [
                ("Via", self._invite.require("Via")), ("Max-Forwards", "70"), ("From", self._from), ("To", self._to),
                ("Call-ID", self.sip_call_id), ("CSeq", f"{self._invite.cseq[0]} ACK")])
            self._send(ack.encode())
            self._end("server")
            return
        first = self.status is None
        self.status = message.status
        self._target = uri_of(message.get("Contact") or self._target)
        self._send(self._in_dialog("ACK", cseq=self._invite.cseq[0] if self._invite else 1).encode())
        if first and self.state != "ended":
            self.answer = sdp.negotiate(sdp.parse(message.body.decode("utf-8", "replace")))
            if self.answer is not None:
                self._sender = rtp.RtpSender(self.answer.payload_type,
                                             dtmf_payload_type=self.answer.dtmf_payload_type)
                self._spawn(self._play())
            self._set("answered")

    def _serve(self, message: Message) -> None:
        """A request from the server."""
        key = message.cseq
        if message.method == "ACK":
            return
        cached = self._answered.get(key)
        if cached is not None:
            self._send(cached)
            return
        if message.method == "BYE":
            reply = response(message, 200)
            self._end("server")
        elif message.method == "REFER":
            reply = response(message, 202)
            self.referred_to = uri_of(message.get("Refer-To") or "")
            self._spawn(self._transfer())
        elif message.method in ("OPTIONS", "NOTIFY", "INFO", "UPDATE"):
            reply = response(message, 200)
        else:
            reply = response(message, 405, headers=[("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, REFER")])
        data = reply.encode()
        self._answered[key] = data
        self._send(data)

    async def _transfer(self) -> None:
        """After a REFER: tell how the transfer went (it went well: there is no one to call here), hang up."""
        for fragment, subscription in (("SIP/2.0 100 Trying", "active;expires=60"),
                                       ("SIP/2.0 200 OK", "terminated;reason=noresource")):
            notify = self._in_dialog("NOTIFY", [("Event", "refer"), ("Subscription-State", subscription),
                                                ("Content-Type", "message/sipfrag;version=2.0")],
                                     (fragment + "\r\n").encode())
            await asyncio.wait_for(self._send_request(notify), 5)
        await self.hangup()

    def _request(self, method: str, uri: str, headers: Sequence[tuple[str, str]] = (), body: bytes = b"", *,
                 to: str | None = None, cseq: int | None = None) -> Message:
        if cseq is None:
            cseq = self._cseq
            self._cseq += 1
        host, port = self.local
        fields = [("Via", f"SIP/2.0/UDP {host}:{port};branch={new_branch()};rport"), ("Max-Forwards", "70"),
                  ("From", self._from), ("To", to or self._to), ("Call-ID", self.sip_call_id),
                  ("CSeq", f"{cseq} {method}"), ("Contact", f"<sip:caller@{host}:{port}>"),
                  ("User-Agent", "realtime-mock test caller"), *headers]
        return request(method, uri, fields, body)

    def _in_dialog(self, method: str, headers: Sequence[tuple[str, str]] = (), body: bytes = b"", *,
                   cseq: int | None = None) -> Message:
        return self._request(method, self._target, headers, body, cseq=cseq)

    def _send_request(self, message: Message) -> asyncio.Future[Message]:
        """Send a request, again at T1, 2*T1, ... until it has a response (a provisional one, for an INVITE)."""
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting[message.cseq] = future
        data = message.encode()

        async def resend() -> None:
            interval = T1
            while not future.done():
                self._send(data)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(future), interval)
                interval = min(interval * 2, T2)

        self._spawn(resend())
        return future

    def _send(self, data: bytes) -> None:
        if self._sip is not None and not self._sip.is_closing():
            self._sip.sendto(data, self.remote)

    def _set(self, state: str) -> None:
        self.state = state
        self._changed.set()

    def _end(self, by: str) -> None:
        if self.state != "ended":
            self.ended_by = by
            self._set("ended")

    # -- RTP ---------------------------------------------------------------------------------------------

    def _on_rtp(self, data: bytes, addr: tuple[str, int]) -> None:
        packet = rtp.parse(data)
        if packet is not None and self.answer is not None and packet.payload_type == self.answer.payload_type:
            self._heard += packet.payload

    async def _play(self) -> None:
        """A packet every 20 ms at real time while the call lasts: key presses first, then speech, or silence."""
        assert self.answer is not None and self._sender is not None
        loop = asyncio.get_running_loop()
        silence = bytes([SILENCE[self.answer.codec]]) * rtp.SAMPLES_PER_PACKET
        start, ticks = loop.time(), 0
        while self.state == "answered":
            packets = self._next_packets(silence)
            if self._rtp is not None and self.answer.sends:
                for packet in packets:
                    self._rtp.sendto(packet, self.answer.remote)
            ticks += 1
            await asyncio.sleep(max(0.0, start + ticks * rtp.PACKET_MS / 1000 - loop.time()))

    def _next_packets(self, silence: bytes) -> list[bytes]:
        """This tick's packets: the next of a key press under way, else the next of the queue, else silence."""
        assert self._sender is not None
        if not self._pressing and self._queue and isinstance(self._queue[0], str):
            self._pressing.extend(self._sender.key_press(str(self._queue.popleft()), self._press_ms))
        if self._pressing:
            return self._pressing.popleft()
        head = self._queue[0] if self._queue else None
        if isinstance(head, bytearray):
            chunk = bytes(head[:rtp.SAMPLES_PER_PACKET])
            del head[:rtp.SAMPLES_PER_PACKET]
            if not head:
                self._queue.popleft()
            return [self._sender.audio(chunk + silence[len(chunk):])]
        if self._queue:
            self._queue.popleft()  # a tick of silence between key presses
        return [self._sender.audio(silence)]

    def _spawn(self, work: Any) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class _Socket(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Any) -> None:
        self._on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._on_datagram(data, addr)


class SipCallHandle:
    """A `SipCaller` that runs on another thread's event loop (the mock's, for the pytest plugin), driven from
    the test's thread: the actions return at once, `wait` blocks, and `until` awaits without blocking the
    test's own loop (where the app under test may be answering the webhook)."""

    def __init__(self, caller: SipCaller, loop: asyncio.AbstractEventLoop) -> None:
        self.caller = caller
        self._loop = loop

    @property
    def call_id(self) -> str:
        return self.caller.call_id

    @property
    def sip_call_id(self) -> str:
        return self.caller.sip_call_id

    @property
    def state(self) -> str:
        return self.caller.state

    @property
    def status(self) -> int | None:
        return self.caller.status

    @property
    def ended_by(self) -> str | None:
        return self.caller.ended_by

    @property
    def referred_to(self) -> str | None:
        return self.caller.referred_to

    def speak(self, pcm: bytes) -> None:
        self._run(self._call(self.caller.speak, pcm))

    def dtmf(self, digits: str, duration_ms: int = 100) -> None:
        self._run(self._call(self.caller.dtmf, digits, duration_ms))

    def heard(self) -> bytes:
        heard: bytes = self._run(self._call(self.caller.heard))
        return heard

    @property
    def speaking(self) -> bool:
        return self.caller.speaking

    def hangup(self, timeout: float = 5) -> None:
        self._run(self.caller.hangup(timeout), timeout + 1)

    def wait(self, state: str, timeout: float = 10) -> None:
        """Block until the call is in `state`; in an async test use `await until(state)`."""
        self._run(self.caller.until(state, timeout), timeout + 1)

    async def until(self, state: str, timeout: float = 10) -> None:
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.caller.until(state, timeout), self._loop))

    def close(self) -> None:
        self._run(self.caller.close(), 10)

    def _run(self, work: Any, timeout: float = 5) -> Any:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout)

    @staticmethod
    async def _call(function: Any, *args: Any) -> Any:
        return function(*args)
