"""No credential in any log line of the server, at any log level (uvicorn and websockets log requests and
headers at debug level)."""

from __future__ import annotations

import json
import urllib.request

import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from mockserver.runner import start_app_in_thread, uvicorn_config
from mockserver.state import ServerState

pytestmark = pytest.mark.functional

SECRETS = ("headersecret1", "subprotocolsecret2", "querysecret3", "restsecret4", "xapikeysecret5")


async def test_debug_logs_carry_no_credential(capfd: pytest.CaptureFixture[str]) -> None:
    state = ServerState()
    server = start_app_in_thread(lambda port: uvicorn_config(state, port=port, log_level="debug"), state)
    try:
        url = f"ws://127.0.0.1:{server.port}/v1/realtime?model=gpt-realtime&api_key=sk-querysecret3"
        offered = [Subprotocol("realtime"), Subprotocol("openai-insecure-api-key.ek_subprotocolsecret2")]
        async with connect(url, additional_headers={"Authorization": "Bearer sk-headersecret1"},
                           subprotocols=offered) as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.port}/v1/realtime/client_secrets?key=sk-restsecret4", data=b"{}",
            headers={"Authorization": "Bearer sk-restsecret4", "X-Api-Key": "xapikeysecret5",
                     "Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
    finally:
        server.stop()
    logged = capfd.readouterr().err
    assert "WebSocket /v1/realtime" in logged and "client_secrets" in logged  # the debug log was written
    assert "[redacted]" in logged
    for secret in SECRETS:
        assert secret not in logged
