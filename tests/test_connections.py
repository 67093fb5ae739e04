"""Connections resolved by Airflow (and its postgres provider) when it runs, directly when it does not.

The in-Airflow cases run in a subprocess that has imported Airflow, as a task or the api-server has.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from data_pipeline.schema import business_db
from platform_db.connections import get_connection

ROOT = Path(__file__).resolve().parents[1]


def _json_connection(uri: str, **extra: object) -> str:
    params = conninfo_to_dict(uri)
    return json.dumps({"conn_type": "postgres", "host": params.get("host"), "port": params.get("port"),
                       "login": params.get("user"), "password": params.get("password"),
                       "schema": params.get("dbname"), "extra": extra})


def _in_airflow(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` after importing Airflow, with a private AIRFLOW_HOME."""
    full_env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow_home"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "include"), str(ROOT / "plugins")]), **env}
    script = "import airflow.sdk\n" + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], env=full_env, capture_output=True, text=True, timeout=120,
                          cwd=ROOT)


def test_a_cursor_extra_does_not_stop_the_cli_reaching_the_database(demo_business_uri: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CURSOR_DEMO", _json_connection(demo_business_uri, cursor="dictcursor"))
    monkeypatch.setenv("DATA_PIPELINE_ALLOWED_DB_CONN_IDS", "cursor_demo")
    database = business_db.resolve(db_conn_id="cursor_demo", db_connection=None)
    with database.connect() as conn:
        assert conn.execute("SELECT count(*) FROM bss_service_area").fetchone()[0] > 0
    info = get_connection("cursor_demo")
    assert info is not None and "cursor" not in info.postgres_params()


def test_under_airflow_the_provider_resolves_a_cursor_extra(demo_business_uri: str, tmp_path: Path) -> None:
    result = _in_airflow("""
        from airflow.providers.postgres.hooks.postgres import PostgresHook
        from data_pipeline.schema import business_db
        from platform_db import get_connection

        hook_conn = PostgresHook(postgres_conn_id="cursor_demo").get_conn()
        print("hook row type", type(hook_conn.execute("SELECT 1 AS one").fetchone()).__name__)
        database = business_db.resolve(db_conn_id="cursor_demo", db_connection=None)
        with database.connect() as conn:
            print("areas", conn.execute("SELECT count(*) FROM bss_service_area").fetchone()[0])
        print("platform params", sorted(get_connection("cursor_demo").postgres_params()))
    """, tmp_path, AIRFLOW_CONN_CURSOR_DEMO=_json_connection(demo_business_uri, cursor="dictcursor"),
        DATA_PIPELINE_ALLOWED_DB_CONN_IDS="cursor_demo")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "hook row type dict" in result.stdout  # the extra is honoured by the hook
    assert "areas " in result.stdout and "areas 0" not in result.stdout
    assert "cursor" not in result.stdout.split("platform params", 1)[1]


def test_a_failing_secrets_backend_is_reported_not_called_undefined(tmp_path: Path) -> None:
    result = _in_airflow("""
        from data_pipeline.errors import PipelineError
        from data_pipeline.schema import business_db
        from platform_db import ConnectionUnavailable, get_connection

        try:
            get_connection("sales_db")
        except ConnectionUnavailable as exc:
            print("lookup:", exc)
        try:
            business_db.resolve(db_conn_id="sales_db", db_connection=None)
        except PipelineError as exc:
            print("resolve:", exc.http_status, exc.message)
    """, tmp_path, AIRFLOW__SECRETS__BACKEND="tests.failing_secrets_backend.FailingSecretsBackend",
        DATA_PIPELINE_ALLOWED_DB_CONN_IDS="sales_db")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    for key in ("lookup", "resolve"):
        assert "secrets backend FailingSecretsBackend failed" in lines[key], result.stdout
        assert "vault.example unreachable" in lines[key]
        assert "not defined" not in lines[key]
    assert lines["resolve"].startswith("424 ")  # a failed dependency, never a 5xx of ours


def test_without_a_backend_failure_an_unknown_id_is_still_undefined(tmp_path: Path) -> None:
    result = _in_airflow("""
        from platform_db import get_connection
        print("found:", get_connection("nothing_here"))
    """, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "found: None" in result.stdout


def test_the_connection_string_built_for_libpq_never_shows_its_password() -> None:
    from platform_db import redact_dsn
    from platform_db.connections import parse_connection

    info = parse_connection("x", json.dumps({"conn_type": "postgres", "host": "h", "login": "u",
                                             "password": "p w'x", "schema": "db",
                                             "extra": {"cursor": "dictcursor", "sslmode": "prefer"}}))
    dsn = info.postgres_uri()
    assert conninfo_to_dict(dsn) == {"host": "h", "user": "u", "password": "p w'x", "dbname": "db",
                                     "sslmode": "prefer"}
    assert "p w" not in redact_dsn(dsn) and "x'" not in redact_dsn(dsn)
