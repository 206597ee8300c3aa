"""Helpers of the request-based audio tests: clients, files, raw calls, schema checks."""

from __future__ import annotations

import json
from typing import Any

import httpx2
from openai import AsyncOpenAI

from mockserver import media, schema_store
from mockserver.audio import speech
from mockserver.runner import RunningServer

# The upload name for a file the speech endpoint made (aac is ADTS; the transcription endpoint takes m4a).
UPLOAD_NAMES = {"mp3": "speech.mp3", "opus": "speech.ogg", "aac": "speech.m4a", "flac": "speech.flac",
                "wav": "speech.wav"}


def client(server: RunningServer, *, scope: str | None = None, retries: int = 0) -> AsyncOpenAI:
    headers = {"X-Mock-Scope": scope} if scope else None
    return AsyncOpenAI(api_key="sk-test", base_url=server.base_url, max_retries=retries, default_headers=headers)


def wav_of(text: str) -> bytes:
    """A WAV file saying `text` with the speech codec."""
    return media.encode(speech.speak(text), "wav")


def noise(seconds: float = 1.0) -> bytes:
    """A WAV file of seeded noise: audio the speech codec hears nothing in."""
    import numpy as np

    samples = np.random.default_rng(7).uniform(-0.3, 0.3, int(24_000 * seconds))
    return media.encode((samples * 32767).astype("<i2").tobytes(), "wav")


async def post(server: RunningServer, path: str, *, scope: str | None = None, key: str | None = "sk-test",
               **options: Any) -> httpx2.Response:
    """A raw POST to the mock (for what the SDK will not send)."""
    headers = {**({"Authorization": f"Bearer {key}"} if key else {}), **({"X-Mock-Scope": scope} if scope else {}),
               **options.pop("headers", {})}
    async with httpx2.AsyncClient(base_url=f"http://{server.host}:{server.port}", timeout=30) as http:
        return await http.post(path, headers=headers, **options)


def admin(server: RunningServer, method: str, path: str, body: Any = None, *,
          scope: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", **({"X-Mock-Scope": scope} if scope else {})}
    with httpx2.Client(base_url=f"http://{server.host}:{server.port}", timeout=10) as http:
        answer = http.request(method, path, headers=headers,
                              content=json.dumps(body).encode() if body is not None else None)
    return answer.status_code, answer.json()


def valid(schema: str, document: Any) -> Any:
    """`document`, after checking it against schemas/<schema> (the SDK's shape)."""
    problems = [e.message for e in schema_store.validator(schema).iter_errors(document)]
    assert problems == [], problems
    return document


def error_of(exc: Any) -> dict[str, Any]:
    """The error envelope of an SDK APIStatusError."""
    body = exc.response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    error: dict[str, Any] = body["error"]
    return error
