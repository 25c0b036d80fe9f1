"""Place reminder calls at set times, here on the offline sandbox (no account or key needed).

Run: ``python examples/scheduled_calls.py`` (``schedule_cron`` needs
``pip install 'getpatter[scheduling]'``; ``schedule_once`` needs nothing).

Schedules live in memory on the running event loop: nothing survives a restart. Keep what must
be called when in your own store and make the schedules again at startup, as below. On a real
line, replace the sandbox with ``phone = Patter(carrier=Twilio(...), ...)`` and run
``await phone.serve(agent)`` beside the schedules.
"""

import asyncio
from datetime import UTC, datetime, timedelta

from getpatter import schedule_cron, schedule_once
from getpatter.testing import Callee, HangUp, Sandbox, Say, Scenario

PATIENT = Callee(number="+15550100042", steps=(Say("Thanks, bye.", pause_ms=200), HangUp()))


async def main() -> None:
    async with Sandbox(Scenario(callee=PATIENT)) as sandbox:
        phone = sandbox.phone
        ended: asyncio.Future[dict] = asyncio.get_running_loop().create_future()
        await sandbox.serve(
            phone.agent("You call patients to remind them of appointments."),
            on_call_end=lambda report: ended.done() or ended.set_result(report),
            dashboard=False,
        )
        sandbox.network.callee_for(PATIENT.number, PATIENT)  # who answers on the sandbox

        # At startup: one reminder per upcoming appointment (from your own database).
        appointments = [(PATIENT.number, datetime.now(UTC) + timedelta(seconds=1))]
        for number, when in appointments:
            reminder = schedule_once(
                when,
                lambda number=number: phone.call(
                    number, first_message="Your cleaning is tomorrow at nine."
                ),
                name=f"reminder {number}",
            )
            print(f"Reminder to {number} scheduled for {reminder.next_run:%H:%M:%S} UTC")

        # And a sweep every weekday at 9:00 Rome time (daylight saving time included).
        sweep = schedule_cron("0 9 * * MON-FRI", lambda: None, timezone="Europe/Rome")
        print(f"Next sweep: {sweep.next_run:%a %H:%M %Z}")

        call_id = await reminder.wait()  # the job's result: phone.call's call id
        report = await asyncio.wait_for(ended, 60)
        print(
            f"Call {'placed' if call_id == report['call_id'] else 'missing'}, ended: {report['outcome']}"
        )
        print(f"Agent said: {report['transcript'][0]['text']}")
        sweep.cancel()


if __name__ == "__main__":
    asyncio.run(main())
