"""The `realtime.call.incoming` webhook: its body, and its signature the Standard Webhooks way (reference 1.5,
transports.md 2.1), made with the `standardwebhooks` library.

The signature is `v1,` and the base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}`, keyed with the
secret: the base64 after `whsec_` decoded, or (as the official SDK's `webhooks.unwrap` reads it) the secret's
own bytes when it has no such prefix. Each delivery attempt is signed anew with its own timestamp; the
`webhook-id` stays (receivers dedupe on it). The delivery itself (retries) is in transports/sip.py.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook

USER_AGENT = "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)"
SECRET_PREFIX = "whsec_"
EVENT_TYPE = "realtime.call.incoming"
# Left out of `sip_headers`: authorization (as live says), and the header the mock's own test caller names
# its scope with (state.py).
HIDDEN_HEADERS = frozenset({"authorization", "proxy-authorization", "x-mock-scope"})
# Delivery: an attempt, then retries after these many seconds while the app does not answer 2xx (live retries
# with exponential backoff for up to 72 hours; a test cannot wait that long).
RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0)
ATTEMPT_TIMEOUT = 5.0  # seconds an attempt may take


def secret_key(secret: str) -> bytes:
    """The HMAC key of a webhook secret; ValueError when it is empty or its `whsec_` part is not base64."""
    if not secret.startswith(SECRET_PREFIX):
        if not secret:
            raise ValueError("the webhook secret is empty")
        return secret.encode("utf-8")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret that starts with whsec_ must go on in base64") from None
    if not key:
        raise ValueError("the webhook secret is empty")
    return key


def new_secret() -> str:
    """A fresh `whsec_` secret (32 random bytes), as the dashboard makes one for a webhook endpoint."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def sip_headers(headers: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    """An INVITE's headers as the webhook reports them: in order, repeated ones repeated, authorization left out."""
    return [{"name": name, "value": value} for name, value in headers if name.lower() not in HIDDEN_HEADERS]


def incoming_call_event(event_id: str, created_at: int, call_id: str,
                        headers: list[dict[str, str]]) -> dict[str, Any]:
    return {"object": "event", "id": event_id, "type": EVENT_TYPE, "created_at": created_at,
            "data": {"call_id": call_id, "sip_headers": headers, "sip_media_security": "rtp"}}


def body_of(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signed_headers(secret: str, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers of one delivery attempt of `body`."""
    signer = Webhook(secret_key(secret))  # bytes: used as the key as they are
    # An aware UTC time: the library replaces (does not convert) the time zone of what it is given.
    signature = signer.sign(webhook_id, datetime.fromtimestamp(timestamp, tz=UTC), body.decode("utf-8"))
    return {"content-type": "application/json", "user-agent": USER_AGENT, "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp), "webhook-signature": signature}
