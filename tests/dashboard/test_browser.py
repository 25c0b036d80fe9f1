"""The dashboard page in a real browser: headless Chromium, driven by Selenium, over a sandbox.

These tests need Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them).
Without them they fail with the command that installs them; set
``PATTER_SKIP_BROWSER_TESTS=1`` to skip them instead. ``PATTER_CHROMIUM`` and
``PATTER_CHROMEDRIVER`` point at another Chromium and its matching driver.

Selenium's calls block, so they run in a thread (:func:`_browse`) while the sandbox's server
keeps running on the event loop. Every wait is an explicit condition with a time limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from getpatter import RedactSecrets
from getpatter.calls.events import CallStarted
from getpatter.calls.memory_store import InMemoryCallStore
from getpatter.dashboard import Dashboard, generate_token
from getpatter.testing import Callee, HangUp, Reply, Sandbox, Say, Scenario

GREETING = "Hello, Bright Smile Dental."
QUESTION = "What are your hours?"
ANSWER = "We are open nine to five."
WAIT_SECONDS = 30.0
INSTALL = "sudo apt-get install -y chromium chromium-driver"

T = TypeVar("T")


@dataclass(frozen=True)
class Browser:
    driver: WebDriver
    downloads: Path
    """Where the browser saves downloads (the exports)."""


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """One headless Chromium for the module's tests."""
    chromium = os.environ.get("PATTER_CHROMIUM") or shutil.which("chromium")
    chromedriver = os.environ.get("PATTER_CHROMEDRIVER") or shutil.which("chromedriver")
    if not chromium or not chromedriver:
        missing = " and ".join(
            name
            for name, path in (("chromium", chromium), ("chromedriver", chromedriver))
            if not path
        )
        message = (
            f"the dashboard's browser tests need {missing}: install them with `{INSTALL}` "
            "(or set PATTER_CHROMIUM and PATTER_CHROMEDRIVER; PATTER_SKIP_BROWSER_TESTS=1 skips "
            "these tests)"
        )
        if os.environ.get("PATTER_SKIP_BROWSER_TESTS") == "1":
            pytest.skip(message)
        pytest.fail(message, pytrace=False)
    downloads = tmp_path_factory.mktemp("downloads")
    options = Options()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
        # Nothing leaves the machine: no update, sync or safe-browsing requests.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--no-default-browser-check",
    ):
        options.add_argument(argument)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    # Selenium logs each WebDriver command at DEBUG, URLs with their token included.
    wire_log = logging.getLogger("selenium.webdriver.remote.remote_connection")
    redact = RedactSecrets()
    wire_log.addFilter(redact)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        driver.set_script_timeout(WAIT_SECONDS)
        yield Browser(driver, downloads)
    finally:
        driver.quit()
        wire_log.removeFilter(redact)


async def _browse(action: Callable[[], T]) -> T:
    """Run a blocking Selenium action off the event loop (the sandbox serves on it)."""
    return await asyncio.to_thread(action)


async def _until(driver: WebDriver, condition: Callable[[WebDriver], T], what: str) -> T:
    """Wait until ``condition`` holds (returns something truthy), at most WAIT_SECONDS.

    The page re-renders lists as events arrive, so an element found may be replaced before it
    is read: the condition is then tried again.
    """
    wait = WebDriverWait(
        driver,
        WAIT_SECONDS,
        poll_frequency=0.1,
        ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
    )
    return await _browse(lambda: wait.until(condition, f"waited for {what}"))


def _text(driver: WebDriver, selector: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, selector).text


def _texts(driver: WebDriver, selector: str) -> list[str]:
    return [element.text for element in driver.find_elements(By.CSS_SELECTOR, selector)]


def _click(driver: WebDriver, selector: str) -> bool:
    driver.find_element(By.CSS_SELECTOR, selector).click()
    return True


def _shown(driver: WebDriver, element_id: str) -> bool:
    return driver.find_element(By.ID, element_id).is_displayed()


def _history_row(call_id: str) -> str:
    return f'#history tr[data-id="{call_id}"]'


async def _hang_up(sandbox: Sandbox, call_id: str) -> None:
    """End a call through the carrier's REST API, as an operator's script would."""
    twilio = sandbox.twilio
    async with httpx.AsyncClient(auth=(twilio.account_sid, twilio.auth_token)) as client:
        response = await client.post(
            f"{twilio.base_url}/2010-04-01/Accounts/{twilio.account_sid}/Calls/{call_id}.json",
            data={"Status": "completed"},
        )
        response.raise_for_status()


def _agent(sandbox: Sandbox) -> Any:
    return sandbox.phone.agent("You are the receptionist.", first_message=GREETING)


async def test_a_call_shows_up_live_then_in_history_with_its_detail_and_exports(
    browser: Browser,
) -> None:
    # The caller asks, hears the answer and stays on the line until the test hangs up.
    scenario = Scenario(callee=Callee(steps=(Say(QUESTION),)), replies=(Reply(ANSWER),))
    driver = browser.driver
    async with Sandbox(scenario) as sandbox:
        await sandbox.serve(_agent(sandbox))
        await _browse(lambda: driver.get(sandbox.dashboard_url))
        await _until(driver, lambda d: _shown(d, "active-empty"), "the empty active list")
        await _until(
            driver, lambda d: d.find_element(By.ID, "live").text == "Live", "the live stream"
        )
        assert "token" not in await _browse(lambda: driver.current_url)

        call = await sandbox.call_in()
        card = f'.active-call[data-id="{call.call_id}"]'
        live = (
            f"{scenario.callee.number} → {sandbox.phone_number}",
            "openai_realtime",
            "twilio",
            GREETING,
            QUESTION,
            ANSWER,
        )
        await _until(
            driver,
            lambda d: all(text in _text(d, card) for text in live),
            "the call in Active with its numbers, agent, carrier and transcript",
        )
        await _until(
            driver,
            lambda d: "live" in _text(d, _history_row(call.call_id)),
            "the live call in the history",
        )

        await _hang_up(sandbox, call.call_id)
        await call.ended()
        await _until(driver, lambda d: _shown(d, "active-empty"), "the call to leave Active")
        await _until(
            driver,
            lambda d: "completed" in _text(d, _history_row(call.call_id)),
            "the call's outcome in the history",
        )

        await _until(driver, lambda d: _click(d, _history_row(call.call_id)), "a click on the call")
        await _until(driver, lambda d: _shown(d, "detail"), "the call detail")
        assert (await _browse(lambda: driver.current_url)).endswith(f"#call={call.call_id}")
        await _until(
            driver,
            lambda d: _texts(d, "#detail-body .bubble-text") == [GREETING, QUESTION, ANSWER],
            "the transcript in the detail",
        )
        await _until(
            driver,
            lambda d: (
                d.find_elements(By.CSS_SELECTOR, "#detail-body svg.latency rect")
                and " ms" in _text(d, "#detail-body svg.latency")
            ),
            "the latency chart's bars with their ms labels",
        )

        # Export: the CSV by clicking its button, the JSON fetched by the page from its link.
        await _browse(lambda: driver.find_element(By.ID, "detail-close").click())
        await _until(driver, lambda d: not _shown(d, "detail"), "the detail to close")
        await _browse(lambda: driver.find_element(By.ID, "export-csv").click())
        csv_file = await _until(
            driver, lambda d: _downloaded(browser.downloads, ".csv"), "the CSV download"
        )
        assert call.call_id in csv_file.read_text(encoding="utf-8")
        exported = json.loads(
            await _browse(
                lambda: driver.execute_async_script(
                    "const done = arguments[arguments.length - 1];"
                    "fetch(document.getElementById('export-json').href)"
                    ".then((r) => r.text()).then(done, (e) => done(String(e)));"
                )
            )
        )
        assert call.call_id in json.dumps(exported)
        assert ANSWER in json.dumps(exported)


def _downloaded(folder: Path, suffix: str) -> Path | None:
    """The finished download in ``folder`` ending in ``suffix``, if there is one yet.

    Chrome reserves the final name with an empty file while it writes into a
    ``.crdownload`` beside it, so a download is finished only when that partial file
    is gone and the final one has content.
    """
    files = list(folder.iterdir())
    if any(p.suffix == ".crdownload" for p in files):
        return None
    done = [p for p in files if p.suffix == suffix and p.stat().st_size > 0]
    return done[0] if done else None


async def test_without_its_token_or_with_a_wrong_one_the_page_shows_how_to_get_in_and_no_data(
    browser: Browser,
) -> None:
    scenario = Scenario(
        callee=Callee(steps=(Say(QUESTION), HangUp(pause_ms=1500))), replies=(Reply(ANSWER),)
    )
    driver = browser.driver
    async with Sandbox(scenario) as sandbox:
        await sandbox.serve(_agent(sandbox))
        call = await sandbox.call_in()
        await call.ended()
        page = sandbox.dashboard_url.partition("?")[0]

        for url in (page, f"{page}?token=not-the-token-0123456789"):
            await _browse(lambda url=url: driver.get(url))
            await _until(
                driver,
                lambda d: "needs its token" in d.find_element(By.TAG_NAME, "body").text,
                f"the token message at {url}",
            )
            source = await _browse(lambda: driver.page_source)
            assert call.call_id not in source
            assert scenario.callee.number not in source and QUESTION not in source

        # With the token, the same call is there.
        await _browse(lambda: driver.get(sandbox.dashboard_url))
        await _until(
            driver,
            lambda d: "completed" in _text(d, _history_row(call.call_id)),
            "the call in the history",
        )


async def test_a_page_whose_token_stops_working_drops_its_data_and_says_how_to_get_in(
    browser: Browser,
) -> None:
    # A server restarted without a dashboard_token makes a new one: open pages lose access.
    store = InMemoryCallStore()
    caller = "+15550100077"
    await store.record(
        CallStarted(call_id="CAbrowser", caller=caller, callee="+15550009999", direction="inbound")
    )
    driver = browser.driver
    listener = _listening(0)
    port = listener.getsockname()[1]
    first = Dashboard(store, token=generate_token())
    async with _serving(first, listener):
        await _browse(lambda: driver.get(f"http://127.0.0.1:{port}/dashboard?token={first.token}"))
        await _until(driver, lambda d: caller in _text(d, "#active-list"), "the active call")
    async with _serving(Dashboard(store, token=generate_token()), _listening(port)):
        await _until(driver, lambda d: _shown(d, "locked"), "the token message")
        body = await _browse(lambda: driver.find_element(By.TAG_NAME, "body").text)
        assert "needs its token" in body and "not accepted" in body
        assert caller not in body and caller not in await _browse(lambda: driver.page_source)


def _listening(port: int) -> socket.socket:
    """A socket listening on 127.0.0.1:``port`` (0: a free one), for a server to take over."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen()
    return listener


@contextlib.asynccontextmanager
async def _serving(dashboard: Dashboard, listener: socket.socket) -> AsyncIterator[None]:
    """``dashboard`` served on its own (as ``getpatter dashboard`` does) on ``listener``."""
    server = uvicorn.Server(uvicorn.Config(dashboard.app(), log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        yield
    finally:
        dashboard.close()
        server.should_exit = True
        await task
        listener.close()
