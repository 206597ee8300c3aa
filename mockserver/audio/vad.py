"""Voice activity detection on the real signal, streaming and in audio time (no clock).

`Vad.feed(samples)` takes the next PCM (float, 24 kHz) of the input buffer and returns what it
heard: `("speech_started", ms)` and `("speech_stopped", ms)`, in milliseconds since the start of
all audio written in the session, as the live events count them (reference 4(d)):

- speech starts at the first 10 ms frame louder than the threshold; `audio_start_ms` is that frame
  minus `prefix_padding_ms` ("includes the prefix padding");
- speech stops once `silence_duration_ms` of quiet followed it; `audio_end_ms` is the end of the last
  loud frame plus that silence ("includes the min silence duration").

`threshold` (0-1) maps onto loudness: 0.5 needs a frame RMS of -30 dBFS, 0 hears -60 dBFS, 1 needs
full scale; the speech codec speaks at about -14 dBFS. Semantic VAD waits for the end of a sentence:
when the speech so far is a complete sentence (a predicate the session gives, from the speech codec)
it stops after a short pause, otherwise after its eagerness timeout (low 8 s, medium/auto 4 s, high 2 s).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mockserver.audio.formats import PCM_RATE

FRAME_MS = 10
_FRAME = PCM_RATE * FRAME_MS // 1000
EAGERNESS_MS = {"low": 8000, "medium": 4000, "auto": 4000, "high": 2000}
SEMANTIC_PAUSE_MS = 200  # a complete sentence followed by this much quiet ends the turn


def rms_threshold(threshold: float) -> float:
    return float(10 ** ((threshold * 60 - 60) / 20))


@dataclass
class Vad:
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 200
    eagerness: str | None = None  # set: semantic VAD
    complete: Callable[[int, int], bool] | None = None  # (start_ms, end_ms) of speech: a finished sentence?
    offset_ms: int = 0  # where this VAD's first sample sits in all the audio of the session

    def __post_init__(self) -> None:
        self._level = rms_threshold(self.threshold)
        self._pending = np.zeros(0, dtype=np.float32)
        self._frames = 0  # frames heard so far
        self.speaking = False
        self._speech_start = 0  # frame index
        self._last_loud = 0  # frame index of the last loud frame
        self._finished: bool | None = None  # semantic: is the speech before this pause a full sentence?

    @property
    def position_ms(self) -> int:
        return self._frames * FRAME_MS

    def feed(self, samples: NDArray[np.float32]) -> list[tuple[str, int]]:
        pending = np.concatenate((self._pending, samples))
        count = len(pending) // _FRAME
        self._pending = pending[count * _FRAME:]
        if count == 0:
            return []
        frames = pending[: count * _FRAME].reshape(count, _FRAME)
        loud = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1)) > self._level
        events: list[tuple[str, int]] = []
        for index in range(count):
            frame = self._frames + index
            if loud[index]:
                if not self.speaking:
                    self.speaking, self._speech_start = True, frame
                    start = self.offset_ms + frame * FRAME_MS - self.prefix_padding_ms
                    events.append(("speech_started", max(self.offset_ms, start)))
                self._last_loud, self._finished = frame, None
            elif self.speaking and (frame - self._last_loud) * FRAME_MS >= self._quiet_needed():
                self.speaking = False
                end = self.offset_ms + (self._last_loud + 1) * FRAME_MS + self._quiet_needed()
                events.append(("speech_stopped", end))
        self._frames += count
        return events

    def _quiet_needed(self) -> int:
        if self.eagerness is None:
            return self.silence_duration_ms
        if self._finished is None:  # asked once per pause, not once per quiet frame
            self._finished = self.complete is not None and self.complete(self._speech_start * FRAME_MS,
                                                                         (self._last_loud + 1) * FRAME_MS)
        return SEMANTIC_PAUSE_MS if self._finished else EAGERNESS_MS.get(self.eagerness, 4000)
