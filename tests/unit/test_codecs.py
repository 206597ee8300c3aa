"""Audio conversion: G.711 against the reference coder, resampling, and the wire-format helpers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.typing import NDArray

from mockserver.audio.codecs import (
    FORMATS,
    Format,
    alaw_decode,
    alaw_encode,
    bytes_per_second,
    decode,
    duration_ms,
    encode,
    float_to_pcm16,
    format_of,
    pcm16_to_float,
    resample,
    sample_rate,
    ulaw_decode,
    ulaw_encode,
)

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)
ALL_CODES = bytes(range(256))
SEG_END = (0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF, 0x3FFF, 0x7FFF)


# Scalar transliterations of the reference C coder (Sun g711.c, 16-bit), to check the vectorised code against.
def ref_linear2ulaw(pcm: int) -> int:
    mask = 0x7F if pcm < 0 else 0xFF
    pcm = min(abs(pcm), 32635) + 0x84
    seg = next(i for i, end in enumerate(SEG_END) if pcm <= end)
    return ((seg << 4) | ((pcm >> (seg + 3)) & 0xF)) ^ mask


def ref_linear2alaw(pcm: int) -> int:
    mask, pcm = (0xD5, pcm) if pcm >= 0 else (0x55, -pcm - 1)
    seg = next(i for i, end in enumerate(SEG_END) if pcm <= end)
    return ((seg << 4) | ((pcm >> (4 if seg < 2 else seg + 3)) & 0xF)) ^ mask


def ref_ulaw2linear(code: int) -> int:
    code = ~code & 0xFF
    t = (((code & 0xF) << 3) + 0x84) << ((code & 0x70) >> 4)
    return 0x84 - t if code & 0x80 else t - 0x84


def ref_alaw2linear(code: int) -> int:
    code ^= 0x55
    seg, t = (code & 0x70) >> 4, (code & 0xF) << 4
    t = t + 8 if seg == 0 else (t + 0x108) << max(seg - 1, 0)
    return t if code & 0x80 else -t


def tone(freq: float, rate: int, seconds: float = 1.0, amplitude: float = 0.5) -> NDArray[np.float32]:
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate)).astype(np.float32)


def energy(x: NDArray[Any]) -> float:
    return float(np.mean(np.square(x, dtype=np.float64)))


# --- G.711 ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("pcm", "ulaw", "alaw"), [
    (0, 0xFF, 0xD5), (-1, 0x7F, 0x55), (32767, 0x80, 0xAA), (-32768, 0x00, 0x2A), (1000, 0xCE, 0xFA),
])
def test_g711_known_codes(pcm: int, ulaw: int, alaw: int) -> None:
    sample = np.array([pcm], dtype=np.int16)
    assert ulaw_encode(sample) == bytes([ulaw])
    assert alaw_encode(sample) == bytes([alaw])


def test_g711_known_levels() -> None:
    assert ulaw_decode(bytes([0xFF, 0x7F, 0x80, 0x00])).tolist() == [0, 0, 32124, -32124]
    assert alaw_decode(bytes([0xD5, 0x55, 0xAA, 0x2A])).tolist() == [8, -8, 32256, -32256]


def test_g711_bit_exact_with_reference_coder() -> None:
    assert ulaw_encode(ALL_INT16) == bytes(ref_linear2ulaw(int(v)) for v in ALL_INT16)
    assert alaw_encode(ALL_INT16) == bytes(ref_linear2alaw(int(v)) for v in ALL_INT16)
    assert ulaw_decode(ALL_CODES).tolist() == [ref_ulaw2linear(c) for c in ALL_CODES]
    assert alaw_decode(ALL_CODES).tolist() == [ref_alaw2linear(c) for c in ALL_CODES]


def test_g711_round_trip_within_quantisation_error() -> None:
    # 4 mantissa bits plus an implied leading one: the error is at most 1/32 of the magnitude (above a floor),
    # and μ-law clips magnitudes above 32635 first.
    magnitude = np.abs(ALL_INT16.astype(np.int64))
    ulaw_error = np.abs(ulaw_decode(ulaw_encode(ALL_INT16)) - ALL_INT16.astype(np.int64))
    clipped = np.minimum(magnitude, 32635)
    assert np.all(32 * ulaw_error <= clipped + 0x84 + 32 * (magnitude - clipped))
    alaw_error = np.abs(alaw_decode(alaw_encode(ALL_INT16)) - ALL_INT16.astype(np.int64))
    assert np.all(32 * alaw_error <= np.maximum(8 * 32, magnitude))
    assert ulaw_error.max() <= 644 and alaw_error.max() <= 512  # half the top step (512), plus μ-law's clip


def test_g711_decoders_are_monotonic() -> None:
    assert np.all(np.diff(ulaw_decode(ulaw_encode(ALL_INT16)).astype(np.int32)) >= 0)
    assert np.all(np.diff(alaw_decode(alaw_encode(ALL_INT16)).astype(np.int32)) >= 0)


def test_every_code_decodes_and_reencodes_to_itself() -> None:
    assert alaw_encode(alaw_decode(ALL_CODES)) == ALL_CODES
    # μ-law has a negative zero: 0x7F and 0xFF both decode to 0, which encodes as 0xFF.
    assert ulaw_decode(bytes([0x7F, 0xFF])).tolist() == [0, 0]
    assert ulaw_encode(ulaw_decode(ALL_CODES)) == ALL_CODES.replace(b"\x7f", b"\xff")


# --- PCM16 <-> float -----------------------------------------------------------------------------------

def test_pcm16_float_round_trip_is_lossless() -> None:
    data = ALL_INT16.astype("<i2").tobytes()
    floats = pcm16_to_float(data)
    assert floats.dtype == np.float32 and floats.min() == -1.0 and floats.max() < 1.0
    assert float_to_pcm16(floats) == data


def test_pcm16_to_float_ignores_an_odd_trailing_byte() -> None:
    assert pcm16_to_float(b"\x00\x80\x00\x40\x7f").tolist() == [-1.0, 0.5]


def test_float_to_pcm16_clips_and_rounds() -> None:
    samples = np.array([2.0, 1.0, -1.0, -3.0, 0.25 / 32768, 0.75 / 32768, np.nan])
    assert np.frombuffer(float_to_pcm16(samples), dtype="<i2").tolist() == [32767, 32767, -32768, -32768, 0, 1, 0]


# --- Resampling ----------------------------------------------------------------------------------------

def test_resample_down_keeps_a_300_hz_tone_and_removes_6_khz() -> None:
    edge = 100  # the filter sees zeros beyond the ends, so leave its ramp out of the measurement
    low, high = tone(300, 24000), tone(6000, 24000)
    assert energy(resample(low, 24000, 8000)[edge:-edge]) / energy(low) == pytest.approx(1.0, abs=0.01)
    assert energy(resample(high, 24000, 8000)[edge:-edge]) / energy(high) < 1e-4  # 6 kHz would alias to 2 kHz


def test_resample_up_reconstructs_the_tone() -> None:
    upsampled = resample(tone(440, 8000), 8000, 24000)
    assert len(upsampled) == 24000
    assert np.max(np.abs(upsampled - tone(440, 24000))[300:-300]) < 1e-3


@pytest.mark.parametrize(("n", "src", "dst"), [
    (0, 24000, 8000), (1, 24000, 8000), (2, 24000, 8000), (480, 24000, 8000), (161, 8000, 24000),
    (100, 24000, 16000), (7, 16000, 24000), (5, 24000, 24000),
])
def test_resample_length(n: int, src: int, dst: int) -> None:
    out = resample(np.ones(n, dtype=np.float32), src, dst)
    assert out.dtype == np.float32 and len(out) == n * dst // src


# --- Formats and the wire ------------------------------------------------------------------------------

@pytest.mark.parametrize(("config", "fmt"), [
    (None, "audio/pcm"), ({}, "audio/pcm"), ({"rate": 24000}, "audio/pcm"),
    ({"type": "audio/pcm", "rate": 24000}, "audio/pcm"), ({"type": "audio/pcmu"}, "audio/pcmu"),
    ({"type": "audio/pcma"}, "audio/pcma"),
])
def test_format_of(config: dict[str, Any] | None, fmt: Format) -> None:
    assert format_of(config) == fmt


@pytest.mark.parametrize("name", ["pcm16", "g711_ulaw", "audio/opus"])
def test_format_of_rejects_unknown_types(name: str) -> None:
    with pytest.raises(ValueError, match="unknown audio format"):
        format_of({"type": name})


def test_rates_and_durations() -> None:
    assert [sample_rate(f) for f in FORMATS] == [24000, 8000, 8000]
    assert [bytes_per_second(f) for f in FORMATS] == [48000, 8000, 8000]
    assert duration_ms(48000, "audio/pcm") == 1000.0
    assert duration_ms(960, "audio/pcm") == 20.0
    assert duration_ms(160, "audio/pcmu") == 20.0
    assert duration_ms(8000, "audio/pcma") == 1000.0
    assert duration_ms(0, "audio/pcmu") == 0.0


@pytest.mark.parametrize("fmt", ["audio/pcmu", "audio/pcma"])
def test_sine_survives_g711(fmt: Format) -> None:
    original = tone(440, 24000)
    wire = encode(float_to_pcm16(original), fmt)
    assert len(wire) == 8000 and duration_ms(len(wire), fmt) == 1000.0
    restored = pcm16_to_float(decode(wire, fmt))
    assert len(restored) == len(original)
    assert np.corrcoef(original, restored)[0, 1] > 0.98


def test_pcm_passes_through_unchanged() -> None:
    data = bytes(range(256)) + b"\x01"
    assert encode(data, "audio/pcm") == data and decode(data, "audio/pcm") == data


@given(data=st.binary(max_size=3000), fmt=st.sampled_from(FORMATS))
def test_decode_never_raises_on_arbitrary_bytes(data: bytes, fmt: Format) -> None:
    pcm = decode(data, fmt)
    assert len(pcm) == (len(data) if fmt == "audio/pcm" else 6 * len(data))


@given(data=st.binary(max_size=3000), fmt=st.sampled_from(FORMATS))
def test_encode_decode_lengths(data: bytes, fmt: Format) -> None:
    # Guarantee: PCM is the identity. G.711 keeps len(data) // 6 whole 3-sample groups (one 8 kHz sample each),
    # so the round trip is exactly len(data) - len(data) % 6 bytes: at most 2 samples short, plus an odd byte.
    wire = encode(data, fmt)
    if fmt == "audio/pcm":
        assert wire == data and decode(wire, fmt) == data
    else:
        assert len(wire) == len(data) // 6
        assert len(decode(wire, fmt)) == len(data) - len(data) % 6
