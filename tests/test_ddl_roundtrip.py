"""Correctness of ddl_generation: the generated ``.ddl`` files recreate the tables they describe.

A source database gets the hard cases of ``tests/sql/hard_schema.sql`` (quoted mixed-case and
Chinese names, reserved words, several schemas, enums, domains, arrays, identity and generated
columns, serial sequences, composite keys, checks, a partitioned table and a partition, a dropped
column, nasty comments) plus the demo tables. Step 1 runs over all of them. An empty target database
gets only the shared types (``tests/sql/hard_types.sql``: schemas, enums, domains — the DDL files do
not create those), then every generated file is applied with ``psql -v ON_ERROR_STOP=1``: the part
above the deferred marker of every file first (in shuffled order), then every deferred part (foreign
keys, partition attachment). The two catalogs must then agree table by table.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest

from data_pipeline.files.table_list import TableRef
from data_pipeline.schema import demo_db
from data_pipeline.schema.ddl_render import DEFERRED_MARKER, split_deferred
from data_pipeline.schema.sidecars import read_sidecar
from data_pipeline.steps.context import StepContext
from data_pipeline.tasks.log import TaskLogger
from data_pipeline.tasks.parameters import TaskParameters
from data_pipeline.workflow.pipeline import execute_step
from platform_db import embedded

SQL_DIR = Path(__file__).parent / "sql"
HARD_TABLES = [
    TableRef("public", "order"), TableRef("public", "user"), TableRef("Sales Dept", "Order Items"),
    TableRef("库存", "商品"), TableRef("库存", "库存明细"), TableRef("库存", "出库"),
    TableRef("audit", "events"), TableRef("audit", "events_2024"), TableRef("public", "weird.name with space"),
]
ALL_TABLES = HARD_TABLES + [TableRef("public", t) for t in demo_db.DEMO_TABLES]

# Everything compared, per table. Constraint clones PostgreSQL makes for FKs that reference a
# partitioned table are internal and skipped (conparentid on the same table).
_TABLE_SQL = """
SELECT c.relkind, obj_description(c.oid, 'pg_class'),
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,
       (SELECT i.inhparent::regclass::text FROM pg_inherits i WHERE i.inhrelid = c.oid),
       pg_get_expr(c.relpartbound, c.oid)
FROM pg_class c WHERE c.oid = %(oid)s
"""
_COLUMNS_SQL = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid),
       a.attidentity, a.attgenerated, col_description(a.attrelid, a.attnum)
FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = %(oid)s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
"""
_CONSTRAINTS_SQL = """
SELECT con.conname, con.contype, pg_get_constraintdef(con.oid)
FROM pg_constraint con
WHERE con.conrelid = %(oid)s AND NOT (con.conparentid <> 0 AND EXISTS (
    SELECT 1 FROM pg_constraint p WHERE p.oid = con.conparentid AND p.conrelid = con.conrelid))
ORDER BY con.conname, con.contype
"""
_PK_SQL = """
SELECT array_agg(a.attname::text ORDER BY k.ord) FROM pg_constraint con
CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(num, ord)
JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num
WHERE con.conrelid = %(oid)s AND con.contype = 'p'
"""


def snapshot(uri: str, tables: list[TableRef]) -> dict[str, dict[str, Any]]:
    """What a reader of the catalog sees of each table (types printed relative to search_path public)."""
    out: dict[str, dict[str, Any]] = {}
    with psycopg.connect(uri) as conn:
        conn.execute("SET search_path = public")
        for ref in tables:
            row = conn.execute("SELECT to_regclass(%s)::oid", (f'"{ref.schema}"."{ref.name}"',)).fetchone()
            if row is None or row[0] is None:
                out[ref.qualified] = {"missing": True}
                continue
            args = {"oid": row[0]}
            kind, comment, partkey, parent, bound = conn.execute(_TABLE_SQL, args).fetchone()
            out[ref.qualified] = {
                "kind": kind, "comment": comment, "partition_key": partkey, "parent": parent, "bound": bound,
                "columns": [dict(zip(("name", "type", "not_null", "default", "identity", "generated", "comment"),
                                     r, strict=True)) for r in conn.execute(_COLUMNS_SQL, args).fetchall()],
                "constraints": conn.execute(_CONSTRAINTS_SQL, args).fetchall(),
                "primary_key": conn.execute(_PK_SQL, args).fetchone()[0],
            }
    return out


def differences(expected: dict[str, dict[str, Any]], actual: dict[str, dict[str, Any]]) -> list[str]:
    diffs = []
    for table, want in expected.items():
        got = actual.get(table, {"missing": True})
        for key in sorted(set(want) | set(got)):
            if key == "columns" and "columns" in got:
                want_cols, got_cols = want["columns"], got["columns"]
                if [c["name"] for c in want_cols] != [c["name"] for c in got_cols]:
                    diffs.append(f"{table}: column names/order {[c['name'] for c in want_cols]} "
                                 f"!= {[c['name'] for c in got_cols]}")
                    continue
                for w, g in zip(want_cols, got_cols, strict=True):
                    for field, value in w.items():
                        if g[field] != value:
                            diffs.append(f"{table}.{w['name']}: {field} {value!r} != {g[field]!r}")
            elif want.get(key) != got.get(key):
                diffs.append(f"{table}: {key} {want.get(key)!r} != {got.get(key)!r}")
    return diffs


def psql(uri: str, script: str) -> None:
    proc = subprocess.run([str(embedded.bin_dir() / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", uri],
                          input=script, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"psql failed: {proc.stderr}\n--- script ---\n{script}"


def new_db(prefix: str) -> str:
    import os
    import secrets

    return embedded.ensure_database(f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}", extensions=())


@pytest.fixture(scope="module")
def roundtrip(tmp_path_factory: pytest.TempPathFactory) -> Any:
    source = new_db("dp_rt_src")
    target = new_db("dp_rt_dst")
    try:
        demo_db.build_demo_database(source, days=30)
        psql(source, (SQL_DIR / "hard_types.sql").read_text(encoding="utf-8"))
        psql(source, (SQL_DIR / "hard_schema.sql").read_text(encoding="utf-8"))
        task_dir = tmp_path_factory.mktemp("roundtrip_task")
        (task_dir / "table_list.txt").write_text("\n".join(r.qualified for r in ALL_TABLES) + "\n", encoding="utf-8")
        ctx = StepContext(task_dir=task_dir, params=TaskParameters(db_connection=source, batch_size=5),
                          log=TaskLogger(task_dir=task_dir, task_id=None, store=None))
        result = execute_step(ctx, "ddl_generation")
        assert result.items_completed == len(ALL_TABLES)

        psql(target, (SQL_DIR / "hard_types.sql").read_text(encoding="utf-8"))
        files = sorted(task_dir.glob("*.ddl"))
        assert len(files) == len(ALL_TABLES)
        random.Random(7).shuffle(files)
        parts = [split_deferred(f.read_text(encoding="utf-8")) for f in files]
        for (immediate, _), path in zip(parts, files, strict=True):
            assert immediate.strip(), path.name
            psql(target, immediate)
        for _, deferred in parts:
            if deferred.strip():
                psql(target, deferred)
        yield source, target, task_dir
    finally:
        embedded.drop_database(psycopg.conninfo.conninfo_to_dict(source)["dbname"])
        embedded.drop_database(psycopg.conninfo.conninfo_to_dict(target)["dbname"])


def expected_catalog(source: str, task_dir: Path) -> dict[str, dict[str, Any]]:
    """The source catalog, with the comments step 1 generated where the database had none."""
    expected = snapshot(source, ALL_TABLES)
    for ref in ALL_TABLES:
        info = read_sidecar(task_dir, ref)
        assert info is not None, ref
        table = expected[ref.qualified]
        if table["comment"] is None:
            assert info.comment_generated and info.comment
            table["comment"] = info.comment
        else:
            assert table["comment"] == info.comment and not info.comment_generated
        for column in table["columns"]:
            col = info.column(column["name"])
            assert col is not None
            if column["comment"] is None:
                assert col.comment_generated, f"{ref.qualified}.{column['name']} has no comment at all"
                column["comment"] = col.comment
            else:
                assert column["comment"] == col.comment and not col.comment_generated
    return expected


def test_generated_ddl_recreates_every_table(roundtrip: Any) -> None:
    source, target, task_dir = roundtrip
    diffs = differences(expected_catalog(source, task_dir), snapshot(target, ALL_TABLES))
    assert diffs == [], "\n".join(diffs)


def test_comparison_notices_a_difference(roundtrip: Any) -> None:
    """The check above is only worth something if it fails on a real difference."""
    source, target, task_dir = roundtrip
    expected = expected_catalog(source, task_dir)
    actual = snapshot(target, ALL_TABLES)
    actual['"Sales Dept"."Order Items"']["columns"][1]["type"] = "integer"
    actual["public.bss_company"]["primary_key"] = ["company_no"]
    actual['"库存"."商品"']["columns"][1]["not_null"] = False
    del actual["audit.events_2024"]["columns"][0]
    diffs = differences(expected, actual)
    assert len(diffs) == 4, diffs


def test_ddl_files_keep_comments_out_of_the_column_list(roundtrip: Any) -> None:
    _, _, task_dir = roundtrip
    order = (task_dir / "order.ddl").read_text(encoding="utf-8")
    create = order[order.index("CREATE TABLE"):order.index(");") + 2]
    assert "--" not in create.replace('"qty must be positive"', "")
    assert "COMMENT ON TABLE \"order\" IS 'Customer orders, incl. \"quotes\" -- not a comment; it''s tricky\n" \
           "second line, with a comma';" in order
    assert order.count(DEFERRED_MARKER) == 0  # no foreign keys, no partition: nothing deferred
    partition = (task_dir / "audit__events_2024.ddl").read_text(encoding="utf-8")
    assert "ALTER TABLE audit.events ATTACH PARTITION audit.events_2024 FOR VALUES FROM" in partition
    items = (task_dir / "Sales Dept__Order Items.ddl").read_text(encoding="utf-8")
    assert items.index("CREATE SEQUENCE IF NOT EXISTS") < items.index("CREATE TABLE")
