"""The business database of a task: where it is, how to connect, and errors a user can act on."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from data_pipeline.errors import InvalidInput, PipelineError
from data_pipeline.secrets_mask import mask, register_secret
from platform_db import ConnectionNotFound, get_connection


class BusinessDbError(PipelineError):
    error_code = "BUSINESS_DB_ERROR"
    http_status = 502


def split_password(uri: str) -> tuple[str, str | None]:
    """Return ``uri`` without its password, and the password (URL-decoded) if there was one."""
    parts = urlsplit(uri)
    if parts.scheme not in ("postgresql", "postgres"):
        raise InvalidInput("db_connection must be a postgresql:// URI")
    if parts.password is None:
        return uri, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), unquote(parts.password)


@dataclass(frozen=True)
class BusinessDatabase:
    conninfo: str = field(repr=False)
    display: str
    db_name: str

    def connect(self, *, autocommit: bool = True, connect_timeout: int = 10,
                application_name: str = "data_pipeline") -> psycopg.Connection:
        """Open a connection; failures become ``BusinessDbError`` naming the problem, never the password."""
        try:
            return psycopg.connect(self.conninfo, autocommit=autocommit, connect_timeout=connect_timeout,
                                   application_name=application_name)
        except psycopg.OperationalError as exc:
            raise BusinessDbError(f"cannot connect to the business database {self.display}: "
                                  f"{explain_connect_error(exc)}") from None


def explain_connect_error(exc: psycopg.OperationalError) -> str:
    text = mask(str(exc)).strip().replace("\n", " ")
    lowered = text.lower()
    if "password authentication failed" in lowered:
        return "wrong user name or password (" + text + ")"
    if "does not exist" in lowered and "database" in lowered:
        return "the database does not exist (" + text + ")"
    if "connection refused" in lowered or "no such file" in lowered:
        return "nothing is listening there; is the server running and the host/port right? (" + text + ")"
    if "timeout" in lowered or "timed out" in lowered:
        return "the connection timed out (" + text + ")"
    return text


def resolve(*, db_conn_id: str | None, db_connection: str | None, password: str | None = None) -> BusinessDatabase:
    """From an Airflow connection id or a (password-free) URI plus the password kept aside."""
    if db_conn_id:
        try:
            conn = get_connection(db_conn_id, required=True)
        except ConnectionNotFound as exc:
            raise InvalidInput(str(exc)) from None
        assert conn is not None
        register_secret(conn.password)
        uri = conn.postgres_uri()
        display = f"connection {db_conn_id!r} ({mask(uri)})"
        return BusinessDatabase(conninfo=uri, display=display, db_name=conn.schema or "")
    if not db_connection:
        raise InvalidInput("no business database given: set db_conn_id or db_connection",
                           missing_params=["db_conn_id"])
    try:
        params = conninfo_to_dict(db_connection)
    except psycopg.ProgrammingError as exc:
        raise InvalidInput(f"db_connection is not a valid PostgreSQL URI: {mask(str(exc))}") from None
    if password:
        params["password"] = password
    register_secret(params.get("password"))
    conninfo = make_conninfo("", **params)
    return BusinessDatabase(conninfo=conninfo, display=mask(db_connection), db_name=str(params.get("dbname", "")))
