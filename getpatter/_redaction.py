"""Secrets out of log records, whichever library writes them.

:class:`RedactSecrets` is a :class:`logging.Filter` that rewrites a record whose message,
exception text or stack holds a secret:

- credential headers, as websockets, HTTP clients and SDKs print them (``Authorization: Bearer
  ...``, ``Authorization: Token ...``, ``xi-api-key: ...``, ``X-Twilio-Signature: ...``, also as
  ``'key': 'value'`` pairs in reprs and JSON);
- named fields such as ``"token": "..."``, ``api_key=...`` or ``auth_token: ...``;
- a ``key`` query parameter (``?key=...``, how Google APIs may take their key);
- the password of a URL (``https://user:password@host``);
- the single-use token of a media-stream path (``/ws/twilio/media/<token>``,
  ``/ws/telnyx/media/<codec>/<token>``) and the key of a
  call's confirmation page (``/confirm-call/<key>``);
- every value passed to :func:`register_secret`: provider keys and carrier tokens register
  themselves when they are built.

A logger's filters see only the records created on that very logger, not the ones propagating
from its children, so :func:`install` (run by ``import getpatter``) attaches the filter to each
logger that creates records a secret can reach: websockets' handshake logs, uvicorn, the HTTP
clients, the OpenAI, Anthropic, Google GenAI, Twilio and MCP SDKs, and Patter's own loggers. It changes no
level and adds no handler. A filter runs only for records its logger is enabled for, so with
DEBUG off the loggers that log every WebSocket frame cost nothing more.
"""

from __future__ import annotations

import logging
import re
import threading

__all__ = [
    "LOGGERS",
    "REDACTED",
    "RedactSecrets",
    "install",
    "redact",
    "register_secret",
]

REDACTED = "<redacted>"
"""What a secret is replaced with."""

MIN_SECRET_CHARS = 8
"""Shorter registered values are ignored: they would blank out ordinary words, not keys."""

LOGGERS = (
    # Handshake request and response headers at DEBUG: API keys, signatures, media paths.
    "websockets.client",
    "websockets.server",
    # Request paths (a media stream's token) and, at trace level, whole ASGI scopes.
    "uvicorn.error",
    "uvicorn.access",
    "uvicorn.asgi",
    # URLs, and the headers in httpcore's DEBUG traces.
    "httpx",
    "httpx2",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "httpcore2.connection",
    "httpcore2.http11",
    "httpcore2.http2",
    "httpcore2.proxy",
    "httpcore2.socks",
    "aiohttp.access",
    "aiohttp.client",
    "aiohttp.server",
    "aiohttp.web",
    "aiohttp.websocket",
    # Request options (headers, bodies) and URLs at DEBUG.
    "openai._base_client",
    "getpatter.llm.openai",
    "anthropic._base_client",
    # google-genai: streamed response chunks and retried errors at DEBUG/INFO.
    "google_genai._api_client",
    # The Twilio SDK's request log (sync and async clients).
    "twilio.http_client",
    "twilio.async_http_client",
    # The Telnyx SDK's request options (JSON bodies: stream_auth_token) at DEBUG.
    "telnyx._base_client",
    # JSON-RPC messages (confirmation tokens in tool arguments and results) at DEBUG.
    "mcp.client.streamable_http",
    "mcp.client.stdio",
    "mcp.client.sse",
    "mcp.server.sse",
    "mcp.server.mcpserver.server",
    "mcp.server.streamable_http",
    "mcp.server.streamable_http_manager",
    "mcp.server.runner",
    "mcp.server.lowlevel.server",
    "mcp.shared.jsonrpc_dispatcher",
    "sse_starlette.sse",
    # Patter's own loggers: tests/test_redaction.py checks that every one is listed.
    "getpatter",
    "getpatter.agent",
    "getpatter.calls",
    "getpatter.calls.log",
    "getpatter.tracing",
    "getpatter.control",
    "getpatter.cost",
    "getpatter.dashboard",
    "getpatter.engines.elevenlabs",
    "getpatter.engines.openai",
    "getpatter.events",
    "getpatter.guardrails",
    "getpatter.ivr",
    "getpatter.pipeline",
    "getpatter.pipeline.hooks",
    "getpatter.scheduling",
    "getpatter.server",
    "getpatter.session",
    "getpatter.stt.assemblyai",
    "getpatter.stt.assemblyai.websocket",
    "getpatter.stt.cartesia",
    "getpatter.stt.cartesia.websocket",
    "getpatter.stt.deepgram",
    "getpatter.stt.deepgram.websocket",
    "getpatter.stt.soniox",
    "getpatter.stt.soniox.websocket",
    "getpatter.stt.speechmatics",
    "getpatter.stt.speechmatics.websocket",
    "getpatter.stt.utterance",
    "getpatter.testing",
    "getpatter.tools",
    "getpatter.tts.elevenlabs_ws",
    "getpatter.tunnels",
    "getpatter_langchain",
    "getpatter_mcp",
)
"""The loggers :func:`install` filters: those that create records a secret can reach."""

# A quote may be escaped, once or more (JSON in a JSON string in a repr), or bytes (``b'...'``).
_SEP = r"""(?P<sep>(?:\\*["']\s*[:=,]|\s*[:=])\s*(?:b?\\*["'])?)"""
_VALUE = r"""(?P<value>[^\s"'<>,;&)}\]\\]+)"""
_PATTERNS = re.compile(
    # Credential headers; the auth scheme (Bearer, Token, Basic) is kept.
    r"(?<![\w-])(?P<header>authorization|proxy-authorization|xi-api-key|x-api-key|api-key"
    r"|x-goog-api-key"
    r"|x-twilio-signature|telnyx-signature-ed25519|x-telnyx-streaming-auth-token|cookie|set-cookie)"
    + _SEP
    + r"(?P<scheme>(?:bearer|token|basic|digest)\s+)?(?!(?:bearer|token|basic|digest)\b)"
    + _VALUE
    # Named fields, in JSON, reprs, keyword arguments and query strings.
    + r"|(?<![\w-])(?P<field>api[_-]?key|xi_api_key|(?:stream_)?auth[_-]?token|access[_-]?token"
    r"|refresh[_-]?token|form[_-]?token|client[_-]?secret|secret|password|token"
    r"|conversation_signature)"
    + _SEP.replace("sep", "fsep")
    + _VALUE.replace("value", "fvalue")
    # A ``key`` query parameter (Google APIs take their key as ``?key=``).
    + r"|(?P<qkey>[?&]key=)(?P<qvalue>[^\s&#\"'<>]+)"
    # The password of a URL.
    + r"|(?P<userinfo>\b[a-z][a-z0-9+.-]*://[^\s/@:]*:)(?P<password>[^\s/@]+)(?=@)"
    # The single-use token that opens a call's media stream (after the codec on Telnyx), and
    # the key of a call's confirmation page (getpatter.control.confirmation).
    + r"|(?P<media>/ws/[\w-]+/media/(?:(?:pcmu|pcma|l16)/)?|/confirm-call/)"
    + r"(?P<mtoken>[^\s/?#\"'<>]+)",
    re.IGNORECASE,
)


def _replace(match: re.Match[str]) -> str:
    if match.group("header"):
        scheme = match.group("scheme") or ""
        return f"{match.group('header')}{match.group('sep')}{scheme}{REDACTED}"
    if match.group("field"):
        return f"{match.group('field')}{match.group('fsep')}{REDACTED}"
    if match.group("qkey"):
        return f"{match.group('qkey')}{REDACTED}"
    if match.group("userinfo"):
        return f"{match.group('userinfo')}{REDACTED}"
    return f"{match.group('media')}{REDACTED}"


# Every pattern above needs one of these (lowercase) in the text: a record without any skips the
# regular expression, which costs ten times more than these substring tests.
_TRIGGERS = (
    "auth",
    "key",
    "token",
    "secret",
    "password",
    "signature",
    "cookie",
    "://",
    "/media/",
    "/confirm-call/",
)


class _Registry:
    """The secret values registered so far, longest first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values: tuple[str, ...] = ()

    def add(self, value: str) -> None:
        if len(value) < MIN_SECRET_CHARS:
            return
        with self._lock:
            if value not in self.values:
                # Longest first, so a key that contains another is hidden whole.
                self.values = tuple(sorted((*self.values, value), key=len, reverse=True))


_registry = _Registry()


def register_secret(value: str) -> str:
    """Keep ``value`` (a key or token) out of every filtered log record from now on.

    Returns ``value``, so it wraps the place where a credential is read. Values shorter than
    :data:`MIN_SECRET_CHARS` are not registered. Meant for long-lived credentials (each value is
    kept for the life of the process); short-lived tokens are covered by the patterns.
    """
    if isinstance(value, str) and value:
        _registry.add(value)
    return value


def redact(text: str) -> str:
    """``text`` with every secret :class:`RedactSecrets` knows replaced by :data:`REDACTED`."""
    lowered = text.lower()
    if any(trigger in lowered for trigger in _TRIGGERS):
        text = _PATTERNS.sub(_replace, text)
    for value in _registry.values:
        if value in text:
            text = text.replace(value, REDACTED)
    return text


_TRACEBACKS = logging.Formatter()


class RedactSecrets(logging.Filter):
    """Rewrite a record that holds a secret; never drops a record.

    A record with nothing to hide keeps its ``msg`` and ``args``. One that needs redaction gets
    the redacted, formatted message as ``msg`` (and no ``args``); a redacted traceback replaces
    ``exc_info`` with ``exc_text``, which standard formatters print as they would the traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place; always True."""
        try:
            message = record.getMessage()
        except Exception:
            return True  # a malformed record: its handler reports it as usual
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info or record.exc_text:
            text = record.exc_text or _TRACEBACKS.formatException(record.exc_info)  # type: ignore[arg-type]
            clean = redact(text)
            if clean != text:
                record.exc_info, record.exc_text = None, clean
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactSecrets()


def install() -> None:
    """Attach the filter to every logger in :data:`LOGGERS` (once; levels are left alone)."""
    for name in LOGGERS:
        logging.getLogger(name).addFilter(_FILTER)
