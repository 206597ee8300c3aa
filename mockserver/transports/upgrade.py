"""A WebSocket upgrade as the mock judges it, whichever server carried it (uvicorn_ws.py or plain ASGI)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Upgrade:
    """What the client asked for."""

    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]  # names in lower case
    subprotocols: Sequence[str]


@dataclass(frozen=True)
class Opening:
    """What the server answers: refuse the upgrade (`denial`: HTTP status and JSON body); or accept it
    (with `subprotocol`) and attach the connection to `runtime`; or accept it, send `error_frame` and
    close (`close`: code and reason), as the live API does with a bad handshake."""

    subprotocol: str | None = None
    runtime: Any = None  # a SessionRuntime
    denial: tuple[int, bytes] | None = None
    error_frame: bytes | None = None
    close: tuple[int, str] | None = None
