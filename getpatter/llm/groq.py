"""Groq's OpenAI-compatible chat completions as a pipeline LLM (spec LLM-4).

Groq serves the OpenAI chat-completions protocol under ``https://api.groq.com/openai/v1``, so
this is the OpenAI adapter pointed there: same streaming, tool calls and usage, same error
mapping, the same lean client (no SDK; the tests hold the ``groq`` SDK against the same fake).
"""

from __future__ import annotations

from typing import ClassVar

from getpatter.llm._compat import compatible_base_url
from getpatter.llm.openai import LLM as OpenAILLM

__all__ = ["LLM", "GroqLLM"]

DEFAULT_BASE_URL = "https://api.groq.com/openai/v1"


class LLM(OpenAILLM):
    """A Groq-hosted model (default ``llama-3.3-70b-versatile``) for pipeline mode.

    ``api_key`` falls back to ``GROQ_API_KEY``; a missing key raises
    :class:`~getpatter.errors.ConfigError`. ``base_url`` is the OpenAI-compatible root (default
    ``https://api.groq.com/openai/v1``); without it, ``GROQ_BASE_URL`` is read as the ``groq``
    SDK reads it (the host, ``/openai/v1`` added). The other options are
    :class:`getpatter.llm.openai.LLM`'s: ``temperature``, ``max_tokens`` (sent as
    ``max_completion_tokens``), ``timeout`` and ``max_retries`` (0: no silent retries).
    """

    name: ClassVar[str] = "groq_llm"
    provider: ClassVar[str] = "Groq"
    api_key_env: ClassVar[str] = "GROQ_API_KEY"
    base_url_env: ClassVar[str] = "GROQ_BASE_URL"
    """The environment variable read when no ``base_url`` is given (the host, as the SDK reads it)."""
    default_base_url: ClassVar[str | None] = DEFAULT_BASE_URL

    def __init__(
        self,
        *,
        api_key: str | None = None,
        model: str = "llama-3.3-70b-versatile",
        base_url: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        timeout: float = 30.0,
        max_retries: int = 0,
    ) -> None:
        super().__init__(
            api_key=api_key,
            model=model,
            base_url=compatible_base_url(
                "GroqLLM", base_url, env_var=self.base_url_env, default=DEFAULT_BASE_URL
            ),
            temperature=temperature,
            max_tokens=max_tokens,
            timeout=timeout,
            max_retries=max_retries,
        )


GroqLLM = LLM
"""Flat alias of :class:`LLM`."""
