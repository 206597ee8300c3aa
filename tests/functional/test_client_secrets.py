"""POST /v1/realtime/client_secrets: ephemeral keys that really work, with the official SDK."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from websockets.exceptions import ConnectionClosed

from mockserver import schema_store
from mockserver.protocol.clock import FakeClock
from mockserver.runner import RunningServer
from tests.functional.conftest import Start, sdk_client, until

pytestmark = pytest.mark.functional


async def test_a_realtime_secret_configures_the_session_it_opens(mock: RunningServer) -> None:
    client = sdk_client(mock)
    secret = await client.realtime.client_secrets.create(
        expires_after={"anchor": "created_at", "seconds": 120},
        session={"type": "realtime", "model": "gpt-realtime-mini", "instructions": "Be a pirate.",
                 "output_modalities": ["text"]})
    assert secret.value.startswith("ek_") and len(secret.value) == 35
    body = secret.model_dump(exclude_unset=True)
    assert schema_store.validator("rest/client_secrets.response").is_valid(body)
    assert body["session"]["instructions"] == "Be a pirate." and body["session"]["expires_at"] == 0
    async with sdk_client(mock, api_key=secret.value).realtime.connect() as conn:  # no model: the secret's
        created = await conn.recv()
        assert created.session.model == "gpt-realtime-mini"
        assert created.session.instructions == "Be a pirate." and created.session.output_modalities == ["text"]
        await conn.session.update(session={"type": "realtime", "instructions": "Be brief."})
        assert (await until(conn, "session.updated"))[-1].session.instructions == "Be brief."  # still changeable


async def test_a_transcription_secret_opens_a_transcription_session(mock: RunningServer) -> None:
    secret = await sdk_client(mock).realtime.client_secrets.create(session={
        "type": "transcription", "audio": {"input": {"transcription": {"model": "whisper-1"}}}})
    assert secret.session.type == "transcription"
    async with sdk_client(mock, api_key=secret.value).realtime.connect() as conn:
        created = await conn.recv()
    assert created.session.type == "transcription"
    assert created.session.audio.input.transcription.model == "whisper-1"


async def test_an_expired_or_unknown_secret_is_refused(start_mock: Start) -> None:
    clock = FakeClock()
    server = start_mock(clock=clock)
    secret = await sdk_client(server).realtime.client_secrets.create(expires_after={"anchor": "created_at",
                                                                                    "seconds": 10})
    clock.advance(11)
    for key in (secret.value, "ek_" + "0" * 32):
        async with sdk_client(server, api_key=key).realtime.connect(model="gpt-realtime") as conn:
            error = await conn.recv()
            assert error.type == "error" and error.error.code == "invalid_api_key"
            with pytest.raises(ConnectionClosed) as closed:
                await conn.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 3000


async def test_bad_requests_get_the_live_errors(mock: RunningServer) -> None:
    client = sdk_client(mock)
    with pytest.raises(openai.BadRequestError) as bad:
        await client.realtime.client_secrets.create(expires_after={"anchor": "created_at", "seconds": 5})
    assert bad.value.body["code"] == "integer_below_min_value"  # type: ignore[index]
    assert bad.value.body["param"] == "expires_after.seconds"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as bad:
        await client.realtime.client_secrets.create(session={"type": "realtime", "modalities": ["text"]})  # type: ignore[typeddict-unknown-key]
    assert bad.value.body["message"] == "Unknown parameter: 'session.modalities'."  # type: ignore[index]
    status, body = _post(mock, "/v1/realtime/client_secrets", b"{}", {})
    assert status == 401 and body["error"]["message"].startswith("You didn't provide an API key.")


def _post(server: RunningServer, path: str, data: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{server.base_url.removesuffix('/v1')}{path}", data=data, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
