"""Environment of a local Airflow: home, metadata DB on the embedded server, auth, connections."""

from __future__ import annotations

import json
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

from data_pipeline import config
from data_pipeline.config import PROJECT_ROOT
from platform_db import embedded
from platform_db.dsn import EMBEDDED_DATABASE

ADMIN_USER = "admin"
VIEWER_USER = "viewer"


@dataclass(frozen=True)
class LocalAirflow:
    home: Path
    port: int
    env: dict[str, str]
    passwords: dict[str, str]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def bin(self) -> str:
        return str(Path(sys.executable).parent / "airflow")


def _sqlalchemy_uri(uri: str) -> str:
    return uri.replace("postgresql://", "postgresql+psycopg://", 1)


def _load_or_create_secret(path: Path, size: int = 32) -> str:
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(size)
    path.write_text(value)
    path.chmod(0o600)
    return value


def local_airflow(home: Path | None = None, *, port: int = 8080, metadata_db: str = "airflow",
                  extra_env: dict[str, str] | None = None) -> LocalAirflow:
    """Settings for Airflow components sharing one home and the embedded PostgreSQL.

    Users: ``admin`` (may trigger runs) and ``viewer`` (read only); their passwords are generated
    once and kept in the home's password file, as Airflow's SimpleAuthManager expects.
    """
    home = (home or embedded.local_dir() / "airflow").resolve()
    home.mkdir(parents=True, exist_ok=True)
    (home / "logs").mkdir(exist_ok=True)
    password_file = home / "simple_auth_manager_passwords.json.generated"
    passwords = json.loads(password_file.read_text()) if password_file.exists() else {}
    for user in (ADMIN_USER, VIEWER_USER):
        passwords.setdefault(user, secrets.token_urlsafe(12))
    password_file.write_text(json.dumps(passwords) + "\n")
    password_file.chmod(0o600)
    metadata_uri = embedded.ensure_database(metadata_db, extensions=())
    store_uri = embedded.ensure_database(EMBEDDED_DATABASE)
    env = config.child_environment(drop_prefixes=("AIRFLOW__",))  # ours below, not the caller's
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "8",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__AUTH_MANAGER":
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin,{VIEWER_USER}:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__CORE__FERNET_KEY": _load_or_create_secret(home / ".fernet_key"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": _sqlalchemy_uri(metadata_uri),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__SECRET_KEY": _load_or_create_secret(home / ".api_secret"),
        "AIRFLOW__API_AUTH__JWT_SECRET": _load_or_create_secret(home / ".jwt_secret"),
        "AIRFLOW__API__EXPOSE_CONFIG": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        config.connection_env_name(config.PLATFORM_DB_CONN_ID): store_uri,
        "PYTHONPATH": config.path_list("PYTHONPATH", PROJECT_ROOT / "plugins"),
        "PATH": config.path_list("PATH", Path(sys.executable).parent),
    })
    env.update(extra_env or {})
    _allow_demo_database(env)
    return LocalAirflow(home=home, port=port, env=env, passwords=passwords)


def _allow_demo_database(env: dict[str, str]) -> None:
    """The demo's business connection is one tasks may read, whatever else the operator allows."""
    name = config.BusinessDbPolicy.env_name("allowed_conn_ids")
    entries = [e.strip() for e in env.get(name, "").split(",") if e.strip()]
    if config.DEMO_DB_CONN_ID not in entries:
        env[name] = ",".join([*entries, config.DEMO_DB_CONN_ID])
