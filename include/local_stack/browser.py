"""Headless Chromium against a local Airflow, shared by the browser tests and ``scripts/screenshots.py``.

Debian's Chromium is used (never a browser downloaded by Playwright), so both run offline. Every request to a
host other than the Airflow under test is refused and recorded: a page that needs a CDN shows up as a
recorded request instead of silently working only on a machine with internet access.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route

ENABLE_COMMAND = "apt-get install chromium"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-background-networking", "--disable-component-update"]
VIEWPORT = {"width": 1400, "height": 1000}


def missing_browser() -> str | None:
    """Why no browser can run here (``None`` when Chromium and the playwright package are both present)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -r requirements-dev.txt)"
    if shutil.which("chromium") is None:
        return f"Chromium is not installed; enable the browser tests with: {ENABLE_COMMAND}"
    return None


def launch(playwright: Playwright) -> Browser:
    executable = shutil.which("chromium")
    if executable is None:
        raise RuntimeError(f"Chromium is not installed: {ENABLE_COMMAND}")
    return playwright.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)


def new_context(browser: Browser, base_url: str) -> tuple[BrowserContext, list[str]]:
    """A context whose requests to anything but ``base_url`` are aborted; the list collects their URLs."""
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)  # type: ignore[arg-type]
    outside: list[str] = []
    origin = base_url.rstrip("/")

    def route(route: Route) -> None:
        url = route.request.url
        if url == origin or url.startswith(origin + "/"):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context.route("**/*", route)
    return context, outside


def login(context: BrowserContext, base_url: str, user: str, password: str) -> Page:
    """Sign in through Airflow's login form, as a user does; the session cookie stays in ``context``.

    Returns the page, on Airflow's home page."""
    page = context.new_page()
    page.goto(base_url.rstrip("/") + "/auth/login/")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)
    return page
