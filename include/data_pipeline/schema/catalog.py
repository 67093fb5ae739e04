"""The catalog half of introspection: columns, types, keys, constraints, comments and partitions of many
tables, read with one query per kind of fact over all their oids (never one query per table)."""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from data_pipeline.files.table_list import TableRef
from data_pipeline.schema.model import ColumnInfo, ForeignKey, TableInfo

_KINDS = {"r": "table", "p": "partitioned table", "v": "view", "m": "materialized view", "f": "foreign table"}
_INTEGER_TYPES = {"int2", "int4", "int8"}
_FLOAT_TYPES = {"float4", "float8"}
_NUMERIC_TYPES = {"numeric", "money"}

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


@dataclass
class CatalogTable:
    """One table as the catalog queries see it, until its ``TableInfo`` is complete."""

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


def read_catalog(conn: psycopg.Connection, refs: list[TableRef]) -> tuple[dict[int, CatalogTable], list[TableRef]]:
    """The tables of ``refs`` by oid with their ``TableInfo`` filled from the catalog, and the refs that no
    longer exist (dropped between planning and introspection)."""
    oid_rows = conn.execute(_OIDS_SQL, {"schemas": [r.schema for r in refs],
                                        "names": [r.name for r in refs]}).fetchall()
    oid_of = {refs[ord_ - 1]: oid for ord_, oid in oid_rows}
    missing = [r for r in refs if r not in oid_of]
    oids = list(oid_of.values())
    if not oids:
        return {}, missing
    tables: dict[int, CatalogTable] = {}
    for (oid, schema, name, relkind, reltuples, relpages, pages, comment, partkey, parent, bound, leaf_rows,
         leaf_pages) in conn.execute(_TABLES_SQL, {"oids": oids}).fetchall():
        if relkind == "p":
            reltuples = leaf_rows if (reltuples is None or reltuples < 0) and leaf_rows else reltuples
            pages = int(leaf_pages or 0)
        tables[oid] = CatalogTable(oid=oid, ref=TableRef(schema, name), relkind=relkind, reltuples=float(reltuples),
                                   pages=int(pages or relpages or 0), comment=comment, partkey=partkey,
                                   parent=parent, bound=bound)
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
    return tables, missing


def stable_estimate(rows: float) -> int:
    """Exact below 10,000 rows (ANALYZE reads such tables whole); two significant digits above, so the
    re-sampling of a later ANALYZE or autovacuum does not change the files of an unchanged table."""
    count = round(rows)
    if count < 10_000:
        return count
    return round(count, 2 - len(str(count)))
