"""``import getpatter`` stays light: no provider SDK, no numpy, until something needs them."""

import json
import subprocess
import sys

HEAVY = (
    "numpy",
    "soxr",
    "twilio",
    "openai",
    "anthropic",
    "websockets",
    "starlette",
    "uvicorn",
    "httpx",
    "aiohttp",
    "pydantic",
    "onnxruntime",
    "mcp",
    "langchain_core",
    "google",
    "phonenumbers",
    "telnyx",
    "nacl",
)


def imported_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {name.split(".")[0] for name in json.loads(out.splitlines()[-1])}


def test_import_getpatter_imports_no_provider_sdk_or_numpy():
    loaded = imported_after("import getpatter; getpatter.Patter().agent('x')")
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_audio_names_load_numpy_only_when_used():
    loaded = imported_after("import getpatter; getpatter.mix_pcm")
    assert "numpy" in loaded


def test_the_twilio_sandbox_and_the_demo_need_no_telnyx_extra():
    # ``pip install getpatter && getpatter demo`` has neither the telnyx SDK nor PyNaCl.
    loaded = imported_after(
        "from getpatter.testing import Sandbox; import getpatter.demo; Sandbox()"
    )
    assert loaded.isdisjoint({"telnyx", "nacl"}), sorted(loaded & {"telnyx", "nacl"})
