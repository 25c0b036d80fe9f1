"""mix_pcm: gains, saturation, unequal lengths, argument checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from getpatter.audio import mix_pcm
from getpatter.errors import ConfigError, ErrorCode, InputValidationError


def pcm(*samples: int) -> bytes:
    return np.array(samples, dtype="<i2").tobytes()


def samples(data: bytes) -> list[int]:
    return [int(x) for x in np.frombuffer(data, dtype="<i2")]


def test_sums_samples_with_gains() -> None:
    assert samples(mix_pcm(pcm(100, -200, 0), pcm(10, 20, -30))) == [110, -180, -30]
    mixed = mix_pcm(pcm(1000, -1000), pcm(400, 400), gain_a=0.5, gain_b=0.25)
    assert samples(mixed) == [600, -400]


def test_matches_a_float_reference_on_random_audio() -> None:
    rng = np.random.default_rng(7)
    a = rng.integers(-20000, 20000, 640).astype("<i2")
    b = rng.integers(-20000, 20000, 640).astype("<i2")
    expected = np.clip(np.rint(a * 0.8 + b * 0.3), -32768, 32767)
    assert samples(mix_pcm(a.tobytes(), b.tobytes(), gain_a=0.8, gain_b=0.3)) == expected.tolist()


def test_saturates_instead_of_wrapping_around() -> None:
    assert samples(mix_pcm(pcm(30000, -30000, 32767), pcm(30000, -30000, 1))) == [
        32767,
        -32768,
        32767,
    ]
    assert samples(mix_pcm(pcm(20000), pcm(0), gain_a=2.0)) == [32767]


def test_output_is_as_long_as_the_longer_input() -> None:
    assert samples(mix_pcm(pcm(1, 2), pcm(10, 20, 30, 40))) == [11, 22, 30, 40]
    assert samples(mix_pcm(pcm(10, 20, 30), pcm(1), gain_a=2, gain_b=3)) == [23, 40, 60]
    assert samples(mix_pcm(b"", pcm(5, 6), gain_b=2)) == [10, 12]
    assert mix_pcm(b"", b"") == b""


def test_zero_gain_mutes_one_input() -> None:
    assert samples(mix_pcm(pcm(1000, 2000), pcm(7, 8), gain_a=0.0)) == [7, 8]


@pytest.mark.parametrize("gain", [-0.1, math.nan, math.inf, -math.inf])
def test_gain_must_be_finite_and_not_negative(gain: float) -> None:
    with pytest.raises(ConfigError) as caught:
        mix_pcm(pcm(1), pcm(1), gain_b=gain)
    assert caught.value.code is ErrorCode.CONFIG
    assert "gain_b must be a finite number >= 0" in str(caught.value)


@pytest.mark.parametrize("gain", ["1.0", None, True])
def test_gain_must_be_a_number(gain: object) -> None:
    with pytest.raises(ConfigError, match="gain_a must be a number"):
        mix_pcm(pcm(1), pcm(1), gain_a=gain)  # type: ignore[arg-type]


def test_odd_length_input_is_refused() -> None:
    with pytest.raises(InputValidationError, match=r"b has an odd length \(3 bytes\)"):
        mix_pcm(pcm(1, 2), b"\x00\x00\x00")
