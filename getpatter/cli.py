"""The ``getpatter`` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]

_SIMULATED_NOTICE = (
    "This call is SIMULATED: nothing was dialed and no AI service was contacted. The caller's "
    "lines are {who}, and the agent is the example handler in getpatter/demo/text_agent.py."
)


def _text_demo(interactive: bool) -> None:
    from getpatter import CallMetrics, Patter
    from getpatter.demo.text_agent import (
        DEMO_CALLER_SCRIPT,
        FIRST_MESSAGE,
        SYSTEM_PROMPT,
        reception_desk,
    )
    from getpatter.testing.terminal import ScriptedLines, StdinLines, TerminalCall

    phone = Patter()
    agent = phone.agent(system_prompt=SYSTEM_PROMPT, first_message=FIRST_MESSAGE)
    print(_SIMULATED_NOTICE.format(who="typed by you" if interactive else "a script"))

    async def on_call_end(data: dict[str, Any]) -> None:
        metrics: CallMetrics = data["metrics"]
        print(
            f"Call summary: {len(data['transcript'])} transcript lines, "
            f"{metrics.duration_seconds:.1f} s, {len(metrics.turns)} turns, "
            f"cost ${metrics.cost.total:.4f} (simulated: no carrier or AI charges)."
        )
        print("To put an agent on a real number, see 'Real calls' in the README.")

    call = TerminalCall(
        agent,
        on_message=reception_desk,
        on_call_end=on_call_end,
        pricing=phone.pricing,
        events=phone.call_events,
        lines=StdinLines() if interactive else ScriptedLines(DEMO_CALLER_SCRIPT, pause=0.4),
    )
    asyncio.run(call.run())


def _dashboard(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from getpatter.dashboard.standalone import open_log_store, open_sqlite_store, serve_dashboard
    from getpatter.errors import ConfigError, PatterConnectionError

    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be from 0 to 65535, got {args.port}")
    try:
        store = open_sqlite_store(args.db) if args.db else open_log_store(args.logs)
        asyncio.run(serve_dashboard(store, host=args.host, port=args.port, token=args.token))
    except (ConfigError, PatterConnectionError) as exc:
        parser.error(str(exc))
    except KeyboardInterrupt:
        return 130
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``getpatter`` console script."""
    parser = argparse.ArgumentParser(
        prog="getpatter", description="Patter: AI agents on phone calls."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="run a simulated phone call on this machine, with no accounts"
    )
    demo.add_argument(
        "--text",
        action="store_true",
        help="instead, a text call in the terminal (test mode): you type as the caller",
    )
    demo.add_argument(
        "--scripted", action="store_true", help="with --text: a scripted caller types instead"
    )
    demo.add_argument(
        "--keep-open",
        action="store_true",
        help="keep serving the dashboard after the call, until Ctrl-C",
    )
    board = commands.add_parser(
        "dashboard",
        help="serve the dashboard over the calls another Patter process keeps",
        description="Serve the dashboard over a SQLite call store that another process writes "
        "(Patter(call_store=SQLiteCallStore(path))), or over its call logs (PATTER_LOG_DIR).",
    )
    source = board.add_mutually_exclusive_group(required=True)
    source.add_argument("--db", metavar="FILE", help="the SQLite call store file")
    source.add_argument(
        "--logs", metavar="DIR", help="the call-log folder (PATTER_LOG_DIR; auto: the default)"
    )
    board.add_argument("--host", default="127.0.0.1", help="interface to listen on (127.0.0.1)")
    board.add_argument(
        "--port", type=int, default=8000, help="port to listen on (8000; 0: any free port)"
    )
    board.add_argument(
        "--token",
        default="",
        help="require this token (16+ characters); beyond 127.0.0.1 one is generated if omitted",
    )
    args = parser.parse_args(argv)
    if args.command == "demo" and args.scripted and not args.text:
        demo.error("--scripted goes with --text: the phone demo's caller is always scripted")
    if args.command == "demo" and args.keep_open and args.text:
        demo.error("--keep-open goes with the phone demo: the text demo has no dashboard")
    if args.command == "dashboard":
        return _dashboard(board, args)
    if args.command == "demo":
        try:
            if args.text:
                _text_demo(interactive=not args.scripted and sys.stdin.isatty())
            else:
                from getpatter.demo.phone_call import run_phone_demo

                asyncio.run(run_phone_demo(keep_open=args.keep_open))
        except KeyboardInterrupt:
            return 130
    return 0
