"""End-to-end (speech-to-speech) engines. Each module's class is also exported flat."""

from getpatter.engines import elevenlabs, openai

__all__ = ["elevenlabs", "openai"]
