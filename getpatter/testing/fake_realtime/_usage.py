"""Token usage for ``response.done``, counted the way the real API bills it.

The whole conversation so far is the input of every response: the caller audio heard (10 audio
tokens a second), plus the instructions and every earlier item's text (a token per 4
characters). What the previous response already read is reported as cached. The output is the
audio sent (20 tokens a second) plus the text's tokens.
"""

from __future__ import annotations

import math
from typing import Any

_INPUT_MS_PER_TOKEN = 100
_OUTPUT_MS_PER_TOKEN = 50


def text_tokens(text: str) -> int:
    """About one token per 4 characters, rounded up."""
    return -(-len(text) // 4)


class UsageMeter:
    """Counts one connection's usage, remembering what the previous response read."""

    def __init__(self) -> None:
        self._previous_input = (0, 0)

    def usage(
        self, *, input_texts: list[str], heard_ms: float, output_text: str, output_audio_ms: int
    ) -> dict[str, Any]:
        """The ``usage`` object of one response."""
        text_in = sum(text_tokens(text) for text in input_texts)
        audio_in = math.ceil(heard_ms / _INPUT_MS_PER_TOKEN)
        cached_text = min(self._previous_input[0], text_in)
        cached_audio = min(self._previous_input[1], audio_in)
        self._previous_input = (text_in, audio_in)
        text_out = text_tokens(output_text)
        audio_out = math.ceil(output_audio_ms / _OUTPUT_MS_PER_TOKEN)
        input_tokens, output_tokens = text_in + audio_in, text_out + audio_out
        return {
            "total_tokens": input_tokens + output_tokens,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "input_token_details": {
                "text_tokens": text_in,
                "audio_tokens": audio_in,
                "image_tokens": 0,
                "cached_tokens": cached_text + cached_audio,
                "cached_tokens_details": {
                    "text_tokens": cached_text,
                    "audio_tokens": cached_audio,
                    "image_tokens": 0,
                },
            },
            "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out},
        }
