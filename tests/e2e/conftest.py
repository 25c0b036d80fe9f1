"""End-to-end flows run on every simulated carrier: a test that takes ``carrier`` runs on each."""

import pytest


@pytest.fixture(params=["twilio", "telnyx"])
def carrier(request: pytest.FixtureRequest) -> str:
    """The simulated network the sandbox runs on."""
    return str(request.param)
