"""Gemini as a pipeline LLM: streamed text and function calls (spec LLM-1, LLM-7).

The adapter drives the official ``google-genai`` SDK
(``client.aio.models.generate_content_stream``) against the Gemini API, or Vertex AI with
``vertexai=True``. Each streamed ``GenerateContentResponse`` gives its ``text`` parts as text
chunks and its ``functionCall`` parts (which Gemini sends whole) as tool calls; the last
``usageMetadata`` is the usage. The conversation is rendered by
:meth:`~getpatter.llm.chat_context.ChatContext.to_gemini`, the system prompt going in
``system_instruction``.

Needs the ``google`` extra: ``pip install "getpatter[google]"``.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from typing import Any, ClassVar

import aiohttp

try:
    from google import genai
    from google.auth import exceptions as auth_errors
    from google.auth.credentials import Credentials
    from google.genai import errors as genai_errors
    from google.genai import types
except ImportError as exc:
    raise ImportError(
        'GoogleLLM needs the google-genai package: pip install "getpatter[google]"'
    ) from exc

from getpatter._env import env_secret
from getpatter._loop_bound import LoopBoundClient
from getpatter._validation import require_bool, require_int, require_number, require_str
from getpatter.errors import (
    AuthenticationError,
    ConfigError,
    ErrorCode,
    InputValidationError,
    PatterError,
)
from getpatter.llm._tools import tool_specs
from getpatter.llm.base import LLMCapabilities, LLMChunk, LLMUsage
from getpatter.llm.chat_context import ChatContext, ToolCall
from getpatter.providers import urls
from getpatter.providers.errors import body_message, connection_error, status_error
from getpatter.providers.transport import TIMEOUT_ERRORS, TRANSPORT_ERRORS

__all__ = ["LLM", "GoogleLLM"]

GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"
"""The Gemini API's root."""
_BAD_KEY_REASONS = frozenset({"API_KEY_INVALID"})
"""``ErrorInfo`` reasons of the HTTP 400 the Gemini API answers a wrong key with."""
_MAX_SIGNATURES = 1024
"""Thought signatures kept for the function calls they came with (oldest dropped first)."""
_NETWORK_ERRORS: tuple[type[Exception], ...] = (
    aiohttp.ClientError,
    auth_errors.TransportError,
    *TRANSPORT_ERRORS,
)
"""What the SDK's HTTP clients (aiohttp when installed, else httpx) raise on network failures."""


class LLM:
    """A Gemini model (default ``gemini-2.5-flash``) for pipeline mode.

    **Gemini API** (default): ``api_key`` falls back to ``GEMINI_API_KEY``, then
    ``GOOGLE_API_KEY``; a missing key raises :class:`ConfigError`. ``base_url`` points at another
    endpoint (default: ``GOOGLE_GEMINI_BASE_URL``, which the SDK also reads, else
    ``https://generativelanguage.googleapis.com``).

    **Vertex AI** (``vertexai=True``): ``project`` (else ``GOOGLE_CLOUD_PROJECT``) and
    ``location`` (else ``GOOGLE_CLOUD_LOCATION``, else ``"global"``) name the endpoint, and
    Google credentials authenticate: ``credentials`` (a ``google.auth`` ``Credentials``), else
    the Application Default Credentials, looked up at the first request (missing or refused
    ones raise :class:`AuthenticationError`). Without a project, ``api_key=`` selects Vertex AI
    express mode instead; the Gemini keys of the environment are not used for Vertex AI.
    ``base_url`` defaults to ``GOOGLE_VERTEX_BASE_URL``, else the SDK's regional endpoint.

    ``temperature``, ``max_output_tokens`` and ``thinking_budget`` (tokens of thinking; 0 turns
    it off on 2.5 Flash, -1 lets the model decide) are sent when given. Usage counts thinking
    tokens as output, as Google bills them. ``timeout`` bounds the connection and every wait
    for the next piece of the stream; ``max_retries`` is 0, so the pipeline decides what a
    failure means instead of the SDK retrying while the caller waits.

    One instance serves every call, sequentially and concurrently: it shares one SDK client
    (created on first use, closed by :meth:`close`). Gemini gives function calls no id, so the
    adapter makes one (``call_<hex>``); the ``thoughtSignature`` Gemini attaches to a function
    call is kept (for the last 1024 calls) and sent back with that call in later turns, as the
    API asks.
    """

    name: ClassVar[str] = "google_llm"
    """The provider's key in the price table."""
    provider: ClassVar[str] = "Google Gemini"
    """The provider's name in error messages."""
    api_key_env: ClassVar[str] = "GEMINI_API_KEY"
    """The environment variable read when no ``api_key`` is given."""
    api_key_env_fallback: ClassVar[str] = "GOOGLE_API_KEY"
    """Read when ``api_key_env`` is not set either."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        model: str = "gemini-2.5-flash",
        vertexai: bool = False,
        project: str | None = None,
        location: str | None = None,
        credentials: Credentials | None = None,
        base_url: str | None = None,
        temperature: float | None = None,
        max_output_tokens: int | None = None,
        thinking_budget: int | None = None,
        timeout: float = 30.0,
        max_retries: int = 0,
    ) -> None:
        self.model = require_str("model", model, allow_empty=False)
        self.vertexai = require_bool("vertexai", vertexai)
        given_key = require_str("api_key", api_key or "")
        if credentials is not None and not isinstance(credentials, Credentials):
            raise ConfigError(
                "credentials must be a google.auth.credentials.Credentials, e.g. from "
                f"google.auth.default(), got {type(credentials).__name__}"
            )
        self._credentials = credentials
        self.project: str | None = None
        self.location: str | None = None
        if self.vertexai:
            self._api_key = self._vertex_auth(given_key, project, location, credentials)
            self.base_url = self._vertex_base_url(base_url)
        else:
            if project is not None or location is not None or credentials is not None:
                raise ConfigError(
                    "project=, location= and credentials= are for Vertex AI: pass "
                    "vertexai=True, or leave them out to use the Gemini API with an API key"
                )
            self._api_key = env_secret(given_key, self.api_key_env, self.api_key_env_fallback)
            if not self._api_key:
                raise ConfigError(
                    f"{self.provider} LLM needs an API key: pass api_key=... or set "
                    f"{self.api_key_env} (or {self.api_key_env_fallback}); for Vertex AI pass "
                    "vertexai=True"
                )
            self.base_url = urls.base_url(
                "GoogleLLM", base_url, env_var="GOOGLE_GEMINI_BASE_URL", default=GEMINI_BASE_URL
            )
        self.temperature = (
            None if temperature is None else require_number("temperature", temperature, minimum=0)
        )
        self.max_output_tokens = (
            None
            if max_output_tokens is None
            else require_int("max_output_tokens", max_output_tokens, minimum=1)
        )
        self.thinking_budget = (
            None
            if thinking_budget is None
            else require_int("thinking_budget", thinking_budget, minimum=-1)
        )
        self.timeout = require_number("timeout", timeout)
        if self.timeout <= 0:
            raise InputValidationError(f"timeout must be > 0 seconds, got {timeout!r}")
        self.max_retries = require_int("max_retries", max_retries, minimum=0, maximum=10)
        self.capabilities = LLMCapabilities()
        self._signatures: OrderedDict[str, bytes] = OrderedDict()
        self._client = LoopBoundClient(self._new_client)

    def __repr__(self) -> str:
        where = f", vertexai=True, project={self.project!r}" if self.vertexai else ""
        return f"{type(self).__name__}(model={self.model!r}{where})"

    async def stream(
        self, context: ChatContext, tools: Sequence[Mapping[str, Any]] = ()
    ) -> AsyncIterator[LLMChunk]:
        """Stream the next assistant message for ``context``, offering ``tools``.

        Yields ``text`` chunks, one ``tool_call`` chunk per ``functionCall`` part, then ``done``
        with the usage. Raises :class:`~getpatter.errors.RateLimitError` (HTTP 429
        ``RESOURCE_EXHAUSTED``), :class:`~getpatter.errors.AuthenticationError` (401/403, a
        wrong API key, missing Vertex AI credentials),
        :class:`~getpatter.errors.PatterConnectionError` (5xx, network, a dropped stream,
        timeout) or :class:`~getpatter.errors.PatterError`. Closing the iterator early, or
        cancelling the task reading it, closes the HTTP stream.
        """
        contents, config = self._request(context, tools)
        sdk = self._client.get().sdk
        stream = await sdk.aio.models.generate_content_stream(
            model=self.model, contents=contents, config=config
        )
        response = _ResponseState(self)
        # The next piece is always being read in a task of its own, so that stopping early
        # can cancel that read inside the SDK, which closes the HTTP stream at once.
        fetch = _fetch(stream)
        try:
            while True:
                async with asyncio.timeout(self.timeout):
                    piece = await fetch
                if piece is None:
                    break
                fetch = _fetch(stream)
                for chunk in response.read(piece):
                    yield chunk
        except genai_errors.APIError as exc:
            raise self._error(exc) from exc
        except auth_errors.TransportError as exc:
            raise connection_error(self.provider, timed_out=False, timeout=self.timeout) from exc
        except auth_errors.GoogleAuthError as exc:
            raise AuthenticationError(
                f"{self.provider} on Vertex AI found no usable Google credentials "
                f"({type(exc).__name__}); pass credentials=... or run 'gcloud auth "
                "application-default login'"
            ) from exc
        except TimeoutError as exc:
            raise connection_error(self.provider, timed_out=True, timeout=self.timeout) from exc
        except _NETWORK_ERRORS as exc:
            timed_out = isinstance(exc, TIMEOUT_ERRORS)
            raise connection_error(
                self.provider, timed_out=timed_out, timeout=self.timeout
            ) from exc
        finally:
            await _stop(fetch, stream)
        yield LLMChunk(type="done", usage=response.usage())

    async def close(self) -> None:
        """Close the shared SDK client; a later :meth:`stream` opens a new one."""
        await self._client.close()

    def _vertex_auth(
        self,
        api_key: str,
        project: str | None,
        location: str | None,
        credentials: Credentials | None,
    ) -> str:
        """Check the Vertex AI settings; the API key of express mode, or ""."""
        if api_key:
            if project is not None or credentials is not None:
                raise ConfigError(
                    "Vertex AI takes api_key= (express mode) or project= with Google "
                    "credentials, not both: leave out one of them"
                )
            self.location = None if location is None else require_str("location", location)
            return env_secret(api_key)
        self.project = (
            require_str("project", project or "")
            or os.environ.get("GOOGLE_CLOUD_PROJECT", "").strip()
        )
        if not self.project:
            raise ConfigError(
                f"{self.provider} LLM on Vertex AI needs a Google Cloud project: pass "
                "project=... or set GOOGLE_CLOUD_PROJECT (or pass api_key=... for Vertex AI "
                "express mode)"
            )
        self.location = (
            require_str("location", location or "")
            or os.environ.get("GOOGLE_CLOUD_LOCATION", "").strip()
            or "global"
        )
        return ""

    def _vertex_base_url(self, base_url: str | None) -> str | None:
        """``base_url``, else ``GOOGLE_VERTEX_BASE_URL``, else None (the SDK's endpoint)."""
        if base_url is None and not os.environ.get("GOOGLE_VERTEX_BASE_URL", "").strip():
            return None
        return urls.base_url(
            "GoogleLLM",
            base_url,
            env_var="GOOGLE_VERTEX_BASE_URL",
            default="https://aiplatform.googleapis.com",
        )

    def _request(
        self, context: ChatContext, tools: Sequence[Mapping[str, Any]]
    ) -> tuple[list[types.Content], types.GenerateContentConfig]:
        """The ``generate_content_stream`` contents and config for one turn."""
        if not isinstance(context, ChatContext):
            raise ConfigError(f"context must be a ChatContext, got {type(context).__name__}")
        system, contents = context.to_gemini()
        if not contents:
            raise ConfigError(
                "Gemini needs at least one user or assistant message: add the caller's words "
                "with context.add_user(...) first"
            )
        for content in contents:
            for part in content["parts"]:
                call = part.get("functionCall")
                if call is not None and call["id"] in self._signatures:
                    part["thoughtSignature"] = self._signatures[call["id"]]
        declarations = [
            types.FunctionDeclaration(
                name=spec.name,
                description=spec.description,
                parameters_json_schema=spec.parameters,
            )
            for spec in tool_specs(tools)
        ]
        thinking = (
            None
            if self.thinking_budget is None
            else types.ThinkingConfig(thinking_budget=self.thinking_budget)
        )
        config = types.GenerateContentConfig(
            system_instruction=system or None,
            tools=[types.Tool(function_declarations=declarations)] if declarations else None,
            # Tools are run by the pipeline, never by the SDK.
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            temperature=self.temperature,
            max_output_tokens=self.max_output_tokens,
            thinking_config=thinking,
        )
        return [types.Content.model_validate(content) for content in contents], config

    def _remember_signature(self, call_id: str, signature: bytes) -> None:
        self._signatures[call_id] = signature
        while len(self._signatures) > _MAX_SIGNATURES:
            self._signatures.popitem(last=False)

    def _new_client(self) -> _Session:
        options = types.HttpOptions(
            base_url=self.base_url,
            # One attempt unless asked: this also stops the SDK's own silent reconnect.
            retry_options=types.HttpRetryOptions(attempts=self.max_retries + 1),
        )
        if not self.vertexai:
            return _Session(genai.Client(api_key=self._api_key, http_options=options))
        if self._api_key:
            client = genai.Client(
                vertexai=True, api_key=self._api_key, location=self.location, http_options=options
            )
        else:
            client = genai.Client(
                vertexai=True,
                project=self.project,
                location=self.location,
                credentials=self._credentials,
                http_options=options,
            )
        return _Session(client)

    def _key_hint(self) -> str:
        if not self.vertexai:
            return f"api_key= or {self.api_key_env} / {self.api_key_env_fallback}"
        if self._api_key:
            return "api_key= (Vertex AI express mode)"
        return "credentials= or the Application Default Credentials (and project=)"

    def _error(self, exc: genai_errors.APIError) -> PatterError:
        code = exc.code
        status = code if isinstance(code, int) and 400 <= code <= 599 else 500
        error = exc.details.get("error") if isinstance(exc.details, dict) else None
        details = error.get("details") if isinstance(error, dict) else None
        details = [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []
        if status == 400 and any(d.get("reason") in _BAD_KEY_REASONS for d in details):
            status = 401  # the Gemini API answers a wrong key with 400 API_KEY_INVALID
        retry_after = _retry_delay(details)
        if retry_after is None and exc.response is not None:
            retry_after = getattr(exc.response, "headers", {}).get("retry-after")
        return status_error(
            self.provider,
            status,
            exc.message or body_message(exc.details, f"{exc.status or 'error'}"),
            api_key=self._api_key,
            key_hint=self._key_hint(),
            retry_after=retry_after,
        )


GoogleLLM = LLM
"""Flat alias of :class:`LLM`."""


class _Session:
    """The SDK client, closable the way :class:`LoopBoundClient` closes clients."""

    def __init__(self, sdk: genai.Client) -> None:
        self.sdk = sdk

    async def close(self) -> None:
        await self.sdk.aio.aclose()
        self.sdk.close()


class _ResponseState:
    """One streamed answer: the latest usage figures; function calls become ``ToolCall``\\ s."""

    def __init__(self, llm: LLM) -> None:
        self._llm = llm
        self._usage: types.GenerateContentResponseUsageMetadata | None = None

    def read(self, response: types.GenerateContentResponse) -> list[LLMChunk]:
        """The chunks one streamed response produces (often one)."""
        if response.usage_metadata is not None:
            self._usage = response.usage_metadata
        chunks: list[LLMChunk] = []
        candidate = response.candidates[0] if response.candidates else None
        parts = candidate.content.parts if candidate and candidate.content else None
        for part in parts or ():
            if part.thought:
                continue
            if part.function_call is not None:
                call = self._tool_call(part.function_call)
                if part.thought_signature:
                    self._llm._remember_signature(call.id, part.thought_signature)
                chunks.append(LLMChunk(type="tool_call", tool_call=call))
            elif part.text:
                chunks.append(LLMChunk(type="text", text=part.text))
        return chunks

    def usage(self) -> LLMUsage | None:
        """Tokens used, once the stream reported them (thinking tokens count as output)."""
        u = self._usage
        if u is None:
            return None
        return LLMUsage(
            input_tokens=(u.prompt_token_count or 0) + (u.tool_use_prompt_token_count or 0),
            output_tokens=(u.candidates_token_count or 0) + (u.thoughts_token_count or 0),
        )

    def _tool_call(self, call: types.FunctionCall) -> ToolCall:
        provider = self._llm.provider
        if not call.name:
            raise PatterError(
                f"{provider} sent a function call without a name", code=ErrorCode.PROVIDER_ERROR
            )
        try:
            return ToolCall(
                id=call.id or f"call_{secrets.token_hex(12)}",
                name=call.name,
                arguments=json.dumps(call.args or {}),
            )
        except InputValidationError as exc:
            raise PatterError(
                f"{provider} sent invalid arguments for tool {call.name!r}: {exc.message}",
                code=ErrorCode.PROVIDER_ERROR,
            ) from exc


_Piece = types.GenerateContentResponse


def _fetch(stream: AsyncIterator[_Piece]) -> asyncio.Task[_Piece | None]:
    """A task reading the next piece of ``stream`` (None at its end)."""

    async def next_piece() -> _Piece | None:
        try:
            return await anext(stream)
        except StopAsyncIteration:
            return None

    return asyncio.ensure_future(next_piece())


async def _stop(fetch: asyncio.Task[_Piece | None], stream: AsyncIterator[_Piece]) -> None:
    """End ``stream`` early or late, closing its HTTP response.

    Closing the SDK's generator alone would leave the generators under it, and the response
    they hold, open until garbage collection. A read cancelled inside them unwinds them all,
    so reads go on (a piece already received comes back at once) until one waits on the
    network, and that one is cancelled.
    """
    for _ in range(1000):
        if not fetch.done():
            await asyncio.sleep(0)  # a read cancelled before it starts would not reach the SDK
        if not fetch.done():
            fetch.cancel()
            await asyncio.gather(fetch, return_exceptions=True)
            break
        if fetch.cancelled() or fetch.exception() is not None or fetch.result() is None:
            break  # the stream is over
        fetch = _fetch(stream)
    if isinstance(stream, AsyncGenerator):
        await stream.aclose()


def _retry_delay(details: list[dict[str, Any]]) -> str | None:
    """The seconds of a ``google.rpc.RetryInfo`` detail's ``retryDelay`` (``"41s"`` → ``"41"``)."""
    for detail in details:
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            delay = detail.get("retryDelay")
            if isinstance(delay, str) and delay.endswith("s"):
                try:
                    return f"{float(delay[:-1]):g}"
                except ValueError:
                    return None
    return None
