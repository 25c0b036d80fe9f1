"""The examples run as a user would run them."""

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_terminal_test_example():
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "terminal_test.py")],
        input="a margherita\nok bye\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "Agent: Hi, this is Luigi's. What can I get you?" in done.stdout
    assert "You: a margherita\nAgent: One a margherita, coming up. Anything else?" in done.stdout
    assert "Agent: Thanks for calling, bye!" in done.stdout
    assert "5 transcript lines" in done.stdout


def test_sandbox_example_passes_under_pytest():
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(EXAMPLES / "sandbox_test.py"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=EXAMPLES.parent,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


def test_scheduled_calls_example_places_its_reminder():
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "scheduled_calls.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "Reminder to +15550100042 scheduled for" in done.stdout
    assert "Next sweep: " in done.stdout and ("CET" in done.stdout or "CEST" in done.stdout)
    assert "Call placed, ended: completed" in done.stdout
    assert "Agent said: Your cleaning is tomorrow at nine." in done.stdout
