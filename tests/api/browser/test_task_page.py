"""The "Training data" task page inside Airflow's UI, driven as a user drives it (data-testids of its app.js)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.api.browser.conftest import BrowserUser, expect
from tests.api.conftest import API, LiveAirflow, envelope
from tests.api.test_flow import wait_finished

RUN_TIMEOUT_MS = 300_000  # the offline pipeline finishes well within this on a busy machine
FINISHED = re.compile(r"^(completed|partial completed|failed)$")
TABLES = ("public.bss_company", "public.bss_service_area")


def _create_and_run_via_api(live: LiveAirflow) -> tuple[str, str]:
    """A finished task made through the API (for tests about reading it); returns (task_id, dag_run_id)."""
    with live.client("admin") as admin:
        task_id = envelope(admin.post(f"{API}/tasks", json={
            "task_name": "read me", "db_conn_id": "highway_demo", "table_list": ["bss_company"],
            "business_context": "高速公路服务区"}), 201)["data"]["task_id"]
        run_id = envelope(admin.post(f"{API}/tasks/{task_id}/execute", json={"execution_mode": "complete"}),
                          202)["data"]["dag_run_id"]
        assert wait_finished(admin, task_id)["status"] == "completed"
    return task_id, run_id


def test_admin_creates_runs_downloads_reruns_a_step_and_deletes_a_task(live: LiveAirflow,
                                                                         admin_ui: BrowserUser) -> None:
    page = admin_ui.page
    page.get_by_role("link", name="Training data").click()
    ui = admin_ui.task_page()
    expect(ui.get_by_test_id("task-list")).to_be_visible()
    ui.get_by_test_id("new-task-button").click()
    expect(ui.get_by_test_id("create-form")).to_be_visible()
    ui.get_by_label("Task name (optional)").fill("browser flow")
    ui.get_by_label("Business database").select_option("highway_demo")
    for table in TABLES:
        ui.get_by_label(table, exact=True).check()
    ui.get_by_label("Business context").fill("高速公路服务区")
    admin_ui.shot("create_form")
    ui.get_by_role("button", name="Create task").click()

    view = ui.get_by_test_id("task-view")
    expect(view).to_be_visible()
    task_id = view.get_attribute("data-task-id")
    assert task_id and task_id.startswith("task_")
    expect(ui.get_by_test_id("task-status")).to_have_text("pending")
    ui.get_by_role("button", name="Run complete workflow").click()
    status = ui.get_by_test_id("task-status")
    expect(status).to_have_text(FINISHED, timeout=RUN_TIMEOUT_MS)  # the page refreshes itself while it runs
    assert status.inner_text() == "completed", ui.get_by_test_id("task-view").inner_text()
    for step in ("ddl_generation", "qa_generation", "sql_validation", "training_load"):
        expect(ui.locator(f'[data-testid="step-row"][data-step="{step}"]')).to_have_attribute("data-status",
                                                                                           "completed")
    admin_ui.shot("completed", full_page=True)

    with page.expect_download() as download_info:
        ui.locator('[data-testid="file-download"][data-file="bss_company.ddl"]').click()
    download = download_info.value
    assert download.suggested_filename == "bss_company.ddl"
    text = Path(download.path()).read_text(encoding="utf-8")
    assert text.startswith("-- ") and "CREATE TABLE bss_company" in text, text[:300]

    first_run = view.get_by_text(re.compile(r"^api__\S+$"))
    first_run_id = first_run.inner_text()
    ui.get_by_label("Step", exact=True).select_option("sql_validation")
    ui.get_by_role("button", name="Run this step").click()
    expect(ui.get_by_test_id("notice")).to_have_text("Step sql_validation started.")
    expect(first_run).not_to_have_text(first_run_id)  # the task now links the step's run
    expect(status).to_have_text(FINISHED, timeout=RUN_TIMEOUT_MS)
    assert status.inner_text() == "completed", ui.get_by_test_id("task-view").inner_text()
    step_run_id = first_run.inner_text()
    with live.client("admin") as admin:
        conf = admin.get(f"/api/v2/dags/data_pipeline/dagRuns/{step_run_id}").json()["conf"]
    assert conf == {"task_id": task_id, "execution_mode": "step", "step_name": "sql_validation"}
    expect(ui.locator('[data-testid="step-row"][data-step="sql_validation"]')).to_have_attribute("data-status",
                                                                                             "completed")

    ui.get_by_label("also delete its records").check()
    ui.get_by_role("button", name="Delete task").click()
    dialog = ui.get_by_test_id("confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(task_id)
    ui.get_by_test_id("confirm-ok").click()
    expect(ui.get_by_test_id("task-list")).to_be_visible()
    expect(ui.locator(f'[data-testid="task-row"][data-task-id="{task_id}"]')).to_have_count(0)
    assert not (live.data_dir / task_id).exists()
    admin_ui.assert_no_outside_requests()


def test_viewer_reads_tasks_without_actions_and_is_refused_a_change(live: LiveAirflow, viewer_ui: BrowserUser) -> None:
    task_id, _ = _create_and_run_via_api(live)
    viewer_ui.page.get_by_role("link", name="Training data").click()
    ui = viewer_ui.task_page()
    expect(ui.get_by_test_id("whoami")).to_have_text("viewer (read only)")
    row = ui.locator(f'[data-testid="task-row"][data-task-id="{task_id}"]')
    expect(row).to_be_visible()
    expect(ui.get_by_test_id("new-task-button")).to_have_count(0)
    row.get_by_test_id("task-link").click()
    expect(ui.get_by_test_id("task-view")).to_have_attribute("data-task-id", task_id)
    expect(ui.get_by_test_id("task-status")).to_have_text("completed")
    expect(ui.get_by_test_id("file-row").first).to_be_visible()
    for action in ("execute-complete", "execute-step", "delete-task", "restore-backup", "vector-backup-create"):
        expect(ui.get_by_test_id(action)).to_have_count(0)
    viewer_ui.shot("task_read_only", full_page=True)
    # the viewer's own session cookie, from the page: the API refuses the change, whatever the page shows
    refused = viewer_ui.page.request.post(f"{live.base_url}{API}/tasks/{task_id}/execute",
                                          data={"execution_mode": "complete"})
    assert refused.status == 403, refused.text()
    created = viewer_ui.page.request.post(f"{live.base_url}{API}/tasks",
                                          data={"db_conn_id": "highway_demo", "table_list": ["bss_company"]})
    assert created.status == 403, created.text()
    viewer_ui.assert_no_outside_requests()


def test_dag_run_tab_shows_the_runs_task(live: LiveAirflow, admin_ui: BrowserUser) -> None:
    task_id, run_id = _create_and_run_via_api(live)
    admin_ui.goto(f"/dags/data_pipeline/runs/{run_id}")
    page = admin_ui.page
    tab = page.get_by_role("link", name="Training data").and_(page.locator(f'[href*="/runs/{run_id}/"]'))
    tab.click()
    ui = admin_ui.task_page()
    expect(ui.get_by_test_id("task-view")).to_have_attribute("data-task-id", task_id)
    expect(ui.get_by_test_id("task-view")).to_contain_text(run_id)
    admin_ui.shot("dag_run_tab")
    admin_ui.assert_no_outside_requests()
