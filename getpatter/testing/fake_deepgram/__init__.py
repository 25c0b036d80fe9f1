"""A loopback fake of Deepgram's streaming speech-to-text API that speaks its real protocol.

:class:`FakeDeepgramServer` serves ``ws://127.0.0.1:<port>/v1/listen?...`` and "hears" the
n-th caller utterance of a connection as ``scenario.caller_lines[n]`` (``"hello"`` past the end
of the script, or with no script).

Audio arrives as binary frames in the announced ``encoding`` (``mulaw``, ``alaw`` or
``linear16``) at ``sample_rate``. An energy VAD runs over 20 ms windows: a window is voiced when
its RMS reaches 500 on the int16 scale (about -36 dBFS); speech starts after 3 voiced windows in
a row. Everything runs on audio time, not wall time, so audio may be sent faster than real time.

- Speech starts: ``SpeechStarted`` (with ``vad_events=true``).
- Every 200 ms of speech: an interim ``Results`` (``interim_results=true``) whose transcript is a
  prefix of the line, one more word each time.
- ``endpointing`` ms of silence after speech: the final ``Results`` (``is_final`` and
  ``speech_final``) with the whole line. With ``endpointing=false`` the final comes after 300 ms
  of silence with ``speech_final=false``.
- ``utterance_end_ms`` of audio after the last voiced window following a final:
  ``UtteranceEnd``, unless speech started again.
- ``Finalize``: the current utterance's final at once, ``from_finalize=true`` and
  ``speech_final=false`` (an empty one when nothing is pending); speech that goes on counts as
  the next utterance.
- ``Configure``: ``ConfigureSuccess`` (``keyterms`` echoed when replaced; the fake counts
  words as tokens for the 500-token limit), or ``ConfigureFailure`` for keyterms on a model
  that is not Nova-3 or over the limit; the stream goes on either way.
- ``KeepAlive``: accepted. ``CloseStream``: the pending final, ``Metadata`` (``duration`` = audio
  seconds received), then a normal close. Any other message: an ``Error`` (``variant``
  ``SchemaError``, ``message`` the text received), then close 1011.
"""

from getpatter.testing.fake_deepgram.records import FakeDeepgramSession
from getpatter.testing.fake_deepgram.server import FakeDeepgramServer

__all__ = ["FakeDeepgramServer", "FakeDeepgramSession"]
