"""G.711 codecs: bit-exact against the reference codec, round-trip quality, input checks."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest

from getpatter.audio import (
    ALAW_SILENCE,
    ULAW_SILENCE,
    alaw_to_pcm16,
    pcm16_to_alaw,
    pcm16_to_ulaw,
    ulaw_to_pcm16,
)
from getpatter.errors import ConfigError, ErrorCode, InputValidationError

with warnings.catch_warnings():
    # Python 3.11-3.12 warn that audioop is deprecated; 3.13+ gets it from audioop-lts.
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

ALL_PCM16 = np.arange(-32768, 32768, dtype="<i2").tobytes()
ALL_CODES = bytes(range(256))

Codec = Callable[[bytes], bytes]


def test_ulaw_encodes_every_pcm16_value_like_the_reference() -> None:
    assert pcm16_to_ulaw(ALL_PCM16) == audioop.lin2ulaw(ALL_PCM16, 2)


def test_ulaw_decodes_every_code_like_the_reference() -> None:
    assert ulaw_to_pcm16(ALL_CODES) == audioop.ulaw2lin(ALL_CODES, 2)


def test_alaw_encodes_every_pcm16_value_like_the_reference() -> None:
    assert pcm16_to_alaw(ALL_PCM16) == audioop.lin2alaw(ALL_PCM16, 2)


def test_alaw_decodes_every_code_like_the_reference() -> None:
    assert alaw_to_pcm16(ALL_CODES) == audioop.alaw2lin(ALL_CODES, 2)


@pytest.mark.parametrize(
    ("encode", "decode"), [(pcm16_to_ulaw, ulaw_to_pcm16), (pcm16_to_alaw, alaw_to_pcm16)]
)
def test_round_trip_of_a_sine_keeps_telephone_quality(encode: Codec, decode: Codec) -> None:
    # G.711 companding gives about 38 dB SQNR over its whole range; a -6 dBFS sine gets ~42 dB.
    n = np.arange(8000)
    sine = np.round(16383 * np.sin(2 * np.pi * 1000 * n / 8000 + 0.3)).astype("<i2")
    back = np.frombuffer(decode(encode(sine.tobytes())), dtype="<i2").astype(np.float64)
    error = back - sine
    snr = 10 * np.log10(np.sum(sine.astype(np.float64) ** 2) / np.sum(error**2))
    assert snr > 38


@pytest.mark.parametrize(
    ("encode", "decode"), [(pcm16_to_ulaw, ulaw_to_pcm16), (pcm16_to_alaw, alaw_to_pcm16)]
)
def test_transcoding_decoded_audio_again_is_lossless(encode: Codec, decode: Codec) -> None:
    again = encode(decode(ALL_CODES))
    # μ-law has two zeros (0x7F and 0xFF); the encoder always picks 0xFF.
    expected = ALL_CODES.replace(b"\x7f", b"\xff") if encode is pcm16_to_ulaw else ALL_CODES
    assert again == expected


def test_sample_count_and_byte_order() -> None:
    pcm = np.array([0, 1000, -1000], dtype="<i2").tobytes()
    assert len(pcm16_to_ulaw(pcm)) == 3
    assert len(ulaw_to_pcm16(b"\x00\x80\xff")) == 6
    assert ulaw_to_pcm16(b"\x80") == (32124).to_bytes(2, "little", signed=True)


def test_silence_bytes_decode_to_silence() -> None:
    assert ulaw_to_pcm16(ULAW_SILENCE) == b"\x00\x00"
    assert abs(int.from_bytes(alaw_to_pcm16(ALAW_SILENCE), "little", signed=True)) <= 8
    assert pcm16_to_ulaw(b"\x00\x00") == ULAW_SILENCE
    assert pcm16_to_alaw(b"\x00\x00") == ALAW_SILENCE


def test_empty_and_bytes_like_inputs() -> None:
    assert pcm16_to_ulaw(b"") == b""
    assert alaw_to_pcm16(b"") == b""
    pcm = np.array([1, -2, 300], dtype="<i2").tobytes()
    assert pcm16_to_alaw(bytearray(pcm)) == pcm16_to_alaw(memoryview(pcm)) == pcm16_to_alaw(pcm)
    # A view of int16 items counts samples, not bytes; it still encodes every sample.
    samples = np.frombuffer(pcm, dtype="<i2")
    assert pcm16_to_ulaw(samples.data) == pcm16_to_ulaw(pcm)
    with pytest.raises(ConfigError, match="must be contiguous"):
        pcm16_to_ulaw(np.zeros(8, dtype="<i2").data[::2])


@pytest.mark.parametrize("encode", [pcm16_to_ulaw, pcm16_to_alaw])
def test_odd_length_pcm_is_refused_with_the_fix(encode: Codec) -> None:
    with pytest.raises(InputValidationError) as caught:
        encode(b"\x00\x01\x02")
    assert caught.value.code is ErrorCode.INPUT_VALIDATION
    assert "odd length (3 bytes)" in str(caught.value)
    assert "whole samples" in str(caught.value)


@pytest.mark.parametrize("convert", [pcm16_to_ulaw, ulaw_to_pcm16, pcm16_to_alaw, alaw_to_pcm16])
def test_non_bytes_input_is_a_config_error(convert: Codec) -> None:
    with pytest.raises(ConfigError, match="must be bytes"):
        convert("\x00\x00")  # type: ignore[arg-type]
