"""The Realtime audio formats and their arithmetic, in pure Python (the session imports this; NumPy waits
until audio is actually encoded or decoded, in codecs.py)."""

from __future__ import annotations

from typing import Any, Literal, cast, get_args

PCM_RATE = 24000
G711_RATE = 8000

Format = Literal["audio/pcm", "audio/pcmu", "audio/pcma"]
FORMATS: tuple[Format, ...] = get_args(Format)


def format_of(config: dict[str, Any] | None) -> Format:
    """The format named by a Realtime format object such as `{"type": "audio/pcmu"}` (default: PCM)."""
    fmt = (config or {}).get("type") or "audio/pcm"
    if fmt not in FORMATS:
        raise ValueError(f"unknown audio format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return cast(Format, fmt)


def sample_rate(fmt: Format) -> int:
    return PCM_RATE if fmt == "audio/pcm" else G711_RATE


def bytes_per_second(fmt: Format) -> int:
    return sample_rate(fmt) * (2 if fmt == "audio/pcm" else 1)


def duration_ms(byte_count: int, fmt: Format) -> float:
    """How long `byte_count` bytes of `fmt` play, in milliseconds."""
    return byte_count * 1000 / bytes_per_second(fmt)
