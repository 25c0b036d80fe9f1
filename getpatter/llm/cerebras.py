"""Cerebras' OpenAI-compatible chat completions as a pipeline LLM (spec LLM-4, LLM-6).

Cerebras serves the OpenAI chat-completions protocol under ``https://api.cerebras.ai/v1``; this
is the OpenAI adapter pointed there, with what Cerebras adds:

* Payload optimisation (Cerebras' "payload optimization"): the request body is sent as
  msgpack (``Content-Type: application/vnd.msgpack``) and/or gzip-compressed
  (``Content-Encoding: gzip``), encoded from the JSON body just before it is sent
  (:meth:`LLM._encode`). msgpack needs ``pip install getpatter[cerebras]``.
* Sampling and output options forwarded as they are: ``response_format``,
  ``parallel_tool_calls``, ``tool_choice``, ``seed``, ``top_p``, ``frequency_penalty``,
  ``presence_penalty``, ``stop``.
* One retry, before any of the answer has streamed: after a 429 it waits what the
  ``x-ratelimit-reset-*`` headers say (or ``retry-after``), after a 5xx or a refused
  connection an exponential backoff. A terminal failure raises a
  :class:`~getpatter.errors.PatterError`; an unknown model names valid ids.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from getpatter._validation import require_bool, require_int, require_number
from getpatter.errors import ConfigError, PatterError
from getpatter.llm._compat import compatible_base_url
from getpatter.llm._openai_wire import error_detail
from getpatter.llm.base import LLMCapabilities
from getpatter.llm.chat_context import ChatContext
from getpatter.llm.openai import LLM as OpenAILLM
from getpatter.providers.errors import status_error

__all__ = ["LLM", "CerebrasLLM"]

DEFAULT_BASE_URL = "https://api.cerebras.ai/v1"
MSGPACK_CONTENT_TYPE = "application/vnd.msgpack"
SUGGESTED_MODELS = (
    "gpt-oss-120b",
    "llama3.1-8b",
    "qwen-3-235b-a22b-instruct-2507",
    "llama-3.3-70b",
)
"""Model ids offered when Cerebras answers ``model_not_found``."""

_INSTALL = "pip install getpatter[cerebras]"
_GZIP_LEVEL = 6
"""zlib's balance of speed and size: a 50 kB prompt compresses in well under a millisecond."""
_TOOL_CHOICES = ("auto", "none", "required")
_RESPONSE_FORMATS = ("text", "json_object", "json_schema")
_MAX_STOP_SEQUENCES = 4
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


class LLM(OpenAILLM):
    """A Cerebras-hosted model (default ``gpt-oss-120b``) for pipeline mode.

    ``api_key`` falls back to ``CEREBRAS_API_KEY``; a missing key raises
    :class:`~getpatter.errors.ConfigError`. ``base_url`` is the OpenAI-compatible root (default
    ``https://api.cerebras.ai/v1``); without it, ``CEREBRAS_BASE_URL`` is read as the
    ``cerebras-cloud-sdk`` reads it (the host, ``/v1`` added). ``temperature`` (0 to 1.5),
    ``max_tokens`` (sent as ``max_completion_tokens``) and ``timeout`` are as for
    :class:`getpatter.llm.openai.LLM`.

    ``gzip_compression`` and ``msgpack_encoding`` (both on by default) shrink every request
    body; msgpack needs the ``msgpack`` package (``pip install getpatter[cerebras]``), without
    which ``msgpack_encoding=True`` is refused with that fix. The options ``response_format``
    (``{"type": "text" | "json_object" | "json_schema", ...}``), ``parallel_tool_calls``,
    ``tool_choice`` (``"auto"``, ``"none"``, ``"required"`` or
    ``{"type": "function", "function": {"name": ...}}``), ``seed``, ``top_p`` (0 to 1),
    ``frequency_penalty`` and ``presence_penalty`` (-2 to 2) and ``stop`` (a str or up to 4)
    are validated here and sent only when given. ``capabilities.parallel_tool_calls`` is True
    only with ``parallel_tool_calls=True`` (Cerebras lists gpt-oss-120b without them).

    A failure before the answer starts (HTTP 429, 5xx, a refused connection; not a timeout,
    which has already cost ``timeout`` seconds) is retried once: after
    :attr:`retry_base_delay` seconds, or what the rate-limit headers ask when that is at most
    :attr:`retry_max_wait` seconds (a longer wait fails at once).
    """

    name: ClassVar[str] = "cerebras_llm"
    provider: ClassVar[str] = "Cerebras"
    api_key_env: ClassVar[str] = "CEREBRAS_API_KEY"
    base_url_env: ClassVar[str] = "CEREBRAS_BASE_URL"
    """The environment variable read when no ``base_url`` is given (the host, as the SDK reads it)."""
    default_base_url: ClassVar[str | None] = DEFAULT_BASE_URL
    retry_base_delay: ClassVar[float] = 0.5
    """Seconds before the retry when the failure gives no hint (doubled per further attempt)."""
    retry_max_wait: ClassVar[float] = 3.0
    """The longest rate-limit wait honoured mid-call; a longer one fails at once."""
    retries: ClassVar[int] = 1
    """Attempts after the first (spec LLM-6: one)."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        model: str = "gpt-oss-120b",
        base_url: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        timeout: float = 30.0,
        gzip_compression: bool = True,
        msgpack_encoding: bool = True,
        response_format: Mapping[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        seed: int | None = None,
        top_p: float | None = None,
        frequency_penalty: float | None = None,
        presence_penalty: float | None = None,
        stop: str | Sequence[str] | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key,
            model=model,
            base_url=compatible_base_url(
                "CerebrasLLM", base_url, env_var=self.base_url_env, default=DEFAULT_BASE_URL
            ),
            temperature=temperature,
            max_tokens=max_tokens,
            timeout=timeout,
            max_retries=self.retries,
        )
        if self.temperature is not None and self.temperature > 1.5:
            raise ConfigError(f"temperature must be between 0 and 1.5, got {temperature!r}")
        self.gzip_compression = require_bool("gzip_compression", gzip_compression)
        self.msgpack_encoding = require_bool("msgpack_encoding", msgpack_encoding)
        if self.msgpack_encoding and importlib.util.find_spec("msgpack") is None:
            raise ConfigError(
                f"CerebrasLLM msgpack_encoding=True needs the msgpack package: {_INSTALL} "
                "(or pass msgpack_encoding=False)"
            )
        self._options: dict[str, Any] = {}
        if response_format is not None:
            self._options["response_format"] = _response_format(response_format)
        if parallel_tool_calls is not None:
            self._options["parallel_tool_calls"] = require_bool(
                "parallel_tool_calls", parallel_tool_calls
            )
        if tool_choice is not None:
            self._options["tool_choice"] = _tool_choice(tool_choice)
        if seed is not None:
            self._options["seed"] = require_int("seed", seed)
        if top_p is not None:
            self._options["top_p"] = _bounded("top_p", top_p, 0.0, 1.0)
        for penalty, value in (
            ("frequency_penalty", frequency_penalty),
            ("presence_penalty", presence_penalty),
        ):
            if value is not None:
                self._options[penalty] = _bounded(penalty, value, -2.0, 2.0)
        if stop is not None:
            self._options["stop"] = _stop(stop)
        # Cerebras lists gpt-oss-120b without parallel tool calls; parallel_tool_calls=True
        # is the caller saying their model has them.
        self.capabilities = LLMCapabilities(parallel_tool_calls=parallel_tool_calls is True)

    @property
    def options(self) -> dict[str, Any]:
        """The Cerebras-specific fields every request carries (a copy)."""
        return dict(self._options)

    def _request(self, context: ChatContext, tools: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        request = super()._request(context, tools)
        request.update(self._options)
        return request

    def _encode(self, body: dict[str, Any]) -> tuple[bytes, Mapping[str, str]]:
        """``body`` as msgpack and/or gzip (payload optimisation), else JSON."""
        if not (self.gzip_compression or self.msgpack_encoding):
            return super()._encode(body)
        return encode_body(
            body, gzip_body=self.gzip_compression, msgpack_body=self.msgpack_encoding
        )

    def _should_retry(self, status: int, headers: Mapping[str, str]) -> bool:
        """429 and 5xx are retried (once), except a 429 whose rate-limit hint is longer than
        :attr:`retry_max_wait`."""
        if status == 429:
            hint = rate_limit_wait(headers)
            return hint is None or hint <= self.retry_max_wait
        return status >= 500

    def _should_reconnect(self, *, timed_out: bool) -> bool:
        """A refused connection is retried; a timeout (``timeout`` seconds already spent) is not."""
        return not timed_out

    def _retry_delay(self, attempt: int, headers: Mapping[str, str] | None) -> float:
        """The rate-limit hint (at most :attr:`retry_max_wait`), else
        :attr:`retry_base_delay` doubled per further attempt."""
        backoff = self.retry_base_delay * 2.0 ** (attempt - 1)
        hint = None if headers is None else rate_limit_wait(headers)
        return backoff if hint is None else min(hint, self.retry_max_wait)

    def _status_error(self, status: int, headers: Mapping[str, str], body: bytes) -> PatterError:
        """Cerebras' error: an unknown model names valid ids; a 429 says how long to wait."""
        key_hint = f"api_key= or {self.api_key_env}"
        if status == 404 and _error_code(body) == "model_not_found":
            base = status_error(
                self.provider,
                404,
                error_detail(status, body),
                api_key=self._api_key,
                key_hint=key_hint,
            )
            ids = ", ".join(repr(m) for m in SUGGESTED_MODELS if m != self.model)
            return PatterError(
                f"{base.message}: Cerebras has no model {self.model!r} for this key; pass "
                f"model= one of the current ids, e.g. {ids}",
                code=base.code,
            )
        if status == 429:
            hint = rate_limit_wait(headers)
            return status_error(
                self.provider,
                429,
                error_detail(status, body),
                api_key=self._api_key,
                key_hint=key_hint,
                retry_after=None if hint is None else f"{hint:g}",
            )
        return super()._status_error(status, headers, body)


CerebrasLLM = LLM
"""Flat alias of :class:`LLM`."""


def encode_body(
    body: Mapping[str, Any], *, gzip_body: bool, msgpack_body: bool
) -> tuple[bytes, Mapping[str, str]]:
    """A chat-completions ``body`` encoded for Cerebras' payload optimisation, and the headers
    saying how: msgpack as ``application/vnd.msgpack``, gzip under ``Content-Encoding: gzip``,
    else plain JSON."""
    headers: dict[str, str] = {
        "Content-Type": MSGPACK_CONTENT_TYPE if msgpack_body else "application/json"
    }
    if msgpack_body:
        try:
            import msgpack  # type: ignore[import-untyped]
        except ImportError as exc:  # the constructor checked; the package went away since
            raise ConfigError(
                f"msgpack_encoding=True needs the msgpack package: {_INSTALL}"
            ) from exc
        payload: bytes = msgpack.packb(body, use_bin_type=True)
    else:
        payload = json.dumps(body).encode()
    if gzip_body:
        payload = gzip.compress(payload, compresslevel=_GZIP_LEVEL, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return payload, headers


def rate_limit_wait(headers: Mapping[str, str]) -> float | None:
    """Seconds until a rate limit lets requests through again, from the response ``headers``.

    Cerebras sends ``x-ratelimit-reset-<window>`` (seconds, e.g. ``tokens-minute: 11.38``)
    with ``x-ratelimit-remaining-<window>``; the wait is the longest reset among the windows
    left at 0 (the shortest reset when none says so). ``retry-after`` (seconds) counts too.
    Go-style durations (``2m59.5s``, ``250ms``) are read as well. None when nothing says.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    retry_after = _seconds(lowered.get("retry-after", ""))
    resets: dict[str, float] = {}
    for name, value in lowered.items():
        if name.startswith("x-ratelimit-reset-"):
            seconds = _seconds(value)
            if seconds is not None:
                resets[name.removeprefix("x-ratelimit-reset-")] = seconds
    if not resets:
        return retry_after
    exhausted = [
        seconds
        for window, seconds in resets.items()
        if (left := _seconds(lowered.get(f"x-ratelimit-remaining-{window}", ""))) is not None
        and left <= 0
    ]
    wait = max(exhausted) if exhausted else min(resets.values())
    return max(wait, retry_after or 0.0)


def _seconds(value: str) -> float | None:
    """``value`` as seconds: a plain number, or a Go duration such as ``1m2.5s``."""
    value = value.strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        parts = _DURATION_PART.findall(value)
        if not parts or "".join(n + u for n, u in parts) != value:
            return None
        scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
        number = sum(float(n) * scale[u] for n, u in parts)
    return number if math.isfinite(number) and number >= 0 else None


def _error_code(body: bytes) -> str | None:
    """The ``code`` of an error answer's JSON ``body`` (top level or under ``error``)."""
    try:
        data: object = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, Mapping) and isinstance(data.get("error"), Mapping):
        data = data["error"]
    code = data.get("code") if isinstance(data, Mapping) else None
    return code if isinstance(code, str) else None


def _bounded(param: str, value: object, low: float, high: float) -> float:
    number = require_number(param, value)
    if not low <= number <= high:
        raise ConfigError(f"{param} must be between {low:g} and {high:g}, got {value!r}")
    return number


def _response_format(value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping) or value.get("type") not in _RESPONSE_FORMATS:
        raise ConfigError(
            "response_format must be a dict with 'type' one of "
            f"{', '.join(map(repr, _RESPONSE_FORMATS))}, e.g. {{'type': 'json_object'}}; "
            f"got {value!r}"
        )
    if value["type"] == "json_schema" and not isinstance(value.get("json_schema"), Mapping):
        raise ConfigError(
            "response_format {'type': 'json_schema'} needs a 'json_schema' dict with 'name' "
            "and 'schema'"
        )
    return dict(value)


def _tool_choice(value: object) -> str | dict[str, Any]:
    if isinstance(value, str) and value in _TOOL_CHOICES:
        return value
    function = value.get("function") if isinstance(value, Mapping) else None
    if (
        isinstance(value, Mapping)
        and value.get("type") == "function"
        and isinstance(function, Mapping)
        and isinstance(function.get("name"), str)
        and function["name"]
    ):
        return {"type": "function", "function": {"name": function["name"]}}
    raise ConfigError(
        f"tool_choice must be one of {', '.join(map(repr, _TOOL_CHOICES))} or "
        f"{{'type': 'function', 'function': {{'name': ...}}}}, got {value!r}"
    )


def _stop(value: object) -> str | list[str]:
    """A stop sequence or up to 4 of them; whitespace (``"\\n\\n"``) counts, "" does not."""
    if isinstance(value, str) and value:
        return value
    if (
        isinstance(value, list | tuple)
        and 1 <= len(value) <= _MAX_STOP_SEQUENCES
        and all(isinstance(item, str) and item for item in value)
    ):
        return list(value)
    raise ConfigError(
        f"stop must be a non-empty str or a list of 1 to {_MAX_STOP_SEQUENCES} of them, "
        f"got {value!r}"
    )
