"""The OpenAI Realtime configuration object: base URL, WebSocket URL, engine factory."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from getpatter.engines.openai import Realtime
from getpatter.engines.openai.endpoint import realtime_url
from getpatter.engines.openai.engine import RealtimeEngine
from getpatter.errors import ConfigError, InputValidationError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def test_base_url_defaults_to_openai():
    assert Realtime(api_key="k-CANARY").base_url == "https://api.openai.com/v1"


def test_base_url_comes_from_env_unless_given(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9000/v1/")
    assert Realtime(api_key="k-CANARY").base_url == "http://127.0.0.1:9000/v1"
    assert Realtime(api_key="k-CANARY", base_url="https://proxy.example/v1").base_url == (
        "https://proxy.example/v1"
    )


@pytest.mark.parametrize(
    ("base_url", "url"),
    [
        ("https://api.openai.com/v1", "wss://api.openai.com/v1/realtime?model=gpt-realtime"),
        ("http://127.0.0.1:8765/v1/", "ws://127.0.0.1:8765/v1/realtime?model=gpt-realtime"),
        (
            "wss://gateway.example/openai",
            "wss://gateway.example/openai/realtime?model=gpt-realtime",
        ),
    ],
)
def test_websocket_url_is_derived_from_the_base_url(base_url, url):
    assert realtime_url(base_url, "gpt-realtime") == url


@pytest.mark.parametrize("base_url", ["api.openai.com/v1", "ftp://host/v1", "https://"])
def test_a_base_url_that_is_not_http_is_refused(base_url):
    with pytest.raises(InputValidationError, match="base_url"):
        Realtime(api_key="k-CANARY", base_url=base_url)


def test_create_engine_gives_a_new_engine_each_time():
    config = Realtime(api_key="k-CANARY")
    first, second = config.create_engine(), config.create_engine()
    assert isinstance(first, RealtimeEngine) and first is not second


def test_create_engine_without_a_key_says_where_to_put_it():
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        Realtime().create_engine()


def test_configuring_the_engine_loads_no_websocket_or_pydantic():
    code = (
        "import sys, json\n"
        "from getpatter.engines.openai import Realtime\n"
        "Realtime(api_key='k-CANARY')\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = {name.split(".")[0] for name in json.loads(out.stdout)}
    assert loaded.isdisjoint({"websockets", "pydantic"})
