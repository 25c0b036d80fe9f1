"""The ``getpatter-mcp`` command: Patter's MCP server over stdio or streamable HTTP.

Stdio is the default (what Claude Desktop and most clients launch). ``--http`` serves the
streamable HTTP transport instead, always behind a bearer token and with DNS-rebinding protection
(only the listed ``Host`` and ``Origin`` headers are accepted). The call service starts before
the first request and is closed on the way out (stdin closed, Ctrl-C, SIGTERM), which hangs up
calls still in progress. Logs and notices go to stderr: on stdio, stdout carries the protocol.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import logging
import os
import secrets
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, TextIO

import uvicorn

from getpatter._redaction import RedactSecrets
from getpatter.errors import PatterError
from getpatter_mcp.bearer import BearerTokenGate, require_token
from getpatter_mcp.config import ENGINES, ServerConfig, build_service, load_config

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from getpatter.control.service import CallService

__all__ = ["main"]

_PROG = "getpatter-mcp"
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
_CANCEL_GRACE = 2.0
"""Seconds a cancelled transport gets to finish its requests before the service is closed."""

_DESCRIPTION = """\
Patter's MCP server gives an AI assistant (Claude Desktop, Claude Code, Cursor or
any MCP client) a phone. It places calls in which an AI voice agent pursues a
goal, reports progress and the live transcript, and can hang up, transfer, press
keys or give the agent new instructions mid-call. A safety policy guards every
call and every request is written to an audit log."""

_EPILOG = """\
modes:
  With no carrier settings the server runs in SANDBOX mode: calls go through
  Patter's loopback phone network, nothing is dialed and no AI service is paid,
  so every tool can be tried safely. Live calls need one carrier's settings
  (Twilio or Telnyx, below), a way for the carrier to reach this machine
  (PATTER_WEBHOOK_URL, or PATTER_TUNNEL=cloudflare) and the in-call agent's
  engine: OPENAI_API_KEY for OpenAI Realtime (the default), or
  PATTER_ENGINE=elevenlabs_convai and ELEVENLABS_AGENT_ID for your ElevenLabs
  Conversational AI agent. A partial set, or both carriers, is an error, never
  a silent fallback to the sandbox.

environment (a non-empty variable overrides the --config file):
  twilio   TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_PHONE_NUMBER, and
           TWILIO_BASE_URL (optional: a regional REST host)
  telnyx   TELNYX_API_KEY, TELNYX_CONNECTION_ID (the Call Control application),
           TELNYX_PHONE_NUMBER, TELNYX_PUBLIC_KEY (Keys & Credentials > Public
           Key in the portal: every webhook's signature is checked with it), and
           TELNYX_BASE_URL (optional: another Call Control API host)
  server   PATTER_WEBHOOK_URL (the public hostname of your server or tunnel,
           which the carrier calls back), or PATTER_TUNNEL=cloudflare (no server
           of your own: a Cloudflare quick tunnel, needs cloudflared, is opened
           at start and the number is pointed at it); PATTER_HOST and
           PATTER_PORT (the webhook server: 0.0.0.0:8000, 127.0.0.1 behind
           PATTER_TUNNEL)
  agent    PATTER_ENGINE (openai_realtime, the default, or elevenlabs_convai),
           PATTER_VOICE (an OpenAI voice, or an ElevenLabs voice id; unset, the
           ElevenLabs agent's own), PATTER_SYSTEM_PROMPT; OpenAI Realtime:
           OPENAI_API_KEY, OPENAI_BASE_URL, PATTER_MODEL; ElevenLabs ConvAI:
           ELEVENLABS_AGENT_ID, ELEVENLABS_API_KEY (a private agent),
           ELEVENLABS_BASE_URL (refused with the other engine)
  policy   PATTER_ALLOWED_PREFIXES (e.g. "+1555,+4420"; live calls are refused
           until it is set, "*" allows every number), PATTER_BLOCKED_PREFIXES,
           PATTER_BLOCK_PREMIUM, PATTER_MAX_CONCURRENT_CALLS,
           PATTER_MAX_CALL_SECONDS, PATTER_MAX_CALLS_PER_DAY,
           PATTER_MAX_SPEND_PER_DAY_USD, PATTER_REQUIRE_CONFIRMATION,
           PATTER_AI_DISCLOSURE, PATTER_DISCLOSURE
  other    PATTER_AUDIT_DB (default ~/.getpatter/audit.sqlite3 when live, memory
           in the sandbox; ":memory:" forces memory), PATTER_CALLS_DB (the call
           history, for get_call/list_calls after a restart; default: beside the
           audit log), PATTER_LOG_REDACT_PHONE (mask, full or hash_only: numbers
           in that history), PATTER_SANDBOX_MS_PER_CHAR, PATTER_MCP_TOKEN,
           PATTER_CONFIG

Claude Desktop: add the server to claude_desktop_config.json as
  {"mcpServers": {"patter": {"command": "getpatter-mcp", "env": {...}}}}
The README section "MCP server" has the full snippet."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``getpatter-mcp`` command; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    _refuse_http_options_without_http(parser, args)
    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Loggers that propagate here write through this handler: filtering it covers every logger
    # of the process, also those ``getpatter`` does not know by name.
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactSecrets())
    try:
        config = load_config(os.environ, args.config)
        return asyncio.run(_run(config, args))
    except PatterError as exc:
        _notice(f"error: {exc.message}")
        return 2
    except ImportError as exc:
        _notice(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        return 130


_HTTP_ONLY = (
    ("--host", "host"),
    ("--port", "port"),
    ("--path", "path"),
    ("--token", "token"),
    ("--allowed-host", "allowed_host"),
    ("--allowed-origin", "allowed_origin"),
)
"""The options of the streamable HTTP transport: stdio has no use for them."""


def _refuse_http_options_without_http(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> None:
    """Exit with a usage error when an HTTP-only option is given without ``--http``."""
    if args.http:
        return
    given = [flag for flag, dest in _HTTP_ONLY if getattr(args, dest) != parser.get_default(dest)]
    if given:
        parser.error(
            f"{', '.join(given)} only apply to the HTTP transport: add --http, or drop "
            f"{'them' if len(given) > 1 else 'it'} (stdio is the default)"
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="TOML file with [twilio] or [telnyx], [openai] or [elevenlabs], [agent], [server], "
        "[policy], [audit], [sandbox] and [mcp] sections (default: $PATTER_CONFIG)",
    )
    parser.add_argument(
        "--wait-seconds",
        type=_positive_seconds,
        default=45.0,
        metavar="S",
        help="how long make_call and wait_for_call block before returning the call so far "
        "(default: 45; most clients give up on a tool after 60)",
    )
    parser.add_argument(
        "--confirm-port",
        type=_port,
        default=0,
        metavar="PORT",
        help="port of the page on 127.0.0.1 where a person confirms calls when "
        "PATTER_REQUIRE_CONFIRMATION is on (default: 0, a free port)",
    )
    parser.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="info",
        help="log level of the messages written to stderr (default: info)",
    )
    http = parser.add_argument_group("streamable HTTP transport (instead of stdio)")
    http.add_argument("--http", action="store_true", help="serve streamable HTTP instead of stdio")
    http.add_argument("--host", default="127.0.0.1", help="interface to listen on (127.0.0.1)")
    http.add_argument(
        "--port", type=_port, default=8765, help="port to listen on (8765; 0 picks a free one)"
    )
    http.add_argument("--path", default="/mcp", help="endpoint path (/mcp)")
    http.add_argument(
        "--token",
        help="bearer token clients must send (default: $PATTER_MCP_TOKEN, else a random one "
        "printed to stderr at start); prefer the variable, command lines are visible to ps",
    )
    http.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="also accept this Host header (repeatable; localhost, 127.0.0.1 and [::1] with "
        "the port are always accepted)",
    )
    http.add_argument(
        "--allowed-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="accept browser requests from this Origin, e.g. https://app.example.com "
        "(repeatable; by default none)",
    )
    return parser


async def _run(config: ServerConfig, args: argparse.Namespace) -> int:
    from getpatter_mcp import build_server

    listener: socket.socket | None = None
    service: CallService | None = None
    finished = True
    with _StopSignals() as signals:
        try:
            if args.http:
                token = require_token(args.token or config.mcp_token or secrets.token_urlsafe(32))
                listener = _bind(args.host, args.port)
            service = build_service(config)
            server = build_server(
                service, wait_seconds=args.wait_seconds, confirm_port=args.confirm_port
            )
            if listener is None:
                with contextlib.redirect_stdout(_PrintsToStderr(sys.stdout, sys.stderr)):
                    await service.start()
                    _announce_mode(config)
                    _notice("serving MCP over stdio (close stdin or press Ctrl-C to stop)")
                    finished = await _until_stopped(server.run_stdio_async(), signals)
            else:
                await service.start()
                _announce_mode(config)
                generated = not (args.token or config.mcp_token)
                await _serve_http(server, args, listener, token, signals, generated=generated)
        finally:
            if listener is not None:
                listener.close()
            if service is not None:
                await service.aclose()
    if not finished:
        # The SDK reads stdin in a worker thread that cannot be cancelled, so while the client
        # keeps stdin open a signal cannot end the process the normal way. The calls are hung
        # up and the audit log is closed: leave now.
        _notice("stopped")
        sys.stderr.flush()
        os._exit(0)
    return 0


_BACKLOG = 2048  # uvicorn's default


def _bind(host: str, port: int) -> socket.socket:
    """Bind the HTTP port now, so a busy port is a clear error before anything starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if os.name != "nt":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        # Listening now, not when uvicorn starts: the URL is announced before the app's startup
        # has run, and a client that connects meanwhile must wait in the backlog, not be refused.
        sock.listen(_BACKLOG)
    except OSError as exc:
        sock.close()
        raise PatterError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}): pick another --port or --host"
        ) from None
    return sock


async def _serve_http(
    server: MCPServer,
    args: argparse.Namespace,
    listener: socket.socket,
    token: str,
    signals: _StopSignals,
    *,
    generated: bool,
) -> None:
    from mcp.server.transport_security import TransportSecuritySettings

    host, port = args.host, listener.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    names = list(_LOOPBACK)
    if shown not in names and host not in ("0.0.0.0", "::"):
        names.append(shown)
    allowed_hosts = [f"{name}:{port}" for name in names]
    allowed_hosts += [h for h in args.allowed_host if h not in allowed_hosts]
    path = "/" + args.path.strip("/")
    app = server.streamable_http_app(
        streamable_http_path=path,
        transport_security=TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=allowed_hosts,
            allowed_origins=list(args.allowed_origin),
        ),
        host=host,
    )
    web = _QuietServer(
        uvicorn.Config(
            BearerTokenGate(app, token),
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
    )
    _notice(f"serving MCP over streamable HTTP at http://{shown}:{port}{path}")
    _notice(f"accepted Host headers: {', '.join(allowed_hosts)}")
    if host in ("0.0.0.0", "::") and not args.allowed_host:
        _notice(
            "listening on every interface, but only local names are accepted: pass "
            "--allowed-host <name>:<port> for each name remote clients use"
        )
    if generated:
        _notice(
            "clients must send 'Authorization: Bearer <token>'; the token generated for this "
            f"run is {token} (set PATTER_MCP_TOKEN to keep one across restarts)"
        )
    else:
        _notice("clients must send 'Authorization: Bearer <token>' with the configured token")

    def stop(signals_seen: int) -> None:
        web.should_exit = True
        # A second Ctrl-C stops waiting for open connections, as uvicorn's own handler does.
        web.force_exit = signals_seen > 1

    await _until_stopped(web.serve(sockets=[listener]), signals, on_stop=stop)


class _StopSignals:
    """SIGINT and SIGTERM handlers for the whole run: they ask the transport to stop.

    Installed before the service starts, so an early signal still leads to a clean close.
    Windows has no loop signal handlers: there Ctrl-C cancels the run, as ``asyncio.run`` does.
    """

    def __init__(self) -> None:
        self.stopping = asyncio.Event()
        self.seen = 0
        self.on_stop: Callable[[int], None] | None = None
        self._installed: list[signal.Signals] = []

    def __enter__(self) -> _StopSignals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._received)
                self._installed.append(sig)
        return self

    def __exit__(self, *exc_info: object) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._installed:
            loop.remove_signal_handler(sig)

    def _received(self) -> None:
        self.seen += 1
        if self.seen == 1:
            _notice("stopping: hanging up calls in progress")
        self.stopping.set()
        if self.on_stop is not None:
            self.on_stop(self.seen)


async def _until_stopped(
    serving: Awaitable[None],
    signals: _StopSignals,
    *,
    on_stop: Callable[[int], None] | None = None,
) -> bool:
    """Run ``serving`` until it ends or a signal arrives.

    On a signal, ``on_stop(signals_seen)`` asks the server to finish and ``serving`` is awaited;
    without ``on_stop``, ``serving`` is cancelled and gets :data:`_CANCEL_GRACE` seconds. Returns
    False when ``serving`` was left unfinished (the stdio transport blocked on stdin).
    """
    task = asyncio.ensure_future(serving)
    signals.on_stop = on_stop
    signalled = asyncio.create_task(signals.stopping.wait())
    try:
        await asyncio.wait({task, signalled}, return_when=asyncio.FIRST_COMPLETED)
        if on_stop is not None and not task.done():
            on_stop(signals.seen)  # the signal may have come before serving began
            await asyncio.wait({task})
    finally:
        signals.on_stop = None
        signalled.cancel()
        if not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=_CANCEL_GRACE)
    if not task.done():
        return False
    if not task.cancelled():
        task.result()
    return True


def _announce_mode(config: ServerConfig) -> None:
    engine = ENGINES[config.engine]
    if config.carrier is None:
        _notice(
            "sandbox mode: calls go through Patter's loopback phone network; nothing is dialed "
            "and no AI service is paid (set the TWILIO_* or TELNYX_* variables for real calls); "
            f"the in-call agent is scripted, on a fake {engine} server"
        )
        return
    carrier = config.carrier.capitalize()
    reached = (
        "through a Cloudflare quick tunnel opened for this run, at the webhook address above "
        f"(set on {config.phone_number} at start)"
        if config.tunnel
        else f"at {config.webhook_url}"
    )
    if config.engine == "elevenlabs_convai":
        voice = f", voice {config.voice}" if config.voice else ""
        agent = f"{engine} (agent {config.elevenlabs_agent_id}{voice})"
    else:
        agent = f"{engine} ({config.model}, voice {config.voice})"
    _notice(
        f"live mode: real calls from {config.phone_number} through {carrier}; {carrier} reaches "
        f"this machine {reached} (webhook server on {config.host}:{config.port}); the in-call "
        f"agent runs on {agent}"
    )
    if not config.policy.allowed_prefixes:
        _notice(
            "every call will be refused: PATTER_ALLOWED_PREFIXES is empty. Set it to the "
            "prefixes you mean to call, e.g. +1555"
        )


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signals to :class:`_StopSignals`.

    With uvicorn's handlers in place one Ctrl-C would reach both (uvicorn reads a second one as
    "force quit"), and uvicorn re-raises the signal after shutdown, which would cancel the
    service's cleanup.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _PrintsToStderr(io.TextIOWrapper):
    """``sys.stdout`` while stdio carries the protocol: printed text goes to stderr.

    Libraries may ``print`` (``Patter.serve`` announces its webhook), and one stray line on stdout
    corrupts the JSON-RPC stream. Text written here goes to ``log``; ``buffer`` is still the real
    stdout's, which the MCP SDK's stdio transport takes over for the wire.
    """

    def __init__(self, wire: TextIO, log: TextIO) -> None:
        super().__init__(wire.buffer, encoding="utf-8")
        self._log = log

    def write(self, text: str) -> int:
        return self._log.write(text)

    def flush(self) -> None:
        self._log.flush()

    def close(self) -> None:
        # The buffer is stdout's own: leave it open for the rest of the process.
        with contextlib.suppress(ValueError):
            self.detach()


def _notice(text: str) -> None:
    print(f"{_PROG}: {text}", file=sys.stderr, flush=True)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"{text} is out of range: use more than 0, at most 3600")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is out of range: use 0..65535")
    return value
