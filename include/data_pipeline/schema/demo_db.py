"""``demo-db``: a realistic, deterministic demo business database to run the pipeline against.

It models a highway service-area operator (companies, service areas, road sections, shops, daily
revenue, daily vehicle counts, EV charging) because that is the kind of schema the pipeline meets in
practice: Chinese comments on some tables and none on others, enum-like text columns, real foreign
keys, a soft-delete column, denormalised copies of names, NULLs and ~150k rows with plausible shape
(weekend peaks, holiday bumps, revenue following traffic). Everything is derived from one
``random.Random(seed)`` and a fixed start date, so two builds give byte-identical tables.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from data_pipeline.errors import PipelineError
from data_pipeline.schema.demo_data import Row, generate_rows
from data_pipeline.schema.demo_schema import DEMO_DDL, DEMO_TABLES

DEMO_DATABASE = "highway_demo"
# Serialises concurrent builds of one database (the first build has no tables to lock yet).
_ADVISORY_LOCK_KEY = 0x44454D4F  # "DEMO"


class DemoDatabaseError(PipelineError):
    """The build failed; the transaction was rolled back, so the previous demo tables are intact."""


@dataclass(frozen=True)
class DemoSummary:
    """What a build produced, for the CLI and the API to report."""

    database: str
    tables: dict[str, int] = field(default_factory=dict)  # table name -> rows, in DEMO_TABLES order
    total_rows: int = 0
    seconds: float = 0.0


def _copy(cur: psycopg.Cursor[Any], table: str, columns: Sequence[str], rows: list[Row]) -> None:
    stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))
    with cur.copy(stmt) as copy:
        for row in rows:
            copy.write_row(row)


def build_demo_database(uri: str, *, seed: int = 20250721, days: int = 365) -> DemoSummary:
    """(Re)create the demo tables in schema ``public`` of ``uri`` in one transaction.

    The old tables are dropped (CASCADE) and the new ones created and filled in the same transaction,
    so a failure at any point leaves the previous tables and data as they were.
    """
    started = time.perf_counter()
    data = generate_rows(seed, days)
    step = "connecting"
    database = psycopg.conninfo.conninfo_to_dict(uri).get("dbname") or "?"
    try:
        with psycopg.connect(uri) as conn, conn.cursor() as cur:
            database = conn.info.dbname
            step = "dropping the old demo tables"
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_ADVISORY_LOCK_KEY,))
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(
                sql.SQL(", ").join(sql.Identifier("public", t) for t in reversed(DEMO_TABLES))))
            cur.execute("SET LOCAL search_path = public")
            for table, (columns, rows) in data.items():
                step = f"creating {table}"
                cur.execute(DEMO_DDL[table])
                step = f"loading {table}"
                _copy(cur, table, columns, rows)
            step = "analyzing"
            cur.execute(sql.SQL("ANALYZE {}").format(
                sql.SQL(", ").join(sql.Identifier("public", t) for t in DEMO_TABLES)))
    except psycopg.Error as exc:
        raise DemoDatabaseError(
            f"building the demo database {database!r} failed while {step}: {exc}".rstrip()
            + " (rolled back; the previous demo tables are unchanged)") from exc
    counts = {table: len(rows) for table, (_, rows) in data.items()}
    return DemoSummary(database, counts, sum(counts.values()), round(time.perf_counter() - started, 3))
