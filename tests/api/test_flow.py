"""The whole life of a task through HTTP, and one execution per task under concurrent requests."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.api.conftest import API, LiveAirflow, envelope

TABLES = "bss_company\nbss_service_area\nbss_section_route\n# routes and areas\nbss_section_route_area_link\n"


def wait_finished(client: httpx.Client, task_id: str, timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = envelope(client.get(f"{API}/tasks/{task_id}"), 200)["data"]
        if data["status"] in ("completed", "partial_completed", "failed"):
            return data
        time.sleep(1.5)
    raise AssertionError(f"task {task_id} still {data['status']} after {timeout}s: {data['steps']}")


def test_create_upload_execute_poll_files_download_delete(live: LiveAirflow, admin: httpx.Client) -> None:
    created = envelope(admin.post(f"{API}/tasks", json={
        "task_name": "flow", "db_connection": "postgresql://demo_user:s3cr3t-pass@127.0.0.1:1/highway",
        "business_context": "高速公路服务区"}), 201)["data"]
    assert "s3cr3t-pass" not in str(created) and created["status"] == "pending"
    # that task's database is unreachable; the real flow uses the demo connection
    task = envelope(admin.post(f"{API}/tasks", json={"task_name": "flow", "db_conn_id": "highway_demo",
                                                     "business_context": "高速公路服务区"}), 201)["data"]
    task_id = task["task_id"]
    uploaded = envelope(admin.post(f"{API}/tasks/{task_id}/upload-table-list",
                                   files={"file": ("table_list.txt", TABLES.encode(), "text/plain")}), 200)["data"]
    assert uploaded["table_count"] == 4
    info = envelope(admin.get(f"{API}/tasks/{task_id}/table-list-info"), 200)["data"]
    assert info["valid"] and info["tables"][0] == "public.bss_company"
    run = envelope(admin.post(f"{API}/tasks/{task_id}/execute", json={"execution_mode": "complete"}), 202)["data"]
    assert run["dag_run_id"].startswith("api__")
    dag_run = admin.get(f"/api/v2/dags/data_pipeline/dagRuns/{run['dag_run_id']}").json()
    assert dag_run["conf"] == {"task_id": task_id, "execution_mode": "complete"}  # nothing else in conf
    done = wait_finished(admin, task_id)
    assert done["status"] == "completed", done
    assert {s["step_name"]: s["status"] for s in done["steps"]} == {
        "ddl_generation": "completed", "qa_generation": "completed", "sql_validation": "completed",
        "training_load": "completed"}
    files = envelope(admin.get(f"{API}/tasks/{task_id}/files"), 200)["data"]
    names = {f["file_path"] for f in files["files"]}
    assert {"table_list.txt", "bss_company.ddl", "bss_company_detail.md", "metadata.txt", "task_result.json",
            "data_pipeline.log"} <= names
    assert any(n.startswith("qs_") and n.endswith("_pair.json") for n in names)
    ddl = admin.get(f"{API}/tasks/{task_id}/files/bss_company.ddl")
    assert ddl.status_code == 200 and "CREATE TABLE" in ddl.text
    assert ddl.content == (live.data_dir / task_id / "bss_company.ddl").read_bytes()
    named = admin.get(f"{API}/tasks/{task_id}/files/download/bss_company.ddl")
    assert named.content == ddl.content
    logs = envelope(admin.get(f"{API}/tasks/{task_id}/logs"), 200)["data"]
    assert logs["total"] > 5
    queried = envelope(admin.post(f"{API}/tasks/{task_id}/logs/query",
                                  json={"step_name": "ddl_generation", "page_size": 5}), 200)["data"]
    assert all(row["step_name"] == "ddl_generation" for row in queried["logs"])
    missing = admin.request("DELETE", f"{API}/tasks/{task_id}", json={})
    assert envelope(missing, 400)["missing_params"] == ["confirm"]
    deleted = envelope(admin.request("DELETE", f"{API}/tasks/{task_id}", json={"confirm": True}), 200)["data"]
    assert deleted["directory_deleted"] and deleted["deleted_files_count"] >= len(names)
    assert not (live.data_dir / task_id).exists()
    listed = envelope(admin.get(f"{API}/tasks", params={"limit": 1000}), 200)["data"]["tasks"]
    row = next(t for t in listed if t["task_id"] == task_id)
    assert row["directory_exists"] is False and row["updated_at"]


def test_twenty_concurrent_executes_start_exactly_one_run(live: LiveAirflow, admin: httpx.Client) -> None:
    task_id = envelope(admin.post(f"{API}/tasks", json={"db_conn_id": "highway_demo", "table_list": ["bss_company"],
                                                        "business_context": "高速公路服务区",
                                                        "enable_sql_validation": False,
                                                        "enable_training_data_load": False}), 201)["data"]["task_id"]

    def execute(_: int) -> int:
        with live.client("admin") as client:
            return client.post(f"{API}/tasks/{task_id}/execute", json={"execution_mode": "complete"}).status_code

    with ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(execute, range(20)))
    assert sorted(codes) == [202] + [409] * 19, codes
    runs = admin.get("/api/v2/dags/data_pipeline/dagRuns", params={"limit": 100}).json()["dag_runs"]
    assert sum(1 for r in runs if (r.get("conf") or {}).get("task_id") == task_id) == 1
    assert wait_finished(admin, task_id)["status"] == "completed"


def test_a_paused_dag_answers_409_and_leaves_the_task_runnable(live: LiveAirflow, admin: httpx.Client) -> None:
    """Airflow with default settings pauses new DAGs; a run triggered then would wait, and the task with it."""
    task_id = envelope(admin.post(f"{API}/tasks", json={"db_conn_id": "highway_demo", "table_list": ["bss_company"],
                                                        "business_context": "高速公路服务区"}),
                       201)["data"]["task_id"]
    assert admin.patch("/api/v2/dags/data_pipeline", json={"is_paused": True}).status_code == 200
    try:
        body = envelope(admin.post(f"{API}/tasks/{task_id}/execute", json={"execution_mode": "complete"}), 409)
    finally:
        assert admin.patch("/api/v2/dags/data_pipeline", json={"is_paused": False}).status_code == 200
    assert body["error_code"] == "DAG_PAUSED" and "airflow dags unpause data_pipeline" in body["message"]
    detail = envelope(admin.get(f"{API}/tasks/{task_id}"), 200)["data"]
    assert detail["status"] == "pending" and detail["dag_run_id"] is None
    runs = admin.get("/api/v2/dags/data_pipeline/dagRuns", params={"limit": 100}).json()["dag_runs"]
    assert not [r for r in runs if (r.get("conf") or {}).get("task_id") == task_id]  # nothing left waiting
