"""Shared fixtures: a fresh database on the embedded server per test session, real files on disk."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from platform_db import embedded

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Under xdist: the tests sharing one real Airflow run on one worker; every other test goes anywhere."""
    from xdist.scheduler import LoadScopeScheduling

    class SharedAirflowScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            for folder in ("tests/api/", "tests/dag_runs/"):
                if nodeid.startswith(folder):
                    return folder
            return nodeid

    return SharedAirflowScheduling(config, log)


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
