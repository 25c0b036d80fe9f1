"""The dashboard page: ``static/index.html`` with its stylesheet and script inlined.

The three files are read once, off the event loop, on the first request. Each response inlines
``static/style.css`` and ``static/app.js`` at the markers ``<!--patter:style-->`` and
``<!--patter:script-->`` in ``<style>``/``<script>`` elements carrying a fresh nonce, and a
Content-Security-Policy allows those two elements and nothing else: no other script, no inline
handler, no external resource, no framing.
"""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

__all__ = ["STATIC", "Page", "security_headers", "token_needed_page"]

STATIC = Path(__file__).with_name("static")
"""Where the page's files live (packaged with getpatter)."""

STYLE_MARKER = "<!--patter:style-->"
SCRIPT_MARKER = "<!--patter:script-->"
_NONCE = "\x00nonce\x00"


def security_headers(nonce: str) -> dict[str, str]:
    """The headers of every dashboard page: a strict CSP allowing the ``nonce``-d elements."""
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


@dataclass(frozen=True, slots=True)
class _Template:
    parts: tuple[str, ...]
    """The page split where the nonce goes."""

    def render(self, nonce: str) -> str:
        return nonce.join(self.parts)


class Page:
    """Renders the page from the files in ``folder`` (default :data:`STATIC`)."""

    def __init__(self, folder: Path = STATIC) -> None:
        self._folder = folder
        self._template: _Template | None = None

    async def render(self) -> tuple[str, str]:
        """A fresh nonce and the page using it."""
        if self._template is None:
            self._template = await asyncio.to_thread(self._load)
        # Public in the page it guards, so not a credential: plain base64 of random bytes.
        nonce = base64.b64encode(secrets.token_bytes(18)).decode()
        return nonce, self._template.render(nonce)

    def _load(self) -> _Template:
        page = (self._folder / "index.html").read_text(encoding="utf-8")
        style = (self._folder / "style.css").read_text(encoding="utf-8")
        script = (self._folder / "app.js").read_text(encoding="utf-8")
        for marker in (STYLE_MARKER, SCRIPT_MARKER):
            if page.count(marker) != 1:
                raise RuntimeError(f"{self._folder / 'index.html'} must hold {marker} once")
        if re.search(r"</style", style, re.IGNORECASE) or re.search(
            r"</script", script, re.IGNORECASE
        ):
            raise RuntimeError("style.css and app.js must not contain </style or </script")
        page = page.replace(STYLE_MARKER, f'<style nonce="{_NONCE}">\n{style}</style>')
        page = page.replace(SCRIPT_MARKER, f'<script nonce="{_NONCE}">\n{script}</script>')
        return _Template(tuple(page.split(_NONCE)))


def token_needed_page() -> str:
    """The page shown without a valid token: what to do, and no data."""
    return (
        "<!doctype html><html lang=en><meta charset=utf-8><title>Patter dashboard</title>"
        "<h1>Patter dashboard</h1><p>This dashboard needs its token. Open the address printed "
        "when the server started (it ends in <code>?token=...</code>), or send "
        "<code>Authorization: Bearer &lt;token&gt;</code>.</p></html>"
    )
