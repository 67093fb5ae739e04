"""Every fenced code block of README.md is either run here against the live Airflow or listed with a reason.

A block is known by its first line. Blocks that run do so through ``bash -c`` (curl and ``python -m``
exactly as a user types them), with only the substitutions of ``SUBSTITUTIONS`` applied; the rest are in
``NOT_EXECUTED`` with the test that covers them instead. A new or changed block that is in neither fails
``test_every_readme_block_is_accounted_for``, so a README edit cannot slip by untested.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

from psycopg.conninfo import conninfo_to_dict

from tests.api.conftest import API, LiveAirflow, envelope

README = Path(__file__).resolve().parents[2] / "README.md"

# What the test replaces in a block before running it (and nothing else):
SUBSTITUTIONS = {
    "localhost:8080 / 127.0.0.1:8080": "the live test Airflow's address",
    '"password":"..."': "the admin password of the live Airflow",
    "<task_id>": "the id the previous command (task creation) returned",
    "host:5432, postgresql://user:pass@host/db": "the server (socket:port) and URI of the test's demo database",
    "tables.txt, DIR": "a table-list file and an output folder in the test's temporary directory",
}

CURL_BLOCK = "TOKEN=$(curl -s -X POST localhost:8080/auth/token"
CLI_BLOCK = "DATA_PIPELINE_ALLOWED_DB_HOSTS=host:5432 python -m data_pipeline run"
DOLPHIN_BLOCK = "export AIRFLOW_CONN_DOLPHINSCHEDULER_DEFAULT="
EXECUTED = {
    CURL_BLOCK: "test_curl_example_creates_and_executes_a_task",
    CLI_BLOCK: "test_command_line_examples",
    DOLPHIN_BLOCK: "test_dolphin_ping_example",
}
NOT_EXECUTED = {
    "make demo   # set everything up":
        "`make test` is this suite itself; `make demo` runs scripts/demo.py, whose parts (embedded server, "
        "demo database, local Airflow, create + execute through the task API) are the live fixture of "
        "tests/api/conftest.py and test_curl_example_creates_and_executes_a_task",
    "export AIRFLOW_JWT_SECRET=$(openssl rand -hex 32)":
        "needs Docker; the compose file itself is checked by tests/test_compose.py",
    "from vanna.base import VannaBase":
        "run verbatim (only the connection string replaced) against a store the pipeline loaded by "
        "tests/test_vanna_client.py::test_the_readme_snippet_runs_against_a_loaded_store",
    "dags/        thin DAG files":
        "a directory map, not a command",
}
# Every line of the executed blocks: run by the named test, or not run here (and why). Keys are README text.
RUN_LINES = {
    "TOKEN=$(curl": "test_curl_example_creates_and_executes_a_task",
    "-d '{\"username\":\"admin\"": "test_curl_example_creates_and_executes_a_task",
    "curl -s -X POST localhost:8080/api/v0/data_pipeline/tasks -H": "test_curl_example_creates_and_executes_a_task",
    "-H 'content-type: application/json'": "test_curl_example_creates_and_executes_a_task",
    "-d '{\"db_conn_id\": \"highway_demo\"": "test_curl_example_creates_and_executes_a_task",
    "curl -s -X POST localhost:8080/api/v0/data_pipeline/tasks/<task_id>/execute":
        "test_curl_example_creates_and_executes_a_task",
    CLI_BLOCK: "test_command_line_examples",
    "--business-context \"...\" [--execution-mode": "test_command_line_examples (default mode, no task store)",
    "python -m data_pipeline init-db": "test_command_line_examples (init-db)",
    "python -m dolphin_publisher create": "test_command_line_examples (ping)",
    "export AIRFLOW_CONN_DOLPHINSCHEDULER_DEFAULT=": "the live fixture's environment holds this connection",
    "\"password\": \"<token>\", \"extra\"": "the live fixture's environment holds this connection",
    "python -m dolphin_publisher ping": "test_dolphin_ping_example",
}
NOT_EXECUTED_LINES = {
    "demo-db": "rebuilds a 138,000-row database (minutes); the same builder makes the live fixture's demo "
               "database and is tested by tests/test_demo_db.py",
    "backup TASK_DIR | restore TASK_DIR BACKUP | delete TASK_ID... --yes":
        "need a task with earlier files: tests/test_backup.py and tests/test_deletion.py",
    "create --file workflow.json | import-dag data_pipeline | publish WF --operation online | sync":
        "tests/dolphin/test_cli.py (test_create_publish_start_sync_executions_rollback, "
        "test_python_dash_m_import_dag_and_publish) against the same fake DolphinScheduler",
    "python -m dolphin_publisher import-dag data_pipeline":
        "tests/dolphin/test_cli.py::test_python_dash_m_import_dag_and_publish",
    "python -m dolphin_publisher publish data_pipeline --operation online":
        "tests/dolphin/test_cli.py::test_python_dash_m_import_dag_and_publish",
    "python -m dolphin_publisher start data_pipeline --param task_id=":
        "tests/dolphin/test_cli.py::test_create_publish_start_sync_executions_rollback "
        "(start needs a published workflow)",
    "python -m dolphin_publisher sync data_pipeline && python -m dolphin_publisher executions data_pipeline":
        "tests/dolphin/test_cli.py::test_create_publish_start_sync_executions_rollback",
}


def readme_blocks() -> list[str]:
    return re.findall(r"^```[a-z]*\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.S | re.M)


def block(first_line: str) -> str:
    found = [b for b in readme_blocks() if b.startswith(first_line)]
    assert len(found) == 1, f"README has {len(found)} blocks starting with {first_line!r}"
    return found[0]


def bash(script: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", f"set -eo pipefail\n{script}"], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def live_url(text: str, live: LiveAirflow) -> str:
    return text.replace("localhost:8080", live.base_url).replace("127.0.0.1:8080", live.base_url)


def test_every_readme_block_is_accounted_for() -> None:
    firsts = [b.splitlines()[0] if b.strip() else "" for b in readme_blocks()]
    for first in firsts:
        known = [k for k in (*EXECUTED, *NOT_EXECUTED) if first.startswith(k)]
        assert len(known) == 1, f"README block {first!r} is neither executed nor listed in NOT_EXECUTED"
    for key in (*EXECUTED, *NOT_EXECUTED):
        assert any(f.startswith(key) for f in firsts), f"{key!r} is listed but no longer in README.md"
    assert all(reason for reason in NOT_EXECUTED.values())


def test_curl_example_creates_and_executes_a_task(live: LiveAirflow) -> None:
    assert shutil.which("curl"), "the README's examples use curl (.ci/run installs it)"
    text = live_url(block(CURL_BLOCK), live).replace(
        '"password":"..."', '"password":' + json.dumps(live.airflow.passwords["admin"]))
    lines = text.splitlines()
    execute_at = next(i for i, line in enumerate(lines) if "/execute" in line)
    create = bash("\n".join(lines[:execute_at]), live.airflow.env, timeout=120)
    assert create.returncode == 0, create.stderr
    created = json.loads(create.stdout)
    assert created["success"] is True and created["data"]["status"] == "pending", created
    task_id = created["data"]["task_id"]
    execute = bash("\n".join([*lines[:2], *lines[execute_at:]]).replace("<task_id>", task_id),
                   live.airflow.env, timeout=120)
    assert execute.returncode == 0, execute.stderr
    answer = json.loads(execute.stdout)
    assert answer["success"] is True and answer["code"] == 202 and answer["data"]["dag_run_id"], answer
    with live.client("admin") as admin:
        deadline = time.monotonic() + 600
        while True:
            data = envelope(admin.get(f"{API}/tasks/{task_id}"), 200)["data"]
            if data["status"] in ("completed", "partial_completed", "failed") or time.monotonic() > deadline:
                break
            time.sleep(2)
    assert data["status"] == "completed", data


def test_command_line_examples(live: LiveAirflow, tmp_path: Path) -> None:
    text = block(CLI_BLOCK)
    demo_uri = live.airflow.env["AIRFLOW_CONN_HIGHWAY_DEMO"]
    params = conninfo_to_dict(demo_uri)
    socket_dir = params.get("host") or urlsplit(demo_uri).hostname
    port = params.get("port") or "5432"
    (tmp_path / "tables.txt").write_text("bss_company\nbss_service_area\n", encoding="utf-8")
    run_line = " ".join(line.strip().rstrip("\\") for line in text.splitlines()[:2])
    # the optional parts of the synopsis: the default mode, and the flags that need no task store
    run_line = run_line.replace(" [--execution-mode complete|step --step-name ddl_generation]", "")
    run_line = run_line.replace("[--no-db-tracking --output-dir DIR]", f"--no-db-tracking --output-dir {tmp_path}/out")
    assert "[" not in run_line, run_line
    run_line = (run_line.replace("host:5432", f"{socket_dir}:{port}")
                .replace("postgresql://user:pass@host/db", f"'{demo_uri}'"))
    env = {**live.airflow.env, "DATA_PIPELINE_ALLOWED_DB_CONN_IDS": ""}
    ran = bash(f"cd {tmp_path} && {run_line}", env)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert json.loads(ran.stdout)["success"] is True
    assert (tmp_path / "out").is_dir() and any((tmp_path / "out").rglob("bss_company.ddl"))

    synopsis = text.splitlines()[2]
    assert synopsis.startswith("python -m data_pipeline init-db | demo-db")
    init = bash("python -m data_pipeline init-db", live.airflow.env, timeout=120)
    assert init.returncode == 0, init.stderr
    assert json.loads(init.stdout)["success"] is True

    dolphin_line = text.splitlines()[3]
    assert dolphin_line.startswith("python -m dolphin_publisher create") and dolphin_line.endswith("| ping")
    ping = bash("python -m dolphin_publisher ping", live.airflow.env, timeout=120)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert json.loads(ping.stdout)["ok"] is True


def test_dolphin_ping_example(live: LiveAirflow) -> None:
    """The block's ``export`` is what the live fixture's environment already holds (pointing at the fake server)."""
    text = block(DOLPHIN_BLOCK)
    assert "python -m dolphin_publisher ping\n" in text
    assert json.loads(live.airflow.env["AIRFLOW_CONN_DOLPHINSCHEDULER_DEFAULT"])["extra"]["project_code"]
    ping = bash("python -m dolphin_publisher ping", live.airflow.env, timeout=120)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert json.loads(ping.stdout)["ok"] is True


def test_every_line_of_the_executed_blocks_is_run_or_listed() -> None:
    text = README.read_text(encoding="utf-8")
    for key in (*RUN_LINES, *NOT_EXECUTED_LINES):
        assert key in text, f"{key!r} is listed but no longer in README.md"
    for first in EXECUTED:
        for line in block(first).splitlines():
            assert any(line.strip().startswith(k) for k in RUN_LINES) or any(
                k in line for k in NOT_EXECUTED_LINES), f"README line {line!r} is neither run nor listed"
