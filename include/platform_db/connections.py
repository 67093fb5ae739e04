"""Read Airflow-style connections without importing Airflow.

Inside Airflow the same connection ids resolve through Airflow itself (secrets backends, the UI's
connections); elsewhere ``AIRFLOW_CONN_<ID>`` environment variables in URI or JSON form are read
directly, so the CLI works with the very same settings the Airflow components use.
"""

from __future__ import annotations

import functools
import json
import sys
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from platform_db.settings import connection_env_name, connection_uri


class ConnectionNotFound(LookupError):
    """No connection with that id is defined anywhere we look."""


_SCHEME_TO_TYPE = {"postgresql": "postgres", "postgres": "postgres"}


@dataclass(frozen=True)
class ConnectionInfo:
    conn_id: str
    conn_type: str = ""
    host: str | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    port: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # never show the password
        return (
            f"ConnectionInfo(conn_id={self.conn_id!r}, conn_type={self.conn_type!r}, host={self.host!r}, "
            f"schema={self.schema!r}, login={self.login!r}, password={'***' if self.password else None}, "
            f"port={self.port!r})"
        )

    def postgres_uri(self) -> str:
        """A libpq URI for a postgres connection (Unix-socket hosts go into ``?host=``)."""
        user = quote(self.login or "", safe="")
        auth = user
        if self.password:
            auth += ":" + quote(self.password, safe="")
        params = {k: str(v) for k, v in self.extra.items()
                  if isinstance(v, str | int | float) and not isinstance(v, bool) and k in libpq_keywords()}
        host = self.host or ""
        netloc_host = ""
        if host.startswith("/"):
            params["host"] = host
        else:
            netloc_host = host
            if self.port:
                netloc_host += f":{self.port}"
        netloc = f"{auth}@{netloc_host}" if auth else netloc_host
        query = "&".join(f"{quote(k, safe='')}={quote(v, safe='/')}" for k, v in params.items())
        uri = f"postgresql://{netloc}/{quote(self.schema or '', safe='')}"
        return f"{uri}?{query}" if query else uri


@functools.cache
def libpq_keywords() -> frozenset[str]:
    """Connection parameters libpq knows; other extras (Airflow's own, the product's flags) are not for it."""
    from psycopg import pq

    return frozenset(option.keyword.decode() for option in pq.Conninfo.get_defaults())


def parse_connection(conn_id: str, value: str) -> ConnectionInfo:
    """Parse an ``AIRFLOW_CONN_*`` value: JSON (``{"conn_type": ...}``) or Airflow's URI form."""
    value = value.strip()
    if value.startswith("{"):
        data = json.loads(value)
        extra = data.get("extra") or {}
        if isinstance(extra, str):
            extra = json.loads(extra) if extra.strip() else {}
        port = data.get("port")
        return ConnectionInfo(
            conn_id=conn_id,
            conn_type=str(data.get("conn_type") or ""),
            host=data.get("host"),
            schema=data.get("schema"),
            login=data.get("login"),
            password=data.get("password"),
            port=int(port) if port not in (None, "") else None,
            extra=dict(extra),
        )
    parts = urlsplit(value)
    scheme = parts.scheme.replace("-", "_")
    extra: dict[str, Any] = {}
    for key, val in parse_qsl(parts.query, keep_blank_values=True):
        if key == "__extra__":
            extra.update(json.loads(val))
        else:
            extra[key] = val
    host = unquote(parts.hostname or "") or None
    if host is None and "host" in extra and str(extra["host"]).startswith("/"):
        host = str(extra.pop("host"))
    return ConnectionInfo(
        conn_id=conn_id,
        conn_type=_SCHEME_TO_TYPE.get(scheme, scheme),
        host=host,
        schema=unquote(parts.path.lstrip("/")) or None,
        login=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        port=parts.port,
        extra=extra,
    )


def _from_env(conn_id: str) -> ConnectionInfo | None:
    value = connection_uri(conn_id)
    if not value:
        return None
    return parse_connection(conn_id, value)


def _from_airflow(conn_id: str) -> ConnectionInfo | None:
    """Ask Airflow, but only in a process where Airflow is already loaded (task, api-server)."""
    if "airflow" not in sys.modules:
        return None
    try:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(conn_id)
    except Exception:
        return None
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else {}
    return ConnectionInfo(
        conn_id=conn_id,
        conn_type=conn.conn_type or "",
        host=conn.host,
        schema=conn.schema,
        login=conn.login,
        password=conn.password,
        port=conn.port,
        extra=dict(extra or {}),
    )


def get_connection(conn_id: str, *, required: bool = False) -> ConnectionInfo | None:
    """Resolve ``conn_id``: environment first (fast, no Airflow), then Airflow when loaded."""
    info = _from_env(conn_id) or _from_airflow(conn_id)
    if info is None and required:
        raise ConnectionNotFound(
            f"connection {conn_id!r} is not defined: create it in Airflow (Admin > Connections) "
            f"or set {connection_env_name(conn_id)}"
        )
    return info
