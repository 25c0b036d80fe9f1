"""Checks and views shared by the audio modules."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from getpatter.errors import ConfigError, InputValidationError

BytesLike: TypeAlias = bytes | bytearray | memoryview
"""What the audio functions accept as input; they always return ``bytes``."""

PCM16: np.dtype[np.int16] = np.dtype("<i2")
"""Little-endian signed 16-bit samples, whatever the machine's byte order."""


def require_bytes(param: str, data: object) -> BytesLike:
    """Return ``data`` as a bytes-like object whose ``len`` counts bytes.

    A memoryview of wider items (say, of an int16 array) is recast to bytes; anything that is
    not bytes-like raises a ConfigError naming ``param``.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ConfigError(f"{param} must be bytes, got {type(data).__name__}")
    if isinstance(data, memoryview) and (data.ndim != 1 or data.itemsize != 1):
        if not data.c_contiguous:
            raise ConfigError(f"{param} must be contiguous: pass bytes(view) instead of the view")
        return data.cast("B")
    return data


def pcm16_samples(param: str, pcm: object) -> npt.NDArray[np.int16]:
    """View PCM16 bytes as int16 samples without copying; refuse odd lengths."""
    data = require_bytes(param, pcm)
    if len(data) % 2:
        raise InputValidationError(
            f"{param} has an odd length ({len(data)} bytes) but PCM16 samples are 2 bytes each: "
            "pass whole samples and carry a trailing odd byte over to the next chunk"
        )
    return np.frombuffer(data, dtype=PCM16)
