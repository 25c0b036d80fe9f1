"""``getpatter demo``: simulated calls that need no account and no network."""

import os
import re
import subprocess
import sys

CLEAN_ENV = {
    k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_AUTH_TOKEN", "_BASE_URL"))
}


def run_demo(*args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        [sys.executable, "-m", "getpatter", "demo", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=90,
        env=CLEAN_ENV,
        check=True,
    ).stdout


def test_demo_runs_a_whole_simulated_phone_call():
    out = run_demo()
    assert "SIMULATED CALL" in out and "answer() in" in out
    assert re.search(
        r"Watch it in the dashboard \(while the call runs\): "
        r"http://127\.0\.0\.1:\d+/dashboard\?token=\S{32,}\n",
        out,
    )
    lines = re.findall(r"\] (Agent |Caller): (.*)", out)
    assert lines == [
        ("Agent ", "Thanks for calling Bright Smile Dental. How can I help?"),
        ("Caller", "Hi, when are you open?"),
        ("Agent ", "We're open Monday to Friday, from eight in the morning to six in the evening."),
        ("Caller", "Can I book a cleaning on Thursday?"),
        ("Agent ", "All set: your cleaning is booked for Thursday at three in the afternoon."),
        ("Caller", "Great, thanks. Bye!"),
        ("Agent ", "Thanks for calling Bright Smile Dental. Goodbye!"),
    ]
    assert len(re.findall(r"turn \d: first agent audio sent [\d.]+ ms after", out)) == 3
    # answer() hangs up after saying goodbye.
    assert re.search(r"Call ended: completed \(ended by agent\) after \d+\.\d s", out)
    assert re.search(
        r"Cost: \$0\.0\d+ \(speech-to-text \$0\.\d+, text-to-speech \$0\.\d+, "
        r"telephony \$0\.0085\)",
        out,
    )


def test_text_demo_runs_a_scripted_call():
    out = run_demo("--text", "--scripted")
    assert "SIMULATED" in out and "PATTER TEST MODE" in out
    assert "You: Hi, what are your opening hours?" in out
    assert "Agent: We're open Monday to Friday" in out
    assert "You're booked for Thursday at three in the afternoon" in out
    assert out.index("Agent: Thanks for calling Bright Smile Dental. Goodbye!") < out.index(
        "[Agent hung up]"
    )
    assert "5 turns, cost $0.0000" in out


def test_text_demo_with_piped_input_is_scripted():
    assert "lines are a script" in run_demo("--text", stdin="")


def test_scripted_without_text_is_a_usage_error(capsys):
    import pytest

    from getpatter.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--scripted"])
    assert exit_.value.code == 2
    assert "--scripted goes with --text" in capsys.readouterr().err


def test_keep_open_goes_with_the_phone_demo(capsys):
    import pytest

    from getpatter.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--text", "--keep-open"])
    assert exit_.value.code == 2
    assert "--keep-open goes with the phone demo" in capsys.readouterr().err


def test_demo_keep_open_serves_the_dashboard_after_the_call_until_ctrl_c():
    import json
    import signal
    import urllib.request

    demo = subprocess.Popen(
        [sys.executable, "-m", "getpatter", "demo", "--keep-open"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=CLEAN_ENV,
    )
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            found = re.match(r"The dashboard stays open at (\S+); press Ctrl-C to stop\.", line)
            if found:
                break
        else:
            raise AssertionError("the demo ended without keeping the dashboard open")
        url = found.group(1).replace("/dashboard?", "/api/v1/calls?")
        with urllib.request.urlopen(url, timeout=10) as response:
            (call,) = json.load(response)["calls"]
        assert (call["outcome"], call["turns"], call["active"]) == ("completed", 3, False)
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=30) == 130
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
