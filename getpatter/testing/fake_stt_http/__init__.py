"""A loopback fake of OpenAI's ``/v1/audio/transcriptions`` endpoint (Whisper, gpt-4o-transcribe).

:class:`FakeTranscriptionServer` takes the multipart upload the ``openai`` SDK sends, checks
the WAV file in it, and answers the n-th utterance with ``scenario.caller_lines[n]`` in the
``json``, ``verbose_json`` or ``text`` shape; every request is kept as a
:class:`FakeTranscriptionRequest`.
"""

from getpatter.testing.fake_stt_http.records import FakeTranscriptionRequest
from getpatter.testing.fake_stt_http.server import FakeTranscriptionServer

__all__ = ["FakeTranscriptionRequest", "FakeTranscriptionServer"]
