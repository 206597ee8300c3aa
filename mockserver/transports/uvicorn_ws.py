"""uvicorn's WebSocket protocol (websockets' sans-I/O implementation), serving the mock's sessions directly.

Through ASGI, a WebSocket session is a task and a chain of coroutines that live as long as the
connection; every event is one `await send(...)` (one system call and a task switch each), and every
client message goes through a queue, with reading paused and resumed around it. The mock's runtime has
a batch of events ready at a time and handles a client frame synchronously, so `realtime-mock` serves
WebSockets with this subclass. For a path the app serves directly (`MockApp.direct`), it:

- judges and answers the upgrade synchronously (the app's opener decides, as the ASGI endpoint would);
- is the connection's sink (runtime/runtime.py): it frames a whole batch of events and writes it in
  one call, and stops reading from the socket while its write buffer is full, until the client has
  read (then it calls `on_resume`), so a client that does not read cannot make the server queue
  without bound;
- hands each client message to the runtime as it is parsed, and detaches when the connection ends.

Any other path goes through ASGI as uvicorn does it. Under any other ASGI server, the app serves its
WebSockets through plain ASGI (transports/websocket.py). This relies on these attributes of uvicorn's
`WebSocketsSansIOProtocol` (uvicorn 0.54): `app`, `conn` (the websockets `ServerProtocol`), `transport`,
`client`, `frames`, `curr_msg_data_type`, `writable`, `handshake_initiated`, `handshake_complete`,
`close_sent`, `disconnected`, `close_timer`, `close_timeout`, `logger`, `loop`, and the methods
`start_keepalive` and `handle_parser_exception`.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable, Sequence
from typing import Any, Protocol
from urllib.parse import parse_qsl

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.datastructures import Headers
from websockets.exceptions import InvalidState
from websockets.http11 import Request, Response

from mockserver.transports.upgrade import Opening, Upgrade

# A client that does not read for `slow_reader_seconds` (state.ServerConfig) is closed with 1008 (policy
# violation: the live API's behaviour with slow consumers is not documented), then cut after a grace.
SLOW_READER_CLOSE = 1008
SLOW_READER_REASON = "slow consumer"
SLOW_READER_GRACE = 2.0


class Opener(Protocol):
    def __call__(self, upgrade: Upgrade) -> Opening: ...


def frame_header(length: int) -> bytes:
    """The header of an unmasked, final text frame (RFC 6455 section 5.2) carrying `length` bytes."""
    if length < 126:
        return bytes((0x81, length))
    if length < 65536:
        return struct.pack("!BBH", 0x81, 126, length)
    return struct.pack("!BBQ", 0x81, 127, length)


class DirectWebSocketProtocol(WebSocketsSansIOProtocol):
    on_resume: Callable[[], None] | None = None
    _runtime: Any = None  # the SessionRuntime this connection is attached to
    _slow: asyncio.TimerHandle | None = None  # set while the client does not read

    # -- the upgrade ------------------------------------------------------------------------------------

    def handle_connect(self, event: Request) -> None:
        direct = getattr(self.app, "direct", None)
        path, _, query = event.path.partition("?")
        opener: Opener | None = direct(path) if direct is not None else None
        if opener is None:
            super().handle_connect(event)
            return
        self.handshake_initiated = True
        response = self.conn.accept(event)
        if response.status_code != 101:  # not a WebSocket upgrade at all
            self._answer_and_close(response)
            return
        headers: dict[str, str] = {}
        for name, value in event.headers.raw_items():
            headers.setdefault(name.lower(), value)
        offered = [token.strip() for value in event.headers.get_all("Sec-WebSocket-Protocol")
                   for token in value.split(",")]
        opening = opener(Upgrade(path, dict(parse_qsl(query, keep_blank_values=True)), headers, offered))
        if opening.denial is not None:
            status, body = opening.denial
            self._answer_and_close(Response(status, "", Headers([
                ("Content-Type", "application/json"), ("Content-Length", str(len(body))), ("Connection", "close")]),
                body))
            return
        if opening.subprotocol:
            response.headers["Sec-WebSocket-Protocol"] = opening.subprotocol
        self.conn.send_response(response)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.handshake_complete = True
        self.start_keepalive()
        peer = f"{self.client[0]}:{self.client[1]}" if self.client else ""
        self.logger.info('%s - "WebSocket %s" [accepted]', peer, path)
        if opening.runtime is None:  # the handshake was judged wrong: one error, then the close
            assert opening.error_frame is not None and opening.close is not None
            self.write_texts([opening.error_frame])
            self.close_now(*opening.close)
            return
        self._runtime = runtime = opening.runtime
        high = runtime.write_buffer_bytes
        self.transport.set_write_buffer_limits(high=high, low=high // 4)
        runtime.attach(self)

    def _answer_and_close(self, response: Response) -> None:
        self.handshake_complete = self.close_sent = True
        self.conn.send_response(response)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.transport.close()

    # -- reading --------------------------------------------------------------------------------------

    def send_receive_event_to_app(self) -> None:
        runtime = self._runtime
        if runtime is None:
            super().send_receive_event_to_app()
            return
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent:
            return  # past our close: discard, as uvicorn does
        if self.curr_msg_data_type == "text":
            try:
                text = data.decode()
            except UnicodeDecodeError:
                self.logger.info("A client sent a text message that is not UTF-8; closing with 1007.")
                self.conn.send_close(1007)
                self.handle_parser_exception()
                return
            runtime.receive(text)
        else:
            runtime.receive(data)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        runtime, self._runtime = self._runtime, None
        if runtime is not None:
            runtime.detach(self)

    # -- the sink -------------------------------------------------------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._runtime is not None:
            self.transport.pause_reading()  # read no more until the client has read what it asked for
            self._slow = self.loop.call_later(self._runtime.slow_reader_seconds, self._drop_slow_reader)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._slow is not None:
            self._slow.cancel()
            self._slow = None
        if self._runtime is not None and not self.transport.is_closing():
            self.transport.resume_reading()
        if self.on_resume is not None:
            self.on_resume()

    def _drop_slow_reader(self) -> None:
        """The client has not read for `slow_reader_seconds`: close 1008 and let the connection go (the
        close frame waits behind what it did not read, so the socket is cut shortly after)."""
        self._slow = None
        runtime, self._runtime = self._runtime, None
        if runtime is None:
            return
        peer = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        self.logger.info("%s did not read for %.0f s; closing with %d", peer, runtime.slow_reader_seconds,
                         SLOW_READER_CLOSE)
        runtime.detach(self, SLOW_READER_CLOSE)
        self.close_now(SLOW_READER_CLOSE, SLOW_READER_REASON)
        self.loop.call_later(SLOW_READER_GRACE, self.transport.abort)

    @property
    def paused(self) -> bool:
        return not self.writable.is_set()

    @property
    def open(self) -> bool:
        return self.handshake_complete and not (self.close_sent or self.disconnected or self.transport.is_closing())

    def deliver(self, frames: list[bytes]) -> None:
        self.write_texts(frames)

    def close(self, code: int, reason: str) -> None:
        self._runtime = None  # the runtime ended
        self.close_now(code, reason)

    def write_texts(self, texts: Sequence[bytes]) -> bool:
        """Frame these text messages (UTF-8) and write them in one call; False when the socket is closed."""
        if not self.open:
            return False
        if self.conn.extensions:  # permessage-deflate: websockets compresses each frame
            try:
                for text in texts:
                    self.conn.send_text(text)
            except InvalidState:  # the client's close frame arrived first
                return False
            self.transport.write(b"".join(self.conn.data_to_send()))
            return True
        parts: list[bytes] = []
        for text in texts:
            parts.append(frame_header(len(text)))
            parts.append(text)
        self.transport.write(b"".join(parts))
        return True

    def close_now(self, code: int, reason: str) -> None:
        """Start the closing handshake, as uvicorn does for an ASGI `websocket.close`."""
        if not self.open:
            return
        self.conn.send_close(code, reason)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.transport.resume_reading()  # read the client's answering close frame
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.close)
