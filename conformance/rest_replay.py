"""The REST calls of request-based audio in cassettes: how `record` keeps their bodies, and how `replay`
serves them back.

- Bodies: multipart uploads are kept as their fields and, for each file, its name, type, size and SHA-256
  (never the audio); other binary bodies (a speech file) as base64, so that replay can send them again.
- Replay (`/v1/audio/speech`, `/v1/audio/transcriptions`, `/v1/audio/translations`, `/v1/chat/completions`):
  a request is answered with the recorded response of the first unused leg on its path whose recorded
  request is the same (the JSON body, or the form's fields and the files' digests); a request no leg
  matches gets 400 `cassette_mismatch` naming what was recorded, and a report line.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conformance.cassette import Cassette, HttpLeg

REPLAYED_PATHS = ("/v1/audio/speech", "/v1/audio/transcriptions", "/v1/audio/translations", "/v1/chat/completions")


def kept_body(raw: bytes, content_type: str | None) -> Any:
    """A multipart or binary body as a cassette keeps it; None for the bodies the recorder keeps itself."""
    kind = (content_type or "").lower()
    if kind.startswith("multipart/form-data"):
        return form_summary(raw, content_type or "")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(raw).decode(), "bytes": len(raw)}
    return None


def form_summary(raw: bytes, content_type: str) -> dict[str, Any]:
    """The fields of a multipart body (repeated names as lists) and a digest of each file."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    fields: dict[str, Any] = {}
    files: dict[str, Any] = {}
    for part in message.iter_parts() if message.is_multipart() else ():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        data = part.get_payload(decode=True)
        data = data if isinstance(data, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            files[name] = {"filename": filename, "content_type": part.get_content_type(), "bytes": len(data),
                           "sha256": hashlib.sha256(data).hexdigest()}
        elif name in fields:
            previous = fields[name]
            fields[name] = [*previous, data.decode("utf-8", "replace")] if isinstance(previous, list) else [
                previous, data.decode("utf-8", "replace")]
        else:
            fields[name] = data.decode("utf-8", "replace")
    return {"form": fields, "files": files}


def request_summary(raw: bytes, content_type: str | None) -> Any:
    """A request body as the recorder kept it, to compare with a recorded leg."""
    kept = kept_body(raw, content_type)
    if kept is not None:
        return kept
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8")


class RestLegs:
    """The recorded REST legs of a replay server, each served once, in the order recorded."""

    def __init__(self, cassettes: list[Cassette], report: Callable[[str], None]) -> None:
        self.legs = [leg for c in cassettes for leg in c.http if c.endpoint in REPLAYED_PATHS and leg.method == "POST"]
        self.used: set[int] = set()
        self._report = report

    def take(self, path: str, asked: Any) -> HttpLeg | None:
        for index, leg in enumerate(self.legs):
            if index not in self.used and leg.path == path and leg.request == asked:
                self.used.add(index)
                return leg
        return None

    async def serve(self, request: Request) -> Response:
        path = request.url.path
        leg = self.take(path, request_summary(await request.body(), request.headers.get("content-type")))
        if leg is None:
            recorded = sum(1 for i, leg in enumerate(self.legs) if i not in self.used and leg.path == path)
            line = (f"realtime-mock replay: no recorded POST {path} matches this request's body "
                    f"({recorded} unused recorded for that path)")
            self._report(line)
            body = {"error": {"message": line, "type": "invalid_request_error", "param": None,
                              "code": "cassette_mismatch"}}
            return Response(json.dumps(body), status_code=400, media_type="application/json")
        return _response(leg)

    def routes(self) -> list[Route]:
        return [Route(path, self.serve, methods=["POST"]) for path in REPLAYED_PATHS]


def _response(leg: HttpLeg) -> Response:
    kind = leg.response_headers.get("content-type")
    body = leg.response
    if isinstance(body, dict) and set(body) == {"base64", "bytes"}:
        content = base64.b64decode(body["base64"])
    elif isinstance(body, str):
        content = body.encode("utf-8")
    elif body is None:
        content = b""
    else:
        content = json.dumps(body).encode("utf-8")
    return Response(content, status_code=leg.status, media_type=kind)
