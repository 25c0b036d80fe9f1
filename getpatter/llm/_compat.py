"""What the OpenAI-compatible LLMs (Groq, Cerebras) share: where their API lives."""

from __future__ import annotations

from getpatter._env import env_fallback
from getpatter.providers.urls import base_url

__all__ = ["compatible_base_url"]


def compatible_base_url(owner: str, given: str | None, *, env_var: str, default: str) -> str:
    """The OpenAI-compatible API root of ``owner``: ``given``, else ``env_var``, else ``default``.

    ``given`` is the root itself (``https://api.groq.com/openai/v1``). ``env_var`` is read the
    way the vendor's own SDK reads it: the host only (``GROQ_BASE_URL=https://api.groq.com``), so
    the path of ``default`` (``/openai/v1``) is added unless the value already ends with it.
    """
    if given is not None:
        return base_url(owner, given, env_var=env_var, default=default)
    path = "/" + default.split("://", 1)[1].partition("/")[2].strip("/")
    from_env = env_fallback("", env_var).rstrip("/")
    if from_env and not from_env.endswith(path):
        from_env += path
    return base_url(owner, from_env or None, env_var=env_var, default=default)
