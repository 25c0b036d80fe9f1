"""Whole PCM16 samples out of a byte stream that may cut a sample in two."""

from __future__ import annotations


class SampleAligner:
    """Re-cut chunks of PCM16 so each holds whole 2-byte samples.

    A network chunk can end in the middle of a sample; its first byte is carried over to the
    next chunk, so downstream code (resamplers, μ-law encoders) always sees whole samples. A
    stream that ends on half a sample loses that byte.
    """

    def __init__(self) -> None:
        self._carry = b""

    def align(self, chunk: bytes) -> bytes:
        """Return the whole samples available after ``chunk``; keep an odd trailing byte."""
        data = self._carry + chunk if self._carry else chunk
        cut = len(data) - len(data) % 2
        self._carry = data[cut:]
        return data[:cut]
