"""``getpatter demo``: a simulated call that needs no account and no network."""

import os
import subprocess
import sys


def test_scripted_demo_runs_a_whole_simulated_call():
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_AUTH_TOKEN"))}
    done = subprocess.run(
        [sys.executable, "-m", "getpatter", "demo", "--scripted"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    )
    out = done.stdout
    assert "SIMULATED" in out
    assert "PATTER TEST MODE" in out
    assert "You: Hi, what are your opening hours?" in out
    assert "Agent: We're open Monday to Friday" in out
    assert "You're booked for Thursday at three in the afternoon" in out
    assert out.index("Agent: Thanks for calling Bright Smile Dental. Goodbye!") < out.index(
        "[Agent hung up]"
    )
    assert "5 turns, cost $0.0000" in out


def test_demo_with_piped_input_is_scripted():
    done = subprocess.run(
        [sys.executable, "-m", "getpatter", "demo"],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "lines are a script" in done.stdout
