"""Checking a task's table list against its business database before a run is requested.

The same resolution the ``ddl_generation`` step makes (``resolve_tables``), with the same messages, so
a mistake is refused at ``POST /tasks`` or ``/execute`` instead of failing a run minutes later. One
connection and one catalog query (a second, for suggestions, only when a name is unknown).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import psycopg

from data_pipeline.errors import DatabaseUnreachable
from data_pipeline.files.table_list import TableRef, read_table_list
from data_pipeline.files.task_dir import TABLE_LIST_FILE, task_path
from data_pipeline.schema.business_db import BusinessDatabase, BusinessDbError, resolve
from data_pipeline.schema.table_resolve import ResolvedTables, resolve_tables
from data_pipeline.tasks.parameters import TaskParameters
from data_pipeline.tasks.store import TaskRecord, TaskStore

CHECK_CONNECT_TIMEOUT = 5
"""Seconds a request waits for the business database: an answer in time matters more than patience here."""


@contextmanager
def answering_connection(db: BusinessDatabase, *, application_name: str, doing: str) -> Iterator[psycopg.Connection]:
    """A connection for a request that reads the business database: not reachable, or breaking off while
    ``doing`` its query, is ``DatabaseUnreachable`` (424) with the step's connection message."""
    try:
        conn = db.connect(application_name=application_name, connect_timeout=CHECK_CONNECT_TIMEOUT)
    except BusinessDbError as exc:
        raise DatabaseUnreachable(exc.message, invalid_params=["db_connection", "db_conn_id"]) from None
    try:
        with conn:
            yield conn
    except psycopg.Error:  # the connection broke off (or a statement timed out) after it was made
        raise DatabaseUnreachable(f"the business database {db.display} stopped answering while {doing}; "
                                  "try again") from None


def check_tables(db: BusinessDatabase, refs: Sequence[TableRef]) -> ResolvedTables:
    """The listed tables as the database has them; ``UnknownTables`` (400) naming every unknown or
    ambiguous one, ``DatabaseUnreachable`` (424) with the step's connection message. The policy's
    refusals (``DatabaseNotAllowed``) pass through unchanged."""
    with answering_connection(db, application_name="data_pipeline:table_check",
                              doing="its tables were checked") as conn:
        return resolve_tables(conn, refs, database=db.display)


def check_task_tables(store: TaskStore, task: TaskRecord) -> ResolvedTables:
    """``check_tables`` for a stored task: its ``table_list.txt``, its database and stored password."""
    params = TaskParameters.model_validate(task.parameters)
    parsed = read_table_list(task_path(task.id) / TABLE_LIST_FILE)
    db = resolve(db_conn_id=params.db_conn_id, db_connection=params.db_connection,
                 password=store.get_secret(task.id, "db_password"))
    return check_tables(db, parsed.tables)
