"""Where a Realtime server is: one reading of a URL for every command that takes one (`record --upstream`,
`conformance --target`).

A URL is taken as the official SDKs take their `base_url`: `https://api.openai.com/v1`, or its WebSocket twin
`wss://api.openai.com/v1`, with or without the endpoint (`/realtime`, `/realtime/translations`) after it; a bare
host means its `/v1`. Each endpoint is then dialled under that base, so a base works for every endpoint. A URL
that cannot be used raises `UrlError`, saying what it would have to be ("did you mean ...?").
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

WEBSOCKET_SCHEMES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}
ENDPOINTS = ("/realtime/translations", "/realtime")  # stripped from the end of a given URL
LOOPBACK = ("localhost", "127.", "[::1]")


class UrlError(ValueError):
    """A URL no command can use, with what it should have been."""


@dataclass(frozen=True)
class BaseUrl:
    websocket: str  # e.g. wss://api.openai.com/v1
    http: str  # e.g. https://api.openai.com/v1
    host: str  # host[:port] only (never credentials)
    query: str = ""  # a query given with the URL (`?model=...`)

    def websocket_url(self, endpoint: str, query: str = "") -> str:
        """The URL of an endpoint (`/v1/realtime`, ...) under this base."""
        return _join(self.websocket, endpoint, query)

    def http_url(self, endpoint: str, query: str = "") -> str:
        return _join(self.http, endpoint, query)


def parse(url: str) -> BaseUrl:
    """The base a ws://, wss://, http:// or https:// URL names; UrlError for anything else."""
    parts = urlsplit(url.strip())
    websocket = WEBSOCKET_SCHEMES.get(parts.scheme.lower())
    if websocket is None or not parts.hostname:
        raise UrlError(f"{url!r} is not a ws://, wss://, http:// or https:// URL; did you mean {_with_scheme(url)}?")
    path = _base_path(parts)
    netloc = parts.netloc.rpartition("@")[2]
    http = "http" if websocket == "ws" else "https"
    host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    return BaseUrl(f"{websocket}://{netloc}{path}", f"{http}://{netloc}{path}", host, parts.query)


def _base_path(parts: SplitResult) -> str:
    path = parts.path.rstrip("/")
    for endpoint in ENDPOINTS:
        path = path.removesuffix(endpoint)
    if "/realtime/" in f"{path}/":  # another endpoint (client_secrets, calls): not something to dial
        base = path[:path.index("/realtime")] or "/v1"
        raise UrlError(f"{urlunsplit(parts)!r} names the endpoint {path[len(base):]!r}, not a server; did you mean "
                       f"{parts.scheme}://{parts.netloc}{base}?")
    return path or "/v1"  # a bare host: the API's /v1


def _with_scheme(url: str) -> str:
    rest = url.strip().partition("://")[2] or url.strip()
    scheme = "ws" if rest.startswith(LOOPBACK) else "wss"
    return f"{scheme}://{rest}"


def _join(base: str, endpoint: str, query: str) -> str:
    return base + endpoint.removeprefix("/v1") + (f"?{query}" if query else "")
