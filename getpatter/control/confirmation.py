"""A local web page where a person confirms, or refuses, a call a model planned.

When the safety policy requires confirmation, the model that asks for a call must not be able
to confirm it itself. :class:`ConfirmationPage` serves one page per plan on ``127.0.0.1`` (a free
port unless you choose one): the receipt (number, goal, opening line, time limit, live or
sandbox) and two buttons. Confirming records the person's confirmation with the plan's secret,
which the model never sees; the call is then dialed by ``confirm_call(token)``. Refusing voids
the plan. Any host application can use it::

    page = ConfirmationPage(service)
    plan = service.plan_call("+15550101234", goal="Book a table for two")
    print("Confirm the call at", await page.link(plan))
    ...                                   # the person presses Confirm
    record = await service.confirm_call(plan.token)
    await page.aclose()

The page URL holds an unguessable key; the form holds a second one, and only a POST carrying it
changes anything (a GET never confirms). Requests must name the loopback host (no DNS
rebinding), a cross-site POST is refused, and the page cannot be framed. Everything the model
wrote is shown as text, never as markup.
"""

from __future__ import annotations

import hmac
import html
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from getpatter._validation import require_int
from getpatter.control.numbers import classify
from getpatter.control.plans import CallPlan
from getpatter.control.service import CallService
from getpatter.errors import ConfigError, PatterError

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from getpatter.server.background import BackgroundServer

__all__ = ["PAGE_PATH", "ConfirmationPage"]

PAGE_PATH = "/confirm-call/"
"""Where each plan's page lives, under an unguessable key (kept out of logs by the redaction)."""

_HOST = "127.0.0.1"
_MAX_FORM_BYTES = 4096
_KEPT_AFTER_EXPIRY = 600.0
"""How long a page still answers (saying the plan expired) after its plan's time ran out."""
_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass
class _Page:
    plan: CallPlan
    form_token: str


class ConfirmationPage:
    """Pages on ``127.0.0.1:port`` where a person confirms or refuses ``service``'s plans.

    ``port=0`` (the default) picks a free port. The server starts on the first :meth:`link` (or
    :meth:`start`) and stops at :meth:`aclose`.
    """

    def __init__(self, service: CallService, *, port: int = 0) -> None:
        if not isinstance(service, CallService):
            raise ConfigError(
                f"ConfirmationPage needs the CallService whose plans it confirms, got "
                f"{type(service).__name__}"
            )
        self._service = service
        self._port = require_int("port", port, minimum=0, maximum=65535)
        self._server: BackgroundServer | None = None
        self._pages: dict[str, _Page] = {}
        self._keys: dict[str, str] = {}
        """plan token -> page key, so one plan keeps one page."""

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` once started, else ``""``."""
        return f"http://{_HOST}:{self._server.port}" if self._server is not None else ""

    async def start(self) -> str:
        """Start serving (once); return :attr:`base_url`."""
        if self._server is None:
            from getpatter.server.background import BackgroundServer

            server = BackgroundServer(self._app(), host=_HOST, port=self._port)
            await server.start()
            self._server = server
        return self.base_url

    async def link(self, plan: CallPlan) -> str:
        """The URL of ``plan``'s page (the same URL for the same plan); starts the server."""
        if not isinstance(plan, CallPlan):
            raise ConfigError(f"link needs a CallPlan from plan_call, got {type(plan).__name__}")
        await self.start()
        self._forget_old_pages()
        key = self._keys.get(plan.token)
        if key is None:
            key = secrets.token_urlsafe(24)
            self._pages[key] = _Page(plan, secrets.token_urlsafe(24))
            self._keys[plan.token] = key
        return f"{self.base_url}{PAGE_PATH}{key}"

    async def aclose(self) -> None:
        """Stop serving. Plans stay as they are; their pages answer no more."""
        server, self._server = self._server, None
        if server is not None:
            await server.stop(grace=1.0)
        self._pages.clear()
        self._keys.clear()

    async def __aenter__(self) -> ConfirmationPage:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ the web app

    def _app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.routing import Route

        return Starlette(
            routes=[Route(PAGE_PATH + "{key}", self._handle, methods=["GET", "POST"])],
        )

    async def _handle(self, request: Request) -> Response:
        if not self._local_host(request.headers.get("host", "")):
            return _page("Wrong address", "<p>Open the link exactly as it was given.</p>", 400)
        page = self._pages.get(str(request.path_params["key"]))
        if page is None:
            return _page("Not found", "<p>There is no call to confirm at this address.</p>", 404)
        if request.method != "POST":  # GET and HEAD only look
            return self._receipt(page)
        origin = request.headers.get("origin")
        if origin is not None and not self._local_origin(origin):
            return _page("Refused", "<p>This form can only be sent from its own page.</p>", 403)
        body = await _form_body(request)
        if body is None:
            return _page("Refused", "<p>The form was too large.</p>", 413)
        sent = body.get("form_token", [""])[0]
        if not hmac.compare_digest(sent.encode(), page.form_token.encode()):
            return _page(
                "Refused",
                "<p>This form is out of date or was not sent from its page: reload the page "
                "and try again.</p>",
                403,
            )
        decision = body.get("decision", [""])[0]
        if decision not in ("confirm", "refuse"):
            return _page("Refused", "<p>Press Confirm or Refuse.</p>", 400)
        return await self._decide(page, decision)

    async def _decide(self, page: _Page, decision: str) -> Response:
        plans = self._service.plans
        plan = page.plan
        if plans.state(plan.token) != "pending":
            return self._receipt(page, status=409)
        try:
            if decision == "confirm":
                await plans.confirm(plan.token, plan.secret, client="page")
            else:
                await plans.refuse(
                    plan.token, "the person refused it on the confirmation page", client="page"
                )
        except PatterError:
            return self._receipt(page, status=409)
        return self._receipt(page)

    def _receipt(self, page: _Page, *, status: int = 200) -> Response:
        plan = page.plan
        state = self._service.plans.state(plan.token)
        live = self._service.mode == "live"
        number = classify(plan.to)
        where = f"{number.international} ({number.region})" if number.region else plan.to
        rows = [("Number", where), ("Goal", plan.goal or "(none given)")]
        rows.append(("Opening line", plan.first_message))
        if plan.voicemail_message:
            rows.append(("Voicemail message", plan.voicemail_message))
        rows.append(("Time limit", f"hangs up after {plan.max_duration_sec} s at most"))
        expiry = time.strftime("%H:%M:%S UTC", time.gmtime(plan.expires_at))
        stakes = (
            '<p class="live">This calls a real person and costs money.</p>'
            if live
            else '<p class="sandbox">Sandbox: a simulated call, nobody is dialed.</p>'
        )
        details = "".join(f"<dt>{_text(name)}</dt><dd>{_text(value)}</dd>" for name, value in rows)
        body = (
            f"{stakes}<dl>{details}</dl><p class=note>The goal and the opening line were written "
            "by the AI assistant that asked for this call. Confirm only if you asked for it.</p>"
        )
        if state == "pending":
            body += (
                f'<form method="post"><input type="hidden" name="form_token" '
                f'value="{_text(page.form_token)}">'
                '<button name="decision" value="confirm">Confirm the call</button> '
                '<button name="decision" value="refuse">Refuse</button></form>'
                f"<p class=note>Unanswered, this request lapses at {expiry}.</p>"
            )
            return _page("Confirm a phone call?", body, status)
        outcome = {
            "confirmed": (
                "Confirmed",
                f"The assistant may now place this call (until {expiry}). You can close this page.",
            ),
            "refused": ("Refused", "This call will not be placed. You can close this page."),
            "expired": (
                "No longer waiting",
                "This call was placed, or its request lapsed. You can close this page.",
            ),
        }[state]
        return _page(outcome[0], f"<p class=done>{_text(outcome[1])}</p>{body}", status)

    def _local_host(self, host: str) -> bool:
        port = self._server.port if self._server is not None else 0
        return host in (f"{_HOST}:{port}", f"localhost:{port}")

    def _local_origin(self, origin: str) -> bool:
        scheme = "http://"
        return origin.startswith(scheme) and self._local_host(origin[len(scheme) :])

    def _forget_old_pages(self) -> None:
        now = time.time()
        for key, page in list(self._pages.items()):
            if page.plan.expires_at + _KEPT_AFTER_EXPIRY < now:
                del self._pages[key]
                self._keys.pop(page.plan.token, None)


async def _form_body(request: Request) -> dict[str, list[str]] | None:
    """The urlencoded form, or ``None`` past :data:`_MAX_FORM_BYTES`."""
    data = b""
    async for chunk in request.stream():
        data += chunk
        if len(data) > _MAX_FORM_BYTES:
            return None
    return parse_qs(data.decode("utf-8", errors="replace"))


def _text(value: str) -> str:
    return html.escape(value, quote=True)


def _page(title: str, body: str, status: int) -> Response:
    from starlette.responses import HTMLResponse

    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_text(title)} - Patter</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>{_text(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(document, status_code=status, headers=_HEADERS)


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;background:#f6f6f4;color:#222}"
    "main{max-width:40rem;margin:auto;background:#fff;padding:1.5rem 2rem;border-radius:8px}"
    "dt{font-weight:600;margin-top:.8rem}dd{margin:.2rem 0 0;white-space:pre-wrap;"
    "overflow-wrap:anywhere;background:#f2f2f2;padding:.4rem .6rem;border-radius:4px}"
    ".live{color:#a00;font-weight:600}.sandbox{color:#555}.note{color:#555;font-size:.9rem}"
    ".done{font-size:1.1rem;font-weight:600}"
    "button{font-size:1rem;padding:.6rem 1.2rem;margin:1rem .5rem 0 0;cursor:pointer}"
)
