"""Run the mock with uvicorn: in the foreground (`realtime-mock serve`) or on a background thread
(tests and the pytest plugin), on a given or a free port."""

from __future__ import annotations

import asyncio
import ctypes
import errno
import gc
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from mockserver import memory, redact
from mockserver.app import create_app
from mockserver.state import ServerState
from mockserver.transports.uvicorn_ws import DirectWebSocketProtocol

MAX_FRAME_BYTES = 32 * 1024 * 1024  # above the 15 MiB append limit in base64, so that limit gets its own error
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters


def tune_process() -> None:
    """Settings for a process that is only the server (`realtime-mock serve`), measured in bench/.

    - The garbage collector stops walking what start-up imported: it lives as long as the process, and a
      full collection over it costs milliseconds.
    - glibc keeps freed memory instead of returning it to the system at once: asyncio reads each socket
      into a fresh 256 KiB buffer, which glibc otherwise maps and unmaps on every read, and fresh pages
      cost a page fault each (several microseconds in a virtual machine). Instead, memory goes back to
      the system when sessions have gone quiet and compacted their journals (`memory.release_soon`).
    """
    gc.collect()
    gc.freeze()
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024)
        libc.mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024)
        memory.releaser = lambda: libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: its defaults stand
        pass


def uvicorn_config(state: ServerState, *, host: str = "127.0.0.1", port: int = 8000, log_level: str = "warning",
                   tls: tuple[str, str] | None = None) -> uvicorn.Config:
    """`tls` is (certificate file, key file): serve https and wss, as the Node SDK's WebSocket client requires."""
    redact.install_logging()  # no credential in any log line, at any level (uvicorn and websockets log headers)
    return uvicorn.Config(
        # Locality (the admin API) is judged from the socket's peer, never from forwarded headers.
        create_app(state), host=host, port=port, log_level=log_level, lifespan="off", http="httptools",
        proxy_headers=False,
        ws=DirectWebSocketProtocol, ws_max_size=MAX_FRAME_BYTES,
        ws_per_message_deflate=state.config.per_message_deflate,
        ws_ping_interval=state.config.ping_interval, ws_ping_timeout=state.config.ping_interval,
        ssl_certfile=tls[0] if tls else None, ssl_keyfile=tls[1] if tls else None,
    )


def bind_socket(host: str, port: int) -> socket.socket:
    """A socket bound as uvicorn would bind it (uvicorn then serves on it): binding first lets a command say
    why it cannot listen before it prints where it listens. OSError when it cannot bind."""
    # IPPROTO_TCP named: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on connections whose socket says
    # it is TCP, and with Nagle on every small write of a turn waits for the peer's delayed ACK.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def bind_or_say_why(host: str, port: int) -> socket.socket | None:
    """`bind_socket` for a command (serve, record, replay): None, once it has said on stderr why it cannot listen
    and which flag changes that (instead of uvicorn's bare `[Errno 98]`)."""
    try:
        return bind_socket(host, port)
    except OSError as exc:
        print(f"realtime-mock: cannot listen on {host}:{port}: {_why_not(exc, host, port)}", file=sys.stderr)
        return None


def serve_until_stopped(serve: Callable[[], object]) -> None:
    """Run a command's server until Ctrl+C or SIGTERM, then return. uvicorn raises the signal again once it has
    shut down, which would end the command with a traceback (Ctrl+C) or kill it (SIGTERM) before it could say
    anything more (`replay` reports then); here both end as a KeyboardInterrupt, and that is the normal end."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        serve()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _why_not(exc: OSError, host: str, port: int, kind: str = "tcp") -> str:
    if exc.errno == errno.EADDRINUSE:
        holder = port_holder(port, kind)
        if holder is None:
            holder = f"another process (`ss -lnp 'sport = :{port}'` names it)"
        return f"port {port} is in use by {holder}: stop it, or give another port with --port"
    if exc.errno == errno.EACCES:
        return f"permission denied (port {port} needs privileges); give another with --port"
    if exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
        return f"{host} is not an address of this machine; give another with --host"
    return f"{exc.strerror or exc}; check --host and --port"


def port_holder(port: int, kind: str = "tcp") -> str | None:
    """The process bound to a local `kind` ("tcp": listening, or "udp") port, as `process PID (COMMAND)`; None when
    this machine cannot tell (not Linux, or a process of another user or container)."""
    inodes = set()
    for table in (f"/proc/net/{kind}", f"/proc/net/{kind}6"):
        try:
            rows = Path(table).read_text("ascii").splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()  # sl local_address rem_address st ... inode (the 10th); st 0A: listening
            if len(fields) < 10 or (kind == "tcp" and fields[3] != "0A"):
                continue
            if int(fields[1].rpartition(":")[2], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for process in Path("/proc").iterdir():
        if not process.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in inodes for fd in (process / "fd").iterdir()):
                command = (process / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                return f"process {process.name} ({command[:160] or process.name})"
        except OSError:  # gone, or not ours to look at
            continue
    return None


async def serve(server: uvicorn.Server, state: ServerState, sockets: list[socket.socket],
                sip_socket: socket.socket | None = None) -> None:
    """Serve HTTP and WebSockets, and SIP when configured (on `sip_socket`, or ServerConfig.sip_port); at the
    end hang up the live calls (their media run on this loop) and close SIP."""
    if sip_socket is not None or state.config.sip_port is not None:
        from mockserver.transports import sip

        await sip.listen(state, sip_socket)
    try:
        await server.serve(sockets=sockets)
        await state.hang_up_calls()
    finally:
        if state.sip is not None:
            state.sip.close()


def bind_udp_or_say_why(host: str, port: int) -> socket.socket | None:
    """A UDP socket bound for the SIP endpoint (`serve --sip-port`); None, once it has said why it cannot be."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        why = _why_not(exc, host, port, "udp").replace("--port", "--sip-port").replace("--host", "--sip-host")
        print(f"realtime-mock: cannot listen for SIP on udp {host}:{port}: {why}", file=sys.stderr)
        return None
    return sock


@dataclass
class RunningServer:
    state: ServerState
    host: str
    port: int
    loop: asyncio.AbstractEventLoop
    _server: uvicorn.Server
    _thread: threading.Thread
    tls: bool = False

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}/v1"

    @property
    def websocket_base_url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://{self.host}:{self.port}/v1"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def start_in_thread(state: ServerState | None = None, *, host: str = "127.0.0.1", port: int = 0,
                    tls: tuple[str, str] | None = None) -> RunningServer:
    """Start the mock on a background thread and return once it accepts connections."""
    state = state or ServerState()
    return start_app_in_thread(lambda port_: uvicorn_config(state, host=host, port=port_, tls=tls), state,
                               host=host, port=port, tls=tls is not None)


def start_app_in_thread(config_for: Callable[[int], uvicorn.Config], state: ServerState, *,
                        host: str = "127.0.0.1", port: int = 0, tls: bool = False) -> RunningServer:
    """Serve any uvicorn config (the mock, the recorder, the replayer) on a thread, on `port` or a free one."""
    sock = bind_socket(host, port)
    config = config_for(sock.getsockname()[1])
    config.load()  # builds the app and the SSL context before serving on our own socket
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(serve(server, state, [sock]))
        finally:
            loop.close()

    thread = threading.Thread(target=run, daemon=True, name="realtime-mock")
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("realtime-mock failed to start")
        threading.Event().wait(0.005)  # uvicorn offers no start callback; poll its flag
    return RunningServer(state, host, sock.getsockname()[1], loop, server, thread, tls=tls)
