"""How long the pytest plugin's in-process server takes to start, against a bare `websockets` server
started on a thread the same way, measured in the same run.

    python -m bench.bench_startup

The `realtime_mock` fixture pays this once per test process (per xdist worker). Target: under 200 ms.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time

from websockets.asyncio.server import serve


def _bare_server_start() -> float:
    """Start a plain websockets server on a thread and stop it; seconds until it listened."""
    ready, stop = threading.Event(), threading.Event()

    async def main() -> None:
        async with serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0):
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.005)

    started = time.perf_counter()
    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    ready.wait(10)
    elapsed = time.perf_counter() - started
    stop.set()
    thread.join(10)
    return elapsed


def _mock_start() -> float:
    from mockserver.runner import start_in_thread

    started = time.perf_counter()
    server = start_in_thread()
    elapsed = time.perf_counter() - started
    server.stop()
    return elapsed


def main(repeat: int = 15) -> None:
    started = time.perf_counter()
    import mockserver.runner  # noqa: F401  - the first import is part of a fixture's first use
    import_s = time.perf_counter() - started
    _mock_start(), _bare_server_start()  # warm up
    mock = [_mock_start() for _ in range(repeat)]
    bare = [_bare_server_start() for _ in range(repeat)]
    m, b = statistics.median(mock), statistics.median(bare)
    print("$ python -m bench.bench_startup")
    print(f"first import of the server: {import_s * 1000:.0f} ms")
    print(f"server start, median of {repeat}: mock {m * 1000:.1f} ms, bare websockets {b * 1000:.1f} ms, "
          f"ratio {m / b:.2f}x")
    total = import_s + m
    print(f"first realtime_mock fixture (import + start): {total * 1000:.0f} ms, target < 200 ms: "
          f"{'PASS' if total < 0.2 else 'MISS'}")


if __name__ == "__main__":
    main()
