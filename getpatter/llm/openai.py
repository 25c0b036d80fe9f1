"""OpenAI chat completions as a pipeline LLM: streamed text and tool calls (spec LLM-1).

Each turn is one ``POST {base_url}/chat/completions`` with ``stream: true``, read as server-sent
events with plain ``json`` (:mod:`getpatter.llm._openai_wire`). Text deltas go out as they
arrive; a tool call streams as argument fragments under one ``index`` and goes out whole, once
the next call starts or the stream ends. The last chunk of the stream carries the usage
(``stream_options={"include_usage": True}``).

A lean client on aiohttp rather than the official ``openai`` SDK: this request is on every
turn's critical path, twice (the final transcript to the request, the first token to the TTS
request), and the SDK spent ~2-4 ms of CPU per turn on it (rewriting the request through its
typed-dict transform, which grows with the conversation, then a pydantic model per streamed
chunk, over httpx) where this client spends ~0.2 ms; its aiohttp transport alone saved almost
nothing (``bench/llm_client.py``, docs/decisions.md "LLM hot path"). The SDK stays the
reference: the tests hold it and this client against the same fake server.

OpenAI-compatible APIs (Groq, Cerebras, a local server) work through ``base_url``; subclasses
for them set :attr:`LLM.default_base_url` and the key's environment variable, and may change
the request fields (:meth:`LLM._request`, including the SDK's ``extra_body``/``extra_headers``/
``extra_query``), the headers (:meth:`LLM._headers`), the body's encoding (:meth:`LLM._encode`),
the retry policy (:meth:`LLM._should_retry`, :meth:`LLM._should_reconnect`,
:meth:`LLM._retry_delay`) and the error for a refused request (:meth:`LLM._status_error`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar

import aiohttp

from getpatter import __version__
from getpatter._env import env_secret
from getpatter._loop_bound import LoopBoundClient
from getpatter._proxies import env_proxy
from getpatter._validation import require_int, require_number, require_str
from getpatter.errors import ConfigError, InputValidationError, PatterError
from getpatter.llm._openai_wire import (
    ChunkReader,
    error_detail,
    retry_delay,
    should_retry,
    wire_request,
)
from getpatter.llm._tools import tool_specs
from getpatter.llm.base import LLMCapabilities, LLMChunk
from getpatter.llm.chat_context import ChatContext
from getpatter.providers.errors import connection_error, status_error
from getpatter.providers.sse import SSEDecoder
from getpatter.providers.urls import base_url as resolve_base_url

__all__ = ["LLM", "OpenAILLM"]

logger = logging.getLogger("getpatter.llm.openai")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
"""OpenAI's API, used when neither ``base_url`` nor ``OPENAI_BASE_URL`` is set."""
_DONE = b"[DONE]"
_DRAIN_S = 0.1
"""The longest wait for the rest of the body after ``[DONE]`` (the SDK's)."""
_JSON: Mapping[str, str] = {"Content-Type": "application/json"}


class LLM:
    """A chat-completions model (default ``gpt-4o-mini``) for pipeline mode.

    ``api_key`` falls back to ``OPENAI_API_KEY``; a missing key raises :class:`ConfigError`.
    ``base_url`` points at another endpoint (default: ``OPENAI_BASE_URL`` when set, else
    ``https://api.openai.com/v1``, as the openai SDK chooses). ``OPENAI_ORG_ID`` and
    ``OPENAI_PROJECT_ID``, when set, are sent as the SDK sends them. ``temperature`` and
    ``max_tokens`` (sent as ``max_completion_tokens``) are left to the model when ``None``.

    ``timeout`` bounds the connection and every wait for the next piece of the stream.
    ``max_retries`` is 0: the pipeline decides what a failure means (a fallback provider, a
    spoken apology) instead of a client silently retrying while the caller waits. Above 0, a
    request that failed before its answer started (a network error, 408, 409, 429, 5xx) is
    retried as the SDK does: after the server's ``retry-after``, else a backoff from 0.5 s.

    One instance serves every call, sequentially and concurrently: it shares one connection
    pool (created on first use in each event loop, closed by :meth:`close`); each
    :meth:`stream` keeps its own state.
    """

    name: ClassVar[str] = "openai_llm"
    """The provider's key in the price table."""
    provider: ClassVar[str] = "OpenAI"
    """The provider's name in error messages."""
    api_key_env: ClassVar[str] = "OPENAI_API_KEY"
    """The environment variable read when no ``api_key`` is given."""
    default_base_url: ClassVar[str | None] = None
    """The endpoint when ``base_url`` is not given; ``None``: ``OPENAI_BASE_URL``, else
    OpenAI's."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        model: str = "gpt-4o-mini",
        base_url: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        timeout: float = 30.0,
        max_retries: int = 0,
    ) -> None:
        key = env_secret(require_str("api_key", api_key or ""), self.api_key_env)
        if not key:
            raise ConfigError(
                f"{self.provider} LLM needs an API key: pass api_key=... or set {self.api_key_env}"
            )
        self._api_key = key
        self.model = require_str("model", model, allow_empty=False)
        if base_url is not None and not require_str("base_url", base_url).startswith(
            ("http://", "https://")
        ):
            raise InputValidationError(
                f"base_url={base_url!r} must be an http(s) URL such as 'https://api.openai.com/v1'"
            )
        self.base_url = base_url if base_url is not None else self.default_base_url
        self.temperature = None if temperature is None else _temperature(temperature, 2.0)
        self.max_tokens = (
            None if max_tokens is None else require_int("max_tokens", max_tokens, minimum=1)
        )
        self.timeout = require_number("timeout", timeout)
        if self.timeout <= 0:
            raise InputValidationError(f"timeout must be > 0 seconds, got {timeout!r}")
        self.max_retries = require_int("max_retries", max_retries, minimum=0, maximum=10)
        self.capabilities = LLMCapabilities()
        self._client: LoopBoundClient[_Pool] = LoopBoundClient(self._new_client)
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        """The wait before a retry (tests replace it)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r})"

    async def stream(
        self, context: ChatContext, tools: Sequence[Mapping[str, Any]] = ()
    ) -> AsyncIterator[LLMChunk]:
        """Stream the next assistant message for ``context``, offering ``tools``.

        Yields ``text`` chunks, one ``tool_call`` chunk per complete call, then ``done`` with
        the usage. Raises :class:`~getpatter.errors.RateLimitError` (HTTP 429),
        :class:`~getpatter.errors.AuthenticationError` (401/403),
        :class:`~getpatter.errors.PatterConnectionError` (5xx, network, timeout) or
        :class:`~getpatter.errors.PatterError`. Closing the iterator early, or cancelling the
        task reading it, closes the HTTP stream.
        """
        body, extra_headers, query = wire_request(self._request(context, tools))
        payload, headers = self._encode(body)
        if extra_headers:
            headers = {**headers, **extra_headers}
        pool = self._client.get()
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "POST %s (model %s, %d messages, %d tools, %d bytes)",
                pool.url,
                body.get("model"),
                len(body.get("messages") or ()),
                len(body.get("tools") or ()),
                len(payload),
            )
        response = await self._open(pool, payload, headers, query)
        reader = ChunkReader(self.provider, self._api_key)
        decoder = SSEDecoder()
        ended = False
        try:
            async for line in response.content:
                event = decoder.line(line)
                if event is None:
                    continue
                if event[1].startswith(_DONE):
                    ended = True
                    break
                for chunk in reader.read(event[1]):
                    yield chunk
            if ended:
                await _drain(response)
            else:
                tail = decoder.close()
                if tail is not None and not tail[1].startswith(_DONE):
                    for chunk in reader.read(tail[1]):
                        yield chunk
            ended = True
        except TimeoutError as exc:
            raise connection_error(self.provider, timed_out=True, timeout=self.timeout) from exc
        except aiohttp.ClientError as exc:
            raise connection_error(self.provider, timed_out=False, timeout=self.timeout) from exc
        finally:
            if ended:
                response.release()  # back to the pool
            else:
                response.close()  # stopped early or failed: the connection cannot be reused
        for chunk in reader.finish():
            yield chunk
        yield LLMChunk(type="done", usage=reader.usage)

    async def close(self) -> None:
        """Close the shared connection pool; a later :meth:`stream` opens a new one."""
        await self._client.close()

    def _request(self, context: ChatContext, tools: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The ``chat.completions.create`` arguments for one turn: the JSON body, plus the
        SDK's ``extra_body``, ``extra_headers`` and ``extra_query`` if a subclass adds them."""
        if not isinstance(context, ChatContext):
            raise ConfigError(f"context must be a ChatContext, got {type(context).__name__}")
        request: dict[str, Any] = {
            "model": self.model,
            "messages": context.to_openai(),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        specs = tool_specs(tools)
        if specs:
            request["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": spec.name,
                        "description": spec.description,
                        "parameters": spec.parameters,
                    },
                }
                for spec in specs
            ]
        if self.temperature is not None:
            request["temperature"] = self.temperature
        if self.max_tokens is not None:
            request["max_completion_tokens"] = self.max_tokens
        return request

    def _headers(self) -> dict[str, str]:
        """The headers of every request (a subclass may add its own)."""
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Accept": "application/json",
            "User-Agent": f"getpatter/{__version__}",
        }
        if self.default_base_url is None:  # OpenAI itself, or a server standing in for it
            for header, env_var in (
                ("OpenAI-Organization", "OPENAI_ORG_ID"),
                ("OpenAI-Project", "OPENAI_PROJECT_ID"),
            ):
                value = os.environ.get(env_var)
                if value:
                    headers[header] = value
        return headers

    def _encode(self, body: dict[str, Any]) -> tuple[bytes, Mapping[str, str]]:
        """The request ``body`` as sent, and the headers describing it (``Content-Type``; a
        subclass may compress it or use another encoding)."""
        return json.dumps(body).encode(), _JSON

    def _should_retry(self, status: int, headers: Mapping[str, str]) -> bool:
        """Whether an answer of ``status`` is retried (when ``max_retries`` allows): 408, 409,
        429 and 5xx unless ``x-should-retry`` says otherwise, as the openai SDK decides."""
        return should_retry(status, headers)

    def _should_reconnect(self, *, timed_out: bool) -> bool:
        """Whether a request that got no answer is retried (when ``max_retries`` allows):
        ``timed_out`` after ``timeout`` seconds of silence, else a network error. Always, as
        the openai SDK decides."""
        return True

    def _retry_delay(self, attempt: int, headers: Mapping[str, str] | None) -> float:
        """Seconds before retry number ``attempt`` (from 1); ``headers`` are the failed
        answer's (``None`` after a network error): its ``retry-after``, else a backoff."""
        return retry_delay(attempt, headers)

    async def _open(
        self,
        pool: _Pool,
        payload: bytes,
        headers: Mapping[str, str],
        query: Mapping[str, str] | None,
    ) -> aiohttp.ClientResponse:
        """POST the request; the response once its status is a success (retried as the
        class docstring says), else the mapped error."""
        attempt = 0
        while True:
            try:
                response = await pool.session.post(
                    pool.url, data=payload, headers=headers, params=query
                )
            except (TimeoutError, aiohttp.ClientError) as exc:
                timed_out = isinstance(exc, TimeoutError)
                if attempt < self.max_retries and self._should_reconnect(timed_out=timed_out):
                    attempt += 1
                    await self._wait(attempt, None, type(exc).__name__)
                    continue
                raise connection_error(
                    self.provider, timed_out=timed_out, timeout=self.timeout
                ) from exc
            if response.status < 400:
                return response
            try:
                answer = await response.read()
            except (TimeoutError, aiohttp.ClientError):
                answer = b""
            finally:
                response.release()
            status, answer_headers = response.status, response.headers
            if attempt < self.max_retries and self._should_retry(status, answer_headers):
                attempt += 1
                await self._wait(attempt, answer_headers, f"HTTP {status}")
                continue
            raise self._status_error(status, answer_headers, answer)

    async def _wait(self, attempt: int, headers: Mapping[str, str] | None, failure: str) -> None:
        """Wait before retry number ``attempt`` after ``failure``, saying so in the log."""
        delay = self._retry_delay(attempt, headers)
        logger.warning("%s failed (%s); retrying in %.2f s", self.provider, failure, delay)
        await self._sleep(delay)

    def _status_error(self, status: int, headers: Mapping[str, str], body: bytes) -> PatterError:
        """The error for a refused request: HTTP ``status`` with ``headers`` and ``body``."""
        return status_error(
            self.provider,
            status,
            error_detail(status, body),
            api_key=self._api_key,
            key_hint=f"api_key= or {self.api_key_env}",
            retry_after=headers.get("retry-after"),
        )

    def _new_client(self) -> _Pool:
        url = resolve_base_url(
            f"{self.provider} LLM",
            self.base_url,
            env_var="OPENAI_BASE_URL",
            default=DEFAULT_BASE_URL,
        )
        session = aiohttp.ClientSession(
            headers=self._headers(),
            # Every call streaming at once needs its own connection; the provider enforces its
            # own limits (HTTP 429).
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(total=None, connect=self.timeout, sock_read=self.timeout),
            proxy=env_proxy(url),
        )
        return _Pool(session, f"{url}/chat/completions")


OpenAILLM = LLM
"""Flat alias of :class:`LLM`."""


class _Pool:
    """One event loop's connection pool and the endpoint it posts to."""

    __slots__ = ("session", "url")

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    async def close(self) -> None:
        await self.session.close()


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read what follows ``[DONE]`` (normally just the body's end, already here) so the
    connection can serve the next turn; a server that keeps the body open loses it instead."""
    content = response.content
    if content.is_eof():
        return
    with contextlib.suppress(TimeoutError, aiohttp.ClientError):
        async with asyncio.timeout(_DRAIN_S):
            while await content.readany():
                pass


def _temperature(value: object, maximum: float) -> float:
    temperature = require_number("temperature", value, minimum=0)
    if temperature > maximum:
        raise ConfigError(f"temperature must be between 0 and {maximum:g}, got {value!r}")
    return temperature
