"""Which databases a task may read, no secret echoed, bad URIs answered 400: each attack tried for real.

The API is built without Airflow (as in ``tests/api_unit``); the databases are real ones on the embedded
server, and the listeners of the connection-error tests are real sockets on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from data_pipeline.errors import StepFailed
from data_pipeline.generation import prompts
from data_pipeline.schema.business_db import BusinessDbError, DatabaseNotAllowed, resolve
from data_pipeline.schema.ddl_render import render_detail_md
from data_pipeline.schema.model import ColumnInfo, TableInfo
from data_pipeline.steps.context import StepContext
from data_pipeline.tasks.log import TaskLogger
from data_pipeline.tasks.parameters import TaskParameters
from data_pipeline.tasks.store import TaskStore
from data_pipeline.workflow.execution import execute_step
from platform_db import embedded
from tests.api_unit import conftest as api_unit
from tests.api_unit.conftest import API, READER, WRITER, envelope
from tests.conftest import database_name, new_database
from tests.test_ddl_generation import WrongPasswordServer

# The task API built without Airflow, as in tests/api_unit (fixtures are found by name in this module).
task_store, launcher, task_app, client = api_unit.task_store, api_unit.launcher, api_unit.task_app, api_unit.client

PLANTED = "Planted-Pa55word-7f3c"


@pytest.fixture
def policy(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Every list as open as an operator could make it: the refusals below hold whatever the lists say."""
    monkeypatch.setenv("DATA_PIPELINE_ALLOWED_DB_HOSTS", "*")
    monkeypatch.setenv("DATA_PIPELINE_ALLOWED_DB_CONN_IDS", "*")
    monkeypatch.delenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", raising=False)
    monkeypatch.delenv("DATA_PIPELINE_VECTOR_DB_URI", raising=False)
    return monkeypatch


@pytest.fixture
def scratch_db() -> Iterator[str]:
    uri = new_database("dp_policy")
    yield uri
    embedded.drop_database(database_name(uri))


def create(client: Any, body: dict[str, Any], status: int) -> dict[str, Any]:
    body = {"task_name": "policy", "business_context": "高速公路服务区", **body}
    return envelope(client.post(f"{API}/tasks", json=body, headers=WRITER), status)


def socket_uri(uri: str, **changes: str) -> str:
    """The embedded server's ``postgresql://postgres:@/db?host=/dir`` spelled another way."""
    params = conninfo_to_dict(uri)
    params.update(changes)
    return f"postgres://{params.get('user', 'postgres')}@/{params['dbname']}?host={params['host']}/"


def step_ctx(task_dir: Path, tables: list[str], **params: Any) -> StepContext:
    task_dir.mkdir(parents=True, exist_ok=True)
    (task_dir / "table_list.txt").write_text("\n".join(tables) + "\n", encoding="utf-8")
    return StepContext(task_dir=task_dir, params=TaskParameters(**params),
                       log=TaskLogger(task_dir=task_dir, task_id=None, store=None))


def everything_a_viewer_reads(client: Any) -> str:
    listed = envelope(client.get(f"{API}/tasks", params={"limit": 1000}, headers=READER), 200)
    answers = [listed]
    for task in listed["data"]["tasks"]:
        for path in ("", "/files", "/logs", "/table-list-info"):
            answers.append(client.get(f"{API}/tasks/{task['task_id']}{path}", headers=READER).json())
    return json.dumps(answers, ensure_ascii=False)


def files_text(root: Path) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in root.rglob("*") if p.is_file())


# -- 1. the platform's own store, the metadata database, system catalogs --------------------------------


def test_the_platform_store_cannot_be_read_however_it_is_named(
        client: Any, task_store: TaskStore, platform_db_uri: str, data_dir: Path, tmp_path: Path,
        policy: pytest.MonkeyPatch) -> None:
    planted = create(client, {"db_connection": f"postgresql://demo:{PLANTED}@127.0.0.1:1/highway"}, 201)
    assert task_store.get_secret(planted["data"]["task_id"], "db_password") == PLANTED
    policy.setenv("AIRFLOW_CONN_SNEAKY", platform_db_uri)  # an innocent-looking id for the same database
    name = database_name(platform_db_uri)
    attempts = [
        {"db_conn_id": "data_pipeline_db", "table_list": ["data_pipeline_task_secrets"]},
        {"db_conn_id": "sneaky", "table_list": ["data_pipeline_task_secrets"]},
        {"db_connection": platform_db_uri},
        {"db_connection": socket_uri(platform_db_uri)},
        {"db_connection": socket_uri(platform_db_uri, dbname="postgres") + f"&dbname={name}"},
        {"db_connection": f"postgresql://postgres@127.0.0.1:5432/{name}"},  # loopback = the local socket
        {"db_connection": f"postgresql://postgres@[::1]/{name}"},
    ]
    for body in attempts:
        refused = create(client, body, 400)
        assert refused["error_code"] == "DATABASE_NOT_ALLOWED", (body, refused)
        assert "may never read it" in refused["message"]

    # Defence in depth: a step given the platform connection directly refuses before reading anything.
    ctx = step_ctx(data_dir / "direct", ["data_pipeline_task_secrets"], db_conn_id="data_pipeline_db")
    with pytest.raises(StepFailed, match="platform's own database"):
        execute_step(ctx, "ddl_generation")
    # A copy of the store under another name: the connection sees the store's tables and hangs up.
    copy_uri = new_database("dp_policy_copy")
    try:
        TaskStore(copy_uri).migrate()
        with pytest.raises(DatabaseNotAllowed, match="platform's own database"):
            resolve(db_conn_id=None, db_connection=copy_uri).connect().close()
    finally:
        embedded.drop_database(database_name(copy_uri))
    assert not list(data_dir.rglob("*_detail.md"))
    assert PLANTED not in files_text(data_dir)
    assert PLANTED not in everything_a_viewer_reads(client)


def test_the_airflow_metadata_database_cannot_be_read(client: Any, scratch_db: str, data_dir: Path,
                                                       policy: pytest.MonkeyPatch) -> None:
    policy.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", scratch_db.replace("postgresql://", "postgresql+psycopg://"))
    for uri in (scratch_db, socket_uri(scratch_db)):
        refused = create(client, {"db_connection": uri, "table_list": ["dag_run", "connection", "variable"]}, 400)
        assert refused["error_code"] == "DATABASE_NOT_ALLOWED" and "Airflow's metadata database" in refused["message"]
    ctx = step_ctx(data_dir / "direct", ["connection"], db_connection=scratch_db)
    with pytest.raises(StepFailed, match="Airflow's metadata database"):
        execute_step(ctx, "ddl_generation")


def test_a_database_holding_airflow_tables_is_refused_when_reached(scratch_db: str,
                                                                    policy: pytest.MonkeyPatch) -> None:
    with psycopg.connect(scratch_db, autocommit=True) as conn:
        for table in ("dag_run", "serialized_dag", "connection"):
            conn.execute(f"CREATE TABLE {table} (id int)")
    with pytest.raises(DatabaseNotAllowed, match="Airflow's metadata database"):
        resolve(db_conn_id=None, db_connection=scratch_db).connect().close()


@pytest.mark.parametrize("table", ["pg_catalog.pg_authid", '"pg_catalog"."pg_class"', "information_schema.tables",
                                   "pg_toast.pg_toast_1262", "pg_temp_3.x"])
def test_system_catalogs_are_never_tables(client: Any, scratch_db: str, data_dir: Path, table: str) -> None:
    refused = create(client, {"db_connection": scratch_db, "table_list": ["public.ok", table]}, 400)
    assert refused["error_code"] == "INVALID_INPUT" and "system catalogs are never read" in refused["message"]
    task_id = create(client, {"db_connection": scratch_db}, 201)["data"]["task_id"]
    body = envelope(client.post(f"{API}/tasks/{task_id}/table-list", json={"tables": [table]}, headers=WRITER), 400)
    assert "system schema" in body["message"]
    ctx = step_ctx(data_dir / "direct", [table], db_connection=scratch_db)
    with pytest.raises(StepFailed, match="system catalogs are never read"):
        execute_step(ctx, "ddl_generation")
    assert not list((data_dir / "direct").glob("*.ddl"))


# -- 2. no password stored or shown -----------------------------------------------------------------------


@pytest.mark.parametrize("uri", [
    f"postgresql://demo:{PLANTED}@127.0.0.1:1/highway",
    f"postgresql://demo@/highway?host=/nonexistent/socket&password={PLANTED}",
    f"postgresql://demo@127.0.0.1:1/highway?pass%77ord={PLANTED}&sslmode=disable",
    f"postgresql://demo:{PLANTED}@127.0.0.1:1/highway?password={PLANTED}",
], ids=["user-info", "query-parameter", "encoded-name", "both"])
def test_a_password_in_any_form_is_kept_aside(client: Any, task_store: TaskStore, data_dir: Path, uri: str) -> None:
    created = create(client, {"db_connection": uri}, 201)
    task_id = created["data"]["task_id"]
    stored = task_store.require_task(task_id).parameters["db_connection"]
    assert PLANTED not in json.dumps(created) and PLANTED not in stored and "password" not in stored
    assert stored.startswith("postgresql://demo@") and "highway" in stored
    assert task_store.get_secret(task_id, "db_password") == PLANTED
    assert PLANTED not in json.dumps(envelope(client.get(f"{API}/tasks/{task_id}", headers=READER), 200))
    assert PLANTED not in files_text(data_dir)


@pytest.mark.parametrize("query", [f"sslpassword={PLANTED}", f"passfile=/tmp/{PLANTED}", f"service={PLANTED}",
                                   f"hostaddr=127.0.0.2&x={PLANTED}", f"sslkey=/tmp/{PLANTED}"])
def test_parameters_carrying_other_secrets_or_files_are_refused(client: Any, data_dir: Path, query: str) -> None:
    refused = create(client, {"db_connection": f"postgresql://demo@127.0.0.1:1/highway?{query}"}, 400)
    assert refused["error_code"] == "INVALID_INPUT" and "is not accepted" in refused["message"]
    assert PLANTED not in json.dumps(refused) and not any(data_dir.iterdir())  # no task was created


# -- 3. no port scanning ------------------------------------------------------------------------------


@contextlib.contextmanager
def listener(behaviour: str) -> Iterator[int]:
    """A plain TCP listener on 127.0.0.1 that hangs up, answers HTTP or says nothing."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            if behaviour == "silent":
                held.append(conn)
                continue
            with conn, contextlib.suppress(OSError):
                if behaviour == "http":
                    conn.recv(1024)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()
        for conn in held:
            conn.close()


def connect_error(uri: str) -> str:
    db = resolve(db_conn_id=None, db_connection=uri)
    with pytest.raises(BusinessDbError) as raised:
        db.connect(connect_timeout=2).close()
    return raised.value.message.replace(db.display, "<database>")


def test_every_connection_failure_reads_the_same(policy: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    messages = {"closed port": connect_error(f"postgresql://u@127.0.0.1:{closed}/db"),
                "no socket": connect_error("postgresql://u@/db?host=/nonexistent/dir")}
    for behaviour in ("hang-up", "http", "silent"):
        with listener(behaviour) as port:
            messages[behaviour] = connect_error(f"postgresql://u@127.0.0.1:{port}/db?sslmode=disable")
    server = WrongPasswordServer()
    try:
        messages["wrong password"] = connect_error(
            f"postgresql://reporter:{PLANTED}@127.0.0.1:{server.port}/db?sslmode=disable")
    finally:
        server.close()
    assert len(set(messages.values())) == 1, messages
    text = next(iter(messages.values()))
    assert text.startswith("cannot connect to the business database <database>") and PLANTED not in text
    for word in ("refused", "timeout", "timed out", "closed", "SSL", "HTTP"):
        assert word not in text


# -- 4. bad input is a 400 --------------------------------------------------------------------------


@pytest.mark.parametrize("uri", [
    "postgresql://u@h:99999/db", "postgresql://u@h:abc/db", "postgresql://u@h:0/db", "postgresql://u@[::1/db",
    "postgresql://u@[zz::1]/db", f"postgresql://u:{PLANTED}@h1:5432,h2:5432/db", f"postgresql://u:{PLANTED}@h1,h2/db",
    "postgresql://u@/db?host=/a,/b", "postgresql://u@h/db?port=x", "postgresql://u@h/db?nonsense",
    "postgresql://u@h/db#x", "postgresql://", "postgresql:///db", "http://h/db", "not a uri at all",
    "postgresql://u@h/db?sslmode=maybe", "postgresql://u@h bad/db",
])
def test_malformed_uris_are_400(client: Any, uri: str) -> None:
    refused = create(client, {"db_connection": uri}, 400)
    assert refused["error_code"] == "INVALID_INPUT" and refused["message"].startswith("db_connection ")
    assert "ValueError" not in refused["message"] and PLANTED not in json.dumps(refused)


# -- the allow-lists --------------------------------------------------------------------------------------


def test_uris_are_off_unless_hosts_are_allowed(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATA_PIPELINE_ALLOWED_DB_HOSTS")
    refused = create(client, {"db_connection": "postgresql://u@db.example.com/sales"}, 400)
    assert refused["error_code"] == "DATABASE_NOT_ALLOWED" and "turned off" in refused["message"]
    monkeypatch.setenv("DATA_PIPELINE_ALLOWED_DB_HOSTS", "DB.example.com, 127.0.0.1:*, [::1]:6543")
    for uri in ("postgresql://u@db.example.com/sales", "postgresql://u@db.example.com:5432/sales",
                "postgresql://u@127.0.0.1:1/sales", "postgresql://u@[::1]:6543/sales"):
        create(client, {"db_connection": uri}, 201)
    for uri in ("postgresql://u@db.example.com:6543/sales", "postgresql://u@10.1.2.3/sales",
                "postgresql://u@[::1]/sales", "postgresql://u@/sales?host=/tmp"):
        refused = create(client, {"db_connection": uri}, 400)
        assert "DATA_PIPELINE_ALLOWED_DB_HOSTS" in refused["message"], uri


def test_connection_ids_must_be_listed_or_flagged(client: Any, scratch_db: str, data_dir: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATA_PIPELINE_ALLOWED_DB_CONN_IDS")
    monkeypatch.setenv("AIRFLOW_CONN_SALES", scratch_db)
    flagged = {"conn_type": "postgres", "host": conninfo_to_dict(scratch_db)["host"], "login": "postgres",
               "schema": database_name(scratch_db), "extra": {"data_pipeline_business_db": True}}
    monkeypatch.setenv("AIRFLOW_CONN_FLAGGED", json.dumps(flagged))
    unlisted = create(client, {"db_conn_id": "sales"}, 400)
    undefined = create(client, {"db_conn_id": "nothing_here"}, 400)
    assert unlisted["error_code"] == undefined["error_code"] == "DATABASE_NOT_ALLOWED"
    assert unlisted["message"].replace("'sales'", "<id>") == undefined["message"].replace("'nothing_here'", "<id>")
    create(client, {"db_conn_id": "flagged"}, 201)
    monkeypatch.setenv("DATA_PIPELINE_ALLOWED_DB_CONN_IDS", "other, sal*")
    create(client, {"db_conn_id": "sales"}, 201)
    # Checked again when a step connects: the operator narrowed the list after the task was created.
    monkeypatch.setenv("DATA_PIPELINE_ALLOWED_DB_CONN_IDS", "other")
    with pytest.raises(StepFailed, match="not an allowed business database"):
        execute_step(step_ctx(data_dir / "late", ["t"], db_conn_id="sales"), "ddl_generation")
    monkeypatch.setenv("DATA_PIPELINE_ALLOWED_DB_HOSTS", "10.0.0.1")
    with pytest.raises(StepFailed, match="DATA_PIPELINE_ALLOWED_DB_HOSTS"):
        execute_step(step_ctx(data_dir / "late_uri", ["t"], db_connection=scratch_db), "ddl_generation")


# -- values of columns that hold secrets ------------------------------------------------------------------


def test_secret_columns_give_no_values_anywhere(scratch_db: str, tmp_path: Path) -> None:
    with psycopg.connect(scratch_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE accounts (id int PRIMARY KEY, login text, password text, api_token text, "
                     "pwd_hash text, \"Salt\" text, avatar bytea, note text)")
        for i in range(1, 7):
            conn.execute("INSERT INTO accounts VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                         (i, f"user{i}", PLANTED, PLANTED, PLANTED, PLANTED, PLANTED.encode(), "visible-note"))
    ctx = step_ctx(tmp_path / "task", ["accounts"], db_connection=scratch_db)
    execute_step(ctx, "ddl_generation")
    detail = (tmp_path / "task" / "accounts_detail.md").read_text(encoding="utf-8")
    assert "visible-note" in detail and "user1" in detail  # other columns keep their samples
    assert PLANTED not in files_text(tmp_path / "task") and PLANTED.encode().hex() not in files_text(tmp_path)
    assert (tmp_path / "task" / ".state" / "schema" / "accounts.json").is_file()

    secret = ColumnInfo(name="user_password", data_type="text", base_type="text", sample_values=[PLANTED],
                        enum_values=[PLANTED])
    blob = ColumnInfo(name="photo", data_type="bytea", base_type="binary", sample_values=[PLANTED])
    plain = ColumnInfo(name="city", data_type="text", base_type="text", sample_values=["Lyon"])
    info = TableInfo(schema_name="public", name="people", columns=[secret, blob, plain],
                     sample_rows=[{"user_password": PLANTED, "city": "Lyon"}])
    for text in (render_detail_md(info), prompts.describe_table(info, "")):
        assert PLANTED not in text and "Lyon" in text
