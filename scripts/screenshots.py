"""Screenshots for the docs, taken from a running ``make up``: ``python scripts/screenshots.py [--base-url URL]``.

Signs in as ``admin`` (password from ``.local/airflow/simple_auth_manager_passwords.json.generated``), creates
and runs a demo task through the "Training data" page, and saves PNGs into ``docs/screenshots/``. Needs
Debian's Chromium (``apt-get install chromium``); requests to other hosts are refused and reported.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from playwright.sync_api import FrameLocator, Page, expect, sync_playwright

from local_stack import browser as chromium
from local_stack.airflow_env import ADMIN_USER

ROOT = Path(__file__).resolve().parents[1]
PASSWORDS = ROOT / ".local" / "airflow" / "simple_auth_manager_passwords.json.generated"
OUT = ROOT / "docs" / "screenshots"
FINISHED = re.compile(r"^(completed|partial completed|failed)$")


def save(page: Page, name: str, *, full_page: bool = False) -> None:
    path = OUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    print(f"saved {path.relative_to(ROOT)}")


def task_page(page: Page, base_url: str) -> FrameLocator:
    page.goto(base_url + "/")
    page.get_by_role("link", name="Training data").click()
    ui = page.frame_locator("iframe")
    expect(ui.get_by_test_id("task-list")).to_be_visible()
    return ui


def create_and_run(page: Page, base_url: str) -> None:
    ui = task_page(page, base_url)
    ui.get_by_test_id("new-task-button").click()
    ui.get_by_label("Task name (optional)").fill("highway service areas")
    ui.get_by_label("Business database").select_option("highway_demo")
    for table in ("public.bss_company", "public.bss_service_area", "public.bss_section_route"):
        ui.get_by_label(table, exact=True).check()
    ui.get_by_label("Business context").fill("高速公路服务区管理：服务区、路段与经营数据")
    save(page, "create_form")
    ui.get_by_role("button", name="Create task").click()
    status = ui.get_by_test_id("task-status")
    expect(status).to_have_text("pending")
    ui.get_by_role("button", name="Run complete workflow").click()
    expect(ui.get_by_test_id("task-current-step")).to_have_text(re.compile(r"_"), timeout=120_000)
    save(page, "task_running")
    expect(status).to_have_text(FINISHED, timeout=300_000)
    save(page, "task_completed")
    task_page(page, base_url)
    save(page, "task_list")


def trigger_form(page: Page, base_url: str) -> None:
    page.goto(base_url + "/dags/data_pipeline")
    page.get_by_role("button", name="Trigger Dag").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Task", exact=True).click()
    expect(dialog.get_by_role("region")).to_be_visible()
    page.wait_for_timeout(1000)  # the section's opening animation
    save(page, "trigger_form")
    dialog.get_by_role("button", name="Close").click()


def api_docs(page: Page, base_url: str) -> None:
    for name, path in (("task_api_docs", "/api/v0/data_pipeline/docs"), ("workflow_api_docs", "/api/v1/docs")):
        page.goto(base_url + path)
        expect(page.get_by_role("button", name=re.compile(r"^(GET|POST) \/")).first).to_be_visible()
        save(page, name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8080", help="the Airflow of `make up`")
    args = parser.parse_args()
    base_url = args.base_url.rstrip("/")
    reason = chromium.missing_browser()
    if reason is not None:
        print(reason, file=sys.stderr)
        return 2
    if not PASSWORDS.exists():
        print(f"no {PASSWORDS.relative_to(ROOT)}: start Airflow with `make up` first", file=sys.stderr)
        return 2
    password = json.loads(PASSWORDS.read_text())[ADMIN_USER]
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = chromium.launch(playwright)
        context, outside = chromium.new_context(browser, base_url)
        page = chromium.login(context, base_url, ADMIN_USER, password)
        create_and_run(page, base_url)
        trigger_form(page, base_url)
        api_docs(page, base_url)
        browser.close()
    if outside:
        print(f"refused requests to other hosts: {outside}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
