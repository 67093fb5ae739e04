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

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from data_pipeline.errors import NotFound
from data_pipeline.files.table_list import TableRef
from data_pipeline.files.task_dir import STATE_DIR
from data_pipeline.schema.business_db import BusinessDbError
from data_pipeline.schema.model import ColumnInfo, ForeignKey, TableInfo
from data_pipeline.secrets_mask import mask

if TYPE_CHECKING:
    from data_pipeline.steps.context import StepContext

SAMPLE_ROWS = 20
ENUM_MAX_VALUES = 20
ENUM_MAX_VALUE_CHARS = 64  # longer repeated values are text, not category labels
SCAN_ROWS = 5000  # rows read per table to find distinct values when the planner has no statistics
SAMPLE_VALUE_CHARS = 200  # sample values are cut in SQL so a table of blobs cannot flood memory
LARGE_TABLE_PAGES = 64  # above this (≈512 kB) samples come from TABLESAMPLE SYSTEM instead of the whole table
LARGE_TABLE_ROWS = 20_000
SAMPLE_TARGET_PAGES = 2 * SAMPLE_ROWS  # pages TABLESAMPLE aims at; one row is taken per page
STATEMENT_TIMEOUT_MS = 60_000
SCHEMA_STATE = "schema"  # <task dir>/.state/schema/<file_stem>.json: one TableInfo per table

_KINDS = {"r": "table", "p": "partitioned table", "v": "view", "m": "materialized view", "f": "foreign table"}
_SAMPLEABLE = {"r", "p", "m"}  # relkinds with ctid and TABLESAMPLE
_INTEGER_TYPES = {"int2", "int4", "int8"}
_FLOAT_TYPES = {"float4", "float8"}
_NUMERIC_TYPES = {"numeric", "money"}


@dataclass
class ResolvedTables:
    tables: list[TableRef]
    warnings: list[str] = field(default_factory=list)


@dataclass
class Introspection:
    tables: dict[TableRef, TableInfo]
    missing: list[TableRef] = field(default_factory=list)  # dropped between planning and introspection
    warnings: list[str] = field(default_factory=list)  # sample/scan problems; the DDL is still complete


# -- resolving the table list ------------------------------------------------------------------------

_RESOLVE_SQL = """
WITH req AS (
    SELECT * FROM unnest(%(schemas)s::text[], %(names)s::text[]) WITH ORDINALITY AS r(schema_name, table_name, ord)
)
SELECT r.ord, n.nspname, c.relname, (n.nspname = r.schema_name AND c.relname = r.table_name) AS exact
FROM req r
JOIN pg_namespace n ON lower(n.nspname) = lower(r.schema_name)
JOIN pg_class c ON c.relnamespace = n.oid AND lower(c.relname) = lower(r.table_name)
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY r.ord, exact DESC, n.nspname, c.relname
"""

_ALL_NAMES_SQL = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%'
"""


def resolve_tables(conn: psycopg.Connection, refs: Sequence[TableRef], *, database: str = "") -> ResolvedTables:
    """Map listed names onto existing tables; raise ``NotFound`` naming EVERY unknown table at once.

    An exact match wins. A name that matches only case-insensitively (``orders`` for a table created
    as ``"Orders"``) is taken, with a warning, when exactly one table matches.
    """
    rows = conn.execute(_RESOLVE_SQL, {"schemas": [r.schema for r in refs], "names": [r.name for r in refs]}).fetchall()
    candidates: dict[int, list[tuple[str, str, bool]]] = {}
    for ord_, schema, name, exact in rows:
        candidates.setdefault(ord_ - 1, []).append((schema, name, exact))
    resolved: list[TableRef] = []
    warnings: list[str] = []
    unknown: list[str] = []
    ambiguous: list[str] = []
    for index, ref in enumerate(refs):
        found = candidates.get(index, [])
        exact = [c for c in found if c[2]]
        if exact:
            resolved.append(ref)
        elif len(found) == 1:
            actual = TableRef(found[0][0], found[0][1])
            warnings.append(f"table {ref.qualified} does not exist with that exact spelling; using {actual.qualified} "
                            "(PostgreSQL names are case-sensitive when quoted)")
            resolved.append(actual)
        elif found:
            options = ", ".join(TableRef(s, n).qualified for s, n, _ in found)
            ambiguous.append(f"{ref.qualified} (matches {options}; quote the exact name)")
        else:
            unknown.append(ref.qualified)
    if unknown or ambiguous:
        hints = _suggestions(conn, [r for r in refs if r.qualified in unknown]) if unknown else {}
        parts = []
        if unknown:
            shown = [u + (f" (did you mean {hints[u]}?)" if u in hints else "") for u in unknown]
            parts.append(f"{len(unknown)} listed table(s) do not exist: " + ", ".join(shown))
        if ambiguous:
            parts.append("ambiguous names: " + "; ".join(ambiguous))
        where = f" in the business database {database}" if database else ""
        raise NotFound("table list check failed" + where + ": " + "; ".join(parts) + ". Nothing was generated.",
                       unknown_tables=unknown, ambiguous_tables=ambiguous)
    seen: dict[TableRef, int] = {}
    unique: list[TableRef] = []
    for ref in resolved:
        if ref in seen:
            warnings.append(f"table {ref.qualified} is listed twice under different spellings; duplicate removed")
            continue
        seen[ref] = 1
        unique.append(ref)
    return ResolvedTables(tables=unique, warnings=warnings)


def _suggestions(conn: psycopg.Connection, unknown: Sequence[TableRef]) -> dict[str, str]:
    names = [TableRef(s, n) for s, n in conn.execute(_ALL_NAMES_SQL).fetchall()]
    by_text = {r.qualified: r for r in names}
    hints: dict[str, str] = {}
    for ref in unknown[:50]:
        close = difflib.get_close_matches(ref.qualified, list(by_text), n=1, cutoff=0.75)
        if close:
            hints[ref.qualified] = close[0]
    return hints


# -- catalog queries ---------------------------------------------------------------------------------

_OIDS_SQL = """
SELECT r.ord, c.oid
FROM unnest(%(schemas)s::text[], %(names)s::text[]) WITH ORDINALITY AS r(schema_name, table_name, ord)
JOIN pg_namespace n ON n.nspname = r.schema_name
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = r.table_name AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
"""

_TABLES_SQL = """
SELECT c.oid, n.nspname, c.relname, c.relkind, c.reltuples::float8, c.relpages,
       CASE WHEN c.relkind IN ('r', 'm') THEN pg_relation_size(c.oid) / current_setting('block_size')::int
            ELSE 0 END AS pages,
       d.description,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partkey,
       CASE WHEN c.relispartition THEN (SELECT i.inhparent::regclass::text FROM pg_inherits i
                                        WHERE i.inhrelid = c.oid) END AS parent,
       CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END AS bound,
       CASE WHEN c.relkind = 'p' THEN (
           SELECT coalesce(sum(greatest(lc.reltuples, 0)), 0)::float8 FROM pg_partition_tree(c.oid) t
           JOIN pg_class lc ON lc.oid = t.relid WHERE t.isleaf) END AS leaf_rows,
       CASE WHEN c.relkind = 'p' THEN (
           SELECT coalesce(sum(pg_relation_size(t.relid)), 0) / current_setting('block_size')::int
           FROM pg_partition_tree(c.oid) t WHERE t.isleaf) END AS leaf_pages
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
WHERE c.oid = ANY(%(oids)s::oid[])
"""

# Comments are joined by column NUMBER (objsubid = attnum), never by position in a list.
_COLUMNS_SQL = """
WITH RECURSIVE cols AS (
    SELECT a.attrelid, a.attnum, a.attname, a.atttypid, a.atttypmod, a.attnotnull, a.attidentity, a.attgenerated
    FROM pg_attribute a
    WHERE a.attrelid = ANY(%(oids)s::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
), base(type_oid, cur_oid) AS (
    SELECT DISTINCT atttypid, atttypid FROM cols
    UNION ALL
    SELECT b.type_oid, t.typbasetype FROM base b JOIN pg_type t ON t.oid = b.cur_oid WHERE t.typtype = 'd'
), resolved AS (
    SELECT b.type_oid, t.oid AS base_oid, t.typname, t.typtype, t.typcategory
    FROM base b JOIN pg_type t ON t.oid = b.cur_oid WHERE t.typtype <> 'd'
)
SELECT c.attrelid, c.attnum, c.attname, format_type(c.atttypid, c.atttypmod), c.attnotnull,
       CASE WHEN c.attgenerated = '' THEN pg_get_expr(ad.adbin, ad.adrelid) END AS default_expr,
       c.attidentity, c.attgenerated,
       CASE WHEN c.attgenerated <> '' THEN pg_get_expr(ad.adbin, ad.adrelid) END AS generated_expr,
       d.description, r.typname, r.typtype, r.typcategory,
       CASE WHEN r.typtype = 'e' THEN ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = r.base_oid
                                            ORDER BY e.enumsortorder) END AS enum_labels
FROM cols c
LEFT JOIN resolved r ON r.type_oid = c.atttypid
LEFT JOIN pg_attrdef ad ON ad.adrelid = c.attrelid AND ad.adnum = c.attnum
LEFT JOIN pg_description d ON d.objoid = c.attrelid AND d.classoid = 'pg_class'::regclass AND d.objsubid = c.attnum
ORDER BY c.attrelid, c.attnum
"""

# FKs pointing at a partitioned table get internal clones per referenced partition (conparentid set,
# same conrelid as the parent constraint); those are skipped — the parent constraint says it all.
_CONSTRAINTS_SQL = """
SELECT con.conrelid, con.conname, con.contype, pg_get_constraintdef(con.oid),
       ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.ord) AS columns,
       fn.nspname, fc.relname,
       ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY AS k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num ORDER BY k.ord) AS ref_columns
FROM pg_constraint con
LEFT JOIN pg_class fc ON fc.oid = con.confrelid
LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
WHERE con.conrelid = ANY(%(oids)s::oid[]) AND con.contype IN ('p', 'u', 'c', 'f', 'x')
  AND NOT (con.contype = 'f' AND con.conparentid <> 0 AND EXISTS (
      SELECT 1 FROM pg_constraint pc WHERE pc.oid = con.conparentid AND pc.conrelid = con.conrelid))
ORDER BY con.conrelid, con.contype, con.conname
"""

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


@dataclass
class _Table:
    oid: int
    ref: TableRef
    relkind: str
    reltuples: float
    pages: int
    comment: str | None
    partkey: str | None
    parent: str | None
    bound: str | None
    columns: list[ColumnInfo] = field(default_factory=list)
    attnames: dict[int, str] = field(default_factory=dict)
    info: TableInfo | None = None

    @property
    def analyzed(self) -> bool:
        return self.reltuples >= 0

    @property
    def rows(self) -> float:
        return max(self.reltuples, 0.0)


def _base_type(typname: str | None, typtype: str | None, category: str | None) -> str:
    if typtype == "e":
        return "enum"
    if category == "A":
        return "array"
    if typname in _INTEGER_TYPES:
        return "integer"
    if typname in _FLOAT_TYPES:
        return "float"
    if typname in _NUMERIC_TYPES:
        return "numeric"
    if typname == "date":
        return "date"
    if typname in ("timestamp", "timestamptz"):
        return "timestamp"
    if typname in ("time", "timetz"):
        return "time"
    if typname == "interval":
        return "interval"
    if typname == "bool":
        return "boolean"
    if category == "S":
        return "text"
    if typname in ("json", "jsonb"):
        return "json"
    if typname == "uuid":
        return "uuid"
    if typname == "bytea":
        return "binary"
    return "other"


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
    oid_rows = conn.execute(_OIDS_SQL, {"schemas": [r.schema for r in refs],
                                        "names": [r.name for r in refs]}).fetchall()
    oid_of = {refs[ord_ - 1]: oid for ord_, oid in oid_rows}
    result.missing = [r for r in refs if r not in oid_of]
    oids = list(oid_of.values())
    if not oids:
        return result
    tables: dict[int, _Table] = {}
    for (oid, schema, name, relkind, reltuples, relpages, pages, comment, partkey, parent, bound, leaf_rows,
         leaf_pages) in conn.execute(_TABLES_SQL, {"oids": oids}).fetchall():
        if relkind == "p":
            reltuples = leaf_rows if (reltuples is None or reltuples < 0) and leaf_rows else reltuples
            pages = int(leaf_pages or 0)
        tables[oid] = _Table(oid=oid, ref=TableRef(schema, name), relkind=relkind, reltuples=float(reltuples),
                             pages=int(pages or relpages or 0), comment=comment, partkey=partkey, parent=parent,
                             bound=bound)
    for (relid, attnum, attname, type_text, notnull, default, identity, generated, gen_expr, comment, typname,
         typtype, category, labels) in conn.execute(_COLUMNS_SQL, {"oids": oids}).fetchall():
        table = tables[relid]
        table.attnames[attnum] = attname
        table.columns.append(ColumnInfo(
            name=attname, data_type=type_text, nullable=not notnull, default=default,
            identity={"a": "ALWAYS", "d": "BY DEFAULT"}.get(identity or ""),
            generated=gen_expr if generated == "s" else None, comment=comment,
            enum_values=list(labels) if labels is not None else None,
            base_type=_base_type(typname, typtype, category),
        ))
    for table in tables.values():
        table.info = TableInfo(
            schema_name=table.ref.schema, name=table.ref.name, kind=_KINDS[table.relkind], comment=table.comment,
            columns=table.columns, partition_key=table.partkey, partition_of=table.parent,
            partition_bound=table.bound)
    for (relid, name, contype, definition, columns, ref_schema, ref_table,
         ref_columns) in conn.execute(_CONSTRAINTS_SQL, {"oids": oids}).fetchall():
        info = tables[relid].info
        assert info is not None
        if contype == "p":
            info.primary_key = list(columns)
            info.primary_key_name = name
            for column in info.columns:  # assigning a pydantic field costs microseconds: only the key columns
                if column.name in info.primary_key:
                    column.is_primary_key = True
        elif contype in ("u", "x"):
            info.unique_constraints.append({"name": name, "definition": definition, "columns": list(columns),
                                            "type": "unique" if contype == "u" else "exclude"})
        elif contype == "c":
            info.check_constraints.append({"name": name, "definition": definition})
        else:
            info.foreign_keys.append(ForeignKey(name=name, columns=list(columns), ref_schema=ref_schema,
                                                ref_table=ref_table, ref_columns=list(ref_columns),
                                                definition=definition))
    _detect_enum_like(conn, tables, result)
    _sample(conn, tables, sample_rows, result)
    for table in tables.values():
        assert table.info is not None
        table.info.row_estimate = stable_estimate(table.rows) if table.analyzed else table.info.row_estimate
        result.tables[table.ref] = table.info
    return result


def stable_estimate(rows: float) -> int:
    """Exact below 10,000 rows (ANALYZE reads such tables whole); two significant digits above, so the
    re-sampling of a later ANALYZE or autovacuum does not change the files of an unchanged table."""
    count = round(rows)
    if count < 10_000:
        return count
    return round(count, 2 - len(str(count)))


# -- enum-like columns -----------------------------------------------------------------------------

def _candidates(table: _Table) -> list[ColumnInfo]:
    """Text columns that might hold a small set of values (not enum types, not single-column keys)."""
    assert table.info is not None
    single_keys = {tuple(table.info.primary_key)} | {tuple(u["columns"]) for u in table.info.unique_constraints}
    return [c for c in table.info.columns if c.base_type == "text" and (c.name,) not in single_keys]


def _detect_enum_like(conn: psycopg.Connection, tables: dict[int, _Table], result: Introspection) -> None:
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
        _scan_distinct(conn, [(tables[oid], cols) for oid, cols in to_scan.items()], result)


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


def _scan_distinct(conn: psycopg.Connection, work: list[tuple[_Table, list[ColumnInfo]]],
                   result: Introspection) -> None:
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
            result.warnings.append(f"{table.ref.qualified}: could not scan for enum-like values: {outcome}")
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

def _sample_query(table: _Table, limit: int, q: _Quoter) -> str:
    """Up to ``limit`` rows, ordered by primary key (else physical position) so reruns are byte-identical.

    Large tables are sampled with TABLESAMPLE SYSTEM over about ``2 * limit`` pages, one row per page,
    so the rows come from all over the table instead of its first page.
    """
    assert table.info is not None
    cols = ", ".join(f"left({q(c.name)}::text, {SAMPLE_VALUE_CHARS})" for c in table.info.columns) or "NULL"
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


def _sample(conn: psycopg.Connection, tables: dict[int, _Table], limit: int, result: Introspection) -> None:
    work = list(tables.values())
    q = _Quoter(conn)
    outcomes = _run_pipelined(conn, [_sample_query(t, limit, q) for t in work])
    for table, outcome in zip(work, outcomes, strict=True):
        info = table.info
        assert info is not None
        if isinstance(outcome, str):
            result.warnings.append(f"{table.ref.qualified}: no sample rows ({outcome})")
            continue
        names = [c.name for c in info.columns]
        info.sample_rows = [dict(zip(names, row, strict=True)) for row in outcome] if names else []
        for position, column in enumerate(info.columns):
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


# -- sidecars: the structure later steps read ----------------------------------------------------------

def sidecar_path(task_dir: Path, ref: TableRef) -> Path:
    return task_dir / STATE_DIR / SCHEMA_STATE / f"{ref.file_stem}.json"


def read_sidecar(task_dir: Path, ref: TableRef) -> TableInfo | None:
    try:
        info = TableInfo.model_validate_json(sidecar_path(task_dir, ref).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if info.ref == ref else None


def load_table_infos(ctx: StepContext, tables: Iterable[TableRef]) -> list[TableInfo]:
    """The ``TableInfo`` of each table, from step 1's sidecars; the database only for tables without one.

    Introspected fallbacks carry the database comments only (no generated ones): step 1 writes those.
    """
    refs = list(tables)
    found: dict[TableRef, TableInfo] = {}
    for ref in refs:
        info = read_sidecar(ctx.task_dir, ref)
        if info is not None:
            found[ref] = info
    missing = [r for r in refs if r not in found]
    if missing:
        ctx.log.info(f"{len(missing)} table(s) have no stored structure from ddl_generation; "
                     "reading them from the business database")
        with ctx.business_db.connect(autocommit=False) as conn:
            intro = introspect_tables(conn, missing)
        if intro.missing:
            raise NotFound("tables not found in the business database: "
                           + ", ".join(r.qualified for r in intro.missing), unknown_tables=[
                               r.qualified for r in intro.missing])
        found.update(intro.tables)
    return [found[r] for r in refs]

