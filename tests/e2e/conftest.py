"""Fixtures of the end-to-end tests that drive a browser (the helpers they use are in ``tests/support/browser.py``)."""

import pytest

from tests.support.browser import CHROMIUM_FLAGS, chromium_executable
from tests.support.services import unavailable


@pytest.fixture(scope="module")
def browser():
    """Debian's headless chromium, launched by Playwright once per module; missing, it skips the test on a laptop
    (fails it under ``COMPLAINTS_REQUIRE_SERVICES=1``, as in CI)."""
    executable = chromium_executable()
    if not executable:
        unavailable("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture()
def page(browser):
    """A new page of 1400x1000 in its own browser context; ``page.errors`` collects the page's script errors."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    errors = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.errors = errors
    yield opened
    context.close()
