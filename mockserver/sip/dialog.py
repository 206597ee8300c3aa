"""The server side of one SIP call (RFC 3261): the INVITE's server transaction, the dialog it makes, the
caller's requests in it, and the mock's own requests (REFER, BYE), over UDP, sans-I/O.

`ServerDialog` takes the caller's messages (`receive`) and the time (`tick`), and gives the datagrams to
send; what happened for the call is in `events` (`acked`, `cancelled`, `bye`, `ack_timeout`, `response`,
`timeout`, `notify`, `reoffer`). How it answers:

- The INVITE: `ringing()` gives `100 Trying` and `180 Ringing`; `accept(sdp)` the `200 OK` (sent again at
  T1, 2*T1, ... up to T2 until the ACK comes; `ack_timeout` after 64*T1, when the call must be ended with a
  BYE, RFC 3261 13.3.1.4); `reject(status)` a final failure (sent again likewise until its ACK).
- A retransmitted request (the same CSeq and method) gets the same response again: the INVITE its last
  provisional or its final response, any other request its cached answer. So 100/180/200 repeat idempotently.
- `CANCEL` of the INVITE (same branch) before a final response: `200 OK` to the CANCEL, `487 Request
  Terminated` to the INVITE (`cancelled`); after it: `200 OK`, and nothing changes (the caller ACKs, then sends
  BYE). A CANCEL that matches no INVITE: `481`.
- `BYE` from the caller: `200 OK` (`bye`); in the early dialog also `487` to the INVITE (`cancelled`).
- `NOTIFY` (the progress of a REFER, a `message/sipfrag` body): `200 OK` (`notify` with the fragment's status).
- A re-INVITE or an UPDATE (session timers, hold): `200 OK` with the same SDP answer (`reoffer` with the new
  offer, whose address the media follows). OPTIONS: `200 OK`.
- Any other method: `405 Method Not Allowed` with `Allow`; an in-dialog request for another dialog (a To tag
  that is not this call's): `481 Call/Transaction Does Not Exist`.
- The mock's own requests (`refer`, `bye`) are non-INVITE client transactions: sent again at T1, doubling up
  to T2, until a final response (`response`), given up after 64*T1 (`timeout`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from mockserver.sip.message import (
    Message,
    new_branch,
    new_tag,
    param,
    reason_for,
    request,
    response,
    uri_of,
)

T1 = 0.5  # RFC 3261 timer values (seconds)
T2 = 4.0
GIVE_UP = 64 * T1
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, NOTIFY, UPDATE"
SERVER = "realtime-mock"

Phase = Literal["proceeding", "accepted", "confirmed", "rejected", "terminated"]


@dataclass(frozen=True)
class Event:
    kind: str  # acked | cancelled | bye | ack_timeout | response | timeout | notify | reoffer
    status: int = 0  # response: its status; notify: the status in its sipfrag
    method: str = ""  # response, timeout: of which request of ours
    body: bytes = b""  # reoffer: the new SDP offer


@dataclass
class _Resend:
    data: bytes
    due: float
    interval: float
    deadline: float
    until: tuple[int, str]  # what stops it: the ACK of this INVITE CSeq, or the final response to our request


@dataclass
class ServerDialog:
    invite: Message
    contact: str  # this side's Contact URI (sip:...@host:port)
    via: str  # this side's sent-by (host:port) for its own requests
    local_tag: str = field(default_factory=new_tag)
    phase: Phase = "proceeding"

    def __post_init__(self) -> None:
        self.call_id = self.invite.call_id
        self.events: list[Event] = []
        self.local_sdp = b""
        self.remote_target = uri_of(self.invite.get("Contact") or self.invite.require("From"))
        self.route_set = self.invite.get_all("Record-Route")
        self._invite_cseq = self.invite.cseq[0]
        self._last_invite_response = b""  # sent again when the INVITE is
        self._answered: dict[tuple[int, str], bytes] = {}  # the caller's other requests, by CSeq
        self._resends: list[_Resend] = []
        self._pending: dict[int, str] = {}  # our requests waiting for a final response: CSeq -> method
        self._cseq = 0

    # -- the INVITE ---------------------------------------------------------------------------------

    def ringing(self) -> list[bytes]:
        """`100 Trying` and `180 Ringing`, as a trunk's far end answers while the app decides."""
        trying = self._respond(self.invite, 100, to_tag=None)
        return [trying, self._respond(self.invite, 180)]

    def accept(self, sdp: str, now: float) -> bytes:
        assert self.phase == "proceeding", self.phase
        self.phase = "accepted"
        self.local_sdp = sdp.encode("utf-8")
        data = self._ok_with_sdp(self.invite)
        self._resend(data, now, (self._invite_cseq, "ACK"))
        return data

    def reject(self, status: int, now: float, reason: str | None = None) -> bytes:
        assert self.phase == "proceeding", self.phase
        self.phase = "rejected"
        data = self._respond(self.invite, status, reason=reason)
        self._resend(data, now, (self._invite_cseq, "ACK"))
        return data

    # -- the mock's own requests ----------------------------------------------------------------------

    def bye(self, now: float) -> bytes:
        """Hang up the call (the caller answers 200)."""
        self.phase = "terminated"
        self._drop_resends((self._invite_cseq, "ACK"))
        return self._request("BYE", now)

    def refer(self, target_uri: str, now: float) -> bytes:
        """Ask the caller to call `target_uri` instead (RFC 3515); the caller answers 202, tells how it went
        in NOTIFYs, and hangs up."""
        return self._request("REFER", now, [("Refer-To", f"<{target_uri}>"), ("Referred-By", f"<{self.contact}>")])

    # -- what the caller sends ------------------------------------------------------------------------

    def receive(self, message: Message, now: float) -> list[bytes]:
        """A message of this call from the caller: what to send back."""
        if not message.is_request:
            self._response(message)
            return []
        number, method = message.cseq
        if method != message.method:
            return [self._respond(message, 400, reason="CSeq method does not match")]
        if method == "ACK":
            self._ack(number)
            return []
        if method == "INVITE" and message.to_tag is None:  # the INVITE again: the same answer again
            return [self._last_invite_response] if self._last_invite_response else []
        if method == "CANCEL":
            return self._cancel(message, now)
        cached = self._answered.get((number, method))
        if cached is not None:
            return [cached]
        if message.to_tag != self.local_tag:
            return [self._respond(message, 481)]
        out = self._in_dialog(message, method, now)
        self._answered[(number, method)] = out[0]
        return out

    def _in_dialog(self, message: Message, method: str, now: float) -> list[bytes]:
        if method == "BYE":
            early = self.phase == "proceeding"
            self.phase = "terminated"
            self._drop_resends((self._invite_cseq, "ACK"))
            out = [self._respond(message, 200)]
            if early:
                out.append(self._respond(self.invite, 487))
                self.events.append(Event("cancelled"))
            else:
                self.events.append(Event("bye"))
            return out
        if method in ("INVITE", "UPDATE"):
            if self.phase not in ("accepted", "confirmed"):
                return [self._respond(message, 491 if self.phase == "proceeding" else 481)]
            if message.body:
                self.events.append(Event("reoffer", body=message.body))
            data = self._ok_with_sdp(message) if method == "INVITE" or message.body else self._respond(message, 200)
            if method == "INVITE":
                self._resend(data, now, (message.cseq[0], "ACK"))
            return [data]
        if method == "NOTIFY":
            self.events.append(Event("notify", status=_sipfrag_status(message)))
            return [self._respond(message, 200)]
        if method == "OPTIONS":
            return [self._respond(message, 200, headers=[("Allow", ALLOW), ("Accept", "application/sdp")])]
        return [self._respond(message, 405, headers=[("Allow", ALLOW)])]

    def _ack(self, number: int) -> None:
        if number == self._invite_cseq and self.phase == "accepted":
            self.phase = "confirmed"
            self.events.append(Event("acked"))
        elif number == self._invite_cseq and self.phase == "rejected":
            self.phase = "terminated"
        self._drop_resends((number, "ACK"))

    def _cancel(self, message: Message, now: float) -> list[bytes]:
        if message.branch != self.invite.branch or message.cseq[0] != self._invite_cseq:
            return [self._respond(message, 481)]
        out = [self._respond(message, 200)]
        if self.phase == "proceeding":
            out.append(self.reject(487, now))
            self.events.append(Event("cancelled"))
        return out

    def _response(self, message: Message) -> None:
        number, method = message.cseq
        if self._pending.get(number) != method or message.status < 200:
            return
        del self._pending[number]
        self._drop_resends((number, method))
        self.events.append(Event("response", status=message.status, method=method))

    # -- timers ------------------------------------------------------------------------------------------

    def tick(self, now: float) -> list[bytes]:
        """What is due to be sent again now (and what has waited too long, as events)."""
        out: list[bytes] = []
        for resend in list(self._resends):
            if now >= resend.deadline:
                self._resends.remove(resend)
                self._gave_up(resend.until)
            elif now >= resend.due:
                out.append(resend.data)
                resend.interval = min(resend.interval * 2, T2)
                resend.due = now + resend.interval
        return out

    def next_due(self) -> float | None:
        return min((min(r.due, r.deadline) for r in self._resends), default=None)

    @property
    def quiet(self) -> bool:
        """Nothing left to send again."""
        return not self._resends

    def _gave_up(self, until: tuple[int, str]) -> None:
        number, method = until
        if method == "ACK":
            if number == self._invite_cseq and self.phase == "accepted":
                self.events.append(Event("ack_timeout"))
            elif self.phase == "rejected":
                self.phase = "terminated"
        elif self._pending.pop(number, None) is not None:
            self.events.append(Event("timeout", method=method))

    def _resend(self, data: bytes, now: float, until: tuple[int, str]) -> None:
        self._resends.append(_Resend(data, now + T1, T1, now + GIVE_UP, until))

    def _drop_resends(self, until: tuple[int, str]) -> None:
        self._resends = [r for r in self._resends if r.until != until]

    # -- building messages --------------------------------------------------------------------------------

    def _respond(self, to: Message, status: int, *, reason: str | None = None, to_tag: str | None = "",
                 headers: Sequence[tuple[str, str]] = (), body: bytes = b"") -> bytes:
        tag = self.local_tag if to_tag == "" else to_tag
        extra = [("Server", SERVER), *headers]
        if body:
            extra.append(("Content-Type", "application/sdp"))
        data = response(to, status, reason=reason or reason_for(status), to_tag=tag, headers=extra,
                        body=body).encode()
        if to is self.invite:
            self._last_invite_response = data
        return data

    def _ok_with_sdp(self, to: Message) -> bytes:
        return self._respond(to, 200, headers=[("Contact", f"<{self.contact}>"), ("Allow", ALLOW)],
                             body=self.local_sdp)

    def _request(self, method: str, now: float, headers: Sequence[tuple[str, str]] = ()) -> bytes:
        self._cseq += 1
        ours = self.invite.require("To")
        if param(ours, "tag") is None:
            ours = f"{ours};tag={self.local_tag}"
        fields = [("Via", f"SIP/2.0/UDP {self.via};branch={new_branch()};rport"), ("Max-Forwards", "70"),
                  ("From", ours), ("To", self.invite.require("From")), ("Call-ID", self.call_id),
                  ("CSeq", f"{self._cseq} {method}"), ("Contact", f"<{self.contact}>"),
                  *(("Route", route) for route in self.route_set), ("User-Agent", SERVER), *headers]
        data = request(method, self.remote_target, fields).encode()
        self._pending[self._cseq] = method
        self._resend(data, now, (self._cseq, method))
        return data


def _sipfrag_status(message: Message) -> int:
    """The status line in a NOTIFY's `message/sipfrag` body (`SIP/2.0 200 OK`); 0 when there is none."""
    first = message.body.decode("utf-8", "replace").strip().split("\r\n", 1)[0].split("\n", 1)[0].split()
    return int(first[1]) if len(first) >= 2 and first[0] == "SIP/2.0" and first[1].isdigit() else 0
