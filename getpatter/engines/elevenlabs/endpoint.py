"""Where an ElevenLabs conversation lives: the WebSocket URL, signed URLs, and the formats.

A public agent is reached at ``wss://<api host>/v1/convai/conversation?agent_id=<id>``. A
private one needs a signed URL, fetched server-side with ``GET
/v1/convai/conversation/get-signed-url?agent_id=<id>`` and the ``xi-api-key`` header; the
answer's ``signed_url`` is a short-lived WebSocket URL that carries no key.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from urllib.parse import quote

from getpatter.audio.formats import AudioFormat
from getpatter.errors import (
    AuthenticationError,
    ConfigError,
    ErrorCode,
    PatterConnectionError,
    PatterError,
)
from getpatter.providers.errors import status_error
from getpatter.providers.urls import websocket_url
from getpatter.tts._elevenlabs import BASE_URL_ENV, DEFAULT_BASE_URL, error_detail

if TYPE_CHECKING:
    import httpx

__all__ = [
    "AGENT_FORMATS",
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "conversation_url",
    "fetch_signed_url",
    "patter_format",
]


AGENT_FORMATS: dict[str, AudioFormat] = {
    "ulaw_8000": "ulaw_8000",
    "pcm_8000": "pcm16_8000",
    "pcm_16000": "pcm16_16000",
    "pcm_24000": "pcm16_24000",
}
"""The agent audio formats (ElevenLabs' names) Patter can carry, and its own name for each.
ElevenLabs also offers 22.05, 44.1 and 48 kHz PCM, which no phone line needs."""

_WS_PATH = "/v1/convai/conversation"
_SIGNED_URL_PATH = "/v1/convai/conversation/get-signed-url"


def conversation_url(base_url: str, agent_id: str) -> str:
    """The conversation WebSocket URL of public agent ``agent_id`` under the API ``base_url``.

    ``https://api.elevenlabs.io`` becomes ``wss://api.elevenlabs.io/v1/convai/conversation
    ?agent_id=<id>``; an ``http://`` base (a local fake) becomes ``ws://``.
    """
    url = websocket_url(
        "ElevenLabsConvAI", base_url, _WS_PATH, env_var=BASE_URL_ENV, example=DEFAULT_BASE_URL
    )
    return f"{url}?agent_id={quote(agent_id, safe='')}"


def patter_format(name: object, which: str) -> AudioFormat:
    """Patter's format for the ElevenLabs format ``name`` an agent reported, or a clear error."""
    if isinstance(name, str) and name in AGENT_FORMATS:
        return AGENT_FORMATS[name]
    raise ConfigError(
        f"the ElevenLabs agent's {which} is {name!r}, which Patter cannot carry on a phone "
        f"line: set it to one of {list(AGENT_FORMATS)} in the agent's settings (ulaw_8000 "
        "avoids any conversion)"
    )


async def fetch_signed_url(
    client: httpx.AsyncClient, base_url: str, api_key: str, agent_id: str
) -> str:
    """Ask ElevenLabs for a signed conversation URL of private agent ``agent_id``."""
    import httpx  # imported with the engine, not with getpatter

    url = f"{base_url}{_SIGNED_URL_PATH}"
    try:
        response = await client.get(
            url, params={"agent_id": agent_id}, headers={"xi-api-key": api_key}
        )
    except httpx.TimeoutException:
        raise PatterConnectionError(
            f"ElevenLabs did not answer the signed-URL request at {url} in time",
            code=ErrorCode.TIMEOUT,
        ) from None
    except httpx.HTTPError as exc:
        raise PatterConnectionError(
            f"cannot reach ElevenLabs at {url} for a signed URL: {type(exc).__name__}"
        ) from None
    if response.status_code != 200:
        raise refusal(response.status_code, response.content, agent_id, "signed URL")
    try:
        signed = json.loads(response.content)["signed_url"]
    except (ValueError, KeyError, TypeError):
        signed = None
    if not isinstance(signed, str) or not signed.startswith(("wss://", "ws://")):
        raise PatterError(
            "ElevenLabs answered the signed-URL request without a WebSocket signed_url",
            code=ErrorCode.PROVIDER_ERROR,
        )
    return signed


def refusal(status: int, body: bytes, agent_id: str, what: str) -> PatterError:
    """The Patter error for ElevenLabs refusing ``what`` (the signed URL, the conversation)."""
    detail = error_detail(body)
    suffix = f": {detail}" if detail else ""
    if status == 401 or (status == 403 and what == "signed URL"):
        return AuthenticationError(
            f"ElevenLabs refused the API key for the {what} (HTTP {status}){suffix}; check "
            "ElevenLabsConvAI(api_key=...) or ELEVENLABS_API_KEY"
        )
    if status == 403:
        return AuthenticationError(
            f"ElevenLabs refused the conversation with agent {agent_id!r} (HTTP 403){suffix}; "
            "a private agent needs ElevenLabsConvAI(api_key=...) or ELEVENLABS_API_KEY"
        )
    if status == 404:
        return ConfigError(
            f"ElevenLabs has no agent {agent_id!r} (HTTP 404){suffix}; check "
            "ElevenLabsConvAI(agent_id=...) or ELEVENLABS_AGENT_ID"
        )
    return status_error(
        "ElevenLabs",
        status,
        detail or f"the {what}",
        api_key="",
        key_hint="ElevenLabsConvAI(api_key=...) or ELEVENLABS_API_KEY",
    )
