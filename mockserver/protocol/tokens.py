"""Word-piece tokens, as the live deltas come ("Hi", " there", "!"), and token counts for usage."""

from __future__ import annotations

import re

_TOKEN = re.compile(r"\s*[A-Za-z]+|\s*\d{1,3}|\s*[^\sA-Za-z\d]|\s+")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))
