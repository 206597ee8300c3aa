"""Audio format conversion for the Realtime API, vectorised with NumPy.

The server works in PCM16 24 kHz mono (`audio/pcm`); `encode` and `decode` convert that to and from the
wire format of a session (`audio/pcmu` and `audio/pcma` are G.711 at 8 kHz, one byte a sample).
"""

from __future__ import annotations

from math import gcd
from typing import Any

import numpy as np
from numpy.typing import NDArray

# The pure-Python format helpers live in formats.py (no NumPy); re-exported here for callers of codecs.
from mockserver.audio.formats import FORMATS as FORMATS
from mockserver.audio.formats import G711_RATE as G711_RATE
from mockserver.audio.formats import PCM_RATE as PCM_RATE
from mockserver.audio.formats import Format as Format
from mockserver.audio.formats import bytes_per_second as bytes_per_second
from mockserver.audio.formats import duration_ms as duration_ms
from mockserver.audio.formats import format_of as format_of
from mockserver.audio.formats import sample_rate as sample_rate

# --- PCM16 <-> float ---------------------------------------------------------------------------------

def pcm16_to_float(data: bytes) -> NDArray[np.float32]:
    """Little-endian signed 16-bit mono to floats in [-1, 1); an odd trailing byte is ignored."""
    return np.frombuffer(data, dtype="<i2", count=len(data) // 2).astype(np.float32) / np.float32(32768)


def float_to_pcm16(samples: NDArray[np.floating[Any]]) -> bytes:
    """Floats to little-endian PCM16: clipped to [-1, 1] and rounded (NaN becomes 0)."""
    scaled: NDArray[np.float64] = np.rint(np.clip(np.nan_to_num(samples), -1.0, 1.0) * 32768.0)
    # Scaling by 32768 (not 32767) makes float_to_pcm16(pcm16_to_float(b)) == b; +1.0 then clips to 32767.
    return np.clip(scaled, -32768, 32767).astype("<i2").tobytes()


# --- G.711 (ITU-T G.711, bit-exact with the reference segment tables) -------------------------------

_SEG_END = np.array([0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF, 0x3FFF, 0x7FFF], dtype=np.int32)
_ULAW_BIAS = 0x84
_ULAW_CLIP = 32635


def _segment(magnitude: NDArray[np.int32]) -> NDArray[np.int32]:
    """The G.711 segment (0-7) of each magnitude: the first segment whose end is >= it."""
    return np.searchsorted(_SEG_END, magnitude).astype(np.int32)


def ulaw_encode(samples: NDArray[np.int16]) -> bytes:
    """16-bit linear PCM to G.711 μ-law codes, one byte a sample."""
    pcm = np.asarray(samples, dtype=np.int32)
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), _ULAW_CLIP) + _ULAW_BIAS  # at most 0x7FFF, so the segment is <= 7
    seg = _segment(magnitude)
    code = (seg << 4) | ((magnitude >> (seg + 3)) & 0xF)
    return (code ^ mask).astype(np.uint8).tobytes()


def ulaw_decode(data: bytes) -> NDArray[np.int16]:
    """G.711 μ-law codes to 16-bit linear PCM (codes 0x7F and 0xFF both decode to 0)."""
    code = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    t = (((code & 0x0F) << 3) + _ULAW_BIAS) << ((code & 0x70) >> 4)
    return np.where(code & 0x80, _ULAW_BIAS - t, t - _ULAW_BIAS).astype(np.int16)


def alaw_encode(samples: NDArray[np.int16]) -> bytes:
    """16-bit linear PCM to G.711 A-law codes, one byte a sample."""
    pcm = np.asarray(samples, dtype=np.int32)
    mask = np.where(pcm < 0, 0x55, 0xD5)
    magnitude = np.where(pcm < 0, -pcm - 1, pcm)  # one's complement for negatives, as in the reference coder
    seg = _segment(magnitude)
    shift = np.where(seg < 2, 4, seg + 3)  # segments 0 and 1 share the same step
    code = (seg << 4) | ((magnitude >> shift) & 0xF)
    return (code ^ mask).astype(np.uint8).tobytes()


def alaw_decode(data: bytes) -> NDArray[np.int16]:
    """G.711 A-law codes to 16-bit linear PCM."""
    code = np.frombuffer(data, dtype=np.uint8).astype(np.int32) ^ 0x55
    seg = (code & 0x70) >> 4
    t = ((code & 0x0F) << 4) + np.where(seg == 0, 8, 0x108)
    t = t << np.maximum(seg - 1, 0)
    pcm: NDArray[np.int32] = np.where(code & 0x80, t, -t)
    return pcm.astype(np.int16)


# --- Resampling ----------------------------------------------------------------------------------------

_TAPS_PER_PHASE = 32  # filter half-length per unit of the larger of the two ratio factors
_PASSBAND = 0.9  # cutoff as a fraction of the lower Nyquist frequency, leaving room for the transition band


def _lowpass(cutoff: float, half: int) -> NDArray[np.float64]:
    """Blackman-windowed sinc low-pass, 2*half+1 taps, cutoff in cycles per sample, unit DC gain."""
    n = np.arange(-half, half + 1)
    h: NDArray[np.float64] = 2 * cutoff * np.sinc(2 * cutoff * n) * np.blackman(2 * half + 1)
    h /= h.sum()
    return h


def resample(samples: NDArray[np.float32], src_rate: int, dst_rate: int) -> NDArray[np.float32]:
    """Resample by the rational ratio dst/src: zero-stuff, windowed-sinc low-pass, decimate.

    The output has `len(samples) * dst_rate // src_rate` samples and is time-aligned with the input
    (the filter is linear-phase and its delay is removed). Each call is independent: the signal is
    taken as zero outside `samples`, so chunks are not joined seamlessly.
    """
    if src_rate <= 0 or dst_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {src_rate} and {dst_rate}")
    x = np.asarray(samples, dtype=np.float32)
    if src_rate == dst_rate:
        return x.copy()
    g = gcd(src_rate, dst_rate)
    up, down = dst_rate // g, src_rate // g
    out_len = len(x) * dst_rate // src_rate
    if out_len == 0:
        return np.zeros(0, dtype=np.float32)
    half = _TAPS_PER_PHASE * max(up, down)
    h = _lowpass(_PASSBAND * 0.5 / max(up, down), half) * up  # gain `up` restores the level after zero-stuffing
    stuffed = np.zeros(len(x) * up, dtype=np.float64)
    stuffed[::up] = x
    filtered = np.convolve(stuffed, h)[half : half + len(stuffed)]  # drop the filter delay ("same" alignment)
    return filtered[::down][:out_len].astype(np.float32)


# --- Wire formats ---------------------------------------------------------------------------------------

def encode(pcm24k: bytes, fmt: Format) -> bytes:
    """PCM16 24 kHz mono bytes to the wire bytes of `fmt` (PCM passes through unchanged)."""
    if fmt == "audio/pcm":
        return bytes(pcm24k)
    narrow = resample(pcm16_to_float(pcm24k), PCM_RATE, G711_RATE)
    samples = np.frombuffer(float_to_pcm16(narrow), dtype="<i2").astype(np.int16)
    return ulaw_encode(samples) if fmt == "audio/pcmu" else alaw_encode(samples)


def decode(data: bytes, fmt: Format) -> bytes:
    """Wire bytes of `fmt` to PCM16 24 kHz mono bytes (PCM passes through unchanged)."""
    if fmt == "audio/pcm":
        return bytes(data)
    samples = ulaw_decode(data) if fmt == "audio/pcmu" else alaw_decode(data)
    return float_to_pcm16(resample(samples.astype(np.float32) / np.float32(32768), G711_RATE, PCM_RATE))
