"""Audio in JSON as the live API reads it: standard base64 (RFC 4648, section 4) with its padding.

Python's decoder is lenient where the format is not: it takes excess padding (`AAAA====`) and
non-canonical endings whose unused bits are set (`AB==` reads as `AA==`). Those are refused here.
"""

from __future__ import annotations

import base64
import binascii
import string

_ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"
_VALUE = {char: index for index, char in enumerate(_ALPHABET)}


def decode(text: str) -> bytes:
    """The bytes of a strict base64 string; ValueError when it is not one."""
    padding = len(text) - len(text.rstrip("="))
    if len(text) % 4 or padding > 2:
        raise ValueError("not a whole number of padded base64 quanta")
    try:
        data = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(str(exc)) from None
    if padding:  # the bits of the last character that the padding leaves unused must be zero
        unused = 0x0F if padding == 2 else 0x03
        if _VALUE[text[-padding - 1]] & unused:
            raise ValueError("non-canonical base64 ending")
    return data


def is_valid(text: str) -> bool:
    try:
        decode(text)
    except ValueError:
        return False
    return True
