"""The REST faults (protocol/faults.py: `http_error`, `http_rate_limit`, `http_slow_body`) applied to one
request: which fire, the error they answer with, the headers they add, the pause between body chunks.

Each fault may name a `path` (only requests to it) and a `count` (how many requests it fires on, over the
whole scope; default: every one). WebSocket faults never touch a REST request, nor these a socket.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mockserver.protocol.errors import ApiError
from mockserver.protocol.faults import Fault

DEFAULT_LIMITS = ({"name": "requests", "limit": 60, "remaining": 0, "reset_seconds": 1},)
_PER_MINUTE = {"requests": "requests per min (RPM)", "tokens": "tokens per min (TPM)"}


def server_error() -> ApiError:
    """The live API's answer to a failure on its side (HTTP 500)."""
    return ApiError("The server had an error while processing your request. Sorry about that!", type="server_error")


def rate_limit_reached(model: str, limit: dict[str, Any]) -> ApiError:
    """The live 429 wording (the platform's, e.g. for requests per minute)."""
    name = limit["name"]
    return ApiError(f"Rate limit reached for {model} in organization org-mock on {_PER_MINUTE[name]}: "
                    f"Limit {limit['limit']}, Used {limit['limit']}, Requested 1. Please try again in "
                    f"{reset_text(limit['reset_seconds'])}. Visit https://platform.openai.com/account/rate-limits "
                    "to learn more.", type=name, code="rate_limit_exceeded")


def reset_text(seconds: float) -> str:
    """A reset time as the live headers write it: `20ms`, `1s`, `6.946s`, `6m0s`."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    minutes, rest = divmod(seconds, 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}m{text}" if minutes else text


@dataclass
class Outcome:
    """What the faults make of one request."""

    status: int | None = None  # set: answer with this error instead
    error: ApiError | None = None
    headers: dict[str, str] = field(default_factory=dict)
    pause: float = 0.0  # seconds between two chunks of the response body


def _applies(fault: Fault, path: str) -> bool:
    return (fault.path is None or fault.path == path) and (fault.count is None or fault.fired < fault.count)


def apply(faults: Sequence[Fault], path: str, model: str) -> Outcome:
    """The REST faults of a scope that fire on a request to `path` for `model` (each counted once)."""
    outcome = Outcome()
    for fault in faults:
        if fault.name not in ("http_error", "http_rate_limit", "http_slow_body") or not _applies(fault, path):
            continue
        fault.fired += 1
        if fault.name == "http_slow_body":
            outcome.pause = max(outcome.pause, (fault.ms or 0) / 1000)
        elif fault.name == "http_rate_limit":
            limits = fault.limits or list(DEFAULT_LIMITS)
            outcome.headers.update(rate_limit_headers(limits))
            exhausted = [limit for limit in limits if limit["remaining"] <= 0]
            if exhausted and outcome.status is None:
                wait = max(limit["reset_seconds"] for limit in exhausted)
                outcome.status, outcome.error = 429, rate_limit_reached(model, exhausted[0])
                outcome.headers["retry-after"] = str(math.ceil(wait))
        elif outcome.status is None:
            outcome.status, outcome.error = fault.code or 500, _error(fault.error)
    return outcome


def rate_limit_headers(limits: Sequence[dict[str, Any]]) -> dict[str, str]:
    headers = {}
    for limit in limits:
        name = limit["name"]
        headers[f"x-ratelimit-limit-{name}"] = str(limit["limit"])
        headers[f"x-ratelimit-remaining-{name}"] = str(limit["remaining"])
        headers[f"x-ratelimit-reset-{name}"] = reset_text(limit["reset_seconds"])
    return headers


def _error(given: dict[str, Any] | None) -> ApiError:
    if not given:
        return server_error()
    default = server_error()
    return ApiError(given.get("message", default.message), type=given.get("type", default.type),
                    code=given.get("code"), param=given.get("param"))
