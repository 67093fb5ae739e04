"""What is checked before a task exists or a run is requested, and what the detail says while a run waits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from data_pipeline.tasks.store import TaskStore

from .conftest import API, READER, WRITER, envelope, new_task

UNREACHABLE = "postgresql://demo:s3cr3t-pw@127.0.0.1:1/highway"


def create(client: TestClient, body: dict[str, Any], status: int) -> dict[str, Any]:
    return envelope(client.post(f"{API}/tasks", json={"business_context": "highway service areas", **body},
                                headers=WRITER), status)


def test_unknown_tables_are_refused_at_creation_each_named(client: TestClient, data_dir: Path) -> None:
    body = create(client, {"db_conn_id": "highway_demo", "table_list": ["bss_company", "bss_compnay", "nowhere"]},
                  400)
    assert body["error_code"] == "UNKNOWN_TABLES"
    assert "2 listed table(s) do not exist" in body["message"] and "public.nowhere" in body["message"]
    assert "did you mean public.bss_company?" in body["message"]
    assert body["data"]["unknown_tables"] == ["public.bss_compnay", "public.nowhere"]
    assert not any(data_dir.iterdir())  # no task was created


def test_an_unreachable_database_is_a_424_at_creation(client: TestClient, data_dir: Path) -> None:
    body = create(client, {"db_connection": UNREACHABLE, "table_list": ["bss_company"]}, 424)
    assert body["error_code"] == "DATABASE_UNREACHABLE"
    assert body["message"].startswith("cannot connect to the business database postgresql://demo@127.0.0.1:1/highway")
    assert "s3cr3t-pw" not in str(body) and not any(data_dir.iterdir())
    create(client, {"db_connection": UNREACHABLE}, 201)  # without tables nothing is checked yet


def test_execute_checks_the_tables_before_claiming(client: TestClient, launcher: Any, task_store: TaskStore) -> None:
    unreachable = new_task(client)
    envelope(client.post(f"{API}/tasks/{unreachable}/table-list", json={"tables": ["bss_company"]}, headers=WRITER),
             200)
    body = envelope(client.post(f"{API}/tasks/{unreachable}/execute", headers=WRITER), 424)
    assert body["error_code"] == "DATABASE_UNREACHABLE" and "cannot connect to the business database" in body["message"]
    unknown = new_task(client, db_conn_id="highway_demo")
    envelope(client.post(f"{API}/tasks/{unknown}/table-list", json={"tables": ["bss_company", "bss_ghost"]},
                         headers=WRITER), 200)
    body = envelope(client.post(f"{API}/tasks/{unknown}/execute", json={"execution_mode": "step",
                                                                       "step_name": "ddl_generation"},
                                headers=WRITER), 400)
    assert body["error_code"] == "UNKNOWN_TABLES" and "public.bss_ghost" in body["message"]
    for task_id in (unreachable, unknown):
        task = task_store.require_task(task_id)
        assert (task.status, task.started_at, task.dag_run_id) == ("pending", None, None)
    assert launcher.triggered == []
    # a step that does not read the table list is not held up by the database
    envelope(client.post(f"{API}/tasks/{unreachable}/execute", json={"execution_mode": "step",
                                                                     "step_name": "qa_generation"},
                         headers=WRITER), 202)


def test_a_new_task_needs_a_business_context(client: TestClient, data_dir: Path) -> None:
    for body in ({"db_conn_id": "highway_demo"}, {"db_conn_id": "highway_demo", "business_context": " \n\t"},
                 {"parameters": {"db_conn_id": "highway_demo", "business_context": ""}}):
        refused = envelope(client.post(f"{API}/tasks", json=body, headers=WRITER), 400)
        assert refused["data"]["errors"][0]["field"] == "business_context", refused
        assert "business_context" in refused["message"]
    assert not any(data_dir.iterdir())


def test_the_detail_says_why_a_run_waits(client: TestClient, launcher: Any) -> None:
    task_id = new_task(client, table_list=["bss_company"])
    assert envelope(client.get(f"{API}/tasks/{task_id}", headers=READER), 200)["data"]["waiting_reason"] is None
    assert launcher.asked_why == []  # a task that does not run is never looked up
    envelope(client.post(f"{API}/tasks/{task_id}/execute", headers=WRITER), 202)
    reason = "the data_pipeline DAG is paused, so its run waits: unpause it"
    launcher.waiting[task_id] = reason
    detail = envelope(client.get(f"{API}/tasks/{task_id}", headers=READER), 200)["data"]
    assert detail["status"] == "in_progress" and detail["waiting_reason"] == reason
    del launcher.waiting[task_id]
    assert envelope(client.get(f"{API}/tasks/{task_id}", headers=READER), 200)["data"]["waiting_reason"] is None


def test_a_launcher_that_fails_to_tell_gives_no_reason_not_an_error(client: TestClient, launcher: Any) -> None:
    task_id = new_task(client, table_list=["bss_company"])
    envelope(client.post(f"{API}/tasks/{task_id}/execute", headers=WRITER), 202)
    launcher.waiting = None  # the lookup itself breaks
    assert envelope(client.get(f"{API}/tasks/{task_id}", headers=READER), 200)["data"]["waiting_reason"] is None
