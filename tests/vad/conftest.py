"""Speech-like test audio for the real Silero model: babble from getpatter.testing.babble."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from getpatter.testing.babble import babble_pcm16


def _silence(rate: int, ms: int) -> npt.NDArray[np.int16]:
    """``ms`` of digital silence at ``rate``."""
    return np.zeros(rate * ms // 1000, dtype=np.int16)


@pytest.fixture
def babble() -> Callable[..., npt.NDArray[np.int16]]:
    """``babble(rate, seconds, seed=0)``: speech-like PCM16 samples."""
    return babble_pcm16


@pytest.fixture
def silence() -> Callable[[int, int], npt.NDArray[np.int16]]:
    """``silence(rate, ms)``: zero samples."""
    return _silence
