"""Credentials never reach a log, a journal or a cassette: what counts as one, in one place, and how it is
hidden.

- Headers: `Authorization`, `X-Api-Key` and their kin (`SECRET_HEADERS`) are left out of what is kept.
- URL parameters: `api_key`, `token` and their kin (`SECRET_PARAMS`) keep their name, lose their value.
- WebSocket subprotocols: a browser's `openai-insecure-api-key.<key>` loses its key.
- Free text (log messages, at every level, from any library): the same, and bearer tokens and keys in the
  shapes OpenAI gives them (`sk-...`, `ek_...`), by `text()`; `install_logging()` puts every log record
  created in the process through it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "[redacted]"
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "api-key", "x-api-key", "openai-api-key",
                            "cookie", "set-cookie", "x-mock-admin-token"})
SECRET_PARAMS = frozenset({"api_key", "api-key", "apikey", "key", "token", "access_token", "client_secret",
                           "secret", "password", "auth", "sig", "signature"})
BROWSER_KEY_PREFIX = "openai-insecure-api-key."

_PARAMS = "|".join(sorted((re.escape(p) for p in SECRET_PARAMS), key=len, reverse=True))
_HEADERS = "|".join(sorted((re.escape(h) for h in SECRET_HEADERS), key=len, reverse=True))
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"(?i)(\b(?:{_HEADERS})\s*[:=]\s*)[^\r\n,]+"), rf"\1{REDACTED}"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), rf"\1 {REDACTED}"),
    (re.compile(rf"(?i)([?&;](?:{_PARAMS})=)[^&\s\"'#;]*"), rf"\1{REDACTED}"),
    (re.compile(re.escape(BROWSER_KEY_PREFIX) + r"[^\s,;\"']+"), BROWSER_KEY_PREFIX + REDACTED),
    (re.compile(r"\b(?:sk|rk)-[A-Za-z0-9_-]{4,}|\bek_[A-Za-z0-9_]{4,}"), REDACTED),
)


def text(message: str) -> str:
    """A message with every credential in it replaced by `[redacted]`."""
    for pattern, replacement in _PATTERNS:
        message = pattern.sub(replacement, message)
    return message


def headers(given: Mapping[str, str]) -> dict[str, str]:
    """Headers (names in lower case) without the secret ones; subprotocols without a browser's key."""
    kept = {}
    for name, value in given.items():
        name = name.lower()
        if name not in SECRET_HEADERS:
            kept[name] = ", ".join(subprotocols(value.split(","))) if name == "sec-websocket-protocol" else value
    return kept


def query(given: Mapping[str, str]) -> dict[str, str]:
    """URL parameters, the secret ones with their value hidden."""
    return {name: REDACTED if name.lower() in SECRET_PARAMS else value for name, value in given.items()}


def subprotocols(offered: Iterable[str]) -> list[str]:
    return [BROWSER_KEY_PREFIX + REDACTED if p.strip().startswith(BROWSER_KEY_PREFIX) else p.strip()
            for p in offered]


_installed = False


def install_logging() -> None:
    """From now on, every log record made in this process carries no credential (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    make = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call: logging reports it itself
            return record
        cleaned = text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return record

    logging.setLogRecordFactory(factory)
