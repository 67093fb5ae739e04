"""Airflow connections, resolved by Airflow when it runs, read directly when it does not.

Inside an Airflow process (task, api-server) a connection id resolves through Airflow itself
(``airflow.sdk.BaseHook.get_connection``; for PostgreSQL the provider's ``PostgresHook``, whose rule
for extras we apply: every extra goes to libpq except the hook's own ``ignored_extra_options``, such
as ``cursor``). Airflow swallows a failing secrets backend and reports the id as undefined; we ask
the backends again and report that failure instead (``ConnectionUnavailable``). Outside Airflow
(the CLI) ``AIRFLOW_CONN_<ID>`` variables in URI or JSON form are read directly, so the CLI works
with the very same settings the Airflow components use.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from psycopg.conninfo import make_conninfo

from platform_db.settings import connection_env_name, connection_uri


class ConnectionNotFound(LookupError):
    """No connection with that id is defined anywhere we look."""


class ConnectionUnavailable(LookupError):
    """Where the connection would be defined could not be read (a secrets backend failed)."""


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

    def postgres_params(self) -> dict[str, str]:
        """libpq parameters as ``PostgresHook.get_conn`` builds them: the fields, then the extras that are
        neither the hook's own options (``cursor``, ``iam``, ...) nor unknown to libpq (the product's flags)."""
        params = {"host": self.host, "user": self.login, "password": self.password, "dbname": self.schema,
                  "port": self.port}
        ignored = hook_ignored_extras()
        for key, value in self.extra.items():
            if key in ignored or key not in libpq_keywords() or isinstance(value, bool | dict | list):
                continue
            if key == "host" and self.host:
                continue
            params[key] = value
        return {k: str(v) for k, v in params.items() if v not in (None, "")}

    def postgres_uri(self) -> str:
        """A libpq connection string for a postgres connection (psycopg's ``make_conninfo``)."""
        return make_conninfo("", **self.postgres_params())


def hook_ignored_extras() -> frozenset[str]:
    """The extras ``PostgresHook`` keeps from libpq; the provider is only imported where Airflow already is."""
    if "airflow" not in sys.modules:
        return frozenset()
    try:
        from airflow.providers.postgres.hooks.postgres import PostgresHook
    except ImportError:
        return frozenset()
    return frozenset(PostgresHook.ignored_extra_options)


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
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        failures = _backend_failures(conn_id)
        if failures:
            raise ConnectionUnavailable(f"connection {conn_id!r} could not be read: {failures}") from None
        return None
    except Exception as exc:
        raise ConnectionUnavailable(f"connection {conn_id!r} could not be read from Airflow: "
                                    f"{type(exc).__name__}: {redact_dsn(str(exc))}") from None
    if conn.conn_type in ("postgres", "postgresql"):
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        conn = PostgresHook(postgres_conn_id=conn_id).connection  # the hook's view of it, as its get_conn uses
    return ConnectionInfo(
        conn_id=conn_id,
        conn_type=conn.conn_type or "",
        host=conn.host or (str(conn.extra_dejson.get("host") or "") or None),
        schema=conn.schema,
        login=conn.login,
        password=conn.password,
        port=conn.port,
        extra=dict(conn.extra_dejson or {}),
    )


def _backend_failures(conn_id: str) -> str:
    """Why Airflow found nothing: each secrets backend that raised, asked again (Airflow only logs it at debug)."""
    from airflow.sdk.execution_time.supervisor import ensure_secrets_backend_loaded

    failures = []
    for backend in ensure_secrets_backend_loaded():
        try:
            backend.get_connection(conn_id=conn_id)
        except Exception as exc:
            failures.append(f"secrets backend {type(backend).__name__} failed: {type(exc).__name__}: "
                            f"{redact_dsn(str(exc))}")
    return "; ".join(failures)


def get_connection(conn_id: str, *, required: bool = False) -> ConnectionInfo | None:
    """Resolve ``conn_id``: through Airflow when it is loaded, else from ``AIRFLOW_CONN_<ID>``.

    Raises ``ConnectionUnavailable`` when a secrets backend failed, ``ConnectionNotFound`` if ``required``.
    """
    info = _from_airflow(conn_id) if "airflow" in sys.modules else _from_env(conn_id)
    if info is None and required:
        raise ConnectionNotFound(
            f"connection {conn_id!r} is not defined: create it in Airflow (Admin > Connections) "
            f"or set {connection_env_name(conn_id)}"
        )
    return info


_PASSWORD_IN_URI = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@?#\s]*:)(?P<pw>[^@/?#\s]*)(?P<tail>@)", re.I)
_PASSWORD_PARAM = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|[^&\s]+)", re.I)


def redact_dsn(text: str) -> str:
    """Mask passwords in any connection URI or ``password=`` parameter inside ``text``."""
    text = _PASSWORD_IN_URI.sub(lambda m: m["head"] + ("***" if m["pw"] else "") + m["tail"], text)
    return _PASSWORD_PARAM.sub(lambda m: m["head"] + "***", text)
