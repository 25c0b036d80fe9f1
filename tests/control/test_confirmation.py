"""A person, not the model, confirms calls: CallService plans and the local confirmation page.

The page is driven with httpx the way a browser would: GET shows the receipt and a form, and
only a POST carrying the form's token decides.
"""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest

from getpatter.control import CallService, ConfirmationPage, SafetyPolicy
from getpatter.errors import InputValidationError, PolicyError

FAST = 15  # ms of simulated speech per character
PERSON = "+15550101234"


def confirming(**policy: object) -> CallService:
    return CallService.sandbox(
        policy=SafetyPolicy(require_confirmation=True, **policy),  # type: ignore[arg-type]
        ms_per_char=FAST,
    )


def browser() -> httpx.AsyncClient:
    return httpx.AsyncClient(trust_env=False, timeout=10.0)


def form_token(page_html: str) -> str:
    found = re.search(r'name="form_token" value="([^"]+)"', page_html)
    assert found, page_html
    return found.group(1)


async def test_the_model_cannot_confirm_a_plan_by_itself() -> None:
    async with asyncio.timeout(20), confirming() as service:
        plan = service.plan_call(PERSON, goal="Book a table")
        # What the model is shown holds no secret.
        shown = json.dumps(plan.receipt())
        assert plan.secret and plan.secret not in shown and plan.secret not in repr(plan)
        for _ in range(3):
            with pytest.raises(PolicyError) as refused:
                await service.confirm_call(plan.token)
            assert refused.value.rule == "confirmation" and "no person" in refused.value.message
        assert service.line.sandbox.twilio.calls == []
        # The plan still waits for the person.
        assert service.plans.state(plan.token) == "pending"
        entries = [(e.tool, e.outcome, e.rule) for e in await service.audit.entries()]
        assert entries.count(("confirm_call", "refused", "confirmation")) == 3


async def test_a_person_confirming_on_the_page_lets_confirm_call_dial() -> None:
    async with asyncio.timeout(40), confirming() as service, ConfirmationPage(service) as page:
        plan = service.plan_call(
            "+4402071234567", goal="Book a table for two", first_message="I'm not a bot, I'm Sam."
        )
        url = await page.link(plan)
        assert url.startswith("http://127.0.0.1:") and await page.link(plan) == url
        async with browser() as client:
            shown = await client.get(url)
            assert shown.status_code == 200
            assert "+44 20 7123 4567" in shown.text and "Book a table for two" in shown.text
            # Mentioning "bot" does not skip the disclosure.
            opening = "Hi, this is an AI assistant calling. I&#x27;m not a bot, I&#x27;m Sam."
            assert opening in shown.text
            assert "Sandbox" in shown.text and "180 s" in shown.text
            assert shown.headers["x-frame-options"] == "DENY"
            assert "frame-ancestors 'none'" in shown.headers["content-security-policy"]
            confirmed = await client.post(
                url, data={"form_token": form_token(shown.text), "decision": "confirm"}
            )
        assert confirmed.status_code == 200 and "Confirmed" in confirmed.text
        assert service.plans.state(plan.token) == "confirmed"
        record = await service.confirm_call(plan.token)
        # The number dialed is the canonical one the policy checked.
        assert record.to == "+442071234567"
        assert [call.to for call in service.line.sandbox.twilio.calls] == ["+442071234567"]
        ended = (await service.wait(record.call_id, 30)).to_dict()
        assert ended["status"] == "completed"
        assert ended["transcript"][0]["text"].startswith(
            "Hi, this is an AI assistant calling. I'm not a bot"
        )
        audit = [(e.tool, e.outcome, e.client) for e in await service.audit.entries()]
        assert ("confirm_plan", "ok", "page") in audit and ("confirm_call", "ok", "python") in audit


async def test_a_get_never_confirms_even_with_the_form_fields_in_the_query() -> None:
    async with asyncio.timeout(20), confirming() as service, ConfirmationPage(service) as page:
        plan = service.plan_call(PERSON)
        url = await page.link(plan)
        async with browser() as client:
            token = form_token((await client.get(url)).text)
            for _ in range(3):
                await client.get(url, params={"form_token": token, "decision": "confirm"})
            head = await client.head(url)
        assert head.status_code == 200
        assert service.plans.state(plan.token) == "pending"
        with pytest.raises(PolicyError):
            await service.confirm_call(plan.token)


async def test_a_wrong_or_missing_form_token_never_confirms() -> None:
    async with asyncio.timeout(20), confirming() as service, ConfirmationPage(service) as page:
        plan, other = service.plan_call(PERSON), service.plan_call("+15550105678")
        url, other_url = await page.link(plan), await page.link(other)
        assert url != other_url
        async with browser() as client:
            other_token = form_token((await client.get(other_url)).text)
            attempts = [
                {"decision": "confirm"},
                {"decision": "confirm", "form_token": ""},
                {"decision": "confirm", "form_token": "x" * 32},
                {"decision": "confirm", "form_token": other_token},
                {"decision": "confirm", "form_token": plan.token},
            ]
            statuses = [(await client.post(url, data=data)).status_code for data in attempts]
            json_post = await client.post(url, json={"decision": "confirm"})
            unknown = await client.post(url + "x", data={"decision": "confirm"})
        assert statuses == [403] * len(attempts) and json_post.status_code == 403
        assert unknown.status_code == 404
        assert service.plans.state(plan.token) == "pending"
        assert service.plans.state(other.token) == "pending"


async def test_refusing_on_the_page_voids_the_plan_for_good() -> None:
    async with asyncio.timeout(20), confirming() as service, ConfirmationPage(service) as page:
        plan = service.plan_call(PERSON)
        url = await page.link(plan)
        async with browser() as client:
            token = form_token((await client.get(url)).text)
            refused = await client.post(url, data={"form_token": token, "decision": "refuse"})
            late = await client.post(url, data={"form_token": token, "decision": "confirm"})
        assert refused.status_code == 200 and "will not be placed" in refused.text
        assert late.status_code == 409 and "Refused" in late.text
        assert service.plans.state(plan.token) == "refused"
        with pytest.raises(InputValidationError, match="void: the person refused it"):
            await service.confirm_call(plan.token)
        with pytest.raises(InputValidationError, match="void"):
            await service.confirm_call(plan.token, secret=plan.secret)
        assert service.line.sandbox.twilio.calls == []


async def test_the_page_answers_only_its_own_loopback_name_and_same_origin_posts() -> None:
    async with asyncio.timeout(20), confirming() as service, ConfirmationPage(service) as page:
        plan = service.plan_call(PERSON)
        url = await page.link(plan)
        port = url.split(":")[2].split("/")[0]
        async with browser() as client:
            token = form_token((await client.get(url)).text)
            rebound = await client.get(url, headers={"Host": f"attacker.example:{port}"})
            cross_site = await client.post(
                url,
                data={"form_token": token, "decision": "confirm"},
                headers={"Origin": "https://attacker.example"},
            )
            same_site = await client.post(
                url.replace("127.0.0.1", "localhost"),
                data={"form_token": token, "decision": "confirm"},
                headers={"Origin": f"http://localhost:{port}"},
            )
        assert rebound.status_code == 400 and cross_site.status_code == 403
        assert same_site.status_code == 200
        assert service.plans.state(plan.token) == "confirmed"


async def test_what_the_model_wrote_is_shown_as_text_never_as_markup() -> None:
    async with asyncio.timeout(20), confirming() as service, ConfirmationPage(service) as page:
        goal = (
            '</dd><script>document.forms[0].submit()</script><form method="post">'
            '<button name="decision" value="confirm">'
        )
        plan = service.plan_call(PERSON, goal=goal)
        async with browser() as client:
            shown = (await client.get(await page.link(plan))).text
        assert "<script>" not in shown and "&lt;script&gt;" in shown
        assert shown.count("<form") == 1 and shown.count('value="confirm"') == 1


async def test_a_host_application_confirms_with_the_plan_secret_and_a_wrong_one_voids() -> None:
    async with asyncio.timeout(40), confirming() as service:
        plan = service.plan_call(PERSON, max_duration_sec=1)
        record = await service.confirm_call(plan.token, secret=plan.secret)
        assert record.to == PERSON
        guessed = service.plan_call("+15550105678")
        with pytest.raises(PolicyError, match="wrong confirmation secret"):
            await service.confirm_call(guessed.token, secret="not-the-secret")
        with pytest.raises(InputValidationError, match="void"):
            await service.confirm_call(guessed.token, secret=guessed.secret)
        assert [call.to for call in service.line.sandbox.twilio.calls] == [PERSON]
        assert (await service.wait(record.call_id, 20)).ended


async def test_a_confirmation_survives_a_full_concurrency_cap() -> None:
    async with asyncio.timeout(40), confirming(max_concurrent_calls=1) as service:
        first = service.plan_call(PERSON, max_duration_sec=1)
        second = service.plan_call("+15550105678", max_duration_sec=1)
        await service.plans.confirm(first.token, first.secret, client="test")
        await service.plans.confirm(second.token, second.secret, client="test")
        running = await service.confirm_call(first.token)
        with pytest.raises(PolicyError) as full:
            await service.confirm_call(second.token)
        assert full.value.rule == "concurrency"
        # The person's confirmation still stands once the line is free.
        assert service.plans.state(second.token) == "confirmed"
        assert (await service.wait(running.call_id, 20)).ended
        placed = await service.confirm_call(second.token)
        assert (await service.wait(placed.call_id, 20)).ended


async def test_without_the_confirmation_rule_a_plan_is_a_dry_run_confirm_call_dials() -> None:
    async with asyncio.timeout(40), CallService.sandbox(ms_per_char=FAST) as service:
        plan = service.plan_call(PERSON, max_duration_sec=1)
        record = await service.confirm_call(plan.token)
        assert (await service.wait(record.call_id, 20)).ended


async def test_a_wait_for_a_decision_ends_when_the_person_decides() -> None:
    async with asyncio.timeout(20), confirming() as service:
        plan = service.plan_call(PERSON)
        assert await service.plans.wait(plan.token, 0) == "pending"
        waiting = asyncio.create_task(service.plans.wait(plan.token, 60))
        await asyncio.sleep(0)
        await service.plans.refuse(plan.token, "the test refused it", client="test")
        assert await waiting == "refused"
