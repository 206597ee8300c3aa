"""RTP packets (RFC 3550) and telephone events (RFC 4733, DTMF), sans-I/O.

- `RtpPacket`, `parse`: the fixed header, CSRCs, a header extension and padding are read; what is not
  version 2, or is RTCP multiplexed on the port (payload types 72-76 with the marker bit, RFC 5761), is None.
- `TelephoneEvent`, `parse_event`: the 4-byte event payload (event code, end bit, volume, duration).
- `DtmfReceiver`: key presses from a stream of event packets, one per press. Every packet of an event
  carries the RTP timestamp of its start, and the end packet is sent three times (RFC 4733 2.5.1.4), so a
  press is told by its (SSRC, timestamp, event) and reported on its first packet.
- `RtpSender`: one outgoing stream (its SSRC, sequence numbers and 8 kHz timestamps): 20 ms audio packets,
  and the packets of a key press, tick by tick, as SIPp's own DTMF captures send them.
"""

from __future__ import annotations

import secrets
import struct
from collections import deque
from dataclasses import dataclass

VERSION = 2
CLOCK_RATE = 8000  # G.711 and telephone-event/8000: one timestamp unit a sample
PACKET_MS = 20
SAMPLES_PER_PACKET = CLOCK_RATE * PACKET_MS // 1000  # 160: one byte each in G.711
KEYS = "0123456789*#ABCD"  # event codes 0-15 (RFC 4733 3.2)
END_REPEATS = 3
_HEADER = struct.Struct("!BBHII")
_EVENT = struct.Struct("!BBH")
_RTCP_TYPES = range(72, 77)  # SR, RR, SDES, BYE, APP (200-204) as the second byte reads them


@dataclass(frozen=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False

    def encode(self) -> bytes:
        second = (0x80 if self.marker else 0) | (self.payload_type & 0x7F)
        return _HEADER.pack(VERSION << 6, second, self.sequence & 0xFFFF, self.timestamp & 0xFFFFFFFF,
                            self.ssrc & 0xFFFFFFFF) + self.payload


def parse(data: bytes) -> RtpPacket | None:
    """An RTP packet, or None for anything else (too short, not version 2, RTCP, inconsistent lengths)."""
    if len(data) < _HEADER.size:
        return None
    first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
    if first >> 6 != VERSION or (second & 0x80 and second & 0x7F in _RTCP_TYPES):
        return None
    offset = _HEADER.size + 4 * (first & 0x0F)
    if first & 0x10:  # a header extension: 16-bit profile, 16-bit length in 32-bit words
        if len(data) < offset + 4:
            return None
        offset += 4 + 4 * struct.unpack_from("!H", data, offset + 2)[0]
    end = len(data)
    if first & 0x20:  # padding: its length is the last byte
        end -= data[-1]
    if offset > end:
        return None
    return RtpPacket(second & 0x7F, sequence, timestamp, ssrc, data[offset:end], bool(second & 0x80))


@dataclass(frozen=True)
class TelephoneEvent:
    event: int
    end: bool
    volume: int  # 0 to 63: -dBm0
    duration: int  # in timestamp units, since the event's timestamp

    @property
    def key(self) -> str | None:
        return KEYS[self.event] if self.event < len(KEYS) else None

    def encode(self) -> bytes:
        return _EVENT.pack(self.event, (0x80 if self.end else 0) | (self.volume & 0x3F), self.duration & 0xFFFF)


def parse_event(payload: bytes) -> TelephoneEvent | None:
    if len(payload) < _EVENT.size:
        return None
    event, flags, duration = _EVENT.unpack_from(payload)
    return TelephoneEvent(event, bool(flags & 0x80), flags & 0x3F, duration)


class DtmfReceiver:
    """Key presses in a call's telephone-event packets, each reported once."""

    def __init__(self, remembered: int = 64) -> None:
        self._seen: deque[tuple[int, int, int]] = deque(maxlen=remembered)

    def receive(self, packet: RtpPacket) -> str | None:
        """The key of a press this packet starts (None: a packet of a press already reported, or no key)."""
        event = parse_event(packet.payload)
        if event is None or event.key is None:
            return None
        press = (packet.ssrc, packet.timestamp, event.event)
        if press in self._seen:
            return None
        self._seen.append(press)
        return event.key


class RtpSender:
    """An outgoing RTP stream: one SSRC, a sequence number and a timestamp that go on from random starts."""

    def __init__(self, payload_type: int, *, dtmf_payload_type: int | None = None, ssrc: int | None = None,
                 sequence: int | None = None, timestamp: int | None = None) -> None:
        self.payload_type = payload_type
        self.dtmf_payload_type = dtmf_payload_type
        self.ssrc = secrets.randbits(32) if ssrc is None else ssrc
        self.sequence = secrets.randbits(16) if sequence is None else sequence
        self.timestamp = secrets.randbits(32) if timestamp is None else timestamp
        self._first = True

    def audio(self, payload: bytes) -> bytes:
        """The next audio packet (G.711: one byte a sample, so the timestamp moves by the payload's length)."""
        packet = self._packet(self.payload_type, self.timestamp, payload, marker=self._first)
        self._first = False
        self.timestamp = (self.timestamp + len(payload)) & 0xFFFFFFFF
        return packet

    def key_press(self, key: str, duration_ms: int = 100, volume: int = 10) -> list[list[bytes]]:
        """The packets of a key press, a list per 20 ms tick: the event growing, then its end sent three
        times with one sequence number. The stream's timestamp moves on by the press's length."""
        if self.dtmf_payload_type is None:
            raise ValueError("the call negotiated no telephone-event payload type")
        if key.upper() not in KEYS:
            raise ValueError(f"not a DTMF key: {key!r}")
        code = KEYS.index(key.upper())
        ticks = max(1, round(duration_ms / PACKET_MS))
        start, out = self.timestamp, []
        for tick in range(1, ticks + 1):
            end = tick == ticks
            payload = TelephoneEvent(code, end, volume, tick * SAMPLES_PER_PACKET).encode()
            packet = self._packet(self.dtmf_payload_type, start, payload, marker=tick == 1)
            out.append([packet] * (END_REPEATS if end else 1))
        self.timestamp = (start + ticks * SAMPLES_PER_PACKET) & 0xFFFFFFFF
        return out

    def _packet(self, payload_type: int, timestamp: int, payload: bytes, *, marker: bool) -> bytes:
        packet = RtpPacket(payload_type, self.sequence, timestamp, self.ssrc, payload, marker).encode()
        self.sequence = (self.sequence + 1) & 0xFFFF
        return packet
