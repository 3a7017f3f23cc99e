"""A real headless browser for page tests: Debian's chromium driven by Playwright.

Without a browser the tests skip and say how to install one, except in CI (CI=true), where a
missing browser fails them: CI must exercise the pages.
"""
import os
import shutil

import pytest

INSTALL = ("install one with `apt-get install -y chromium` and `pip install -r requirements-dev.txt` "
           "(never `playwright install`); or set SHELFSCAN_CHROMIUM to a Chromium binary")


def chromium_path() -> str | None:
    return os.environ.get("SHELFSCAN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def _missing(why: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser test cannot run in CI: {why}; {INSTALL}")
    pytest.skip(f"no browser: {why}; {INSTALL}")


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed")
    path = chromium_path()
    if not path:
        _missing("no chromium on PATH")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True,
                              args=["--disable-background-networking", "--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    yield context.new_page()
    context.close()
