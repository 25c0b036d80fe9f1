"""End-to-end flows run on every simulated carrier: a test that takes ``carrier`` runs on each.

A test that takes ``engine`` also runs on each end-to-end engine: it gets the ``agent()``
keyword arguments choosing it (none for OpenAI Realtime, the default; an
``ElevenLabsConvAI`` private agent otherwise, which the sandbox runs on its fake).
"""

from typing import Any

import pytest

from getpatter import ElevenLabsConvAI


@pytest.fixture(params=["twilio", "telnyx"])
def carrier(request: pytest.FixtureRequest) -> str:
    """The simulated network the sandbox runs on."""
    return str(request.param)


@pytest.fixture(params=["realtime", "convai"])
def engine(request: pytest.FixtureRequest) -> dict[str, Any]:
    """``agent()`` keyword arguments choosing the engine (empty for OpenAI Realtime)."""
    if request.param == "realtime":
        return {}
    return {"engine": ElevenLabsConvAI(api_key="el-CANARY", agent_id="agent_e2e")}
