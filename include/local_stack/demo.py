"""``make demo``: the whole product on one machine, through Airflow and the REST API.

Embedded PostgreSQL → demo business database → Airflow (LocalExecutor) → create a task with the
REST API → execute it completely → follow its progress → print the results and where they are.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from typing import Any

import httpx

from data_pipeline import config
from data_pipeline.schema import demo_db
from data_pipeline.tasks.status import StepStatus, TaskStatus
from data_pipeline.tasks.store import TaskStore
from local_stack import components
from local_stack.airflow_env import ADMIN_USER, local_airflow
from platform_db import embedded

API = "/api/v0/data_pipeline"
DEMO_CONN_ID = config.DEMO_DB_CONN_ID


def free_port(preferred: int = 8080) -> int:
    for port in (preferred, *range(8081, 8100)):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no free port between 8080 and 8099")


def say(text: str) -> None:
    print(text, flush=True)


def call(client: httpx.Client, method: str, path: str, **kw: Any) -> dict[str, Any]:
    response = client.request(method, f"{API}{path}", **kw)
    body = response.json()
    if not body.get("success"):
        raise RuntimeError(f"{method} {path} -> {response.status_code}: {body.get('message')}")
    return body["data"]


def main(port: int | None = None, keep_running: bool = False) -> int:
    started = time.monotonic()
    say("1/6 embedded PostgreSQL 16 + pgvector")
    embedded.server()
    TaskStore().migrate()
    say("2/6 demo business database (highway service areas)")
    demo_uri = embedded.ensure_database(demo_db.DEMO_DATABASE, extensions=())
    summary = demo_db.build_demo_database(demo_uri)
    say(f"    {summary.total_rows:,} rows in {len(summary.tables)} tables")
    airflow = local_airflow(port=port or free_port(), extra_env={
        config.connection_env_name(DEMO_CONN_ID): demo_uri})
    say(f"3/6 Airflow 3 (api-server, scheduler, dag-processor, triggerer) on {airflow.base_url}")
    components.migrate(airflow)
    stack = components.start(airflow)
    try:
        token = components.wait_ready(stack, timeout=300)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=airflow.base_url, headers=headers, timeout=60) as client:
            say("4/6 create a task through the REST API")
            task = call(client, "POST", "/tasks", json={
                "task_name": "highway demo", "db_conn_id": DEMO_CONN_ID,
                "business_context": "高速公路服务区运营管理：营业收入、车流量、档口与充电数据",
                "table_list": list(demo_db.DEMO_TABLES)})
            task_id = task["task_id"]
            say(f"    task {task_id}")
            run = call(client, "POST", f"/tasks/{task_id}/execute", json={"execution_mode": "complete"})
            say(f"5/6 executing: DAG run {run['dag_run_id']}")
            detail = follow(client, task_id, stack)
            files = call(client, "GET", f"/tasks/{task_id}/files")
        report(detail, files, airflow, task_id)
    finally:
        if keep_running:
            say(f"Airflow keeps running at {airflow.base_url} (make down stops it)")
        else:
            stack.stop()
    say(f"demo finished in {time.monotonic() - started:.0f}s")
    return 0 if detail["status"] == TaskStatus.COMPLETED else 1


def follow(client: httpx.Client, task_id: str, stack: components.RunningStack, timeout: float = 1800) -> dict:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        stack.check_alive()
        detail = call(client, "GET", f"/tasks/{task_id}")
        steps = " ".join(
            f"{s['step_name']}={s['status']}" + (f"({s['progress_done']}/{s['progress_total']})"
                                                 if s["status"] == StepStatus.RUNNING and s["progress_total"] else "")
            for s in detail["steps"])
        line = f"    {detail['status']:<12} {detail['progress']:>3}%  {steps}"
        if line != last:
            say(line)
            last = line
        if TaskStatus(detail["status"]).is_terminal():
            return detail
        time.sleep(2)
    raise TimeoutError(f"task {task_id} did not finish in {timeout:.0f}s")


def report(detail: dict, files: dict, airflow: Any, task_id: str) -> None:
    say("6/6 result")
    say(f"    status: {detail['status']}   duration: {detail.get('duration_seconds')} s")
    for step in detail["steps"]:
        extra = ""
        result = step.get("result") or {}
        details = result.get("details") or {}
        if step["step_name"] == "sql_validation" and details:
            extra = "  " + json.dumps({k: details[k] for k in ("valid", "invalid", "repaired", "success_rate")
                                       if k in details}, ensure_ascii=False)
        if step["step_name"] == "training_load" and details:
            rows = details.get("task_rows") or {}
            extra = (f"  training rows loaded for this task: {sum(rows.values())} "
                     + json.dumps(rows, ensure_ascii=False) + f" into {details.get('vector_store')}")
        say(f"    {step['step_name']:<16} {step['status']:<10} {step.get('duration_seconds') or 0:>7.1f}s "
            f"items {result.get('items_completed', 0)}/{result.get('items_total', 0)}{extra}")
    say(f"    files: {files['file_count']} ({files.get('total_size')}) in {detail.get('output_directory')}")
    say(f"    API:  {airflow.base_url}{API}/tasks/{task_id}   docs: {airflow.base_url}{API}/docs")
    say(f"    UI:   make up, then open {airflow.base_url} (user {ADMIN_USER}, password in "
        f"{airflow.home / 'simple_auth_manager_passwords.json.generated'})")


if __name__ == "__main__":
    sys.exit(main())
