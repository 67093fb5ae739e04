"""The task API's routes in-process: statuses, the envelope, validation and the auth it is bound to."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from data_pipeline.api import deps
from data_pipeline.tasks.store import TaskStore

from .conftest import API, READER, WRITER, envelope, new_task

TABLES = "bss_company\nbss_service_area\n"


def upload_tables(client: TestClient, task_id: str, text: str = TABLES) -> Any:
    return client.post(f"{API}/tasks/{task_id}/upload-table-list", headers=WRITER,
                       files={"file": ("table_list.txt", text.encode(), "text/plain")})


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/tasks"), ("GET", "/tasks/task_20250101_000000"), ("POST", "/tasks"),
    ("POST", "/tasks/task_20250101_000000/execute"), ("DELETE", "/tasks/task_20250101_000000"),
])
def test_no_or_unknown_token_is_401(client: TestClient, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer forged"}):
        body = envelope(client.request(method, API + path, headers=headers, json={}), 401)
        assert body["error_code"] == "UNAUTHORIZED"


@pytest.mark.parametrize(("method", "path", "payload"), [
    ("POST", "/tasks", {"db_connection": "postgresql://u@h/d"}),
    ("POST", "/tasks/task_20250101_000000/execute", {}),
    ("DELETE", "/tasks/task_20250101_000000", {"confirm": True}),
    ("POST", "/tasks/task_20250101_000000/table-list", {"tables": ["a"]}),
])
def test_a_reader_may_not_change_anything(client: TestClient, method: str, path: str, payload: dict) -> None:
    body = envelope(client.request(method, API + path, headers=READER, json=payload), 403)
    assert body["error_code"] == "FORBIDDEN" and "data_pipeline" in body["message"]


def test_create_read_list_and_query(client: TestClient) -> None:
    task_id = new_task(client, business_context="服务区")
    detail = envelope(client.get(f"{API}/tasks/{task_id}", headers=READER), 200)["data"]
    assert detail["task_id"] == task_id and detail["status"] == "pending" and detail["db_name"] == "highway"
    assert [s["step_name"] for s in detail["steps"]] == ["ddl_generation", "qa_generation", "sql_validation",
                                                         "training_load"]
    assert not detail["table_list_present"]
    assert "s3cr3t-pw" not in str(detail)
    listed = envelope(client.get(f"{API}/tasks", params={"limit": 1000}, headers=READER), 200)["data"]
    assert any(t["task_id"] == task_id for t in listed["tasks"]) and "parameters" not in listed["tasks"][0]
    page = envelope(client.post(f"{API}/tasks/query", json={"keyword": task_id, "page_size": 5}, headers=READER),
                    200)["data"]
    assert [t["task_id"] for t in page["tasks"]] == [task_id]
    assert page["pagination"] == {"page": 1, "page_size": 5, "total": 1, "total_pages": 1, "has_next": False,
                                  "has_prev": False}
    assert envelope(client.get(f"{API}/tasks/active", headers=READER), 200)["data"]["max_concurrent_tasks"] == 1000


def test_unknown_task_is_404_and_a_bad_id_is_400(client: TestClient) -> None:
    body = envelope(client.get(f"{API}/tasks/task_20000101_000000", headers=READER), 404)
    assert body["error_code"] == "TASK_NOT_FOUND"
    body = envelope(client.get(f"{API}/tasks/not-an-id/files", headers=READER), 400)
    assert body["error_code"] == "VALIDATION_ERROR" and body["data"]["errors"][0]["field"] == "task_id"


def test_invalid_bodies_are_400_with_what_is_missing(client: TestClient) -> None:
    body = envelope(client.post(f"{API}/tasks", json={"task_name": "x"}, headers=WRITER), 400)
    assert body["error_code"] == "VALIDATION_ERROR" and "db_connection" in body["message"]
    body = envelope(client.post(f"{API}/tasks/query", json={"page_size": 0}, headers=READER), 400)
    assert body["data"]["errors"][0]["field"] == "page_size"
    body = envelope(client.post(f"{API}/tasks/query", json={"keyword": "a\u0000b"}, headers=READER), 400)
    assert body["data"]["errors"][0]["field"] == "keyword"
    body = envelope(client.post(f"{API}/tasks", content=b"{not json", headers={
        **WRITER, "Content-Type": "application/json"}), 400)
    assert body["error_code"] == "VALIDATION_ERROR"
    task_id = new_task(client)
    body = envelope(client.request("DELETE", f"{API}/tasks/{task_id}", json={}, headers=WRITER), 400)
    assert body["missing_params"] == ["confirm"]


def test_table_list_upload_info_and_limits(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    task_id = new_task(client)
    uploaded = envelope(upload_tables(client, task_id), 200)["data"]
    assert uploaded["table_count"] == 2 and uploaded["tables"][0] == "public.bss_company"
    info = envelope(client.get(f"{API}/tasks/{task_id}/table-list-info", headers=READER), 200)["data"]
    assert info["exists"] and info["valid"] and info["table_count"] == 2
    bad = envelope(client.post(f"{API}/tasks/{task_id}/table-list", json={"tables": ["a.b.c.d"]}, headers=WRITER),
                   400)
    assert "parts" in bad["message"]
    body = envelope(client.post(f"{API}/tasks/{task_id}/upload-table-list", content=b"raw",
                                headers={**WRITER, "Content-Type": "text/plain"}), 415)
    assert body["error_code"] == "UNSUPPORTED_MEDIA_TYPE"
    monkeypatch.setenv("DATA_PIPELINE_MAX_TABLE_LIST_BYTES", "100")
    body = envelope(upload_tables(client, task_id, "t\n" * 40_000), 413)
    assert body["error_code"] == "PAYLOAD_TOO_LARGE"


def test_execute_starts_one_run_as_the_caller(client: TestClient, launcher: Any, task_store: TaskStore) -> None:
    task_id = new_task(client)
    body = envelope(client.post(f"{API}/tasks/{task_id}/execute", json={}, headers=WRITER), 400)
    assert body["missing_params"] == ["table_list"] and not launcher.triggered
    envelope(upload_tables(client, task_id), 200)
    run = envelope(client.post(f"{API}/tasks/{task_id}/execute", json={"execution_mode": "step",
                                                                         "step_name": "qa_generation"},
                               headers=WRITER), 202)["data"]
    assert launcher.triggered == [("writer-token", task_id, "step", "qa_generation")]
    assert run == {"task_id": task_id, "dag_id": "data_pipeline", "dag_run_id": f"api__{task_id}__1",
                   "execution_mode": "step", "step_name": "qa_generation", "steps": ["qa_generation"],
                   "status": "in_progress"}
    assert task_store.require_task(task_id).dag_run_id == run["dag_run_id"]
    again = envelope(client.post(f"{API}/tasks/{task_id}/execute", headers=WRITER), 409)
    assert again["error_code"] == "TASK_RUNNING" and len(launcher.triggered) == 1


@pytest.mark.parametrize(("failure", "status", "error_code"), [
    ("upstream", 502, "AIRFLOW_ERROR"), ("crash", 500, "PIPELINE_ERROR"),
])
def test_a_failed_launch_gives_the_claim_back(client: TestClient, launcher: Any, task_store: TaskStore,
                                             failure: str, status: int, error_code: str) -> None:
    from data_pipeline.errors import UpstreamError

    task_id = new_task(client, table_list=["bss_company"])
    launcher.fail_with = UpstreamError("Airflow refused to start the run (403)") if failure == "upstream" \
        else RuntimeError("connection reset")
    body = envelope(client.post(f"{API}/tasks/{task_id}/execute", headers=WRITER), status)
    assert body["error_code"] == error_code
    task = task_store.require_task(task_id)
    assert (task.status, task.started_at, task.dag_run_id) == ("pending", None, None)
    envelope(client.post(f"{API}/tasks/{task_id}/execute", headers=WRITER), 202)


def test_inputs_of_a_running_task_cannot_change(client: TestClient) -> None:
    task_id = new_task(client, table_list=["bss_company"])
    envelope(client.post(f"{API}/tasks/{task_id}/execute", headers=WRITER), 202)
    for response in (
        upload_tables(client, task_id),
        client.post(f"{API}/tasks/{task_id}/table-list", json={"tables": ["x"]}, headers=WRITER),
        client.post(f"{API}/tasks/{task_id}/files", files={"file": ("notes.md", b"hi", "text/plain")}, headers=WRITER),
        client.post(f"{API}/tasks/{task_id}/backups/file_bak_20250101_000000/restore", headers=WRITER),
    ):
        body = envelope(response, 409)
        assert body["error_code"] == "CONFLICT" and "is running" in body["message"], body
        assert body["data"] == {"current_status": "in_progress"}


def test_files_upload_list_download(client: TestClient) -> None:
    task_id = new_task(client)
    created = envelope(client.post(f"{API}/tasks/{task_id}/files", headers=WRITER,
                                   files={"file": ("notes.md", b"# notes", "text/markdown")}), 200)["data"]
    assert (created["action"], created["file_size"]) == ("created", 7)
    skipped = envelope(client.post(f"{API}/tasks/{task_id}/files", headers=WRITER, data={"overwrite_mode": "skip"},
                                   files={"file": ("notes.md", b"other", "text/markdown")}), 200)["data"]
    assert skipped["action"] == "skipped"
    backed = envelope(client.post(f"{API}/tasks/{task_id}/files", headers=WRITER,
                                  files={"file": ("notes.md", b"v2", "text/markdown")}), 200)["data"]
    assert backed["action"] == "backed_up_and_replaced" and backed["backup_directory"].startswith("file_bak_")
    listing = envelope(client.get(f"{API}/tasks/{task_id}/files", headers=READER), 200)["data"]
    assert "notes.md" in {f["file_path"] for f in listing["files"]}
    for path in ("notes.md", "download/notes.md"):
        response = client.get(f"{API}/tasks/{task_id}/files/{path}", headers=READER)
        assert response.status_code == 200 and response.content == b"v2"
        assert response.headers["content-type"] == "application/octet-stream"
    assert envelope(client.get(f"{API}/tasks/{task_id}/files/missing.txt", headers=READER), 404)
    body = envelope(client.post(f"{API}/tasks/{task_id}/files", headers=WRITER,
                                files={"file": ("table_list.txt", b"x", "text/plain")}), 400)
    assert "upload-table-list" in body["message"]
    backups = envelope(client.get(f"{API}/tasks/{task_id}/backups", headers=READER), 200)["data"]
    assert backups["count"] == 1
    restored = envelope(client.post(f"{API}/tasks/{task_id}/backups/{backups['backups'][0]['backup_directory']}"
                                    "/restore", headers=WRITER), 200)["data"]
    assert restored["restored_files"] == ["notes.md"]
    assert client.get(f"{API}/tasks/{task_id}/files/notes.md", headers=READER).content == b"# notes"


def test_logs_and_log_query(client: TestClient) -> None:
    task_id = new_task(client)
    logs = envelope(client.get(f"{API}/tasks/{task_id}/logs", headers=READER), 200)["data"]
    assert logs["total"] >= 1 and "created through the API by wendy" in logs["logs"][-1]["message"]
    page = envelope(client.post(f"{API}/tasks/{task_id}/logs/query", json={"keyword": "wendy", "page_size": 1},
                                headers=READER), 200)["data"]
    assert page["pagination"]["page_size"] == 1 and len(page["logs"]) == 1
    body = envelope(client.post(f"{API}/tasks/{task_id}/logs/query", json={"level": ["LOUD"]}, headers=READER), 400)
    assert body["data"]["errors"][0]["field"].startswith("level")


def test_delete_asks_the_launcher_about_a_linked_run(client: TestClient, launcher: Any) -> None:
    task_id = new_task(client, table_list=["bss_company"])
    envelope(client.post(f"{API}/tasks/{task_id}/execute", headers=WRITER), 202)
    envelope(client.request("DELETE", f"{API}/tasks/{task_id}", json={"confirm": True}, headers=WRITER), 409)
    launcher.states[task_id] = "running"
    batch = envelope(client.request("DELETE", f"{API}/tasks", json={"confirm": True, "task_ids": [task_id]},
                                    headers=WRITER), 200)["data"]
    assert batch["summary"]["successfully_deleted"] == 0
    other = new_task(client)
    deleted = envelope(client.request("DELETE", f"{API}/tasks/{other}", headers=WRITER,
                                      json={"confirm": True, "delete_database_records": True}), 200)["data"]
    assert deleted["directory_deleted"] and deleted["database_records_deleted"]
    envelope(client.get(f"{API}/tasks/{other}", headers=READER), 404)


def test_an_unexpected_error_is_a_500_envelope(client: TestClient, task_app: Any) -> None:
    def broken() -> TaskStore:
        raise RuntimeError("store exploded")

    task_app.dependency_overrides[deps.get_store] = broken
    body = envelope(client.get(f"{API}/tasks", headers=READER), 500)
    assert body["error_code"] == "INTERNAL_ERROR" and "exploded" not in body["message"]


def test_an_app_without_its_hosts_auth_is_closed(client: TestClient, task_app: Any) -> None:
    task_app.dependency_overrides.pop(deps.read_access)
    body = envelope(client.get(f"{API}/tasks", headers=READER), 401)
    assert body["error_code"] == "UNAUTHORIZED"


def test_a_misconfigured_setting_is_a_503_naming_it(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_PIPELINE_MAX_CONCURRENT_TASKS", "many")
    answer = client.get(f"{API}/tasks/active", headers=READER)
    assert answer.status_code == 503, answer.text
    body = answer.json()
    assert body["error_code"] == "CONFIGURATION_ERROR"
    assert "DATA_PIPELINE_MAX_CONCURRENT_TASKS" in body["message"]


def test_malformed_json_says_where_it_breaks(client: TestClient) -> None:
    answer = client.post(f"{API}/tasks", content=b'{"db_conn_id": "highway_demo" "table_list": []}',
                         headers={**WRITER, "Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    message = answer.json()["message"]
    assert "not valid JSON at character 30" in message and "delimiter" in message, message
    assert "request: 30" not in message  # the offset is not presented as a field name


@pytest.mark.parametrize("field", ["table_list_file", "output_dir", "execution_mode", "single_step"])
def test_the_original_designs_fields_are_refused_by_name_not_dropped(client: TestClient, field: str) -> None:
    body = {"task_type": "complete_workflow", "parameters": {
        "db_connection": "postgresql://u@localhost/db", "table_list": ["t"], "business_context": "x",
        field: "/etc/passwd" if field.endswith(("_file", "_dir")) else 1}}
    answer = client.post(f"{API}/tasks", json=body, headers=WRITER)
    assert answer.status_code == 400, answer.text
    assert f"parameters.{field} is not accepted" in answer.json()["message"]


def test_an_unknown_field_is_a_400_naming_it(client: TestClient) -> None:
    answer = client.post(f"{API}/tasks", json={"db_conn_id": "x", "step_details": []}, headers=WRITER)
    assert answer.status_code == 400 and "step_details" in answer.json()["message"], answer.text


def test_the_creating_user_is_recorded_shown_and_filterable(client: TestClient, task_store: TaskStore) -> None:
    task_id = new_task(client)
    other = task_store.create_task(parameters={}, created_by="manual").id
    detail = envelope(client.get(f"{API}/tasks/{task_id}", headers=READER), 200)["data"]
    assert detail["created_by"] == "wendy"
    mine = envelope(client.get(f"{API}/tasks", params={"created_by": "wendy", "limit": 1000}, headers=READER),
                    200)["data"]
    assert task_id in {t["task_id"] for t in mine["tasks"]} and other not in {t["task_id"] for t in mine["tasks"]}
    assert {t["created_by"] for t in mine["tasks"]} == {"wendy"}
    manual = envelope(client.get(f"{API}/tasks", params={"created_by": "manual", "limit": 1000}, headers=READER),
                      200)["data"]
    assert other in {t["task_id"] for t in manual["tasks"]} and task_id not in {t["task_id"] for t in manual["tasks"]}
    queried = envelope(client.post(f"{API}/tasks/query", json={"created_by": "wendy", "page_size": 1000},
                                   headers=READER), 200)["data"]
    assert task_id in {t["task_id"] for t in queried["tasks"]}
    envelope(client.get(f"{API}/tasks", params={"created_by": "x" * 257}, headers=READER), 400)
