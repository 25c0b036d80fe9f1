"""TwiML documents as the simulator understands them: a list of typed verbs.

Supported verbs: ``<Say>``, ``<Play>``, ``<Pause>``, ``<Connect><Stream>`` (bidirectional media
stream with ``<Parameter>`` children), ``<Dial>``, ``<Hangup>``, ``<Reject>`` and
``<Redirect>``. Anything else parses to :class:`Unsupported`, which the simulator records as
an error and skips, as Twilio skips verbs it cannot run.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

__all__ = [
    "ConnectStream",
    "Dial",
    "Hangup",
    "Pause",
    "Play",
    "Redirect",
    "Reject",
    "Say",
    "TwimlError",
    "Unsupported",
    "Verb",
    "parse_twiml",
]


class TwimlError(ValueError):
    """The document is not TwiML: Twilio's error 12100, "Document parse failure"."""


@dataclass(frozen=True)
class Say:
    """``<Say>text</Say>``."""

    text: str


@dataclass(frozen=True)
class Play:
    """``<Play>url</Play>``."""

    url: str


@dataclass(frozen=True)
class Pause:
    """``<Pause length="seconds"/>`` (one second by default)."""

    seconds: float = 1.0


@dataclass(frozen=True)
class ConnectStream:
    """``<Connect><Stream url=...><Parameter name=... value=.../></Stream></Connect>``."""

    url: str
    parameters: dict[str, str] = field(default_factory=dict)
    name: str | None = None


@dataclass(frozen=True)
class Dial:
    """``<Dial>`` to a number, SIP URI or client: the call leaves the app (a transfer).

    ``time_limit`` caps the dialed leg in seconds; ``action`` is fetched with ``method`` when
    the dialed leg ends, and its TwiML runs next.
    """

    target: str
    caller_id: str | None = None
    time_limit: int | None = None
    action: str | None = None
    method: str = "POST"


@dataclass(frozen=True)
class Hangup:
    """``<Hangup/>``."""


@dataclass(frozen=True)
class Reject:
    """``<Reject reason="rejected|busy"/>``: refuse an incoming call before answering it."""

    reason: str = "rejected"


@dataclass(frozen=True)
class Redirect:
    """``<Redirect method=...>url</Redirect>``: fetch the next TwiML from ``url``."""

    url: str
    method: str = "POST"


@dataclass(frozen=True)
class Unsupported:
    """A verb the simulator does not run, e.g. ``Gather`` or ``Start/Stream``."""

    name: str


Verb = Say | Play | Pause | ConnectStream | Dial | Hangup | Reject | Redirect | Unsupported


def parse_twiml(document: str) -> tuple[Verb, ...]:
    """Parse a TwiML document into its verbs, in order. Raises :class:`TwimlError`."""
    try:
        root = ET.fromstring(document.strip())
    except ET.ParseError as exc:
        raise TwimlError(f"TwiML is not well-formed XML: {exc}") from exc
    if root.tag != "Response":
        raise TwimlError(f"TwiML root element must be <Response>, got <{root.tag}>")
    return tuple(_verb(element) for element in root)


def _verb(element: ET.Element) -> Verb:
    text = (element.text or "").strip()
    match element.tag:
        case "Say":
            return Say(text)
        case "Play":
            return Play(text)
        case "Pause":
            return Pause(_seconds(element.get("length", "1")))
        case "Connect":
            return _connect(element)
        case "Dial":
            target = text or " ".join((child.text or "").strip() for child in element)
            return Dial(
                target.strip(),
                element.get("callerId"),
                _time_limit(element.get("timeLimit")),
                element.get("action"),
                element.get("method", "POST").upper(),
            )
        case "Hangup":
            return Hangup()
        case "Reject":
            return Reject(element.get("reason", "rejected"))
        case "Redirect":
            return Redirect(text, element.get("method", "POST").upper())
    children = "/".join(child.tag for child in element)
    return Unsupported(f"{element.tag}/{children}" if children else element.tag)


def _connect(element: ET.Element) -> Verb:
    children = list(element)
    if len(children) != 1 or children[0].tag != "Stream":
        return Unsupported("Connect/" + "/".join(child.tag for child in children))
    stream = children[0]
    url = stream.get("url")
    if not url:
        raise TwimlError("<Stream> needs a url attribute")
    parameters = {
        param.get("name", ""): param.get("value", "")
        for param in stream
        if param.tag == "Parameter" and param.get("name")
    }
    return ConnectStream(url, parameters, stream.get("name"))


def _time_limit(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or int(value) < 1:
        raise TwimlError(f"<Dial timeLimit={value!r}>: timeLimit must be a positive integer")
    return int(value)


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError as exc:
        raise TwimlError(f"<Pause length={value!r}> is not a number of seconds") from exc
    if not 0 <= seconds <= 600:
        raise TwimlError(f"<Pause length={value!r}> must be between 0 and 600 seconds")
    return seconds
