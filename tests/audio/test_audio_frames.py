"""Framing: frame sizes, splitting, and a buffer that carries remainders across pushes."""

from __future__ import annotations

import numpy as np
import pytest

from getpatter.audio import ULAW_SILENCE, FrameBuffer, frame_bytes, split_frames
from getpatter.errors import ConfigError, ErrorCode


@pytest.mark.parametrize(
    ("rate", "kwargs", "size"),
    [
        (8000, {"sample_width": 1}, 160),  # 20 ms of μ-law from a carrier
        (8000, {}, 320),
        (16000, {}, 640),
        (24000, {}, 960),
        (48000, {}, 1920),
        (16000, {"frame_ms": 10}, 320),
        (44100, {}, 1764),
    ],
)
def test_frame_bytes(rate: int, kwargs: dict[str, int], size: int) -> None:
    assert frame_bytes(rate, **kwargs) == size


def test_frame_bytes_refuses_a_fractional_sample_count() -> None:
    with pytest.raises(ConfigError) as caught:
        frame_bytes(22050, frame_ms=10)
    assert caught.value.code is ErrorCode.CONFIG
    assert "220.5" in str(caught.value)
    assert "frame_ms" in str(caught.value)


@pytest.mark.parametrize(
    "kwargs",
    [{"sample_rate": 0}, {"sample_rate": 8000.0}, {"frame_ms": 0}, {"sample_width": 0}],
)
def test_frame_bytes_validates_arguments(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"sample_rate": 8000, **kwargs}
    with pytest.raises(ConfigError):
        frame_bytes(**args)  # type: ignore[arg-type]


def test_split_frames_returns_whole_frames_and_the_leftover() -> None:
    data = bytes(range(256)) * 4
    frames, rest = split_frames(data, 320)
    assert [len(f) for f in frames] == [320, 320, 320]
    assert rest == data[960:]
    assert b"".join(frames) + rest == data


def test_split_frames_edge_cases() -> None:
    assert split_frames(b"", 160) == ([], b"")
    assert split_frames(b"abc", 160) == ([], b"abc")
    assert split_frames(bytearray(b"abcd"), 2) == ([b"ab", b"cd"], b"")
    with pytest.raises(ConfigError, match="frame_size must be >= 1"):
        split_frames(b"abcd", 0)


def test_frame_buffer_carries_the_remainder_across_pushes() -> None:
    rng = np.random.default_rng(3)
    data = rng.integers(0, 256, 5000, dtype=np.uint8).tobytes()
    buffer = FrameBuffer(640)
    frames: list[bytes] = []
    position = 0
    for size in [1, 639, 0, 700, 3, 1300, 2000, 357]:
        frames += buffer.push(data[position : position + size])
        position += size
        assert buffer.buffered == position - 640 * len(frames)
    assert all(len(frame) == 640 for frame in frames)
    tail = buffer.flush()
    assert b"".join(frames) + tail == data
    assert len(tail) == 5000 % 640
    assert buffer.buffered == 0
    assert buffer.flush() == b""


def test_frame_buffer_pads_the_last_frame_with_silence() -> None:
    buffer = FrameBuffer(160, silence=ULAW_SILENCE)
    assert buffer.push(b"\x10" * 200) == [b"\x10" * 160]
    assert buffer.flush(pad=True) == b"\x10" * 40 + b"\xff" * 120
    assert buffer.flush(pad=True) == b""


def test_frame_buffer_pads_pcm16_with_zeros_by_default() -> None:
    buffer = FrameBuffer(8)
    buffer.push(b"\x01\x02")
    assert buffer.flush(pad=True) == b"\x01\x02" + b"\x00" * 6


def test_frame_buffer_validates_arguments() -> None:
    with pytest.raises(ConfigError, match="silence must be exactly one byte"):
        FrameBuffer(160, silence=b"\x00\x00")
    with pytest.raises(ConfigError, match="frame_size must be >= 1"):
        FrameBuffer(0)
    with pytest.raises(ConfigError, match="data must be bytes"):
        FrameBuffer(160).push("audio")  # type: ignore[arg-type]
