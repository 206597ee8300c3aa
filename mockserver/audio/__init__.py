"""Audio: formats and codecs, the deterministic speech codec, voice activity detection.

`mockserver.audio.speak(text)` and `mockserver.audio.transcribe(audio)` are the speech codec
(`mockserver.audio.speech`); they are imported on first use, so that the server starts without NumPy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mockserver.audio.speech import speak, transcribe

__all__ = ["speak", "transcribe"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from mockserver.audio import speech

        return getattr(speech, name)
    raise AttributeError(f"module 'mockserver.audio' has no attribute {name!r}")
