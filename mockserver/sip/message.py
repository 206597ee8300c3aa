"""SIP messages (RFC 3261 section 7): parse a datagram into a `Message`, build requests and responses,
and read the header fields a call needs (Call-ID, CSeq, tags, the top Via's branch, URIs).

Headers keep their order, their repetitions and the names as sent (the webhook reports them so); lookups
are case-insensitive and know the compact forms (`f` for From, `i` for Call-ID, ...). A datagram that is
not a SIP message raises `SipError`; a body is cut to its `Content-Length` (a datagram may carry more).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

VERSION = "SIP/2.0"
MAGIC_COOKIE = "z9hG4bK"  # the prefix of RFC 3261 branch ids
COMPACT = {"i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length", "c": "content-type",
           "f": "from", "s": "subject", "k": "supported", "t": "to", "v": "via", "r": "refer-to",
           "b": "referred-by", "o": "event", "u": "allow-events", "x": "session-expires"}
REASONS = {100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued", 183: "Session Progress",
           200: "OK", 202: "Accepted", 300: "Multiple Choices", 301: "Moved Permanently", 302: "Moved Temporarily",
           400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           408: "Request Timeout", 410: "Gone", 415: "Unsupported Media Type", 480: "Temporarily Unavailable",
           481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops",
           484: "Address Incomplete",
           486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here", 491: "Request Pending",
           500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
           504: "Server Time-out", 600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere",
           606: "Not Acceptable"}
CLASS_REASONS = {1: "Progress", 2: "OK", 3: "Redirection", 4: "Request Failure", 5: "Server Failure",
                 6: "Global Failure"}
_TOKEN = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+")
_STATUS_LINE = re.compile(r"SIP/2\.0 ([1-6][0-9]{2})(?: (.*))?")
_MAX_BYTES = 65_535  # a UDP datagram's payload at most


class SipError(ValueError):
    """Not a SIP message (or one without a field it must have)."""


def reason_for(status: int) -> str:
    return REASONS.get(status) or CLASS_REASONS.get(status // 100, "Unknown")


def canonical(name: str) -> str:
    """A header name for comparing: lower case, compact forms expanded."""
    lowered = name.strip().lower()
    return COMPACT.get(lowered, lowered)


@dataclass
class Message:
    """A request (`method`, `uri`) or a response (`status`, `reason`), its headers in order, and its body."""

    method: str = ""
    uri: str = ""
    status: int = 0
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return bool(self.method)

    def get(self, name: str) -> str | None:
        """The first value of a header (None: absent)."""
        wanted = canonical(name)
        return next((value for key, value in self.headers if canonical(key) == wanted), None)

    def get_all(self, name: str) -> list[str]:
        """Every value of a header, headers repeated or comma-separated alike (Via, Route, Record-Route, ...)."""
        wanted = canonical(name)
        return [part for key, value in self.headers if canonical(key) == wanted for part in split_list(value)]

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise SipError(f"missing {name} header")
        return value

    @property
    def call_id(self) -> str:
        return self.require("Call-ID").strip()

    @property
    def cseq(self) -> tuple[int, str]:
        number, _, method = self.require("CSeq").strip().partition(" ")
        if not number.isdigit() or not method.strip():
            raise SipError(f"malformed CSeq {self.get('CSeq')!r}")
        return int(number), method.strip().upper()

    @property
    def from_tag(self) -> str | None:
        return param(self.require("From"), "tag")

    @property
    def to_tag(self) -> str | None:
        return param(self.require("To"), "tag")

    @property
    def branch(self) -> str | None:
        vias = self.get_all("Via")
        return param(vias[0], "branch") if vias else None

    def encode(self) -> bytes:
        start = f"{self.method} {self.uri} {VERSION}" if self.is_request else f"{VERSION} {self.status} {self.reason}"
        lines = [start, *(f"{name}: {value}" for name, value in self.headers
                          if canonical(name) != "content-length"), f"Content-Length: {len(self.body)}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


def parse(data: bytes) -> Message:
    """A datagram as a SIP message; SipError when it is not one."""
    if len(data) > _MAX_BYTES:
        raise SipError("larger than a datagram")
    data = data.lstrip(b"\r\n")  # keep-alive CRLFs before a message (RFC 5626 4.4.1)
    head, separator, rest = data.partition(b"\r\n\r\n")
    if not separator:
        head, separator, rest = data.partition(b"\n\n")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise SipError("the header is not UTF-8") from None
    lines = text.replace("\r\n", "\n").split("\n")
    start = lines[0].strip()
    message = _start_line(start)
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and message.headers:  # a folded line continues the one before
            name, value = message.headers[-1]
            message.headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.fullmatch(name.strip()):
            raise SipError(f"malformed header line {line!r}")
        message.headers.append((name.strip(), value.strip()))
    length = message.get("Content-Length")
    if length is None:
        message.body = rest
    elif not length.strip().isdigit() or int(length) > len(rest):
        raise SipError(f"Content-Length {length!r} does not fit the datagram")
    else:
        message.body = rest[:int(length)]
    for name in ("Call-ID", "CSeq", "From", "To", "Via"):
        message.require(name)
    message.cseq  # noqa: B018 (checks it is well formed)
    return message


def _start_line(line: str) -> Message:
    status = _STATUS_LINE.fullmatch(line)
    if status is not None:
        return Message(status=int(status[1]), reason=status[2] or "")
    parts = line.split(" ")
    if len(parts) != 3 or parts[2] != VERSION or not _TOKEN.fullmatch(parts[0]) or ":" not in parts[1]:
        raise SipError(f"not a SIP start line: {line[:80]!r}")
    return Message(method=parts[0].upper(), uri=parts[1])


def request(method: str, uri: str, headers: Iterable[tuple[str, str]], body: bytes = b"") -> Message:
    return Message(method=method, uri=uri, headers=list(headers), body=body)


def response(to: Message, status: int, *, reason: str | None = None, to_tag: str | None = None,
             headers: Sequence[tuple[str, str]] = (), body: bytes = b"") -> Message:
    """A response to a request (RFC 3261 8.2.6): its Via headers, From, To (with our tag), Call-ID and CSeq;
    a dialog-making response to an INVITE also copies its Record-Route (12.1.1)."""
    copied: list[tuple[str, str]] = [(name, value) for name, value in to.headers if canonical(name) == "via"]
    to_header = to.require("To")
    if to_tag is not None and param(to_header, "tag") is None:
        to_header = f"{to_header};tag={to_tag}"
    copied += [("From", to.require("From")), ("To", to_header), ("Call-ID", to.call_id),
               ("CSeq", to.require("CSeq"))]
    if to.method == "INVITE" and 100 < status < 300:
        copied += [("Record-Route", value) for value in to.get_all("Record-Route")]
    return Message(status=status, reason=reason or reason_for(status), headers=[*copied, *headers], body=body)


# -- header values ----------------------------------------------------------------------------------------

def split_list(value: str) -> list[str]:
    """A comma-separated header value as its elements (commas inside <...> or quotes do not split)."""
    parts: list[str] = []
    depth, quoted, start = 0, False, 0
    for index, char in enumerate(value):
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "<":
            depth += 1
        elif not quoted and char == ">":
            depth = max(0, depth - 1)
        elif char == "," and not quoted and depth == 0:
            parts.append(value[start:index].strip())
            start = index + 1
    parts.append(value[start:].strip())
    return [part for part in parts if part]


def param(value: str, name: str) -> str | None:
    """A header parameter (`;tag=...`, `;branch=...`) outside the <URI>; "" for a parameter without a value."""
    tail = value.rsplit(">", 1)[1] if ">" in value else value
    for part in tail.split(";")[1:]:
        key, _, found = part.partition("=")
        if key.strip().lower() == name:
            return found.strip().strip('"')
    return None


def uri_of(value: str) -> str:
    """The URI of a name-addr (`"Bob" <sip:bob@host>;tag=1`) or of an addr-spec (`sip:bob@host;tag=1`)."""
    if "<" in value:
        return value.split("<", 1)[1].split(">", 1)[0].strip()
    return value.split(";", 1)[0].strip()


def host_port(uri: str, default_port: int = 5060) -> tuple[str, int]:
    """Where a sip: URI points: (host, port); an IPv6 host without brackets."""
    rest = uri.split(":", 1)[1] if ":" in uri else uri
    rest = rest.split(";", 1)[0].split("?", 1)[0]
    hostport = rest.rsplit("@", 1)[-1]
    if hostport.startswith("["):
        host, _, after = hostport[1:].partition("]")
        port = after[1:] if after.startswith(":") else ""
    else:
        host, _, port = hostport.partition(":")
    return host, int(port) if port.isdigit() else default_port


def new_tag() -> str:
    return secrets.token_hex(8)


def new_branch() -> str:
    return MAGIC_COOKIE + secrets.token_hex(10)


def new_call_id(host: str) -> str:
    return f"{secrets.token_hex(12)}@{host}"
