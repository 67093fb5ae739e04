"""Where the DolphinScheduler settings come from.

In order: an explicitly named environment (a ``workflow_integration_config`` row); the Airflow
connection ``dolphinscheduler_default`` (host = REST base URL, password = token, extra =
``project_code``, ``project_name``, optional ``ui_base_url``, ``transport``, ``gateway_address``,
``gateway_port``, ``gateway_token``, ``tenant_code``, ``worker_group``, ``timeout``, ``retries``);
the row of ``$DOLPHIN_PUBLISHER_ENV`` (default ``default``). The token never leaves this object
except as the request header: ``public_dict`` and ``repr`` leave it out.

UI links: DolphinScheduler serves its UI under the same context path as its REST API
(``http://host:12345/dolphinscheduler/ui/...``), so the UI base is the REST base URL unless
``ui_base_url`` says otherwise; a workflow's page is
``<ui base>/ui/projects/<projectCode>/workflow/definitions/<code>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from dolphin_publisher.errors import ConfigError, NotConfiguredError
from dolphin_publisher.gateway import DEFAULT_PORT, gateway_settings_from_env
from dolphin_publisher.repository import Database
from platform_db import ConnectionInfo, get_connection, settings

CONN_ID = settings.DOLPHINSCHEDULER_CONN_ID


@dataclass(frozen=True)
class IntegrationConfig:
    environment: str
    rest_base_url: str
    token: str = field(repr=False)
    project_code: int
    project_name: str = ""
    ui_base_url: str | None = None
    transport: str = "rest"
    gateway_host: str | None = None
    gateway_port: int | None = None
    gateway_token: str | None = field(default=None, repr=False)
    gateway_user: str = "admin"
    tenant_code: str = "default"
    worker_group: str = "default"
    timeout_seconds: float = 30.0
    retries: int = 3
    source: str = "table"

    def ui_base(self) -> str:
        return (self.ui_base_url or self.rest_base_url).rstrip("/")

    def workflow_url(self, workflow_code: int | None, project_code: int | None = None) -> str | None:
        if not workflow_code:
            return None
        return f"{self.ui_base()}/ui/projects/{project_code or self.project_code}/workflow/definitions/{workflow_code}"

    def public_dict(self) -> dict[str, Any]:
        hidden = {"token", "gateway_token"}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in hidden}


def _int(value: Any, what: str) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what} must be an integer, got {value!r}") from exc


def _base_url(conn: ConnectionInfo) -> str:
    host = (conn.host or "").strip()
    if not host:
        raise ConfigError(f"connection {CONN_ID} has no host: set it to the REST base URL, "
                          "for example http://ds:12345/dolphinscheduler")
    if "://" in host:
        return host.rstrip("/")
    scheme = conn.conn_type if conn.conn_type in ("http", "https") else "http"
    netloc = f"{host}:{conn.port}" if conn.port else host
    path = f"/{conn.schema.strip('/')}" if conn.schema else "/dolphinscheduler"
    return f"{scheme}://{netloc}{path}"


def from_connection(conn: ConnectionInfo) -> IntegrationConfig:
    extra = conn.extra
    if not conn.password:
        raise ConfigError(f"connection {CONN_ID} has no password: put the DolphinScheduler access token there")
    if extra.get("project_code") in (None, ""):
        raise ConfigError(f"connection {CONN_ID} needs extra.project_code (the DolphinScheduler project code)")
    env_gateway = gateway_settings_from_env()
    port = extra.get("gateway_port") or env_gateway["port"]
    return IntegrationConfig(
        environment="connection", rest_base_url=_base_url(conn), token=conn.password,
        project_code=_int(extra["project_code"], "extra.project_code"),
        project_name=str(extra.get("project_name") or ""), ui_base_url=extra.get("ui_base_url"),
        transport=str(extra.get("transport") or "rest"),
        gateway_host=extra.get("gateway_address") or env_gateway["host"],
        gateway_port=_int(port, "gateway_port") if port else None,
        gateway_token=extra.get("gateway_token") or env_gateway["token"],
        gateway_user=str(extra.get("gateway_user") or conn.login or "admin"),
        tenant_code=str(extra.get("tenant_code") or "default"),
        worker_group=str(extra.get("worker_group") or "default"),
        timeout_seconds=float(extra.get("timeout") or 30.0), retries=_int(extra.get("retries") or 3, "retries"),
        source="connection",
    )


def load_config(db: Database, environment: str | None = None) -> IntegrationConfig:
    if environment is None:
        conn = get_connection(CONN_ID)
        if conn is not None:
            return from_connection(conn)
    env = environment or settings.dolphin().environment
    with db.transaction() as repo:
        row = repo.get_integration_config(env)
    if row is None:
        raise NotConfiguredError(
            f"DolphinScheduler is not configured: add the Airflow connection {CONN_ID} (Admin > Connections, or "
            f"the environment variable {settings.connection_env_name(CONN_ID)}) with host = the REST base URL (for "
            f"example http://ds:12345/dolphinscheduler), password = a DolphinScheduler access token and extra = "
            f"{{\"project_code\": <project code>}}; or add a workflow_integration_config row for environment "
            f"{env!r}",
            details={"connection_id": CONN_ID, "environment": env},
        )
    return IntegrationConfig(
        environment=row["environment"], rest_base_url=row["rest_base_url"].rstrip("/"), token=row["token"],
        project_code=int(row["project_code"]), project_name=row["project_name"], ui_base_url=row["ui_base_url"],
        transport=row["transport"], gateway_host=row["gateway_host"],
        gateway_port=row["gateway_port"] or (DEFAULT_PORT if row["gateway_host"] else None),
        gateway_token=row["gateway_token"], tenant_code=row["tenant_code"], worker_group=row["worker_group"],
        source="table",
    )


def save_config(db: Database, config: IntegrationConfig) -> None:
    """Store one environment's settings (the token too: that table is as secret as the connection)."""
    with db.transaction() as repo:
        repo.upsert_integration_config({
            "environment": config.environment, "rest_base_url": config.rest_base_url.rstrip("/"),
            "ui_base_url": config.ui_base_url, "token": config.token, "project_code": config.project_code,
            "project_name": config.project_name, "transport": config.transport,
            "gateway_host": config.gateway_host, "gateway_port": config.gateway_port,
            "gateway_token": config.gateway_token, "tenant_code": config.tenant_code,
            "worker_group": config.worker_group,
        })
