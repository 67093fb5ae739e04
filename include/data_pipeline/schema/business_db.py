"""The business database of a task: where it is, whether the policy lets a task read it, how to connect.

The policy (``db_policy``) is checked when a task is created and again every time a step connects, on
the parsed target and then on the address the connection actually reached. Connection failures all
read the same, so a task cannot be used to learn what listens where.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from data_pipeline.errors import InvalidInput, PipelineError
from data_pipeline.schema.db_policy import (
    DatabaseNotAllowed,
    check_conn_id,
    check_not_protected,
    check_uri_allowed,
)
from data_pipeline.schema.db_target import DbTarget, from_connection, parse_uri
from data_pipeline.secrets_mask import register_secret
from platform_db import ConnectionUnavailable, get_connection

__all__ = ["BusinessDatabase", "BusinessDbError", "DatabaseNotAllowed", "resolve", "split_password"]

CONNECT_FAILED = ("nothing is listening there, it is not a PostgreSQL server, the database does not exist, "
                  "or the wrong user name or password was given")
# Tables only the platform store or Airflow's metadata database hold: a connection that reaches one of
# them reached a protected database, however it was addressed (a proxy, another name for the host).
_FINGERPRINT_SQL = """
SELECT count(DISTINCT c.relname) FILTER (WHERE c.relname IN ('data_pipeline_task_secrets', 'data_pipeline_tasks')),
       count(DISTINCT c.relname) FILTER (WHERE c.relname IN ('dag_run', 'serialized_dag', 'task_instance'))
FROM pg_class c WHERE c.relkind IN ('r', 'p')
  AND c.relname IN ('data_pipeline_task_secrets', 'data_pipeline_tasks', 'dag_run', 'serialized_dag', 'task_instance')
"""


class BusinessDbError(PipelineError):
    error_code = "BUSINESS_DB_ERROR"
    http_status = 424  # the request depends on a database that failed: a failed dependency, never our 5xx
    permanent = False
    """Whether trying again cannot help (authentication, unknown database); never shown, so the one
    connection-failure message stays the same for every cause."""


PERMANENT_CONNECT_ERRORS = (
    "password authentication failed", "does not exist", "no pg_hba.conf entry", "permission denied",
    "authentication failed", "invalid connection option", "certificate", "ssl is not enabled",
)


def is_permanent_connect_error(message: str) -> bool:
    lowered = message.lower()
    return any(text in lowered for text in PERMANENT_CONNECT_ERRORS)


def split_password(uri: str) -> tuple[str, str | None]:
    """``uri`` rewritten without any secret (user-info or ``password=``), and the password if there was one.

    Parameters that carry other secrets or name files of the server are refused (``InvalidInput``).
    """
    target, password = parse_uri(uri)
    return target.uri(), password


@dataclass(frozen=True)
class BusinessDatabase:
    target: DbTarget
    display: str
    password: str | None = field(default=None, repr=False)

    @property
    def db_name(self) -> str:
        return self.target.dbname

    @property
    def conninfo(self) -> str:
        return self.target.conninfo(self.password)

    def connect(self, *, autocommit: bool = True, connect_timeout: int = 10,
                application_name: str = "data_pipeline") -> psycopg.Connection:
        """Open a connection the policy allows; every failure reads the same and never shows the password."""
        check_not_protected(self.target, label=self.display)
        try:
            conn = psycopg.connect(self.conninfo, autocommit=autocommit, connect_timeout=connect_timeout,
                                   application_name=application_name)
        except psycopg.Error as exc:
            error = BusinessDbError(f"cannot connect to the business database {self.display}: {CONNECT_FAILED}")
            error.permanent = is_permanent_connect_error(str(exc))
            raise error from None
        try:
            self._check_reached(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _check_reached(self, conn: psycopg.Connection) -> None:
        """Defence in depth: the address reached (a host name may resolve differently now) and what is there."""
        address = None if self.target.is_socket else (conn.info.hostaddr or None)
        check_not_protected(self.target, address=address, label=self.display)
        with conn.cursor() as cur:
            platform, airflow = cur.execute(_FINGERPRINT_SQL).fetchone() or (0, 0)
        if not conn.autocommit:
            conn.rollback()
        if platform or airflow >= 2:
            what = "the platform's own database" if platform else "Airflow's metadata database"
            raise DatabaseNotAllowed(f"the business database {self.display} holds {what}'s tables: a task may "
                                     "never read it", invalid_params=["db_connection", "db_conn_id"])


def resolve(*, db_conn_id: str | None, db_connection: str | None, password: str | None = None) -> BusinessDatabase:
    """The task's database, from an allowed Airflow connection id or an allowed password-free URI (its
    password kept aside); refused when the policy forbids it."""
    if db_conn_id:
        try:
            defined = get_connection(db_conn_id)
        except ValueError:  # a malformed definition (bad port, bad JSON): the operator's to fix
            defined = None
        except ConnectionUnavailable as exc:  # not "undefined": where it is defined could not be read
            raise BusinessDbError(str(exc)) from None
        info = check_conn_id(db_conn_id, defined)
        target, conn_password = from_connection(info)
        register_secret(conn_password)
        display = f"connection {db_conn_id!r}"
        check_not_protected(target, label=display)
        return BusinessDatabase(target=target, display=display, password=conn_password)
    if not db_connection:
        raise InvalidInput("no business database given: set db_conn_id or db_connection",
                           missing_params=["db_conn_id"])
    target, uri_password = parse_uri(db_connection)
    check_uri_allowed(target)
    check_not_protected(target)
    secret = password or uri_password
    register_secret(secret)
    return BusinessDatabase(target=target, display=target.uri(), password=secret)
