"""SDP for SIP calls (RFC 4566, the offer/answer model of RFC 3264), as far as a G.711 telephone call needs.

`parse` reads an offer's (or an answer's) first audio section: where to send RTP, the payload types in the
offerer's order, their `rtpmap`s, the direction. `negotiate` picks the first of them that is PCMU or PCMA
(8 kHz) and the offered `telephone-event/8000` type (RFC 4733 DTMF); `answer` and `offer` write the SDP
(plain RTP/AVP, 20 ms packets). SRTP (`RTP/SAVP`) is not offered and not accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mockserver.audio.formats import Format

STATIC = {0: "PCMU/8000", 8: "PCMA/8000"}  # RFC 3551 static payload types
CODECS = {"PCMU": 0, "PCMA": 8}
FORMATS: dict[str, Format] = {"PCMU": "audio/pcmu", "PCMA": "audio/pcma"}  # the names audio/ gives them
DTMF_PAYLOAD = 101  # the dynamic type offers use for telephone-event by custom
PROTOCOLS = ("RTP/AVP", "RTP/AVPF")
_MIRROR = {"sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive", "sendrecv": "sendrecv"}


@dataclass(frozen=True)
class Media:
    """An SDP's first audio section."""

    address: str
    port: int
    protocol: str
    payload_types: tuple[int, ...]
    rtpmap: dict[int, str] = field(default_factory=dict)  # payload type -> "encoding/rate" (as written)
    direction: str = "sendrecv"

    def encoding(self, payload_type: int) -> str:
        """`PCMU/8000`, `TELEPHONE-EVENT/8000`, ...: a payload type's encoding, upper case, without channels."""
        given = self.rtpmap.get(payload_type) or STATIC.get(payload_type, "")
        name, _, rate = given.partition("/")
        return f"{name.upper()}/{rate.split('/', 1)[0]}"


@dataclass(frozen=True)
class Negotiated:
    """What a call's RTP carries: the audio codec and its payload type, the DTMF type, where to send."""

    codec: str  # "PCMU" or "PCMA"
    payload_type: int
    dtmf_payload_type: int | None
    remote: tuple[str, int]
    direction: str = "sendrecv"  # of the answer: whether this side sends, receives, or both

    @property
    def sends(self) -> bool:
        return self.direction in ("sendrecv", "sendonly") and self.remote[0] not in ("0.0.0.0", "::") \
            and self.remote[1] > 0


def parse(text: str) -> Media | None:
    """The first audio section of an SDP (None: no SDP, or no audio section)."""
    if not text.lstrip().startswith("v=0"):
        return None
    session_address, media = "", None
    address, rtpmap, direction, session_direction = "", {}, "", "sendrecv"
    for raw in text.splitlines():
        line = raw.strip()
        kind, _, value = line.partition("=")
        if kind == "m":
            if media is not None:
                break  # only the first audio section counts
            fields = value.split()
            if len(fields) >= 4 and fields[0] == "audio" and fields[1].split("/")[0].isdigit():
                media = (int(fields[1].split("/")[0]), fields[2], tuple(int(f) for f in fields[3:] if f.isdigit()))
            continue
        if kind == "c":
            parts = value.split()
            if len(parts) == 3:
                if media is None:
                    session_address = parts[2].split("/")[0]
                else:
                    address = parts[2].split("/")[0]
        elif kind == "a":
            name, _, attribute = value.partition(":")
            if name in _MIRROR:
                if media is None:
                    session_direction = name
                else:
                    direction = name
            elif name == "rtpmap" and media is not None:
                number, _, encoding = attribute.partition(" ")
                if number.isdigit():
                    rtpmap[int(number)] = encoding.strip()
    if media is None:
        return None
    port, protocol, payload_types = media
    return Media(address or session_address, port, protocol, payload_types, rtpmap, direction or session_direction)


def negotiate(media: Media | None) -> Negotiated | None:
    """The call's codec and DTMF type for an offer (None: nothing this side can take)."""
    if media is None or media.port == 0 or media.protocol not in PROTOCOLS:
        return None
    chosen = next(((pt, media.encoding(pt)[:4]) for pt in media.payload_types
                   if media.encoding(pt) in ("PCMU/8000", "PCMA/8000")), None)
    if chosen is None:
        return None
    dtmf = next((pt for pt in media.payload_types if media.encoding(pt) == "TELEPHONE-EVENT/8000"), None)
    return Negotiated(chosen[1], chosen[0], dtmf, (media.address, media.port), _MIRROR[media.direction])


def answer(negotiated: Negotiated, address: str, port: int, *, session_id: int, version: int = 1) -> str:
    """The SDP answer: the chosen codec, the DTMF type when one was offered, this side's RTP address."""
    types = [negotiated.payload_type] + ([negotiated.dtmf_payload_type] if negotiated.dtmf_payload_type else [])
    return _sdp(address, port, session_id, version, [(negotiated.payload_type, negotiated.codec)],
                negotiated.dtmf_payload_type, types, negotiated.direction)


def offer(address: str, port: int, *, codecs: tuple[str, ...] = ("PCMU", "PCMA"), session_id: int,
          dtmf_payload_type: int | None = DTMF_PAYLOAD) -> str:
    """An offer (what the test caller sends): these codecs in this order, and telephone events."""
    pairs = [(CODECS[name], name) for name in codecs]
    types = [pt for pt, _ in pairs] + ([dtmf_payload_type] if dtmf_payload_type is not None else [])
    return _sdp(address, port, session_id, 1, pairs, dtmf_payload_type, types, "sendrecv")


def _sdp(address: str, port: int, session_id: int, version: int, codecs: list[tuple[int, str]],
         dtmf: int | None, types: list[int], direction: str) -> str:
    family = "IP6" if ":" in address else "IP4"
    lines = ["v=0", f"o=realtime-mock {session_id} {version} IN {family} {address}", "s=realtime-mock",
             f"c=IN {family} {address}", "t=0 0", f"m=audio {port} RTP/AVP {' '.join(map(str, types))}"]
    lines += [f"a=rtpmap:{pt} {name}/8000" for pt, name in codecs]
    if dtmf is not None:
        lines += [f"a=rtpmap:{dtmf} telephone-event/8000", f"a=fmtp:{dtmf} 0-16"]
    lines += ["a=ptime:20", f"a={direction}"]
    return "\r\n".join(lines) + "\r\n"
