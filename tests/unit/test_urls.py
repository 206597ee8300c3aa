"""One reading of a server's URL for every command (conformance/urls.py): a base URL as the SDKs take it."""

from __future__ import annotations

import pytest

from conformance import urls


@pytest.mark.parametrize("given", [
    "wss://api.openai.com/v1", "wss://api.openai.com/v1/", "https://api.openai.com/v1",
    "wss://api.openai.com/v1/realtime", "https://api.openai.com/v1/realtime/", "wss://api.openai.com/v1/realtime/translations",
    "wss://api.openai.com",
])
def test_every_form_of_the_live_api_names_the_same_base(given: str) -> None:
    base = urls.parse(given)
    assert (base.websocket, base.http, base.host) == ("wss://api.openai.com/v1", "https://api.openai.com/v1",
                                                      "api.openai.com")
    assert base.websocket_url("/v1/realtime", "model=gpt-realtime") == "wss://api.openai.com/v1/realtime?model=gpt-realtime"
    assert base.websocket_url("/v1/realtime/translations") == "wss://api.openai.com/v1/realtime/translations"
    assert base.http_url("/v1/realtime/client_secrets") == "https://api.openai.com/v1/realtime/client_secrets"


def test_a_local_server_keeps_its_scheme_port_prefix_and_query() -> None:
    base = urls.parse("http://127.0.0.1:8000/v1/realtime?model=gpt-realtime")
    assert (base.websocket, base.http, base.host, base.query) == (
        "ws://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1", "127.0.0.1:8000", "model=gpt-realtime")
    proxied = urls.parse("wss://gateway.example/openai/v1")  # a proxy's prefix stays
    assert proxied.websocket_url("/v1/realtime") == "wss://gateway.example/openai/v1/realtime"


def test_credentials_in_a_url_are_never_part_of_its_host() -> None:
    base = urls.parse("wss://user:secret@api.openai.com/v1")
    assert base.host == "api.openai.com" and "secret" not in base.host


@pytest.mark.parametrize(("given", "meant"), [
    ("localhost:8000/v1", "ws://localhost:8000/v1"),
    ("127.0.0.1:8000/v1", "ws://127.0.0.1:8000/v1"),
    ("api.openai.com/v1", "wss://api.openai.com/v1"),
    ("ftp://example.com/v1", "wss://example.com/v1"),
    ("wss://api.openai.com/v1/realtime/client_secrets", "wss://api.openai.com/v1"),
    ("http://127.0.0.1:8000/v1/realtime/calls", "http://127.0.0.1:8000/v1"),
])
def test_a_url_no_command_can_use_says_what_was_meant(given: str, meant: str) -> None:
    with pytest.raises(urls.UrlError, match=f"did you mean {meant}\\?"):
        urls.parse(given)
