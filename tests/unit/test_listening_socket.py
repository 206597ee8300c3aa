"""The socket `serve`, `record` and `replay` listen on (runner.bind_socket): its connections send at once."""

from __future__ import annotations

import asyncio
import socket

from mockserver.runner import bind_socket


def test_connections_on_the_bound_socket_have_nagle_off() -> None:
    # asyncio sets TCP_NODELAY only on sockets that say they are TCP; with Nagle on, each small write of a turn
    # waited for the client's delayed ACK and the server spent several times the CPU per event (bench_session).
    async def accepted_nodelay() -> int:
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        listening = bind_socket("127.0.0.1", 0)
        server = await asyncio.get_running_loop().create_server(Probe, sock=listening)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", listening.getsockname()[1])
            result = await asyncio.wait_for(accepted, 5)
            writer.close()
        return result

    assert asyncio.run(accepted_nodelay()) == 1
