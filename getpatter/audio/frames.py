"""Cutting audio into fixed-size frames (20 ms by default, the telephony packet size)."""

from __future__ import annotations

from getpatter._validation import require_bool, require_int
from getpatter.audio._pcm import BytesLike, require_bytes
from getpatter.errors import ConfigError

__all__ = ["FrameBuffer", "frame_bytes", "split_frames"]


def frame_bytes(sample_rate: int, *, frame_ms: int = 20, sample_width: int = 2) -> int:
    """Bytes in one frame of ``frame_ms`` of mono audio at ``sample_rate`` Hz.

    ``sample_width`` is the bytes per sample: 2 for PCM16, 1 for G.711 μ-law or A-law. For
    example 20 ms of 8 kHz μ-law is 160 bytes, 20 ms of 16 kHz PCM16 is 640.
    """
    rate = require_int("sample_rate", sample_rate, minimum=1)
    ms = require_int("frame_ms", frame_ms, minimum=1)
    width = require_int("sample_width", sample_width, minimum=1, maximum=4)
    samples, remainder = divmod(rate * ms, 1000)
    if remainder:
        raise ConfigError(
            f"frame_ms={ms} at sample_rate={rate} is not a whole number of samples "
            f"({rate * ms / 1000}): pick a frame_ms such that sample_rate * frame_ms / 1000 is "
            "an integer, e.g. 20"
        )
    return samples * width


def split_frames(data: BytesLike, frame_size: int) -> tuple[list[bytes], bytes]:
    """Split ``data`` into whole ``frame_size``-byte frames and the leftover bytes."""
    view = memoryview(require_bytes("data", data))
    size = require_int("frame_size", frame_size, minimum=1)
    whole = len(view) - len(view) % size
    frames = [bytes(view[start : start + size]) for start in range(0, whole, size)]
    return frames, bytes(view[whole:])


class FrameBuffer:
    """Collect audio chunks of any size and hand them out as whole frames.

    ``push`` returns the frames completed so far and keeps the remainder for the next push.
    ``silence`` is the one-byte pattern ``flush(pad=True)`` fills a partial frame with: ``b"\\x00"``
    for PCM16, :data:`~getpatter.audio.g711.ULAW_SILENCE` (``b"\\xff"``) for μ-law and
    :data:`~getpatter.audio.g711.ALAW_SILENCE` (``b"\\xd5"``) for A-law.
    """

    def __init__(self, frame_size: int, *, silence: BytesLike = b"\x00") -> None:
        self.frame_size = require_int("frame_size", frame_size, minimum=1)
        pattern = require_bytes("silence", silence)
        if len(pattern) != 1:
            raise ConfigError(
                f"silence must be exactly one byte, got {len(pattern)}: use b'\\x00' for PCM16, "
                "b'\\xff' for μ-law or b'\\xd5' for A-law"
            )
        self.silence = bytes(pattern)
        self._pending = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes held back, always fewer than one frame."""
        return len(self._pending)

    def push(self, data: BytesLike) -> list[bytes]:
        """Add ``data``; return every frame now complete, oldest first."""
        self._pending += require_bytes("data", data)
        size = self.frame_size
        whole = len(self._pending) - len(self._pending) % size
        if not whole:
            return []
        view = memoryview(self._pending)
        frames = [bytes(view[start : start + size]) for start in range(0, whole, size)]
        view.release()
        del self._pending[:whole]
        return frames

    def flush(self, pad: bool = False) -> bytes:
        """Return and clear the held-back bytes, padded with ``silence`` to a frame if ``pad``.

        With nothing held back this returns ``b""`` even when ``pad`` is true.
        """
        padded = require_bool("pad", pad)
        tail = bytes(self._pending)
        self._pending.clear()
        if padded and tail:
            tail += self.silence * (self.frame_size - len(tail))
        return tail
