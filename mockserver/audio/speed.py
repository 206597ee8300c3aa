"""Speech at a speed: the speech codec's audio (speech.py) with its pauses stretched or shortened.

The words themselves keep their length: each carries its text in 20 ms tones, and a faster tone would
carry nothing. So `speed` (the speech endpoint's 0.25-4.0) scales the silence around and between the
words, and the audio of a slower request is longer, of a faster one shorter, while `transcribe` still
gives the text back exactly.
"""

from __future__ import annotations

from mockserver.audio.formats import PCM_RATE

MIN_GAP_MS = 30  # the shortest pause kept between two words, so that lossy codecs keep them apart


def speak_at(text: str, speed: float = 1.0) -> bytes:
    """`speech.speak(text)` with every pause scaled by 1/`speed` (at least MIN_GAP_MS between words)."""
    from mockserver.audio.speech import speak_stream

    if speed == 1.0:
        return b"".join(pcm for _, pcm in speak_stream(text))
    shortest = MIN_GAP_MS * PCM_RATE // 1000
    out = bytearray()
    for words, pcm in speak_stream(text):
        sound = pcm.rstrip(b"\x00")
        sound += b"\x00" * (len(sound) % 2)  # a sample whose high byte was zero
        pause = (len(pcm) - len(sound)) // 2
        scaled = round(pause / speed)
        if words:
            scaled = max(scaled, min(pause, shortest))
        out += sound + bytes(2 * scaled)
    return bytes(out)
