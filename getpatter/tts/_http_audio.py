"""What the HTTP-streaming TTS clients (Rime, LMNT) share: a key, a pooled POST that streams audio.

Each sentence is one ``POST`` whose response body is raw audio, read as it arrives over a
keep-alive aiohttp pool (created on first use in each event loop, closed by :meth:`close`).
aiohttp for the reason given in ``tts/elevenlabs.py``: the lowest per-request cost on the
turn's critical path. Failures map through the provider kit (401/403, 429, 5xx, stalls).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp

from getpatter._env import env_secret
from getpatter._loop_bound import LoopBoundClient
from getpatter._proxies import env_proxy
from getpatter._validation import require_str
from getpatter.errors import ConfigError, ErrorCode, PatterConnectionError, PatterError
from getpatter.providers.errors import body_message, status_error

__all__ = ["AudioPoster", "error_detail", "resolve_api_key"]

_MAX_DETAIL = 300


def resolve_api_key(api_key: str | None, owner: str, vendor: str, env_var: str) -> str:
    """``api_key``, else ``env_var``; none raises naming both (spec PV-1)."""
    if api_key is not None:
        require_str(f"{owner} api_key", api_key)
    key = env_secret(api_key or "", env_var)
    if not key:
        raise ConfigError(
            f"{owner} needs a {vendor} API key: pass {owner}(api_key=...) or set {env_var}"
        )
    return key


def error_detail(body: bytes) -> str:
    """The provider's message in an error body (JSON ``message``/``error`` or plain text)."""
    text = body.decode("utf-8", "replace").strip()
    try:
        parsed: Any = json.loads(text)
    except ValueError:
        return text[:_MAX_DETAIL]
    return body_message(parsed, text)[:_MAX_DETAIL]


class AudioPoster:
    """POSTs JSON to a TTS API and yields the streamed response body.

    ``headers`` go on every request (the key among them); ``timeout`` bounds connecting,
    ``stall_timeout`` the wait for the next bytes. ``owner`` and ``vendor`` name the class and
    the service in errors; ``key_hint`` says where the key came from.
    """

    def __init__(
        self,
        *,
        owner: str,
        vendor: str,
        base_url: str,
        headers: Mapping[str, str],
        api_key: str,
        key_hint: str,
        timeout: float,
        stall_timeout: float,
        detail: Callable[[bytes], str] = error_detail,
    ) -> None:
        self._owner = owner
        self._vendor = vendor
        self._base_url = base_url
        self._headers = dict(headers)
        self._api_key = api_key
        self._key_hint = key_hint
        self._timeout = timeout
        self._stall_timeout = stall_timeout
        self._detail = detail
        self._client = LoopBoundClient(self._new_session)
        self._closed = False

    async def stream(
        self, path: str, body: Mapping[str, Any], *, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[bytes]:
        """POST ``body`` to ``base_url + path``; yield the answer's bytes as they arrive.

        Leaving the loop early closes the response (the request is abandoned)."""
        if self._closed:
            raise PatterError(f"this {self._owner} is closed: create a new one to synthesize")
        session = self._client.get()
        url = f"{self._base_url}{path}"
        try:
            async with session.post(url, json=dict(body), headers=headers) as response:
                if response.status >= 400:
                    raise status_error(
                        self._vendor,
                        response.status,
                        self._detail(await response.read()),
                        api_key=self._api_key,
                        key_hint=self._key_hint,
                        retry_after=response.headers.get("Retry-After"),
                    )
                async for chunk in response.content.iter_any():
                    if chunk:
                        yield chunk
        except aiohttp.SocketTimeoutError:
            raise PatterConnectionError(
                f"{self._vendor} TTS stalled: no audio for {self._stall_timeout:g} s "
                f"({self._owner} stall_timeout)",
                code=ErrorCode.TIMEOUT,
            ) from None
        except (aiohttp.ConnectionTimeoutError, TimeoutError):
            raise PatterConnectionError(
                f"{self._vendor} did not accept the request within {self._timeout:g} s "
                f"({self._owner} timeout) at {self._base_url}",
                code=ErrorCode.TIMEOUT,
            ) from None
        except aiohttp.ClientError as exc:
            raise PatterConnectionError(
                f"{self._vendor} TTS connection to {self._base_url} failed: "
                f"{type(exc).__name__}; check the network and base_url"
            ) from None

    async def close(self) -> None:
        """Close the connection pool; later :meth:`stream` calls fail."""
        self._closed = True
        await self._client.close()

    def _new_session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            headers=self._headers,
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(
                total=None, connect=self._timeout, sock_read=self._stall_timeout
            ),
            proxy=env_proxy(self._base_url),
        )
