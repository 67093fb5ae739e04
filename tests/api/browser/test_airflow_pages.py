"""Pages of Airflow's own UI a user of the pipeline meets: both API docs pages and the DAG's trigger form."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.api.browser.conftest import BrowserUser, expect
from tests.api.conftest import LiveAirflow

if TYPE_CHECKING:
    from playwright.sync_api import Locator

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
PARAM_SECTIONS = ("Task", "Business database (new tasks)", "Options (new tasks)")


@pytest.mark.parametrize("docs", ["/api/v0/data_pipeline", "/api/v1"])
def test_api_docs_page_shows_every_operation_without_internet(live: LiveAirflow, admin_ui: BrowserUser,
                                                               docs: str) -> None:
    with live.client("admin") as client:
        spec = client.get(f"{docs}/openapi.json").json()
    operations = [(method.upper(), path) for path, item in spec["paths"].items()
                  for method in item if method in HTTP_METHODS]
    assert len(operations) > 5
    admin_ui.goto(f"{docs}/docs")
    page = admin_ui.page
    expect(page.get_by_role("heading", level=1)).to_contain_text(spec["info"]["title"])
    for method, path in operations:
        # Swagger UI names each operation's summary button "<METHOD> <path> <summary>" (Playwright's regex
        # selector needs "/" escaped)
        pattern = "^" + re.escape(f"{method} {path}").replace("/", r"\/") + r"(\s|$)"
        button = page.get_by_role("button", name=re.compile(pattern))
        expect(button).to_be_visible()
    admin_ui.shot("docs")
    admin_ui.assert_no_outside_requests()


def _open_trigger_form(ui: BrowserUser) -> Locator:
    ui.goto("/dags/data_pipeline")
    ui.page.get_by_role("button", name="Trigger Dag").click()
    dialog = ui.page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Trigger Dag - data_pipeline")).to_be_visible()
    return dialog


def _open_section(dialog: Locator, section: str) -> Locator:
    """Expand one section of the form (the form shows one at a time) and return its region."""
    button = dialog.get_by_role("button", name=section, exact=True)
    if button.get_attribute("aria-expanded") != "true":
        button.click()
    expect(button).to_have_attribute("aria-expanded", "true")
    region = dialog.locator(f'[id="{button.get_attribute("aria-controls")}"]')  # the region the button opens
    expect(region).to_be_visible()
    return region


def _fields(region: Locator) -> dict[str, Locator]:
    """The section's fields by their label (the first line of each field's group)."""
    fields = {}
    for group in region.get_by_role("group").all():
        lines = [line.strip() for line in group.inner_text().splitlines() if line.strip()]
        if lines:
            fields[lines[0]] = group
    return fields


def _plain(markdown: str) -> str:
    return " ".join(markdown.replace("`", "").split())


def test_trigger_form_describes_every_param_and_shows_no_null(live: LiveAirflow, admin_ui: BrowserUser) -> None:
    with live.client("admin") as client:
        params = client.get("/api/v2/dags/data_pipeline/details").json()["params"]
    dialog = _open_trigger_form(admin_ui)
    seen: set[str] = set()
    for section in PARAM_SECTIONS:
        region = _open_section(dialog, section)
        fields = _fields(region)
        for name, param in params.items():
            schema = param["schema"]
            if schema.get("section") != section:
                continue
            field = fields.get(schema["title"])
            assert field is not None, f"param {name} ({schema['title']!r}) not in section {section}: {list(fields)}"
            description = param["description"] or schema.get("description_md")
            assert description, f"param {name} has no description"
            assert _plain(description) in " ".join(field.inner_text().split()), (name, field.inner_text())
            seen.add(name)
        for control in region.locator("input:visible, textarea:visible").all():
            if control.get_attribute("type") not in ("checkbox", "radio"):
                assert control.input_value().strip().lower() != "null", region.inner_text()
        shown = [line.strip().lower() for line in region.inner_text().splitlines()]
        assert "null" not in shown, region.inner_text()
        admin_ui.shot(re.sub(r"\W+", "_", section).strip("_").lower())
    assert seen == set(params)
    admin_ui.assert_no_outside_requests()


def test_trigger_form_with_only_a_task_id_can_be_triggered(admin_ui: BrowserUser) -> None:
    dialog = _open_trigger_form(admin_ui)
    region = _open_section(dialog, "Task")
    fields = _fields(region)
    fields["Task id"].get_by_role("textbox").fill("task_20260101_120000")
    expect(fields["Execution mode"]).to_contain_text("Complete workflow")
    expect(dialog.get_by_role("button", name="Trigger", exact=True)).to_be_enabled()
    admin_ui.shot("trigger_form_filled")
    admin_ui.assert_no_outside_requests()
