"""The dashboard page: its files inlined under a per-response nonce and a strict CSP."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from getpatter.calls.memory_store import InMemoryCallStore
from getpatter.dashboard import Dashboard
from getpatter.dashboard.page import STATIC, Page


def _client(page: Page | None = None) -> httpx.AsyncClient:
    app = Dashboard(InMemoryCallStore(), page=page).app()
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dashboard")


async def test_the_page_inlines_its_style_and_script_under_a_fresh_nonce() -> None:
    async with _client() as client:
        first = await client.get("/dashboard")
        second = await client.get("/dashboard")
    assert first.status_code == 200
    assert first.headers["content-type"] == "text/html; charset=utf-8"
    nonce = re.search(r"script-src 'nonce-([^']+)'", first.headers["content-security-policy"])
    assert nonce is not None
    assert first.headers["content-security-policy"] == (
        f"default-src 'none'; script-src 'nonce-{nonce[1]}'; style-src 'nonce-{nonce[1]}'; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
    assert first.headers["x-content-type-options"] == "nosniff"
    assert first.headers["referrer-policy"] == "no-referrer"
    style = (STATIC / "style.css").read_text(encoding="utf-8")
    script = (STATIC / "app.js").read_text(encoding="utf-8")
    assert f'<style nonce="{nonce[1]}">\n{style}</style>' in first.text
    assert f'<script nonce="{nonce[1]}">\n{script}</script>' in first.text
    assert "<!--patter:" not in first.text
    assert nonce[1] not in second.text  # a new nonce for every response


async def test_the_files_are_read_once(tmp_path: Path) -> None:
    for name in ("index.html", "style.css", "app.js"):
        (tmp_path / name).write_text((STATIC / name).read_text(encoding="utf-8"), encoding="utf-8")
    async with _client(Page(tmp_path)) as client:
        assert "Patter" in (await client.get("/dashboard")).text
        (tmp_path / "index.html").unlink()
        assert (await client.get("/dashboard")).status_code == 200


@pytest.mark.parametrize(
    ("page", "script", "message"),
    [
        ("<html><!--patter:script--></html>", "", "must hold <!--patter:style--> once"),
        ("<!--patter:style--><!--patter:script-->", "a = '</script>'", "must not contain"),
    ],
)
async def test_a_broken_page_is_refused_when_read(
    tmp_path: Path, page: str, script: str, message: str
) -> None:
    (tmp_path / "index.html").write_text(page, encoding="utf-8")
    (tmp_path / "style.css").write_text("", encoding="utf-8")
    (tmp_path / "app.js").write_text(script, encoding="utf-8")
    with pytest.raises(RuntimeError, match=message):
        await Page(tmp_path).render()


def test_the_page_files_are_in_the_package() -> None:
    # hatch packages every file under getpatter/: the page ships in the wheel.
    assert {"index.html", "style.css", "app.js"} <= {p.name for p in STATIC.iterdir()}
