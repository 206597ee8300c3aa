"""Request and response bodies of the HTTP routes (REST under `/v1/`, the admin API under `/_mock/`).

Every JSON body those routes take is read here, and nowhere else: its size, its content type, its
parsing and its nesting are checked once, and every refusal is a 4xx in OpenAI's error envelope
(`{"error": {"message", "type", "param", "code"}}`, type `invalid_request_error`), never a 500.
Responses are written with `mockserver.wire.dumps`, which escapes what UTF-8 cannot carry (a lone
surrogate a client sent and the response echoes), so a response is always valid JSON in UTF-8.

Limits (the mock's own; the live API documents none for these endpoints):

- A JSON body (`/v1/realtime/client_secrets`, the beta REST, `/_mock/*`): 1 MiB (`JSON_LIMIT`); a
  session with long instructions and many tools is a few hundred KiB. Over it: 413 `request_too_large`.
- A scenario (`PUT /_mock/scenario`, or a file it names): 4 MiB (`SCENARIO_LIMIT`); 413 likewise. Its
  values, aliases and nesting are limited where it is parsed (scenarios/loader.py).
- Nesting of a JSON body: 64 levels of arrays and objects (`MAX_DEPTH`), as the validators recurse per
  level (Python's own parser gives up near 1,000). Deeper: 400 `nested_too_deeply`.
- Content type: JSON (`application/json`, `*/*+json`); a route may accept more (YAML for a scenario).
  Another: 415 `unsupported_content_type`, worded as live.

A body over its limit is refused before it is read: from its `Content-Length`, or, for a body sent
without one (chunked), as soon as the bytes received pass the limit. A body that is not JSON (bad
syntax, not UTF-8, NaN or an infinite number, a number too long to read) gets the live API's
"We could not parse the JSON body of your request" (400).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from mockserver import wire
from mockserver.protocol.errors import ApiError, json_kind

KiB = 1024
MiB = 1024 * KiB
JSON_LIMIT = 1 * MiB
SCENARIO_LIMIT = 4 * MiB
MAX_DEPTH = 64
JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")


class JsonBody(Response):
    """A JSON response written as the WebSocket events are (orjson; escaped JSON when orjson refuses)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return wire.dumps(content)


def error_response(status: int, error: ApiError, headers: dict[str, str] | None = None) -> Response:
    """OpenAI's REST error envelope: message, type, param, code."""
    return JsonBody({"error": {"message": error.message, "type": error.type, "param": error.param,
                               "code": error.code}}, status_code=status, headers=headers)


class BodyRefused(Exception):
    """A request body the route will not read: `response()` is the answer."""

    def __init__(self, status: int, error: ApiError) -> None:
        super().__init__(error.message)
        self.status = status
        self.error = error

    def response(self) -> Response:
        return error_response(self.status, self.error)


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals in the envelope (register it for `HTTPException` on the app): no route for the
    path (404) or the method (405) is worded as the live API words a URL it does not serve."""
    assert isinstance(exc, HTTPException)
    error = invalid_url(request) if exc.status_code in (404, 405) else ApiError(exc.detail)
    return error_response(exc.status_code, error, dict(exc.headers) if exc.headers else None)


# -- the errors ---------------------------------------------------------------------------------------

def invalid_url(request: Request) -> ApiError:
    return ApiError(f"Invalid URL ({request.method} {request.url.path})")


def unparsable_body() -> ApiError:
    return ApiError("We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
                    "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not "
                    "valid JSON. If you have trouble figuring out how to fix this, please contact us through our "
                    "help center at help.openai.com.)")


def unsupported_content_type(given: str | None, accepted: Sequence[str]) -> ApiError:
    # Worded as live for a JSON endpoint (openai/openai-openapi#194); the status (415) is not captured.
    wanted = " or ".join(f"'{t}'" for t in accepted)
    if given is None:
        return ApiError(f"Missing content type. This API method only accepts {wanted} requests, but you sent a "
                        "body without a Content-Type header. Please try again with a supported content type.",
                        code="unsupported_content_type")
    return ApiError(f"Unsupported content type: '{given}'. This API method only accepts {wanted} requests, but you "
                    f"specified the header 'Content-Type: {given}'. Please try again with a supported content type.",
                    code="unsupported_content_type")


def too_large(limit: int) -> ApiError:
    return ApiError(f"The request body is too large: this endpoint takes at most {_size(limit)} ({limit} bytes).",
                    code="request_too_large")


def nested_too_deeply() -> ApiError:
    return ApiError(f"The JSON body is nested too deeply: at most {MAX_DEPTH} levels of arrays and objects.",
                    code="nested_too_deeply")


def not_an_object(value: Any) -> ApiError:  # [unverified] the live wording for a body that is not an object
    return ApiError(f"Invalid body: expected an object, but got {json_kind(value)} instead.", code="invalid_type")


def _size(limit: int) -> str:
    return f"{limit // MiB} MiB" if limit % MiB == 0 else f"{limit // KiB} KiB"


# -- reading ------------------------------------------------------------------------------------------

def _media_type(request: Request) -> str | None:
    """The Content-Type without its parameters (`; charset=utf-8`), in lower case; None when absent."""
    given = request.headers.get("content-type")
    return None if given is None else given.split(";", 1)[0].strip().lower()


def _is_accepted(media_type: str, accepted: Sequence[str]) -> bool:
    # `application/merge-patch+json` and the like are JSON too (RFC 6839).
    return media_type in accepted or ("application/json" in accepted and media_type.endswith("+json"))


def _declares_a_body(request: Request) -> bool:
    length = request.headers.get("content-length", "0")
    return not (length.isdigit() and int(length) == 0) or "transfer-encoding" in request.headers


def check_content_type(request: Request, accepted: Sequence[str] = JSON_TYPES, *, required: bool = False) -> None:
    """A Content-Type, when given, must be one `accepted`. Without one, a body is taken only when the type is not
    `required` (the admin API requires it: a browser sends a body without a type, or as `text/plain`, to any
    site without asking it first)."""
    media_type = _media_type(request)
    if media_type is None:
        if required and _declares_a_body(request):
            raise BodyRefused(415, unsupported_content_type(None, accepted))
    elif not _is_accepted(media_type, accepted):
        raise BodyRefused(415, unsupported_content_type(request.headers["content-type"], accepted))


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused (413) as soon as it is known to pass `limit`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyRefused(413, too_large(limit))
    received = bytearray()
    try:
        async for chunk in request.stream():
            received += chunk
            if len(received) > limit:  # sent without a Content-Length (chunked), or more than it said
                raise BodyRefused(413, too_large(limit))
    except ClientDisconnect:  # nobody is left to answer; any response will do
        raise BodyRefused(400, ApiError("The client disconnected before sending the whole body.")) from None
    return bytes(received)


def parse_json(raw: bytes) -> Any:
    """JSON text (UTF-8, -16 or -32) to a value, with NaN, infinities and excessive nesting refused."""
    try:
        value = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:  # the parser recurses per level and gives up near 1,000
        raise BodyRefused(400, nested_too_deeply()) from None
    except ValueError:  # bad syntax, not UTF-8, a number too long to read
        raise BodyRefused(400, unparsable_body()) from None
    if _depth_exceeds(value, MAX_DEPTH):
        raise BodyRefused(400, nested_too_deeply())
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999
        raise ValueError(f"{text} is too large for a JSON number")
    return number


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` levels deep (walked a level at a time, not recursively)."""
    level = [value] if isinstance(value, dict | list) else []
    for _ in range(limit):
        level = [child for item in level for child in (item.values() if isinstance(item, dict) else item)
                 if isinstance(child, dict | list)]
        if not level:
            return False
    return True


async def read_json(request: Request, *, limit: int = JSON_LIMIT, type_required: bool = False,
                    empty: Any = None) -> Any:
    """The body as a JSON value (`empty` when there is no body); BodyRefused says why it cannot be."""
    check_content_type(request, JSON_TYPES, required=type_required)
    raw = await read_body(request, limit)
    return parse_json(raw) if raw.strip() else empty


async def read_json_object(request: Request, *, limit: int = JSON_LIMIT, type_required: bool = False
                           ) -> dict[str, Any]:
    """The body as a JSON object (`{}` when there is no body); BodyRefused says why it cannot be."""
    value = await read_json(request, limit=limit, type_required=type_required, empty={})
    if not isinstance(value, dict):
        raise BodyRefused(400, not_an_object(value))
    return value
