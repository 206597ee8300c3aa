"""Server-side ids in the live formats, from a seedable source.

Live ids are a prefix and 21 base62 characters (`event_C9G5RJeJ2gF77mV7f2B1j`), function call ids
are `call_` and 16 (reference 2.1). One `IdSource` per session, each seeded from the server's
seed, so a test that seeds the server sees the same ids on every run.

The random bytes are SHAKE-256 of the seed and a counter, drawn 512 at a time: a source keeps a few
hundred bytes whatever it has drawn (a `random.Random` keeps 2.5 KiB of state, and there is one per
live session).
"""

from __future__ import annotations

import hashlib
import random
import string

_BASE62 = string.digits + string.ascii_letters
# Random bytes to base62 characters in one `bytes.translate` (ids are made for every event, so this is hot).
_TO_BASE62 = bytes(ord(_BASE62[i % 62]) for i in range(256))


_POOL = 512  # random bytes drawn at a time


class IdSource:
    def __init__(self, seed: int | None = None) -> None:
        if seed is None:
            seed = random.getrandbits(63)
        self._seed = seed.to_bytes(seed.bit_length() // 8 + 1, "little", signed=True)
        self._drawn = 0
        self._bytes = b""
        self._pool = ""  # the same bytes as base62 characters
        self._at = _POOL  # drawn on first use

    def _refill(self) -> None:
        self._drawn += 1
        self._bytes = hashlib.shake_256(self._seed + self._drawn.to_bytes(8, "little")).digest(_POOL)
        self._pool = self._bytes.translate(_TO_BASE62).decode()
        self._at = 0

    def token(self, length: int = 21) -> str:
        if self._at + length > _POOL:
            self._refill()
        at = self._at
        self._at = at + length
        return self._pool[at:at + length]

    def _number(self) -> int:
        """A random 63-bit number."""
        if self._at + 8 > _POOL:
            self._refill()
        at = self._at
        self._at = at + 8
        return int.from_bytes(self._bytes[at:at + 8], "little") >> 1

    def event(self) -> str:
        return "event_" + self.token()

    def item(self) -> str:
        return "item_" + self.token()

    def response(self) -> str:
        return "resp_" + self.token()

    def session(self) -> str:
        return "sess_" + self.token()

    def conversation(self) -> str:
        return "conv_" + self.token()

    def call(self) -> str:
        return "call_" + self.token(16)

    def rtc(self) -> str:
        """A WebRTC or SIP call's id: `rtc_` and 32 hex digits (reference 2.1)."""
        return "rtc_" + "".join(f"{self._number() & 0xFFFFFFFF:08x}" for _ in range(4))

    def obfuscation(self) -> str:
        """Random padding the live API adds to streamed deltas (8-16 characters)."""
        drawn = self.token(17)
        return drawn[1: 9 + ord(drawn[0]) % 9]

    def randint(self, low: int, high: int) -> int:
        return low + self._number() % (high - low + 1)

    def child_seed(self) -> int:
        return self._number()
