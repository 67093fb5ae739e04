"""The offline generator: comments from names, themes from the schema, and SQL that is valid on the real DB."""

from __future__ import annotations

import re
from collections.abc import Iterator

import psycopg
import pytest

from data_pipeline.files.table_list import TableRef
from data_pipeline.generation.llm import clean_sql
from data_pipeline.generation.naming import has_cjk
from data_pipeline.generation.offline import OfflineGenerator
from data_pipeline.schema.demo_db import DEMO_TABLES, build_demo_database
from data_pipeline.schema.introspect import introspect_tables
from data_pipeline.schema.model import ColumnInfo, ForeignKey, QAPair, TableInfo
from platform_db import embedded
from tests.conftest import database_name, new_database


@pytest.fixture(scope="module")
def demo_uri() -> Iterator[str]:
    uri = new_database("dp_offline_demo")
    build_demo_database(uri, days=60)
    yield uri
    embedded.drop_database(database_name(uri))


def introspect(uri: str, refs: list[TableRef]) -> list[TableInfo]:
    with psycopg.connect(uri) as conn:
        found = introspect_tables(conn, refs)
    return [found.tables[r] for r in refs]


@pytest.fixture(scope="module")
def demo_tables(demo_uri: str) -> list[TableInfo]:
    return introspect(demo_uri, [TableRef("public", t) for t in DEMO_TABLES])


def all_pairs(tables: list[TableInfo], context: str = "", themes: int = 5, per_theme: int = 10) -> list[QAPair]:
    generator = OfflineGenerator()
    found = generator.extract_themes([], tables, context, themes)
    return [p for t in found for p in generator.generate_pairs(t, [], tables, context, per_theme)]


def explain_all(uri: str, pairs: list[QAPair]) -> list[str]:
    """EXPLAIN each SQL in a read-only transaction; return the failures."""
    failures = []
    with psycopg.connect(uri) as conn:
        conn.read_only = True
        for pair in pairs:
            try:
                with conn.transaction():
                    conn.execute("EXPLAIN " + pair.sql)
            except psycopg.Error as exc:
                failures.append(f"{pair.sql}: {exc}")
    return failures


def test_demo_pairs_are_valid_sql_in_chinese(demo_uri: str, demo_tables: list[TableInfo]) -> None:
    pairs = all_pairs(demo_tables)
    assert len(pairs) >= 30
    assert explain_all(demo_uri, pairs) == []
    for pair in pairs:
        assert has_cjk(pair.question) and pair.question.endswith("？")
        assert pair.sql.endswith(";") and clean_sql(pair.sql) == pair.sql  # exactly one statement
    statements = "\n".join(p.sql for p in pairs)
    for feature in ("GROUP BY", "date_trunc('month'", "LIMIT 10", " JOIN ", "NOT p.deleted", "SUM(", "AVG("):
        assert feature in statements, feature
    questions = [p.question for p in pairs]
    assert any(re.search(r"各服务区2024年的支付总金额合计是多少", q) for q in questions)
    assert len(set(questions)) == len(questions)


def test_output_is_deterministic(demo_tables: list[TableInfo]) -> None:
    first = all_pairs(demo_tables)
    again = all_pairs([TableInfo.model_validate_json(t.model_dump_json()) for t in demo_tables])
    assert [p.model_dump() for p in first] == [p.model_dump() for p in again]


def test_themes_cover_fact_tables_and_foreign_key_groups(demo_tables: list[TableInfo]) -> None:
    themes = OfflineGenerator().extract_themes([], demo_tables, "", 10)
    names = set(DEMO_TABLES)
    assert all(set(t.related_tables) <= names for t in themes)
    covered = {name for t in themes for name in t.related_tables}
    assert covered == names
    first_tables = [t.related_tables[0] for t in themes]
    assert {"bss_business_day_data", "bss_car_day_count", "bss_charging_day_data"} <= set(first_tables)
    business = next(t for t in themes if t.related_tables[0] == "bss_business_day_data")
    assert "支付总金额" in business.metrics
    assert len(OfflineGenerator().extract_themes([], demo_tables, "", 2)) == 2


_AWKWARD_SCHEMA = """
CREATE SCHEMA sales;
CREATE TABLE sales."Customer" ("Id" serial PRIMARY KEY, "Full Name" text NOT NULL, "user" text,
    region text, deleted_at timestamptz);
CREATE TABLE sales.order_items (id bigserial PRIMARY KEY, customer_id integer REFERENCES sales."Customer"("Id"),
    "order" integer NOT NULL, "desc" text, status text NOT NULL, "unit price" numeric(10,2), quantity integer,
    amount double precision, order_date date NOT NULL, is_deleted boolean);
INSERT INTO sales."Customer" ("Full Name", "user", region)
    SELECT 'Customer ' || g, 'u' || g, (ARRAY['north','south','east'])[1 + g % 3] FROM generate_series(1, 30) g;
INSERT INTO sales.order_items (customer_id, "order", "desc", status, "unit price", quantity, amount, order_date,
    is_deleted)
    SELECT 1 + g % 30, g, 'it''s item ' || g, (ARRAY['new','paid','shipped','it''s odd'])[1 + g % 4], g % 50,
           g % 7, (g % 50) * (g % 7), DATE '2023-01-01' + g % 500, g % 10 = 0
    FROM generate_series(1, 600) g;
ANALYZE sales."Customer";
ANALYZE sales.order_items;
"""


def test_english_schema_with_awkward_identifiers(fresh_db_uri: str) -> None:
    with psycopg.connect(fresh_db_uri, autocommit=True) as conn:
        conn.execute(_AWKWARD_SCHEMA)
    tables = introspect(fresh_db_uri, [TableRef("sales", "Customer"), TableRef("sales", "order_items")])
    pairs = all_pairs(tables)
    assert pairs
    assert explain_all(fresh_db_uri, pairs) == []
    assert not any(has_cjk(p.question) for p in pairs)
    statements = "\n".join(p.sql for p in pairs)
    for quoted in ('JOIN sales."Customer" AS p', 'p."Full Name"', 'SUM("order")', "status = 'it''s odd'",
                   "FROM sales.order_items", "is_deleted IS NOT TRUE", "deleted_at IS NULL", "AS customer"):
        assert quoted in statements, quoted


def _table(comment: str | None = None) -> TableInfo:
    return TableInfo(
        schema_name="public", name="t_car_day_count", comment=comment,
        columns=[ColumnInfo(name="id", data_type="bigint", base_type="integer", is_primary_key=True),
                 ColumnInfo(name="count_date", data_type="date", base_type="date"),
                 ColumnInfo(name="serviceAreaId", data_type="integer", base_type="integer"),
                 ColumnInfo(name="pay_sum", data_type="numeric", base_type="numeric"),
                 ColumnInfo(name="is_deleted", data_type="boolean", base_type="boolean"),
                 ColumnInfo(name="delete_ts", data_type="timestamp", base_type="timestamp"),
                 ColumnInfo(name="car_type", data_type="text", base_type="text", enum_values=["A", "B"]),
                 ColumnInfo(name="xyzzy", data_type="text", base_type="text")],
        primary_key=["id"],
        foreign_keys=[ForeignKey(name="fk", columns=["serviceAreaId"], ref_schema="public", ref_table="area",
                                 ref_columns=["id"], definition="")])


def test_describe_table_chinese_with_chinese_context() -> None:
    comments = OfflineGenerator().describe_table(_table(), "高速公路服务区经营数据")
    assert comments.table_comment == "车辆日数量表"
    assert comments.column_comments == {
        "id": "主键", "count_date": "统计日期", "serviceAreaId": "服务区编号（关联 area.id）", "pay_sum": "支付合计",
        "is_deleted": "是否已删除", "delete_ts": "删除时间", "car_type": "车辆类型：A/B", "xyzzy": "xyzzy"}


def test_describe_table_english_without_chinese() -> None:
    comments = OfflineGenerator().describe_table(_table(), "")
    assert comments.table_comment == "Car day count"
    assert comments.column_comments["serviceAreaId"] == "Service area ID (references area.id)"
    assert comments.column_comments["delete_ts"] == "Deletion time"
    assert comments.column_comments["is_deleted"] == "Is deleted"
    assert OfflineGenerator().describe_table(_table(), "") == comments


def test_describe_table_chinese_when_other_comments_are() -> None:
    table = _table()
    table.columns[1].comment = "统计日期"
    assert OfflineGenerator().describe_table(table, "").table_comment == "车辆日数量表"


def test_repair_is_not_offered_offline() -> None:
    class Item:
        sql = "SELEC 1"
        error = "syntax error"
        question = "q"

    assert OfflineGenerator().repair_sql([Item(), Item()], []) == [None, None]
