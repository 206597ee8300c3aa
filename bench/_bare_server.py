"""The baseline of `bench_session`: a bare `websockets` server that replays what the mock sent.

    python bench/_bare_server.py PORT SCRIPT.json

SCRIPT.json holds `created` (the mock's `session.created` frame) and `replies` (client frame -> the frames
the mock answered it with). The server sends `created` right after the handshake, then answers each client
frame with its recorded frames, serialized by the connection's sans-I/O protocol and written in one batch
(one `transport.write`, so one send syscall when the socket buffer has room). An unknown client frame
closes the connection with 1008, so a bench whose client frames drift from the script fails at once.
"""

from __future__ import annotations

import asyncio
import json
import sys

from websockets.asyncio.server import ServerConnection, serve


async def send_batch(websocket: ServerConnection, frames: list[bytes]) -> None:
    """All `frames` as text frames in a single write, with the library's flow control (`send_context` drains)."""
    async with websocket.send_context():
        protocol = websocket.protocol
        for frame in frames:
            protocol.send_text(frame)
        websocket.transport.write(b"".join(protocol.data_to_send()))


async def main(port: int, script_path: str) -> None:
    with open(script_path, encoding="utf-8") as file:
        script = json.load(file)
    created = [script["created"].encode()]
    replies = {frame: [reply.encode() for reply in frames] for frame, frames in script["replies"].items()}

    async def handler(websocket: ServerConnection) -> None:
        await send_batch(websocket, created)
        async for message in websocket:
            frames = replies.get(message) if isinstance(message, str) else None
            if frames is None:
                await websocket.close(1008, "no recorded reply for this client frame")
                return
            await send_batch(websocket, frames)

    async with serve(handler, "127.0.0.1", port, compression=None, max_size=None, ping_interval=None,
                     backlog=2048) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
