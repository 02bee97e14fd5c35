"""The console in a real headless Chromium (the distribution's, through its chromedriver),
on the demo's stack: the jobs page, the grid, a read-only console, and a replay from the
batch page that heals month 9 while the grid, open in another tab, turns green by itself.

One browser per module. Where Chromium or chromedriver is missing these tests skip on a
developer's machine and fail in CI (`.ci/run` installs both).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from remediator.stack import demo as demo_module
from remediator.stack.demo import BROKEN, JOB
from tests.integration.console_stack import DemoConsole, demo_console

pytestmark = pytest.mark.browser

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
GREEN = "rgba(46, 157, 87, 1)"  # .cell.SUCCESS in console.css


def _missing() -> list[str]:
    return [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = _missing()
    if missing:
        message = f"{', '.join(missing)} missing: apt-get install chromium chromium-driver"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager never fetches a browser or driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1280,900"):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def stack() -> Iterator[DemoConsole]:
    with demo_console() as made:
        yield made


def _wait(driver: Any, condition: Any, timeout: float = 20) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # A live page swaps its parts while the condition reads them: an element found just
    # before a swap is stale, and the next poll finds the new one.
    stale = (StaleElementReferenceException,)
    return WebDriverWait(driver, timeout, 0.2, ignored_exceptions=stale).until(condition)


def _cell(driver: Any, batch: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, f"cell-{batch}")


def test_the_jobs_page_lists_the_demo_job(browser: Any, stack: DemoConsole) -> None:
    from selenium.webdriver.common.by import By

    browser.get(stack.url)
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-job="{JOB}"]')
    assert row.find_element(By.CSS_SELECTOR, "td.exhausted").text == "1"
    assert "arn:aws:sts::123456789012:user/moto" in browser.find_element(By.ID, "identity").text


def test_the_grid_shows_month_9_exhausted(browser: Any, stack: DemoConsole) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{stack.url}jobs/{JOB}")
    cells = browser.find_elements(By.CSS_SELECTOR, ".grid .cell")
    assert len(cells) == 12
    assert _cell(browser, BROKEN).get_attribute("data-status") == "EXHAUSTED"
    assert BROKEN in _cell(browser, BROKEN).text  # the batch id, readable in its cell


def test_a_read_only_console_shows_no_action(browser: Any, stack: DemoConsole) -> None:
    from selenium.webdriver.common.by import By

    assert stack.state().status.value == "EXHAUSTED"  # the batch page would offer a replay
    console = stack.serve(read_only=True)
    try:
        for path in (f"jobs/{JOB}", f"jobs/{JOB}/batches/{BROKEN}", "failures", ""):
            browser.get(f"{console.url}{path}")
            assert browser.find_elements(By.CSS_SELECTOR, "form[action^='/confirm']") == []
            buttons = {b.text for b in browser.find_elements(By.TAG_NAME, "button")}
            assert buttons <= {"Filter"}, path  # no verb: replay, resolve, pause...
            assert "read-only" in browser.find_element(By.ID, "identity").text
    finally:
        console.stop()


def test_the_batch_page_says_what_happens_next_as_explain_does(
    browser: Any, stack: DemoConsole
) -> None:
    """The operator at the batch page reads what `remediator explain` prints: the rule that
    governs the failure and why nothing retries it now."""
    from selenium.webdriver.common.by import By

    browser.get(f"{stack.url}jobs/{JOB}")
    _cell(browser, BROKEN).click()  # the grid cell is the link to its batch
    text = _wait(browser, lambda d: d.find_element(By.ID, "explain")).text
    lines = text.splitlines()
    assert lines[0].startswith(f"{JOB}/{BROKEN}: EXHAUSTED"), text
    assert any(line.split()[:1] == ["rule"] for line in lines), text
    assert any(line.split()[:2] == ["not", "now"] for line in lines), text


def test_a_replay_from_the_batch_page_heals_it_and_the_grid_turns_green(
    browser: Any, stack: DemoConsole, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selenium.webdriver.common.by import By

    original = demo_module.load_month

    def fixed(month: str, attempt: int) -> None:  # the bad record corrected at its source
        if month != BROKEN:
            original(month, attempt)

    monkeypatch.setattr(demo_module, "load_month", fixed)
    browser.get(f"{stack.url}jobs/{JOB}")
    grid = browser.current_window_handle
    assert _cell(browser, BROKEN).get_attribute("data-status") == "EXHAUSTED"
    browser.execute_script("window.notReloaded = 'grid'")

    browser.switch_to.new_window("tab")
    browser.get(f"{stack.url}jobs/{JOB}/batches/{BROKEN}")
    browser.find_element(By.CSS_SELECTOR, "#replay-form input[name=reason]").send_keys("fixed")
    browser.find_element(By.ID, "replay").click()
    writes = _wait(browser, lambda d: d.find_element(By.ID, "writes")).text
    assert "REPLAY_TRIGGERED" in writes
    assert "arn:aws:sts::123456789012:user/moto" in writes
    browser.find_element(By.ID, "confirm").click()
    assert "triggered" in _wait(browser, lambda d: d.find_element(By.ID, "outcomes")).text

    browser.switch_to.window(grid)
    _wait(browser, lambda d: _cell(d, BROKEN).get_attribute("data-status") == "SUCCESS")
    assert browser.execute_script("return window.notReloaded") == "grid"  # no reload
    # Read through a wait too: the grid may swap the cell again between find and read.
    assert _wait(
        browser, lambda d: _cell(d, BROKEN).value_of_css_property("background-color") == GREEN
    )
    healed = stack.state()
    assert healed.status.value == "SUCCESS"
    events = [e.event.value for e in stack.demo.pipeline.history(JOB, BROKEN)]
    assert events[-3:] == ["REPLAY_TRIGGERED", "STARTED", "SUCCESS"]
