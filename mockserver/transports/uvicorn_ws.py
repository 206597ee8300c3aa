"""uvicorn's WebSocket protocol (websockets' sans-I/O implementation), with a direct channel for sinks.

Through ASGI every event is one `await send(...)`, written to the socket at once (one system call and a
task switch each), and every client message goes through a queue, with reading paused and resumed
around it (two more system calls). The mock's runtime has a batch of events ready at a time and
handles a client frame synchronously, so `realtime-mock` serves WebSockets with this subclass. It
offers the app, through the ASGI scope extension `realtime_mock.direct`, a channel that:

- frames a whole batch of text messages and writes it in one call, synchronously;
- once the app sets a reader, hands it each client message as it is parsed (those already in the ASGI
  queue first, in order), so only the disconnect goes through the queue;
- stops reading from the socket while its write buffer is full, until the client has read (and says
  so: `on_resume`), so a client that does not read cannot make the server queue without bound.

Under any other ASGI server the app falls back to plain ASGI sends and receives (transports/websocket.py).
It relies on these attributes of uvicorn's `WebSocketsSansIOProtocol` (uvicorn 0.54): `conn` (the
websockets `ServerProtocol`), `transport`, `scope`, `queue`, `frames`, `curr_msg_data_type`,
`writable`, `handshake_complete`, `close_sent`, `disconnected`, `read_paused`, `close_timer`,
`close_timeout`, `logger`, and the methods `send_receive_event_to_app` and `handle_parser_exception`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

DIRECT = "realtime_mock.direct"
Reader = Callable[[str | bytes], None]


def frame_header(length: int) -> bytes:
    """The header of an unmasked, final text frame (RFC 6455 section 5.2) carrying `length` bytes."""
    if length < 126:
        return bytes((0x81, length))
    if length < 65536:
        return struct.pack("!BBH", 0x81, 126, length)
    return struct.pack("!BBQ", 0x81, 127, length)


class DirectWebSocketProtocol(WebSocketsSansIOProtocol):
    on_resume: Callable[[], None] | None = None
    _reader: Reader | None = None

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # absent when the upgrade was refused
        if scope is not None:
            scope["extensions"][DIRECT] = {"channel": self}

    # -- reading --------------------------------------------------------------------------------------

    def set_reader(self, reader: Reader) -> None:
        """Every client message from now on goes to `reader`, those already queued first, in order."""
        queued = []
        while not self.queue.empty():
            queued.append(self.queue.get_nowait())
        for message in queued:
            if message["type"] != "websocket.receive":
                self.queue.put_nowait(message)  # a disconnect stays for the app to read
        self._reader = reader
        if self.read_paused:  # uvicorn pauses reading while a message waits in its queue
            self.read_paused = False
            self.transport.resume_reading()
        for message in queued:
            if message["type"] == "websocket.receive" and self._reader is not None:
                text = message.get("text")
                reader(text if text is not None else message.get("bytes") or b"")

    def send_receive_event_to_app(self) -> None:
        if self._reader is None:
            super().send_receive_event_to_app()
            return
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent:
            return  # past our close: discard, as uvicorn does
        if self.curr_msg_data_type == "text":
            try:
                self._reader(data.decode())
            except UnicodeDecodeError:
                self.logger.info("A client sent a text message that is not UTF-8; closing with 1007.")
                self.conn.send_close(1007)
                self.handle_parser_exception()
        else:
            self._reader(data)

    # -- writing --------------------------------------------------------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._reader is not None:
            self.transport.pause_reading()  # read no more until the client has read what it asked for

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._reader is not None and not self.transport.is_closing():
            self.transport.resume_reading()
        if self.on_resume is not None:
            self.on_resume()

    @property
    def paused(self) -> bool:
        return not self.writable.is_set()

    @property
    def open(self) -> bool:
        return self.handshake_complete and not (self.close_sent or self.disconnected or self.transport.is_closing())

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
        self._reader = None
        if not self.open:
            return
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.conn.send_close(code, reason)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if self.read_paused:
            self.read_paused = False
        self.transport.resume_reading()  # read the client's answering close frame
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.close)
