"""The data half of introspection: which text columns hold a small set of values (enum-like), and a
few sample rows per table.

Planner statistics answer the first question without reading the table when they can; otherwise a
bounded scan does. Both kinds of per-table query are pipelined on the one connection.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from data_pipeline.files.table_list import TableRef
from data_pipeline.schema.catalog import CatalogTable, stable_estimate
from data_pipeline.schema.model import ColumnInfo

SAMPLE_ROWS = 20
ENUM_MAX_VALUES = 20
ENUM_MAX_VALUE_CHARS = 64  # longer repeated values are text, not category labels
SCAN_ROWS = 5000  # rows read per table to find distinct values when the planner has no statistics
SAMPLE_VALUE_CHARS = 200  # sample values are cut in SQL so a table of blobs cannot flood memory
LARGE_TABLE_PAGES = 64  # above this (≈512 kB) samples come from TABLESAMPLE SYSTEM instead of the whole table
LARGE_TABLE_ROWS = 20_000
SAMPLE_TARGET_PAGES = 2 * SAMPLE_ROWS  # pages TABLESAMPLE aims at; one row is taken per page
_SAMPLEABLE = {"r", "p", "m"}  # relkinds with ctid and TABLESAMPLE

# Columns whose values are never read, stored or shown (no samples, no distinct values): their name says
# they hold a secret, or they are binary. Names are compared lower-cased without separators.
SENSITIVE_NAME_PARTS = ("password", "passwd", "passphrase", "passcode", "pwd", "secret", "token", "apikey",
                        "credential", "privatekey", "accesskey", "salt", "hash", "密码", "口令", "密钥", "令牌")
_SEPARATORS = re.compile(r"[\s_\-.]+")


def is_sensitive(column: ColumnInfo) -> bool:
    """Whether ``column`` may hold a secret: no sample or distinct value of it leaves the database."""
    name = _SEPARATORS.sub("", column.name.lower())
    return (any(part in name for part in SENSITIVE_NAME_PARTS) or column.base_type == "binary"
            or "bytea" in column.data_type.lower())


# One query for the planner statistics of every candidate (text) column of every table. The filters are
# plain ``= ANY(name[])`` so the planner walks the catalog indexes; joining pg_stats to an unnest() makes
# it evaluate the whole view (and its privilege checks) for every column of the database instead.
_STATS_SQL = """
SELECT s.schemaname::text, s.tablename::text, s.attname::text, s.inherited, s.null_frac, s.n_distinct,
       s.most_common_vals::text::text[], s.most_common_freqs
FROM pg_stats s
WHERE s.tablename = ANY(%(tables)s::name[]) AND s.schemaname = ANY(%(schemas)s::name[])
  AND s.attname = ANY(%(columns)s::name[])
"""


# -- enum-like columns -----------------------------------------------------------------------------

def _candidates(table: CatalogTable) -> list[ColumnInfo]:
    """Text columns that might hold a small set of values (not enum types, not single-column keys)."""
    assert table.info is not None
    single_keys = {tuple(table.info.primary_key)} | {tuple(u["columns"]) for u in table.info.unique_constraints}
    return [c for c in table.info.columns
            if c.base_type == "text" and (c.name,) not in single_keys and not is_sensitive(c)]


def detect_enum_like(conn: psycopg.Connection, tables: dict[int, CatalogTable], warnings: list[str]) -> None:
    """Set ``enum_values`` of the text columns that hold a few short values; scan problems go to ``warnings``."""
    wanted = [(t, c) for t in tables.values() for c in _candidates(t)]
    if not wanted:
        return
    rows = conn.execute(_STATS_SQL, {"schemas": sorted({t.ref.schema for t, _ in wanted}),
                                     "tables": sorted({t.ref.name for t, _ in wanted}),
                                     "columns": sorted({c.name for _, c in wanted})}).fetchall()
    partitioned = {t.ref for t in tables.values() if t.relkind == "p"}
    asked = {(t.ref.schema, t.ref.name, c.name) for t, c in wanted}
    stats: dict[tuple[str, str, str], tuple[Any, ...]] = {}
    for schema, name, column, inherited, *values in rows:
        key = (schema, name, column)
        if key not in asked:
            continue  # the name arrays are a superset of the pairs asked for
        # Partitioned tables only have whole-tree (inherited) statistics; plain tables prefer their own.
        if key not in stats or inherited == (TableRef(schema, name) in partitioned):
            stats[key] = tuple(values)
    to_scan: dict[int, list[ColumnInfo]] = {}
    for table, column in wanted:
        entry = stats.get((table.ref.schema, table.ref.name, column.name))
        if entry is None or not table.analyzed:
            to_scan.setdefault(table.oid, []).append(column)
            continue
        verdict = _enum_from_stats(table.rows, *entry)
        if verdict is None:
            to_scan.setdefault(table.oid, []).append(column)
        elif verdict:
            column.enum_values = verdict
    # Tables never analyzed get a bounded scan even without candidates: it also yields their row count.
    for table in tables.values():
        if not table.analyzed and table.oid not in to_scan:
            to_scan[table.oid] = []
    if to_scan:
        _scan_distinct(conn, [(tables[oid], cols) for oid, cols in to_scan.items()], warnings)


def _enum_from_stats(rows: float, null_frac: float, n_distinct: float, mcv: list[str] | None,
                     freqs: list[float] | None) -> list[str] | None:
    """Enum values from planner statistics; [] when not enum-like; None when the statistics cannot tell."""
    if n_distinct == 0 or n_distinct == -1:
        return []  # all NULL, or every value unique
    distinct = n_distinct if n_distinct > 0 else -n_distinct * rows
    if distinct > ENUM_MAX_VALUES:
        return []
    non_null_rows = rows * (1 - null_frac)
    if non_null_rows and round(distinct) >= non_null_rows:
        return []  # as many values as rows: an identifier, not a category
    if not mcv or not freqs:
        return None
    if sum(freqs) + null_frac < 0.995:
        return None  # some values are missing from the most-common list: count them for real
    return _category_values(mcv)


def _category_values(values: list[str]) -> list[str]:
    """Sorted values if they look like category labels; [] for long free text that happens to repeat."""
    return sorted(set(values)) if all(len(v) <= ENUM_MAX_VALUE_CHARS for v in values) else []


class _Quoter:
    """psycopg's identifier quoting, memoised: the per-table queries quote the same names over and over."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.cache: dict[tuple[str, ...], str] = {}

    def __call__(self, *names: str) -> str:
        quoted = self.cache.get(names)
        if quoted is None:
            quoted = self.cache[names] = sql.Identifier(*names).as_string(self.conn)
        return quoted


def _scan_distinct(conn: psycopg.Connection, work: list[tuple[CatalogTable, list[ColumnInfo]]],
                   warnings: list[str]) -> None:
    q = _Quoter(conn)
    queries = []
    for table, columns in work:
        # Pages read so far (from ctid) turn "at least 5,000 rows" into an estimate for never-analyzed tables.
        has_ctid = table.relkind in ("r", "m")
        parts = ["count(*)", "max((dp_ctid::text::point)[0])" if has_ctid else "NULL"] + [
            f"count(DISTINCT {q(c.name)}), count({q(c.name)}), (array_agg(DISTINCT {q(c.name)}::text) "
            f"FILTER (WHERE {q(c.name)} IS NOT NULL))[1:{ENUM_MAX_VALUES + 1}]" for c in columns]
        inner = ", ".join([*(q(c.name) for c in columns), *(["ctid AS dp_ctid"] if has_ctid else [])]) or "1"
        queries.append(f"SELECT {', '.join(parts)} FROM (SELECT {inner} FROM {q(table.ref.schema, table.ref.name)} "
                       f"LIMIT {SCAN_ROWS}) s")
    outcomes = _run_pipelined(conn, queries)
    for (table, columns), outcome in zip(work, outcomes, strict=True):
        if isinstance(outcome, str):
            warnings.append(f"{table.ref.qualified}: could not scan for enum-like values: {outcome}")
            continue
        row = outcome[0]
        scanned, last_page = int(row[0]), row[1]
        if not table.analyzed and table.info is not None:
            if scanned < SCAN_ROWS or last_page is None:
                table.info.row_estimate = scanned
            else:  # rows per page seen so far, times the pages the table has now
                table.info.row_estimate = stable_estimate(max(scanned, scanned / (last_page + 1) * table.pages))
        for index, column in enumerate(columns):
            distinct, non_null, values = row[2 + 3 * index: 5 + 3 * index]
            if 0 < distinct <= ENUM_MAX_VALUES and distinct < non_null:
                column.enum_values = _category_values(values) or None


# -- samples ---------------------------------------------------------------------------------------

def _sample_query(table: CatalogTable, limit: int, q: _Quoter) -> str:
    """Up to ``limit`` rows, ordered by primary key (else physical position) so reruns are byte-identical.

    Large tables are sampled with TABLESAMPLE SYSTEM over about ``2 * limit`` pages, one row per page,
    so the rows come from all over the table instead of its first page.
    """
    assert table.info is not None
    cols = ", ".join("NULL" if is_sensitive(c) else f"left({q(c.name)}::text, {SAMPLE_VALUE_CHARS})"
                     for c in table.info.columns) or "NULL"
    relation = q(table.ref.schema, table.ref.name)
    if table.info.primary_key:
        order = " ORDER BY " + ", ".join(q(c) for c in table.info.primary_key)
    elif table.relkind in _SAMPLEABLE:
        order = " ORDER BY tableoid, ctid"
    else:
        order = ""
    large = table.pages > LARGE_TABLE_PAGES or table.rows > LARGE_TABLE_ROWS
    if large and table.relkind in _SAMPLEABLE:
        pages = table.pages if table.pages > 0 else table.rows / 50
        percent = min(100.0, max(0.0001, 100.0 * SAMPLE_TARGET_PAGES / max(pages, 1.0)))
        page = "(ctid::text::point)[0]"
        inner = (f"SELECT DISTINCT ON (tableoid, {page}) *, tableoid AS dp_tableoid, ctid AS dp_ctid FROM {relation} "
                 f"TABLESAMPLE SYSTEM ({percent:.6f}) REPEATABLE (0) ORDER BY tableoid, {page}, ctid LIMIT {limit}")
        if not table.info.primary_key:
            order = " ORDER BY dp_tableoid, dp_ctid"
        return f"SELECT {cols} FROM ({inner}) s{order}"
    return f"SELECT {cols} FROM {relation}{order} LIMIT {limit}"


def take_samples(conn: psycopg.Connection, tables: dict[int, CatalogTable], limit: int, warnings: list[str]) -> None:
    """Fill ``sample_rows`` and each column's first distinct ``sample_values``; problems go to ``warnings``."""
    work = list(tables.values())
    q = _Quoter(conn)
    outcomes = _run_pipelined(conn, [_sample_query(t, limit, q) for t in work])
    for table, outcome in zip(work, outcomes, strict=True):
        info = table.info
        assert info is not None
        if isinstance(outcome, str):
            warnings.append(f"{table.ref.qualified}: no sample rows ({outcome})")
            continue
        names = [c.name for c in info.columns]
        hidden = {c.name for c in info.columns if is_sensitive(c)}
        info.sample_rows = [{k: v for k, v in zip(names, row, strict=True) if k not in hidden}
                            for row in outcome] if names else []
        for position, column in enumerate(info.columns):
            if column.name in hidden:
                continue
            seen = column.sample_values  # this column's own (empty) list, filled in place: no pydantic assignment
            for row in outcome:
                value = row[position]
                if value is not None and value not in seen:
                    seen.append(value)
                if len(seen) >= 5:
                    break


def _run_pipelined(conn: psycopg.Connection, queries: Sequence[str]) -> list[list[tuple[Any, ...]] | str]:
    """Run per-table queries in one pipeline; if one fails, redo them one by one to pin the error on it."""
    if not queries:
        return []
    conn.execute("SAVEPOINT dp_pipeline")
    try:
        with conn.pipeline():
            cursors = [conn.execute(q) for q in queries]
        outcomes: list[list[tuple[Any, ...]] | str] = [cur.fetchall() for cur in cursors]
        conn.execute("RELEASE SAVEPOINT dp_pipeline")
        return outcomes
    except psycopg.DatabaseError:
        if conn.closed or conn.broken:
            raise
        conn.execute("ROLLBACK TO SAVEPOINT dp_pipeline")
    outcomes = []
    for query in queries:
        conn.execute("SAVEPOINT dp_one")
        try:
            outcomes.append(conn.execute(query).fetchall())
            conn.execute("RELEASE SAVEPOINT dp_one")
        except psycopg.DatabaseError as exc:
            if conn.closed or conn.broken:
                raise
            conn.execute("ROLLBACK TO SAVEPOINT dp_one")
            outcomes.append(_short_error(exc))
    return outcomes


def _short_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
