"""The provider kit's base URLs and the WebSocket URLs derived from them."""

from __future__ import annotations

import pytest

from getpatter.errors import InputValidationError
from getpatter.providers.urls import base_url, websocket_url


def test_the_argument_wins_then_the_environment_then_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ACME_BASE_URL", raising=False)
    pick = {"env_var": "ACME_BASE_URL", "default": "https://api.acme.example"}
    assert base_url("AcmeTTS", None, **pick) == "https://api.acme.example"
    monkeypatch.setenv("ACME_BASE_URL", "http://127.0.0.1:9000/")
    assert base_url("AcmeTTS", None, **pick) == "http://127.0.0.1:9000"
    assert base_url("AcmeTTS", "", **pick) == "http://127.0.0.1:9000"  # empty: unset
    assert base_url("AcmeTTS", "https://eu.acme.example/", **pick) == "https://eu.acme.example"


@pytest.mark.parametrize("bad", ["ftp://acme.example", "acme.example", "https://", "wss://x"])
def test_a_base_url_of_another_kind_names_the_option_and_the_variable(bad: str) -> None:
    with pytest.raises(InputValidationError, match=r"AcmeTTS base_url=.*\(or ACME_BASE_URL\)"):
        base_url("AcmeTTS", bad, env_var="ACME_BASE_URL", default="https://api.acme.example")


def test_websocket_urls_follow_the_base_urls_scheme() -> None:
    def ws(base: str) -> str:
        return websocket_url("AcmeSTT", base, "/v1/listen", env_var="ACME_BASE_URL", example="x")

    assert ws("https://api.acme.example/") == "wss://api.acme.example/v1/listen"
    assert ws("http://127.0.0.1:9000") == "ws://127.0.0.1:9000/v1/listen"
    assert ws("wss://api.acme.example") == "wss://api.acme.example/v1/listen"
    with pytest.raises(InputValidationError, match="AcmeSTT base_url='ftp://x'"):
        ws("ftp://x")
