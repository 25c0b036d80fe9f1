"""The sandbox's provider registry works on a plain install (no provider extras)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_the_registry_loads_without_the_optional_provider_sdks() -> None:
    # As `pip install getpatter && getpatter demo` on a fresh machine: no anthropic, no
    # google-genai. A None in sys.modules makes their import fail as if not installed.
    script = textwrap.dedent(
        """
        import sys
        sys.modules["anthropic"] = None
        sys.modules["google.genai"] = None
        from getpatter import DeepgramSTT, OpenAILLM
        from getpatter.testing.offline import offline_provider
        assert offline_provider(DeepgramSTT(api_key="dg-CANARY")) is not None
        assert offline_provider(OpenAILLM(api_key="sk-CANARY")) is not None
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
