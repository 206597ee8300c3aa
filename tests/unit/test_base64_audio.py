"""Audio in JSON is strict base64, as the live API reads it."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mockserver.protocol import base64_audio


@given(st.binary(max_size=64))
def test_what_base64_encodes_decodes(data: bytes) -> None:
    assert base64_audio.decode(base64.b64encode(data).decode()) == data


@pytest.mark.parametrize("text", ["AAAA====", "AAA==", "A===", "AB==", "AAB=", "QR==", "A", "AA=A", "abc",
                                  "AA\nAA", "AA AA", "AA-_", "=AAA"])
def test_what_is_not_strict_base64_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        base64_audio.decode(text)
    assert not base64_audio.is_valid(text)
