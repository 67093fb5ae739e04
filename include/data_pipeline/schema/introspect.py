"""What the business database says about the listed tables, learnt with a constant number of queries.

Catalog facts (columns, keys, constraints, comments, partitions, enum labels, statistics) come from a
handful of queries over ALL requested tables at once (``= ANY`` over oid arrays), never one query per
table, so 1,000 tables cost the same round trips as one. Only two things need the table data itself:
up to 20 sample rows per table and, for text columns the planner has no statistics for, a bounded
distinct-value scan; those per-table queries are pipelined on one connection. Everything runs in one
read-only REPEATABLE READ transaction with a statement timeout, with ``search_path`` pinned to
``public`` so ``format_type``/``pg_get_expr``/``pg_get_constraintdef`` qualify exactly the objects
outside ``public`` — the rendered DDL then means the same thing in any database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg

from data_pipeline.files.table_list import TableRef
from data_pipeline.schema.business_db import BusinessDbError
from data_pipeline.schema.catalog import read_catalog, stable_estimate
from data_pipeline.schema.column_values import SAMPLE_ROWS, detect_enum_like, take_samples
from data_pipeline.schema.model import TableInfo
from data_pipeline.secrets_mask import mask

STATEMENT_TIMEOUT_MS = 60_000


@dataclass
class Introspection:
    tables: dict[TableRef, TableInfo]
    missing: list[TableRef] = field(default_factory=list)  # dropped between planning and introspection
    warnings: list[str] = field(default_factory=list)  # sample/scan problems; the DDL is still complete


def introspect_tables(conn: psycopg.Connection, refs: Sequence[TableRef], *, sample_rows: int = SAMPLE_ROWS,
                      statement_timeout_ms: int = STATEMENT_TIMEOUT_MS) -> Introspection:
    """Everything step 1 needs about ``refs`` (exact names), in one read-only snapshot.

    ``conn`` must not be in autocommit mode; the transaction is ended (rolled back) before returning.
    """
    if conn.autocommit:
        raise ValueError("introspect_tables needs a connection with autocommit off")
    conn.read_only = True
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    try:
        # Output formats pinned so the same database gives the same bytes whatever the client's settings.
        conn.execute("SELECT set_config('statement_timeout', %s, true), set_config('search_path', 'public', true), "
                     "set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, YMD', true), "
                     "set_config('IntervalStyle', 'postgres', true), set_config('bytea_output', 'hex', true), "
                     "set_config('extra_float_digits', '1', true)", (str(statement_timeout_ms),))
        return _introspect(conn, list(refs), sample_rows)
    except psycopg.OperationalError as exc:
        if not (conn.closed or conn.broken):
            raise
        raise BusinessDbError(f"lost the connection to the business database while reading table structures "
                              f"({mask(str(exc)).strip()}); was the server restarted? Run the step again: "
                              "tables already done are kept") from None
    finally:
        if not (conn.closed or conn.broken):
            conn.rollback()


def _introspect(conn: psycopg.Connection, refs: list[TableRef], sample_rows: int) -> Introspection:
    result = Introspection(tables={})
    if not refs:
        return result
    tables, result.missing = read_catalog(conn, refs)
    if not tables:
        return result
    detect_enum_like(conn, tables, result.warnings)
    take_samples(conn, tables, sample_rows, result.warnings)
    for table in tables.values():
        assert table.info is not None
        table.info.row_estimate = stable_estimate(table.rows) if table.analyzed else table.info.row_estimate
        result.tables[table.ref] = table.info
    return result
