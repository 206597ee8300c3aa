"""uvicorn's WebSocket protocol (websockets' sans-I/O implementation), with a direct channel for sinks.

ASGI sends one message per `await send(...)`, and uvicorn writes each to the socket at once: one
system call and one task switch per event. The mock's runtime has a batch of events ready at a time,
so `realtime-mock` serves WebSockets with this subclass, which offers the app (through the ASGI scope
extension `realtime_mock.direct`) a channel that frames a whole batch and writes it in one call,
synchronously, and tells when the socket's buffer is full or drains. Under any other ASGI server the
app falls back to plain ASGI sends (transports/websocket.py).

It relies on these attributes of uvicorn's `WebSocketsSansIOProtocol` (uvicorn 0.3x-0.5x): `conn`
(the websockets `ServerProtocol`), `transport`, `scope`, `queue`, `writable`, `handshake_complete`,
`close_sent`, `disconnected`, `read_paused`, `close_timer`, `close_timeout`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

DIRECT = "realtime_mock.direct"


class DirectWebSocketProtocol(WebSocketsSansIOProtocol):
    on_resume: Callable[[], None] | None = None

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # absent when the upgrade was refused
        if scope is not None:
            scope["extensions"][DIRECT] = {"channel": self}

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.on_resume is not None:
            self.on_resume()

    # -- the direct channel ---------------------------------------------------------------------

    @property
    def paused(self) -> bool:
        return not self.writable.is_set()

    @property
    def open(self) -> bool:
        return self.handshake_complete and not (self.close_sent or self.disconnected or self.transport.is_closing())

    def write_texts(self, texts: Sequence[str]) -> bool:
        """Frame these text messages and write them in one call; False when the socket is closed."""
        if not self.open:
            return False
        send = self.conn.send_text
        try:
            for text in texts:
                send(text.encode())
        except InvalidState:  # the client's close frame arrived first
            return False
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True

    def close_now(self, code: int, reason: str) -> None:
        """Start the closing handshake, as uvicorn does for an ASGI `websocket.close`."""
        if not self.open:
            return
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.conn.send_close(code, reason)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.close)
