"""Browser tests: headless Chromium (Debian's) against the session's live Airflow (``live``, tests/api/conftest.py).

They sit under tests/api/ so they share that Airflow and its xdist group. Without Chromium or the playwright
package every test here is skipped with the reason and the command that enables them. Each test's screenshots
(and, on failure, the page's HTML) are kept under ``.local/browser-artifacts/<test>/``; requests to any host but
the Airflow under test are refused and recorded, and each test asserts there were none.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from local_stack import browser as chromium
from local_stack.airflow_env import ADMIN_USER, VIEWER_USER
from tests.api.conftest import LiveAirflow
from tests.conftest import PROJECT_ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, FrameLocator, Locator, Page

ARTIFACTS = PROJECT_ROOT / ".local" / "browser-artifacts"
TASK_PAGE_FRAME = "iframe"  # Airflow shows an external view (our task page) in its one iframe


def expect(target: Locator | Page) -> Any:
    """Playwright's ``expect``, imported late: without playwright the tests are skipped, not a collection error."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


@dataclass
class BrowserUser:
    """One signed-in user's browser context and page, with the outside requests it tried."""

    user: str
    base_url: str
    context: BrowserContext
    page: Page
    outside: list[str]
    artifacts: Path
    shots: list[Path] = field(default_factory=list)

    def goto(self, path: str) -> None:
        self.page.goto(self.base_url + path)

    def task_page(self) -> FrameLocator:
        """The task page inside Airflow's frame (nav entry or DAG-run tab "Training data")."""
        return self.page.frame_locator(TASK_PAGE_FRAME)

    def shot(self, name: str, *, full_page: bool = False) -> Path:
        path = self.artifacts / f"{len(self.shots):02d}-{self.user}-{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        self.shots.append(path)
        return path

    def assert_no_outside_requests(self) -> None:
        assert self.outside == [], f"requests left the Airflow host (a CDN?): {self.outside}"

    def save_failure(self) -> None:
        self.shot("failure", full_page=True)
        html = [self.page.content()] + [f"<!-- frame {f.url} -->\n{f.content()}" for f in self.page.frames[1:]]
        (self.artifacts / f"{self.user}-failure.html").write_text("\n".join(html), encoding="utf-8")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the item, so the page fixture knows at teardown whether the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if ARTIFACTS.exists() and any(ARTIFACTS.iterdir()):
        terminalreporter.write_line(f"browser screenshots and failure pages: {ARTIFACTS}")


@pytest.fixture(scope="session", autouse=True)
def browser() -> Iterator[Browser]:
    """One Chromium per session; autouse, so it is set up before ``live`` and a missing browser skips every
    test here before an Airflow is started for nothing."""
    reason = chromium.missing_browser()
    if reason is not None:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = chromium.launch(playwright)
        yield launched
        launched.close()


@pytest.fixture
def sign_in(browser: Browser, live: LiveAirflow, request: pytest.FixtureRequest
            ) -> Iterator[Callable[[str], BrowserUser]]:
    """``sign_in("admin")`` / ``sign_in("viewer")``: a fresh context signed in through Airflow's login form."""
    artifacts = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    artifacts.mkdir(parents=True, exist_ok=True)
    for old in artifacts.iterdir():
        old.unlink()
    users: list[BrowserUser] = []

    def open_as(user: str) -> BrowserUser:
        assert user in (ADMIN_USER, VIEWER_USER)
        context, outside = chromium.new_context(browser, live.base_url)
        page = chromium.login(context, live.base_url, user, live.airflow.passwords[user])
        signed_in = BrowserUser(user, live.base_url, context, page, outside, artifacts)
        users.append(signed_in)
        return signed_in

    yield open_as
    report = getattr(request.node, "report_call", None)
    for signed_in in users:
        if report is not None and report.failed:
            signed_in.save_failure()
        else:
            signed_in.shot("final")
        signed_in.context.close()
    print(f"browser artifacts: {artifacts}")


@pytest.fixture
def admin_ui(sign_in: Callable[[str], BrowserUser]) -> BrowserUser:
    return sign_in(ADMIN_USER)


@pytest.fixture
def viewer_ui(sign_in: Callable[[str], BrowserUser]) -> BrowserUser:
    return sign_in(VIEWER_USER)
