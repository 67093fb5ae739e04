"""Shared fixtures: a fresh database on the embedded server per test session, real files on disk."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from psycopg.conninfo import conninfo_to_dict

from platform_db import embedded

if TYPE_CHECKING:
    from data_pipeline.tasks.store import TaskStore

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# The product reads only business databases the operator allows; the tests' own live on the embedded
# server and on 127.0.0.1 ports of their choosing. Tests of the policy itself set narrower values.
os.environ.setdefault("DATA_PIPELINE_ALLOWED_DB_HOSTS", "*")
os.environ.setdefault("DATA_PIPELINE_ALLOWED_DB_CONN_IDS", "highway_demo,highway")


# The live api-server tests share one session-wide real Airflow (started by their folder's conftest)
# and must run on one worker, or each worker would start an Airflow of its own: `--dist loadgroup`
# (set in the Makefile) keeps each xdist_group on one worker. The `airflow dags test` files share an
# Airflow home and metadata database per worker: the longest file runs apart, the others together.
AIRFLOW_GROUPS = {"tests/api/": "live_airflow_api", "tests/dag_runs/test_pipeline_dag.py": "live_airflow_dags_pipeline",
                  "tests/dag_runs/": "live_airflow_dags"}


def xdist_group_of(nodeid: str) -> str | None:
    for folder, group in AIRFLOW_GROUPS.items():
        if nodeid.startswith(folder):
            return group
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group the live-Airflow tests (``tryfirst``: the marks exist before xdist's worker reads them)."""
    for item in items:
        group = xdist_group_of(item.nodeid)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(name=group))


@pytest.hookimpl(trylast=True, specname="pytest_collection_modifyitems")
def pytest_collection_modifyitems_group_ids(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put each test's xdist group into its node id where xdist itself failed to.

    (A conftest hook needs the ``pytest_`` prefix; ``specname`` names the hook it implements.)

    The loadgroup scheduler reads the group from an ``@group`` suffix of the node ids a worker
    reports. xdist 3.8 writes that suffix to an attribute pytest 9.2 no longer reads (node ids became
    structured), so groups were silently ignored (pytest-dev/pytest-xdist#1386). ``trylast`` runs this
    after xdist's own hook: it does nothing once xdist sets the suffix, and warns if it cannot be set.
    """
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                        for m in item.iter_markers("xdist_group")})
        suffix = "@" + "_".join(names)
        if not names or item.nodeid.endswith(suffix):
            continue
        item._id = type(item.id).parse(item.nodeid + suffix)
        if not item.nodeid.endswith(suffix):
            item.warn(pytest.PytestWarning("xdist_group ignored: this pytest/pytest-xdist pair drops the group"))


def pytest_unconfigure(config: pytest.Config) -> None:
    """Handlers that imported Airflow (or a CLI's basicConfig) bound to pytest's captured streams outlive them;
    the embedded server's exit-time log lines must not print tracebacks about a closed file."""
    logging.raiseExceptions = False


def new_database(prefix: str = "dp_test") -> str:
    """Create a uniquely named database (with pgvector) on the embedded server; return its URI."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    return embedded.ensure_database(name)


def database_name(uri: str) -> str:
    return conninfo_to_dict(uri)["dbname"]


@pytest.fixture(scope="session")
def platform_db_uri() -> Iterator[str]:
    """A fresh platform database for this test session, exported as DATA_PIPELINE_DB_URI."""
    uri = new_database()
    previous = os.environ.get("DATA_PIPELINE_DB_URI")
    os.environ["DATA_PIPELINE_DB_URI"] = uri
    yield uri
    if previous is None:
        os.environ.pop("DATA_PIPELINE_DB_URI", None)
    else:
        os.environ["DATA_PIPELINE_DB_URI"] = previous
    embedded.drop_database(database_name(uri))


@pytest.fixture
def fresh_db_uri() -> Iterator[str]:
    """A database of its own for one test (isolation-sensitive tests)."""
    uri = new_database("dp_iso")
    yield uri
    embedded.drop_database(database_name(uri))


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory of its own, exported as DATA_PIPELINE_DATA_DIR."""
    path = tmp_path / "training_data"
    path.mkdir()
    monkeypatch.setenv("DATA_PIPELINE_DATA_DIR", str(path))
    return path


@pytest.fixture(scope="session")
def demo_business_uri() -> Iterator[str]:
    """The demo business database (read only by tests), apart from every task store: no task may read one."""
    from data_pipeline.schema import demo_db

    uri = new_database("dp_demo_business")
    demo_db.build_demo_database(uri)
    yield uri
    embedded.drop_database(database_name(uri))


@pytest.fixture
def demo_store(fresh_db_uri: str, demo_business_uri: str, data_dir: Path,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[TaskStore]:
    """A task store of its own, with connection ``highway_demo`` naming the demo business database."""
    from data_pipeline.tasks.store import TaskStore

    monkeypatch.setenv("AIRFLOW_CONN_HIGHWAY_DEMO", demo_business_uri)
    store = TaskStore(fresh_db_uri)
    store.migrate()
    yield store
    store.close()
