"""The MCP server's configuration: environment variables and an optional TOML file.

:func:`load_config` reads every setting from the environment and/or a TOML file (``--config`` or
``PATTER_CONFIG``); a non-empty environment variable wins over the file, and an empty one counts
as unset. :func:`build_service` turns the result into the :class:`CallService` the server wraps.
``getpatter_langchain.PatterToolkit.from_config`` reads the same settings.

With no carrier settings at all the server runs in **sandbox** mode: calls go through Patter's
loopback phone network, nothing is dialed and no AI service is paid; the in-call agent is the
sandbox's scripted model even when ``OPENAI_API_KEY`` is set (played by a fake ElevenLabs ConvAI
server when the engine is ConvAI). Live mode needs one carrier's settings, Twilio
(``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN``, ``TWILIO_PHONE_NUMBER``) or Telnyx
(``TELNYX_API_KEY``, ``TELNYX_CONNECTION_ID``, ``TELNYX_PHONE_NUMBER``, ``TELNYX_PUBLIC_KEY``,
which checks every webhook's signature), a way for the carrier to reach this machine
(``PATTER_WEBHOOK_URL``, a public hostname of your own, or ``PATTER_TUNNEL=cloudflare``, a
Cloudflare quick tunnel started with the server, which points the number at it), and the in-call
agent's engine: ``OPENAI_API_KEY`` for OpenAI Realtime (the default), or
``PATTER_ENGINE=elevenlabs_convai`` and ``ELEVENLABS_AGENT_ID`` for an ElevenLabs Conversational
AI agent, because a real person cannot talk to the scripted model. A partial set, both carriers,
or both ways in are refused, never a silent fallback to the sandbox; so are ``ELEVENLABS_AGENT_ID``
without ``PATTER_ENGINE=elevenlabs_convai``, and ``PATTER_MODEL`` with it (a ConvAI agent's model
is chosen on ElevenLabs).

The file mirrors the variables in sections (every key is optional)::

    [twilio]            # account_sid, auth_token, phone_number, base_url
    [telnyx]            # api_key, connection_id, phone_number, public_key, base_url
    [openai]            # api_key, base_url
    [elevenlabs]        # api_key, agent_id, base_url  (with [agent] engine = "elevenlabs_convai")
    [agent]             # engine, voice, model, system_prompt
    [server]            # webhook_url or tunnel, host, port  (the webhook server carriers call)
    [policy]            # allowed_prefixes = ["+1555"], max_calls_per_day = 20, ...
    [audit]             # db = "~/.getpatter/audit.sqlite3"  (":memory:" keeps it in memory)
    [calls]             # db = "~/.getpatter/calls.sqlite3"  (the call history; beside the audit log)
                        # redact_phone = "mask"  (or "full", "hash_only": numbers kept in it)
    [sandbox]           # ms_per_char = 60
    [mcp]               # token  (the bearer token of --http)
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from getpatter._hostname import require_hostname
from getpatter._validation import is_e164
from getpatter.calls.phone_redaction import PhoneRedaction, require_phone_redaction
from getpatter.control.policy import ENV_VARS, SafetyPolicy
from getpatter.errors import ConfigError, PatterError

if TYPE_CHECKING:
    from getpatter.calls.store import CallStore
    from getpatter.carriers.telnyx import Carrier as Telnyx
    from getpatter.carriers.twilio import Carrier as Twilio
    from getpatter.control.service import CallService
    from getpatter.engines.elevenlabs import ConvAI
    from getpatter.engines.openai import Realtime

__all__ = [
    "DEFAULT_AUDIT_DB",
    "DEFAULT_SYSTEM_PROMPT",
    "ENGINES",
    "SETTINGS",
    "CarrierName",
    "EngineName",
    "ServerConfig",
    "Setting",
    "build_service",
    "load_config",
]

DEFAULT_AUDIT_DB = "~/.getpatter/audit.sqlite3"
"""Where live mode keeps its audit log (and so its daily counts) unless ``PATTER_AUDIT_DB`` says."""

DEFAULT_SYSTEM_PROMPT = (
    "You are a courteous AI assistant making a phone call on behalf of your user. Say who you "
    "are and why you are calling, pursue the goal you are given, and keep your sentences short. "
    "Do not make commitments, payments or promises the goal does not cover; if the person asks "
    "for something you cannot decide, say your user will follow up. End the call politely once "
    "the goal is reached or clearly cannot be."
)
"""The in-call agent's base prompt (``PATTER_SYSTEM_PROMPT``); each call's goal is appended."""

_MEMORY = ":memory:"
_CALLS_FILE = "calls.sqlite3"
_MASK = "'***'"
_SECRET_FIELDS = frozenset(
    {"twilio_auth_token", "telnyx_api_key", "openai_api_key", "elevenlabs_api_key", "mcp_token"}
)
_TUNNELS = ("cloudflare",)
"""The tunnels ``PATTER_TUNNEL`` can start (an ngrok hostname you run is ``PATTER_WEBHOOK_URL``)."""
_TUNNEL_HOST = "127.0.0.1"
"""Where the webhook server listens behind a tunnel unless ``PATTER_HOST`` says: the tunnel
reaches it over loopback, and nothing else on the network needs to."""
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})

Kind = Literal["str", "int", "float", "bool", "prefixes"]
"""How a setting's text is read: prefixes are comma-separated E.164 prefixes (or a TOML list)."""


@dataclass(frozen=True)
class Setting:
    """One setting: its environment variable, its ``section.key`` in the file, and its type."""

    env: str
    key: str
    kind: Kind
    target: str
    """The :class:`ServerConfig` field it fills, or ``policy.<field>`` for the safety policy."""


def _policy_settings() -> tuple[Setting, ...]:
    kinds: dict[type, Kind] = {tuple: "prefixes", bool: "bool", int: "int", float: "float"}
    defaults = SafetyPolicy()
    extra = {
        "require_confirmation": "PATTER_REQUIRE_CONFIRMATION",
        "ai_disclosure": "PATTER_AI_DISCLOSURE",
        "disclosure": "PATTER_DISCLOSURE",
    }
    return tuple(
        Setting(
            env, f"policy.{name}", kinds.get(type(getattr(defaults, name)), "str"), f"policy.{name}"
        )
        for name, env in {**ENV_VARS, **extra}.items()
    )


SETTINGS: tuple[Setting, ...] = (
    Setting("TWILIO_ACCOUNT_SID", "twilio.account_sid", "str", "twilio_account_sid"),
    Setting("TWILIO_AUTH_TOKEN", "twilio.auth_token", "str", "twilio_auth_token"),
    Setting("TWILIO_PHONE_NUMBER", "twilio.phone_number", "str", "twilio_phone_number"),
    Setting("TWILIO_BASE_URL", "twilio.base_url", "str", "twilio_base_url"),
    Setting("TELNYX_API_KEY", "telnyx.api_key", "str", "telnyx_api_key"),
    Setting("TELNYX_CONNECTION_ID", "telnyx.connection_id", "str", "telnyx_connection_id"),
    Setting("TELNYX_PHONE_NUMBER", "telnyx.phone_number", "str", "telnyx_phone_number"),
    Setting("TELNYX_PUBLIC_KEY", "telnyx.public_key", "str", "telnyx_public_key"),
    Setting("TELNYX_BASE_URL", "telnyx.base_url", "str", "telnyx_base_url"),
    Setting("PATTER_WEBHOOK_URL", "server.webhook_url", "str", "webhook_url"),
    Setting("PATTER_TUNNEL", "server.tunnel", "str", "tunnel"),
    Setting("PATTER_HOST", "server.host", "str", "host"),
    Setting("PATTER_PORT", "server.port", "int", "port"),
    Setting("OPENAI_API_KEY", "openai.api_key", "str", "openai_api_key"),
    Setting("OPENAI_BASE_URL", "openai.base_url", "str", "openai_base_url"),
    Setting("ELEVENLABS_API_KEY", "elevenlabs.api_key", "str", "elevenlabs_api_key"),
    Setting("ELEVENLABS_AGENT_ID", "elevenlabs.agent_id", "str", "elevenlabs_agent_id"),
    Setting("ELEVENLABS_BASE_URL", "elevenlabs.base_url", "str", "elevenlabs_base_url"),
    Setting("PATTER_ENGINE", "agent.engine", "str", "engine"),
    Setting("PATTER_VOICE", "agent.voice", "str", "voice"),
    Setting("PATTER_MODEL", "agent.model", "str", "model"),
    Setting("PATTER_SYSTEM_PROMPT", "agent.system_prompt", "str", "system_prompt"),
    *_policy_settings(),
    Setting("PATTER_AUDIT_DB", "audit.db", "str", "audit_db"),
    Setting("PATTER_CALLS_DB", "calls.db", "str", "calls_db"),
    Setting("PATTER_LOG_REDACT_PHONE", "calls.redact_phone", "str", "redact_phone"),
    Setting("PATTER_SANDBOX_MS_PER_CHAR", "sandbox.ms_per_char", "int", "sandbox_ms_per_char"),
    Setting("PATTER_MCP_TOKEN", "mcp.token", "str", "mcp_token"),
)
"""Every setting :func:`load_config` reads; a later policy entry may depend on an earlier one."""

_BY_TARGET = {s.target: s for s in SETTINGS}

CarrierName = Literal["twilio", "telnyx"]
"""The carriers :class:`ServerConfig` can configure (``ServerConfig.carrier``)."""


@dataclass(frozen=True)
class _CarrierSettings:
    """One carrier's settings: those a live server needs, and the optional ones."""

    title: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    number: str
    """The setting holding the number calls come from (one of ``required``)."""
    hints: tuple[tuple[str, str], ...] = ()
    """What to say about a required setting that is missing, when its name is not enough."""

    @property
    def fields(self) -> tuple[str, ...]:
        return self.required + self.optional


_CARRIERS: dict[CarrierName, _CarrierSettings] = {
    "twilio": _CarrierSettings(
        "Twilio",
        ("twilio_account_sid", "twilio_auth_token", "twilio_phone_number"),
        ("twilio_base_url",),
        "twilio_phone_number",
    ),
    "telnyx": _CarrierSettings(
        "Telnyx",
        ("telnyx_api_key", "telnyx_connection_id", "telnyx_phone_number", "telnyx_public_key"),
        ("telnyx_base_url",),
        "telnyx_phone_number",
        (
            (
                "telnyx_public_key",
                "TELNYX_PUBLIC_KEY is your account's public key (Telnyx portal, Keys & "
                "Credentials > Public Key): every webhook is checked with it, so that nobody "
                "who finds the server's address can start calls or forge their events. ",
            ),
        ),
    ),
}
_WAYS_IN = ("webhook_url", "tunnel")
"""How a carrier reaches the webhook server: a hostname of your own, or a tunnel Patter starts."""

EngineName = Literal["openai_realtime", "elevenlabs_convai"]
"""The engines the in-call agent can run on (``ServerConfig.engine``, ``PATTER_ENGINE``)."""

ENGINES: dict[EngineName, str] = {
    "openai_realtime": "OpenAI Realtime",
    "elevenlabs_convai": "ElevenLabs ConvAI",
}
"""Each engine ``PATTER_ENGINE`` names, and how messages call it. The first is the default."""

_CONVAI_FIELDS = ("elevenlabs_agent_id",)
"""The settings only an ElevenLabs ConvAI engine reads, refused without it. ``ELEVENLABS_API_KEY``
and ``ELEVENLABS_BASE_URL`` are ElevenLabs' own variables, often set for other tools (ElevenLabs
TTS) in the same environment: like ``OPENAI_*`` with ConvAI, they do not stop the server."""
_REALTIME_DEFAULTS = {"voice": "alloy", "model": "gpt-4o-mini-realtime-preview"}
"""OpenAI Realtime's voice and model when ``PATTER_VOICE``/``PATTER_MODEL`` are unset."""
_SANDBOX_CONVAI_AGENT = "agent_sandbox"
"""The fake ConvAI agent sandbox calls reach when ``ELEVENLABS_AGENT_ID`` is unset."""


@dataclass(frozen=True, repr=False)
class ServerConfig:
    """What the MCP server runs with; build it with :func:`load_config`.

    The mode follows the carrier settings. One carrier's required settings (``twilio_*``:
    account SID, auth token, phone number; or ``telnyx_*``: API key, connection id, phone
    number, public key) plus one way in (``webhook_url``, or ``tunnel="cloudflare"``) give
    ``"live"``; no carrier setting gives ``"sandbox"``. Anything in between, settings of both
    carriers, or both ways in are a :class:`ConfigError` naming what to set.

    ``engine`` is what the in-call agent runs on: ``"openai_realtime"`` (live mode needs
    ``openai_api_key``; ``voice`` and ``model`` default to ``"alloy"`` and
    ``"gpt-4o-mini-realtime-preview"``) or ``"elevenlabs_convai"`` (live mode needs
    ``elevenlabs_agent_id``; ``elevenlabs_api_key`` reaches a private agent; ``voice`` is an
    ElevenLabs voice id, empty for the agent's own; a ``model`` is refused: it is chosen on
    ElevenLabs). ``elevenlabs_*`` settings with another engine are refused.

    ``audit_db=None`` keeps the audit log in memory. ``calls_db`` is where the call history
    is kept (``get_call``/``list_calls`` after a restart); ``None`` keeps it in memory. Its
    phone numbers are kept as ``redact_phone`` says (``mask``, ``full`` or ``hash_only``, as
    in call logs). ``repr`` masks the auth token, the API keys and the MCP token.
    """

    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_phone_number: str = ""
    twilio_base_url: str = ""
    telnyx_api_key: str = ""
    telnyx_connection_id: str = ""
    telnyx_phone_number: str = ""
    telnyx_public_key: str = ""
    telnyx_base_url: str = ""
    webhook_url: str = ""
    tunnel: str = ""
    host: str = "0.0.0.0"
    port: int = 8000
    openai_api_key: str = ""
    openai_base_url: str = ""
    elevenlabs_api_key: str = ""
    elevenlabs_agent_id: str = ""
    elevenlabs_base_url: str = ""
    engine: EngineName = "openai_realtime"
    voice: str = ""
    model: str = ""
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    policy: SafetyPolicy = field(default_factory=SafetyPolicy)
    audit_db: str | None = None
    calls_db: str | None = None
    redact_phone: PhoneRedaction = "mask"
    sandbox_ms_per_char: int = 60
    mcp_token: str = ""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("port", "sandbox_ms_per_char"):
                _check_int(f.name, value)
            elif f.name == "policy":
                if not isinstance(value, SafetyPolicy):
                    raise ConfigError(f"policy must be a SafetyPolicy, got {type(value).__name__}")
            elif not (
                isinstance(value, str) or (f.name in ("audit_db", "calls_db") and value is None)
            ):
                raise ConfigError(f"{_named(f.name)} must be a str, got {type(value).__name__}")
        object.__setattr__(
            self,
            "redact_phone",
            require_phone_redaction(
                "PATTER_LOG_REDACT_PHONE", self.redact_phone.strip().lower() or "mask"
            ),
        )
        for name in ("host", "system_prompt"):
            if not getattr(self, name).strip():
                raise ConfigError(
                    f"{_named(name)} must not be empty: leave it unset for the default"
                )
        if self.tunnel:
            object.__setattr__(self, "tunnel", self.tunnel.strip().lower())
            if self.tunnel not in _TUNNELS:
                raise ConfigError(
                    f"PATTER_TUNNEL={self.tunnel!r} is not a tunnel Patter can start: use "
                    "'cloudflare' (a Cloudflare quick tunnel, needs cloudflared), or run your own "
                    "(ngrok, a reverse proxy) and set PATTER_WEBHOOK_URL to its hostname"
                )
        self._check_engine_settings()
        carrier = self._check_carrier_settings()
        if carrier is None:
            return
        if carrier == "twilio" and not self.twilio_account_sid.startswith("AC"):
            raise ConfigError(
                "TWILIO_ACCOUNT_SID must start with 'AC' (find it on the Twilio console home "
                "page); an API key SID ('SK...') is not an account SID"
            )
        if not is_e164(self.phone_number):
            raise ConfigError(
                f"{_named(_CARRIERS[carrier].number)}={self.phone_number!r} is not an E.164 "
                "number: write '+', the country code and the number, e.g. '+15550001234'"
            )
        if self.webhook_url:
            try:
                require_hostname("PATTER_WEBHOOK_URL", self.webhook_url)
            except PatterError as exc:
                raise ConfigError(exc.message) from None
        to_sandbox = (
            f"unset the {carrier.upper()}_* settings and {self._way_in_named()} to run in "
            "sandbox mode"
        )
        if self.engine == "elevenlabs_convai" and not self.elevenlabs_agent_id:
            raise ConfigError(
                "ELEVENLABS_AGENT_ID is not set: live calls with PATTER_ENGINE=elevenlabs_convai "
                "run on your ElevenLabs agent, named by its id (shown in the agent's settings on "
                "ElevenLabs). Set ELEVENLABS_AGENT_ID (and ELEVENLABS_API_KEY for a private "
                f"agent), unset PATTER_ENGINE to run calls on OpenAI Realtime, or {to_sandbox}"
            )
        if self.engine == "openai_realtime" and not self.openai_api_key:
            raise ConfigError(
                "OPENAI_API_KEY is not set: live calls need it, because the in-call agent runs on "
                "OpenAI Realtime (only the sandbox has a scripted model). Set OPENAI_API_KEY, set "
                "PATTER_ENGINE=elevenlabs_convai and ELEVENLABS_AGENT_ID to run calls on an "
                f"ElevenLabs agent, or {to_sandbox}"
            )

    def _check_engine_settings(self) -> None:
        """Check the engine's name and settings; fill in OpenAI Realtime's voice and model."""
        engine = self.engine.strip().lower()
        if engine not in ENGINES:
            raise ConfigError(
                f"PATTER_ENGINE={self.engine!r} is not an engine the in-call agent can run on: "
                "use 'openai_realtime' (the default: OpenAI Realtime, with OPENAI_API_KEY) or "
                "'elevenlabs_convai' (your ElevenLabs Conversational AI agent, with "
                "ELEVENLABS_AGENT_ID)"
            )
        object.__setattr__(self, "engine", engine)
        for name in ("voice", "model"):
            object.__setattr__(self, name, getattr(self, name).strip())
        if engine == "openai_realtime":
            given = [_named(f) for f in _CONVAI_FIELDS if getattr(self, f)]
            if given:
                are, them = ("are", "them") if len(given) > 1 else ("is", "it")
                raise ConfigError(
                    f"{_listed(given)} {are} set, but PATTER_ENGINE is not elevenlabs_convai: "
                    f"calls would run on OpenAI Realtime and ignore {them}. Set "
                    "PATTER_ENGINE=elevenlabs_convai to run calls on your ElevenLabs agent, or "
                    f"unset {_listed(given)}"
                )
            for name, default in _REALTIME_DEFAULTS.items():
                if not getattr(self, name):
                    object.__setattr__(self, name, default)
            return
        if self.model:
            raise ConfigError(
                f"PATTER_MODEL={self.model!r} is set, but an ElevenLabs ConvAI agent's model is "
                "chosen on ElevenLabs (PATTER_ENGINE=elevenlabs_convai): unset PATTER_MODEL, or "
                "unset PATTER_ENGINE to run calls on OpenAI Realtime"
            )
        if self.elevenlabs_base_url:
            from getpatter.engines.elevenlabs.endpoint import DEFAULT_BASE_URL, conversation_url

            try:
                conversation_url(self.elevenlabs_base_url, "check")
            except PatterError:
                raise ConfigError(
                    f"ELEVENLABS_BASE_URL={self.elevenlabs_base_url!r} is not an http(s) URL of "
                    f"the ElevenLabs API: use e.g. {DEFAULT_BASE_URL!r}, or unset it for that one"
                ) from None

    def _check_carrier_settings(self) -> CarrierName | None:
        """The carrier the settings name, or None for the sandbox; refuse a partial set."""
        given = {
            name: [f for f in spec.fields if getattr(self, f)] for name, spec in _CARRIERS.items()
        }
        ways_in = [f for f in _WAYS_IN if getattr(self, f)]
        if given["twilio"] and given["telnyx"]:
            raise ConfigError(
                "settings of two carriers are given ("
                + "; ".join(
                    f"{spec.title}: {', '.join(_named(f) for f in given[name])}"
                    for name, spec in _CARRIERS.items()
                )
                + "), but a server places calls through one: unset the TWILIO_* or the TELNYX_* "
                "settings"
            )
        if len(ways_in) > 1:
            raise ConfigError(
                "PATTER_WEBHOOK_URL and PATTER_TUNNEL are both set: give the public hostname of "
                "your own server or tunnel (PATTER_WEBHOOK_URL), or have Patter start a tunnel "
                "(PATTER_TUNNEL=cloudflare), not both"
            )
        carrier: CarrierName | None = next((name for name, found in given.items() if found), None)
        if carrier is None:
            if ways_in:
                raise ConfigError(
                    f"{_named(ways_in[0])} is set but no carrier is: live calls need "
                    + " or ".join(
                        f"{spec.title}'s {_listed([_named(f) for f in spec.required])}"
                        for spec in _CARRIERS.values()
                    )
                    + f". Set one carrier's, or unset {_named(ways_in[0])} to run in sandbox mode"
                )
            return None
        spec = _CARRIERS[carrier]
        missing = [_named(f) for f in spec.required if not getattr(self, f)]
        if not ways_in:
            missing.append("PATTER_WEBHOOK_URL or PATTER_TUNNEL")
        if missing:
            required = ", ".join(_named(f) for f in spec.required)
            shown = [_named(f) for f in given[carrier] + ways_in]
            hints = "".join(hint for f, hint in spec.hints if not getattr(self, f))
            raise ConfigError(
                f"live calls through {spec.title} need {required}, and PATTER_WEBHOOK_URL or "
                f"PATTER_TUNNEL (how {spec.title} reaches this machine). Not set: "
                f"{'; '.join(missing)}. {hints}Set the missing ones to place real calls through "
                f"{spec.title}, or unset {_listed(shown)} to run in sandbox mode"
            )
        return carrier

    def _way_in_named(self) -> str:
        return "PATTER_TUNNEL" if self.tunnel else "PATTER_WEBHOOK_URL"

    @property
    def mode(self) -> Literal["live", "sandbox"]:
        """``"live"`` with carrier credentials, ``"sandbox"`` without."""
        return "sandbox" if self.carrier is None else "live"

    @property
    def carrier(self) -> CarrierName | None:
        """``"twilio"`` or ``"telnyx"``, whichever carrier's settings are given; None in the
        sandbox."""
        for name, spec in _CARRIERS.items():
            if any(getattr(self, f) for f in spec.required):
                return name
        return None

    @property
    def phone_number(self) -> str:
        """The number live calls come from (the carrier's), or ``""`` in the sandbox."""
        carrier = self.carrier
        return "" if carrier is None else str(getattr(self, _CARRIERS[carrier].number))

    def __repr__(self) -> str:
        shown = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            shown.append(f"{f.name}={_MASK if f.name in _SECRET_FIELDS and value else repr(value)}")
        return f"ServerConfig({', '.join(shown)})"


def load_config(env: Mapping[str, str] = os.environ, path: str | None = None) -> ServerConfig:
    """Read the server's configuration from ``env`` and the TOML file at ``path``.

    ``path`` defaults to ``env["PATTER_CONFIG"]``; with neither, only ``env`` is read. A setting
    in ``env`` (non-empty) wins over the file. Behind a tunnel (``PATTER_TUNNEL``) the webhook
    server listens on 127.0.0.1 unless ``PATTER_HOST`` says otherwise: the tunnel reaches it over
    loopback. Raises :class:`ConfigError` naming the variable (or the file key) of any bad value,
    and for a partial carrier setup.
    """
    path = path or env.get("PATTER_CONFIG", "").strip() or None
    raw = _read_file(path) if path is not None else {}
    for setting in SETTINGS:
        value = env.get(setting.env, "").strip()
        if value:
            raw[setting.target] = (value, setting.env)
    values: dict[str, Any] = {}
    policy = SafetyPolicy()
    # In SETTINGS order, so ai_disclosure is applied before the disclosure text it governs.
    for setting in SETTINGS:
        if setting.target not in raw:
            continue
        given, source = raw[setting.target]
        parsed = _parse(setting, given, source)
        if setting.target.startswith("policy."):
            name = setting.target.removeprefix("policy.")
            try:
                policy = dataclasses.replace(policy, **{name: parsed})
            except PatterError as exc:
                raise ConfigError(f"{source}: {exc.message}") from None
        else:
            values[setting.target] = parsed
    if values.get("tunnel") and "host" not in values:
        values["host"] = _TUNNEL_HOST
    audit_db = values.pop("audit_db", None)
    calls_db = values.pop("calls_db", None)
    config = ServerConfig(policy=policy, **values)
    if audit_db == _MEMORY:
        audit_db = None
    elif audit_db is None and config.mode == "live":
        audit_db = DEFAULT_AUDIT_DB
    if calls_db == _MEMORY:
        calls_db = None
    elif calls_db is None and audit_db is not None:
        # The call history lives beside the audit log (the server's data folder).
        calls_db = os.path.join(os.path.dirname(audit_db), _CALLS_FILE)
    return dataclasses.replace(config, audit_db=audit_db, calls_db=calls_db)


def build_service(config: ServerConfig) -> CallService:
    """The :class:`CallService` ``config`` describes (not started yet).

    Sandbox mode gives :meth:`CallService.sandbox`; live mode a line through the configured
    carrier (Twilio or Telnyx). The in-call agent speaks ``config.system_prompt`` plus each
    call's goal on ``config.engine``: OpenAI Realtime, or the ElevenLabs ConvAI agent
    ``config.elevenlabs_agent_id`` (set to the carrier's audio format, see
    :meth:`~getpatter.ElevenLabsConvAI.for_twilio`; in the sandbox it runs on the fake ConvAI
    server). With ``tunnel="cloudflare"`` the phone opens a Cloudflare quick tunnel when the
    service starts, and points the number at it (``Patter.serve``'s default).
    """
    from getpatter.agent import build_agent
    from getpatter.control.audit import AuditLog
    from getpatter.control.service import CallService

    if not isinstance(config, ServerConfig):
        raise ConfigError(f"build_service needs a ServerConfig, got {type(config).__name__}")
    if config.mode == "sandbox":
        # Without an agent, the sandbox's own runs on its fake OpenAI Realtime.
        sandbox_agent = (
            build_agent(config.system_prompt, engine=_engine(config))
            if config.engine == "elevenlabs_convai"
            else None
        )
        return CallService.sandbox(
            sandbox_agent,
            policy=config.policy,
            audit=AuditLog(config.audit_db),
            ms_per_char=config.sandbox_ms_per_char,
            history=_history(config),
        )
    from getpatter.client import Patter
    from getpatter.tunnels import CloudflareTunnel

    phone = Patter(
        carrier=_carrier(config),
        phone_number=config.phone_number,
        webhook_url=config.webhook_url,
        tunnel=CloudflareTunnel() if config.tunnel == "cloudflare" else None,
    )
    agent = phone.agent(system_prompt=config.system_prompt, engine=_engine(config))
    return CallService(
        phone,
        agent,
        policy=config.policy,
        audit=AuditLog(config.audit_db),
        port=config.port,
        host=config.host,
        history=_history(config),
    )


def _history(config: ServerConfig) -> CallStore | None:
    """The call history store, when the server keeps one on disk."""
    if config.calls_db is None:
        return None
    from getpatter.calls.redacted_store import RedactedCallStore
    from getpatter.calls.sqlite_store import SQLiteCallStore

    return RedactedCallStore(
        SQLiteCallStore(os.path.expanduser(config.calls_db)), config.redact_phone
    )


def _engine(config: ServerConfig) -> Realtime | ConvAI:
    """The in-call agent's engine; a ConvAI agent is set to the carrier's format (μ-law 8 kHz on
    Twilio and in the sandbox, 16 kHz PCM on Telnyx), so nothing is converted when the agent on
    ElevenLabs is set to it."""
    if config.engine == "openai_realtime":
        from getpatter.engines.openai import Realtime

        return Realtime(
            api_key=config.openai_api_key,
            voice=config.voice,
            model=config.model,
            base_url=config.openai_base_url,
        )
    from getpatter.engines.elevenlabs import ConvAI

    options = {
        "api_key": config.elevenlabs_api_key,
        "agent_id": config.elevenlabs_agent_id or _SANDBOX_CONVAI_AGENT,  # set when live
        "voice": config.voice,
        "base_url": config.elevenlabs_base_url,
    }
    if config.carrier == "telnyx":
        return ConvAI.for_telnyx(**options)
    return ConvAI.for_twilio(**options)


def _carrier(config: ServerConfig) -> Twilio | Telnyx:
    """The carrier of a live ``config``: it checks the credentials and registers the secret."""
    from getpatter.carriers.telnyx import Carrier as Telnyx
    from getpatter.carriers.twilio import Carrier as Twilio

    if config.carrier == "telnyx":
        return Telnyx(
            api_key=config.telnyx_api_key,
            connection_id=config.telnyx_connection_id,
            public_key=config.telnyx_public_key,
            base_url=config.telnyx_base_url,
        )
    return Twilio(
        account_sid=config.twilio_account_sid,
        auth_token=config.twilio_auth_token,
        base_url=config.twilio_base_url,
    )


def _read_file(path: str) -> dict[str, tuple[object, str]]:
    try:
        with open(os.path.expanduser(path), "rb") as file:
            document = tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path!r} does not exist: check --config / PATTER_CONFIG"
        ) from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path!r}: {exc}") from None
    by_key = {s.key: s for s in SETTINGS}
    found: dict[str, tuple[object, str]] = {}
    for section, table in document.items():
        if not isinstance(table, dict):
            raise ConfigError(
                f"{section!r} in {path} must be a [section]: put settings under "
                f"{', '.join(sorted({'[' + k.split('.')[0] + ']' for k in by_key}))}"
            )
        for key, value in table.items():
            setting = by_key.get(f"{section}.{key}")
            if setting is None:
                known = ", ".join(k.split(".", 1)[1] for k in by_key if k.startswith(f"{section}."))
                raise ConfigError(
                    f"unknown setting {section}.{key} in {path}"
                    + (f": [{section}] takes {known}" if known else "")
                )
            found[setting.target] = (value, f"{setting.key} in {path}")
    return found


def _parse(setting: Setting, value: object, source: str) -> Any:
    """Turn a raw value (a string from the environment, a TOML value) into the setting's kind."""
    kind = setting.kind
    if kind == "prefixes":
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        if isinstance(value, list) and all(isinstance(p, str) for p in value):
            return tuple(value)
        raise ConfigError(
            f"{source}: give E.164 prefixes, comma-separated ('+1555,+4420') or as a list"
        )
    if isinstance(value, str):
        text = value.strip()
        if kind == "str":
            return text
        if kind == "bool" and text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        with contextlib.suppress(ValueError):
            if kind == "int":
                return int(text)
            if kind == "float":
                return float(text)
    elif (kind == "bool" and isinstance(value, bool)) or (
        kind == "int" and isinstance(value, int) and not isinstance(value, bool)
    ):
        return value
    elif kind == "float" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    expected = {
        "str": "a string",
        "int": "a whole number, e.g. 3",
        "float": "a number, e.g. 10.0",
        "bool": "true or false (also 1/0, yes/no, on/off)",
    }[kind]
    got = type(value).__name__ if setting.target in _SECRET_FIELDS else repr(value)
    raise ConfigError(f"{source}: expected {expected}, got {got}")


def _check_int(name: str, value: object) -> None:
    limits = {"port": (1, 65535), "sandbox_ms_per_char": (1, 1000)}[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{_named(name)} must be a whole number, got {type(value).__name__}")
    if not limits[0] <= value <= limits[1]:
        raise ConfigError(f"{_named(name)}={value} is out of range: use {limits[0]}..{limits[1]}")


def _named(target: str) -> str:
    return _BY_TARGET[target].env


def _listed(names: list[str]) -> str:
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
