"""CloudflareTunnel runs the real ``cloudflared`` command line; here a stand-in script plays it."""

import os
import stat

import pytest

from getpatter import ConfigError, PatterConnectionError
from getpatter.tunnels import CloudflareTunnel

FAKE = """#!/bin/sh
echo "$@" > "{args_file}"
echo "INF Requesting new quick Tunnel on trycloudflare.com..." >&2
echo "INF |  https://brave-otter-42.trycloudflare.com  |" >&2
exec sleep 30
"""

SILENT_EXIT = "#!/bin/sh\necho 'ERR failed to connect' >&2\nexit 3\n"


def install(tmp_path, monkeypatch, body):
    binary = tmp_path / "cloudflared"
    binary.write_text(body.format(args_file=tmp_path / "args"))
    binary.chmod(binary.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")


async def test_start_returns_the_public_hostname_and_stop_ends_the_process(tmp_path, monkeypatch):
    install(tmp_path, monkeypatch, FAKE)
    tunnel = CloudflareTunnel()
    host = await tunnel.start(8000)
    try:
        assert host == "brave-otter-42.trycloudflare.com"
        assert (tmp_path / "args").read_text().split() == [
            "tunnel",
            "--no-autoupdate",
            "--url",
            "http://localhost:8000",
        ]
        with pytest.raises(ConfigError, match="already running"):
            await tunnel.start(8000)
    finally:
        await tunnel.stop()
    await tunnel.stop()


async def test_missing_binary_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="install cloudflared"):
        await CloudflareTunnel().start(8000)


async def test_exit_without_url_is_a_connection_error(tmp_path, monkeypatch):
    install(tmp_path, monkeypatch, SILENT_EXIT)
    with pytest.raises(PatterConnectionError, match="exited"):
        await CloudflareTunnel().start(8000)
