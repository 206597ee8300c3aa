"""RTP packets and RFC 4733 telephone events (mockserver/sip/rtp.py): what is parsed, what is sent, and key
presses told once each however often their packets repeat (SIPp's own DTMF captures among them)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from mockserver.sip import rtp
from mockserver.sip.rtp import DtmfReceiver, RtpPacket, RtpSender, TelephoneEvent

SIPP_CAPTURES = Path("/usr/share/sip-tester")  # Debian's sip-tester ships SIPp's DTMF captures here


def test_a_packet_round_trips() -> None:
    packet = RtpPacket(0, 65535, 0xFFFFFFFF, 0x1234, b"\xff" * 160, marker=True)
    data = packet.encode()
    assert len(data) == 172 and data[:2] == b"\x80\x80"
    assert rtp.parse(data) == packet


def test_csrcs_an_extension_and_padding_are_skipped() -> None:
    header = struct.pack("!BBHII", 0x80 | 0x20 | 0x10 | 2, 8, 7, 160, 99)
    data = header + b"\0" * 8 + struct.pack("!HH", 0xBEDE, 1) + b"\0" * 4 + b"abc" + b"\0\0\x03"
    assert rtp.parse(data) == RtpPacket(8, 7, 160, 99, b"abc")


@pytest.mark.parametrize("data", [
    b"", b"\x80\x00", bytes([0x40, 0]) + bytes(10),  # too short; version 1
    struct.pack("!BBHII", 0x80, 200, 1, 2, 3),  # RTCP sender report on the same port
    struct.pack("!BBHII", 0x80 | 0x20, 0, 1, 2, 3) + b"\x09",  # more padding than payload
])
def test_what_is_not_an_rtp_packet(data: bytes) -> None:
    assert rtp.parse(data) is None


def test_the_sender_numbers_its_packets() -> None:
    sender = RtpSender(0, ssrc=5, sequence=65535, timestamp=2**32 - 160)
    first, second = (rtp.parse(sender.audio(b"\xff" * 160)) for _ in range(2))
    assert first is not None and second is not None
    assert (first.sequence, first.timestamp, first.marker) == (65535, 2**32 - 160, True)
    assert (second.sequence, second.timestamp, second.marker, second.ssrc) == (0, 0, False, 5)  # wrapped


def test_a_key_press_grows_then_ends_three_times() -> None:
    sender = RtpSender(0, dtmf_payload_type=101, ssrc=1, sequence=10, timestamp=1000)
    ticks = sender.key_press("#", duration_ms=100)
    assert [len(t) for t in ticks] == [1, 1, 1, 1, 3]
    packets = [rtp.parse(p) for tick in ticks for p in tick]
    assert {p.timestamp for p in packets if p} == {1000} and {p.payload_type for p in packets if p} == {101}
    events = [rtp.parse_event(p.payload) for p in packets if p]
    assert [(e.event, e.end, e.duration) for e in events if e] == [
        (11, False, 160), (11, False, 320), (11, False, 480), (11, False, 640)] + [(11, True, 800)] * 3
    assert [p.sequence for p in packets if p] == [10, 11, 12, 13, 14, 14, 14]  # the repeats share one
    after = rtp.parse(sender.audio(b"\xff" * 160))
    assert after is not None and (after.timestamp, after.sequence) == (1800, 15)  # the clock went on
    with pytest.raises(ValueError):
        sender.key_press("x")
    with pytest.raises(ValueError):
        RtpSender(0).key_press("1")  # no telephone-event type negotiated


def test_each_press_is_told_once() -> None:
    sender = RtpSender(0, dtmf_payload_type=101)
    receiver = DtmfReceiver()
    keys = [receiver.receive(p) for key in "1123*#AD" for tick in sender.key_press(key) for p in
            (rtp.parse(packet) for packet in tick) if p]
    assert [k for k in keys if k] == list("1123*#AD")
    assert receiver.receive(RtpPacket(101, 1, 1, 1, TelephoneEvent(16, False, 10, 160).encode())) is None  # flash
    assert receiver.receive(RtpPacket(101, 1, 2, 1, b"\x01")) is None  # too short


def _capture(path: Path) -> list[bytes]:
    """The UDP payloads of a libpcap capture of Ethernet frames."""
    data = path.read_bytes()
    out, at = [], 24
    while at + 16 <= len(data):
        length = struct.unpack_from("<I", data, at + 8)[0]
        frame = data[at + 16:at + 16 + length]
        at += 16 + length
        ip = frame[14:]
        out.append(ip[(ip[0] & 0x0F) * 4 + 8:])
    return out


@pytest.mark.skipif(not (SIPP_CAPTURES / "dtmf_2833_1.pcap").exists(), reason="SIPp's captures are not installed")
def test_sipps_own_dtmf_captures() -> None:
    receiver = DtmfReceiver()
    for name, key in (("1", "1"), ("pound", "#"), ("star", "*")):
        found = [receiver.receive(p) for p in map(rtp.parse, _capture(SIPP_CAPTURES / f"dtmf_2833_{name}.pcap"))
                 if p is not None]
        assert [k for k in found if k] == [key]
