"""Server-side ids in the live formats, from a seedable source.

Live ids are a prefix and 21 base62 characters (`event_C9G5RJeJ2gF77mV7f2B1j`), function call ids
are `call_` and 16 (reference 2.1). One `IdSource` per session, each seeded from the server's
seed, so a test that seeds the server sees the same ids on every run.
"""

from __future__ import annotations

import random
import string

_BASE62 = string.digits + string.ascii_letters
# Random bytes to base62 characters in one `bytes.translate` (ids are made for every event, so this is hot).
_TO_BASE62 = bytes(ord(_BASE62[i % 62]) for i in range(256))


_POOL = 2048  # base62 characters drawn at a time (an id per event makes this hot)


class IdSource:
    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._pool = ""
        self._at = 0

    def token(self, length: int = 21) -> str:
        at = self._at
        if at + length > len(self._pool):
            self._pool = self._rng.randbytes(max(_POOL, length)).translate(_TO_BASE62).decode()
            at = 0
        self._at = at + length
        return self._pool[at:at + length]

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

    def obfuscation(self) -> str:
        """Random padding the live API adds to streamed deltas (8-16 characters)."""
        drawn = self.token(17)
        return drawn[1: 9 + ord(drawn[0]) % 9]

    def randint(self, low: int, high: int) -> int:
        return self._rng.randint(low, high)

    def child_seed(self) -> int:
        return self._rng.getrandbits(63)
