"""The cassette: one recorded session, every frame in order, one JSON document per line.

    {"cassette": 1, "endpoint": "/v1/realtime", "query": {"model": "gpt-realtime"}, "sdk": "...", ...}   header
    {"t": 0.0031, "direction": "server", "event": {"type": "session.created", ...}}                      a frame
    {"t": 0.2504, "direction": "client", "event": {"type": "session.update", ...}}
    {"t": 1.0, "http": {"method": "POST", "path": "/v1/realtime/client_secrets", "status": 200, ...}}  an HTTP leg

`t` is seconds since the connection opened. Lines are appended and flushed one at a time, so a crash
loses nothing already seen. Secrets are never written (what counts as one: mockserver/redact.py):
credential headers are dropped, as are credential URL parameters (`api_key`, `token`, ...), a browser's
key in its subprotocols is hidden, and ephemeral keys in bodies (`"value": "ek_..."`) are replaced with
`ek_redacted`.
Non-JSON client frames are kept as `{"unparsed_text": ...}`, binary ones as `{"binary_frame_bytes": n}`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mockserver import redact

FORMAT_VERSION = 1
SUFFIX = ".cassette.jsonl"
_EPHEMERAL = re.compile(r"^ek_[A-Za-z0-9_]+$")


@dataclass
class Frame:
    t: float
    direction: str  # "client" | "server"
    event: dict[str, Any]


@dataclass
class HttpLeg:
    t: float
    method: str
    path: str
    status: int
    request: Any = None  # JSON body, text, or None
    response: Any = None
    request_headers: dict[str, str] = field(default_factory=dict)
    response_headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Cassette:
    endpoint: str = "/v1/realtime"
    query: dict[str, str] = field(default_factory=dict)
    sdk: str | None = None  # the client's User-Agent, e.g. "AsyncOpenAI/Python 3.51.0"
    mock_version: str | None = None
    source: str | None = None  # where it came from: a recorder, an imported file
    recorded_at: str | None = None
    frames: list[Frame] = field(default_factory=list)
    http: list[HttpLeg] = field(default_factory=list)
    path: Path | None = None

    def header(self) -> dict[str, Any]:
        return {"cassette": FORMAT_VERSION, "endpoint": self.endpoint, "query": self.query, "sdk": self.sdk,
                "mock_version": self.mock_version, "source": self.source, "recorded_at": self.recorded_at}

    def client_events(self) -> list[dict[str, Any]]:
        return [f.event for f in self.frames if f.direction == "client"]

    def server_events(self) -> list[dict[str, Any]]:
        return [f.event for f in self.frames if f.direction == "server"]

    @property
    def name(self) -> str:
        if self.path is None:
            return self.source or "<cassette>"
        return self.path.name.removesuffix(SUFFIX).removesuffix(".jsonl").removesuffix(".yaml")


def redact_keys(value: Any) -> Any:
    """A body with ephemeral keys replaced (client secrets are secrets)."""
    if isinstance(value, dict):
        return {k: "ek_redacted" if isinstance(v, str) and _EPHEMERAL.match(v) else redact_keys(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact_keys(v) for v in value]
    return value


def safe_headers(headers: dict[str, str]) -> dict[str, str]:
    return redact.headers(headers)


def safe_query(query: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in query.items() if k.lower() not in redact.SECRET_PARAMS}


class CassetteWriter:
    """Appends to a cassette file as frames happen, flushing every line."""

    def __init__(self, path: Path, cassette: Cassette) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: IO[str] = path.open("w", encoding="utf-8")
        self._write(cassette.header())

    def frame(self, t: float, direction: str, event: dict[str, Any]) -> None:
        self._write({"t": round(t, 6), "direction": direction, "event": redact_keys(event)})

    def http(self, leg: HttpLeg) -> None:
        self._write({"t": round(leg.t, 6), "http": {
            "method": leg.method, "path": leg.path, "status": leg.status,
            "request": redact_keys(leg.request), "response": redact_keys(leg.response),
            "request_headers": safe_headers(leg.request_headers),
            "response_headers": safe_headers(leg.response_headers)}})

    def close(self) -> None:
        self._file.close()

    def _write(self, line: dict[str, Any]) -> None:
        self._file.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._file.flush()


def client_frame(frame: str | bytes) -> dict[str, Any]:
    """A raw client frame as a cassette keeps it."""
    if isinstance(frame, bytes):
        return {"binary_frame_bytes": len(frame)}
    try:
        event = json.loads(frame)
    except ValueError:
        return {"unparsed_text": frame}
    return event if isinstance(event, dict) else {"unparsed_text": frame}


def write(cassette: Cassette, path: Path) -> None:
    writer = CassetteWriter(path, cassette)
    items: list[Frame | HttpLeg] = [*cassette.frames, *cassette.http]
    for item in sorted(items, key=lambda x: x.t):
        if isinstance(item, Frame):
            writer.frame(item.t, item.direction, item.event)
        else:
            writer.http(item)
    writer.close()


def read(path: Path) -> Cassette:
    """A cassette file, or a YAML recording of the shared `interactions` shape (imported on the fly)."""
    if path.suffix in (".yaml", ".yml"):
        return import_yaml_recording(path)
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines or lines[0].get("cassette") != FORMAT_VERSION:
        raise ValueError(f"{path}: not a cassette (its first line must be a header with \"cassette\": 1)")
    header = lines[0]
    cassette = Cassette(endpoint=header.get("endpoint", "/v1/realtime"), query=header.get("query") or {},
                        sdk=header.get("sdk"), mock_version=header.get("mock_version"), source=header.get("source"),
                        recorded_at=header.get("recorded_at"), path=path)
    for number, line in enumerate(lines[1:], start=2):
        if "http" in line:
            leg = line["http"]
            cassette.http.append(HttpLeg(line["t"], leg["method"], leg["path"], leg["status"], leg.get("request"),
                                         leg.get("response"), leg.get("request_headers") or {},
                                         leg.get("response_headers") or {}))
        elif line.get("direction") in ("client", "server") and isinstance(line.get("event"), dict):
            cassette.frames.append(Frame(float(line.get("t", 0.0)), line["direction"], line["event"]))
        else:
            raise ValueError(f"{path}:{number}: neither a frame nor an HTTP leg")
    return cassette


def import_yaml_recording(path: Path) -> Cassette:
    """A recording of the shape in ../shared/reference/recordings (`interactions` of `direction:
    sent|received` and `data`). Those carry no timings, so frames are spaced 1 ms apart in order."""
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    interactions = data.get("interactions") if isinstance(data, dict) else None
    if not isinstance(interactions, list):
        raise ValueError(f"{path}: expected a mapping with an `interactions` list")
    cassette = Cassette(source=f"imported from {path.name}", path=path, query={"model": "gpt-realtime"})
    for index, item in enumerate(interactions):
        direction = {"sent": "client", "received": "server"}.get(item.get("direction"))
        if direction is None or not isinstance(item.get("data"), dict):
            raise ValueError(f"{path}: interactions[{index}] is not a sent/received message")
        cassette.frames.append(Frame(index / 1000, direction, item["data"]))
    created = next((f.event for f in cassette.frames if f.event.get("type") == "session.created"), None)
    if created is not None and isinstance(created.get("session"), dict) and created["session"].get("model"):
        cassette.query = {"model": created["session"]["model"]}
    return cassette


def find(paths: list[Path]) -> Iterator[Path]:
    """Cassette files among paths (folders are searched for *.cassette.jsonl and *.yaml)."""
    for path in paths:
        if path.is_dir():
            yield from sorted([*path.glob(f"*{SUFFIX}"), *path.glob("*.yaml")])
        else:
            yield path
