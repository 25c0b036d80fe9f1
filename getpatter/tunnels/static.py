"""Tunnels the user runs: Patter trusts the hostname as given and manages no process."""

from __future__ import annotations

from dataclasses import dataclass

from getpatter._hostname import require_hostname

__all__ = ["Ngrok", "Static"]


@dataclass(frozen=True)
class Static:
    """An existing public hostname (no scheme) that forwards to the embedded server."""

    hostname: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "hostname", require_hostname("Static hostname", self.hostname))


@dataclass(frozen=True)
class Ngrok(Static):
    """An ngrok hostname: you run ``ngrok http 8000`` yourself. Behaves like :class:`Static`."""
