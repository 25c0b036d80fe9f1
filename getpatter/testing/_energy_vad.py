"""The loopback fakes' turn detection: an energy VAD over 20 ms windows of caller audio."""

from __future__ import annotations

from typing import Literal

WINDOW_MS = 20
_START_WINDOWS = 3  # 60 ms of voiced audio starts speech


def rms(pcm: bytes) -> float:
    """Root mean square of PCM16 samples, on the int16 scale."""
    import numpy as np

    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples * samples))) if samples.size else 0.0


class EnergyVad:
    """Speech starts after 3 voiced windows in a row and stops after enough silence.

    ``start_ms`` is the start of the first voiced window of the current (or last) speech.
    """

    def __init__(self) -> None:
        self.speaking = False
        self.start_ms = 0
        self._voiced_run = 0
        self._silent_ms = 0

    def feed(
        self, start_ms: int, voiced: bool, silence_ms: int
    ) -> Literal["started", "stopped"] | None:
        """Take the window starting at ``start_ms``; say when speech starts or stops."""
        if not self.speaking:
            if not voiced:
                self._voiced_run = 0
                return None
            if self._voiced_run == 0:
                self.start_ms = start_ms
            self._voiced_run += 1
            if self._voiced_run < _START_WINDOWS:
                return None
            self.speaking, self._silent_ms = True, 0
            return "started"
        if voiced:
            self._silent_ms = 0
            return None
        self._silent_ms += WINDOW_MS
        if self._silent_ms < silence_ms:
            return None
        self.speaking, self._voiced_run = False, 0
        return "stopped"
