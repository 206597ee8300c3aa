"""`OpenAI-Safety-Identifier`: taken on the handshake and on client secrets (bound to every session the
secret opens), visible in the session's journal summary through the admin API and the pytest plugin."""

from __future__ import annotations

from typing import Any

import pytest
from openai import AsyncOpenAI

from mockserver.runner import RunningServer
from tests.functional.conftest import sdk_client, until
from tests.functional.test_admin_api import call

pytestmark = pytest.mark.functional

HEADER = "OpenAI-Safety-Identifier"


def summary(server: RunningServer, session_id: str) -> dict[str, Any]:
    status, listed = call(server, "GET", "/_mock/sessions")
    assert status == 200
    found: dict[str, Any] = next(s for s in listed["sessions"] if s["id"] == session_id)
    return found


async def test_the_handshake_header_is_kept_with_the_session(mock: RunningServer) -> None:
    async with sdk_client(mock).realtime.connect(model="gpt-realtime", extra_headers={HEADER: "user-42"}) as conn:
        created = (await until(conn, "session.created"))[-1]
        listed = summary(mock, created.session.id)
    assert (listed["safety_identifier"], listed["type"]) == ("user-42", "realtime")
    status, journal = call(mock, "GET", f"/_mock/sessions/{created.session.id}/journal")
    assert status == 200
    assert journal["session"]["safety_identifier"] == "user-42"
    async with sdk_client(mock).realtime.connect(model="gpt-realtime") as conn:
        created = (await until(conn, "session.created"))[-1]
    assert summary(mock, created.session.id)["safety_identifier"] is None


async def test_a_client_secret_binds_its_identifier_to_every_session_it_opens(mock: RunningServer) -> None:
    minted = await sdk_client(mock).realtime.client_secrets.create(session={"type": "realtime"},
                                                                   extra_headers={HEADER: "end-user-7"})
    browser = AsyncOpenAI(api_key=minted.value, base_url=mock.base_url, websocket_base_url=mock.websocket_base_url)
    ids = []
    for _ in range(2):
        async with browser.realtime.connect(model="gpt-realtime") as conn:
            ids.append((await until(conn, "session.created"))[-1].session.id)
    assert [summary(mock, i)["safety_identifier"] for i in ids] == ["end-user-7", "end-user-7"]
    # A header on the handshake itself says who this session is for.
    async with browser.realtime.connect(model="gpt-realtime", extra_headers={HEADER: "other"}) as conn:
        other = (await until(conn, "session.created"))[-1].session.id
    assert summary(mock, other)["safety_identifier"] == "other"


async def test_translation_sessions_and_their_secrets_keep_it_too(mock: RunningServer) -> None:
    minted = await sdk_client(mock).realtime.translations.client_secrets.create(
        session={"model": "gpt-realtime-translate"}, extra_headers={HEADER: "listener-3"})
    browser = AsyncOpenAI(api_key=minted.value, base_url=mock.base_url, websocket_base_url=mock.websocket_base_url)
    async with browser.realtime.translations.connect(model="gpt-realtime-translate") as conn:
        created = await conn.recv()
    listed = summary(mock, created.session.id)  # type: ignore[union-attr]
    assert (listed["safety_identifier"], listed["type"]) == ("listener-3", "translation")


async def test_a_webrtc_call_keeps_its_identifier(mock: RunningServer) -> None:
    from mockserver.webrtc_client import WebRtcCaller

    async with await WebRtcCaller.connect(mock.base_url, headers={HEADER: "caller-5"}) as call:
        created = await call.next_event()
        listed = summary(mock, created["session"]["id"])
    assert (listed["safety_identifier"], listed["call_id"]) == ("caller-5", call.call_id)
    secret = await sdk_client(mock).realtime.client_secrets.create(session={"type": "realtime"},
                                                                   extra_headers={HEADER: "minted-for-6"})
    async with await WebRtcCaller.connect(mock.base_url, api_key=secret.value) as call:
        created = await call.next_event()
    assert summary(mock, created["session"]["id"])["safety_identifier"] == "minted-for-6"
