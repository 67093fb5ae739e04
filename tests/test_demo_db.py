"""The demo business database, built for real on the embedded PostgreSQL server."""

from __future__ import annotations

from urllib.parse import quote

import psycopg
import pytest

from data_pipeline.schema.demo_data import generate_rows
from data_pipeline.schema.demo_db import DEMO_DATABASE, DEMO_TABLES, DemoDatabaseError, build_demo_database

COMMENTED = {"bss_company", "bss_service_area", "bss_branch", "bss_business_day_data", "bss_car_day_count"}
UNCOMMENTED = set(DEMO_TABLES) - COMMENTED
FOREIGN_KEYS = {  # (child table, column, parent table)
    ("bss_service_area", "company_id", "bss_company"),
    ("bss_section_route_area_link", "section_route_id", "bss_section_route"),
    ("bss_section_route_area_link", "service_area_id", "bss_service_area"),
    ("bss_branch", "service_area_id", "bss_service_area"),
    ("bss_car_day_count", "service_area_id", "bss_service_area"),
    ("bss_charging_day_data", "service_area_id", "bss_service_area"),
}
ENUM_LIKE = {
    ("bss_service_area", "service_area_type"),
    ("bss_service_area", "service_state"),
    ("bss_branch", "classify"),
    ("bss_car_day_count", "car_type"),
    ("bss_business_day_data", "source_type"),
    ("bss_charging_day_data", "operator_name"),
}


def scalar(conn: psycopg.Connection, query: str, params: tuple = ()) -> object:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def fingerprints(uri: str) -> dict[str, tuple[int, str]]:
    """Row count and md5 of every demo table's rows (ids included) in a fixed order."""
    with psycopg.connect(uri) as conn:
        return {
            table: conn.execute(
                f'SELECT count(*), md5(string_agg(t::text, E\'\\n\' ORDER BY t::text COLLATE "C")) '
                f"FROM {table} AS t"
            ).fetchone()
            for table in DEMO_TABLES
        }


def test_constants_describe_the_demo() -> None:
    assert DEMO_DATABASE == "highway_demo"
    assert len(DEMO_TABLES) == 8 and len(set(DEMO_TABLES)) == 8
    with pytest.raises(ValueError, match="days"):
        generate_rows(days=0)
    small = generate_rows(seed=1, days=7)
    assert small == generate_rows(seed=1, days=7)
    assert small != generate_rows(seed=2, days=7)


def test_build_creates_realistic_related_tables(fresh_db_uri: str) -> None:
    summary = build_demo_database(fresh_db_uri)

    with psycopg.connect(fresh_db_uri) as conn:
        assert summary.database == conn.info.dbname
        assert tuple(summary.tables) == DEMO_TABLES
        for table, rows in summary.tables.items():
            assert scalar(conn, f"SELECT count(*) FROM {table}") == rows, table
            estimate = scalar(conn, "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (table,))
            assert abs(float(estimate) - rows) <= 0.05 * rows, (table, estimate)  # ANALYZE ran
        assert summary.tables["bss_business_day_data"] >= 10_000
        assert summary.tables["bss_car_day_count"] >= 10_000
        assert 50_000 <= summary.total_rows == sum(summary.tables.values())

        # Primary keys everywhere, and the foreign keys are real constraints without orphans.
        for table in DEMO_TABLES:
            assert scalar(conn, "SELECT count(*) FROM pg_constraint WHERE contype = 'p' "
                                "AND conrelid = %s::regclass", (table,)) == 1, table
        declared = {
            tuple(row) for row in conn.execute(
                "SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text "
                "FROM pg_constraint c JOIN pg_attribute a "
                "ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
                "WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace"
            )
        }
        assert declared == FOREIGN_KEYS
        for child, column, parent in FOREIGN_KEYS:
            orphans = scalar(conn, f"SELECT count(*) FROM {child} c LEFT JOIN {parent} p "
                                   f"ON p.id = c.{column} WHERE p.id IS NULL")
            assert orphans == 0, (child, column)
        # The denormalised codes in the revenue table still match their master tables.
        assert scalar(conn, "SELECT count(*) FROM bss_business_day_data d WHERE NOT EXISTS "
                            "(SELECT 1 FROM bss_branch b WHERE b.branch_no = d.branch_no "
                            "AND b.branch_name = d.branch_name)") == 0
        assert scalar(conn, "SELECT count(*) FROM bss_business_day_data d WHERE NOT EXISTS "
                            "(SELECT 1 FROM bss_service_area s WHERE s.service_area_no = d.service_no "
                            "AND s.service_area_name = d.service_name)") == 0

        # Chinese comments on some tables, none at all on the others.
        for table in DEMO_TABLES:
            table_comment = scalar(conn, "SELECT obj_description(%s::regclass, 'pg_class')", (table,))
            column_comments = scalar(
                conn, "SELECT count(col_description(attrelid, attnum)) FROM pg_attribute "
                      "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped", (table,))
            if table in COMMENTED:
                assert table_comment and any("\u4e00" <= ch <= "\u9fff" for ch in str(table_comment))
                assert column_comments > 0, table
            else:
                assert table_comment is None and column_comments == 0, table
        uncommented_branch_columns = scalar(
            conn, "SELECT count(*) FROM pg_attribute WHERE attrelid = 'bss_branch'::regclass "
                  "AND attnum > 0 AND col_description(attrelid, attnum) IS NULL")
        assert uncommented_branch_columns > 0  # only some columns of bss_branch are commented

        for table, column in ENUM_LIKE:
            distinct = scalar(conn, f"SELECT count(DISTINCT {column}) FROM {table}")
            assert 2 <= distinct <= 20, (table, column, distinct)

        # Soft delete: a few rows flagged, with a delete time exactly when flagged.
        for table in ("bss_service_area", "bss_branch"):
            deleted, total, inconsistent = conn.execute(
                f"SELECT count(*) FILTER (WHERE deleted), count(*), "
                f"count(*) FILTER (WHERE deleted <> (delete_ts IS NOT NULL)) FROM {table}").fetchone()
            assert 0 < deleted < total / 5 and inconsistent == 0, table

        # Some NULLs, totals that add up, and the column types the DDL renderer must handle.
        assert scalar(conn, "SELECT count(*) FROM bss_branch WHERE product_brand IS NULL") > 0
        assert scalar(conn, "SELECT count(*) FROM bss_business_day_data WHERE jd IS NULL") > 0
        assert scalar(conn, "SELECT count(*) FROM bss_business_day_data WHERE pay_sum <> "
                            "coalesce(wx, 0) + coalesce(zfb, 0) + coalesce(rmb, 0) + coalesce(xs, 0) "
                            "+ coalesce(jd, 0) OR order_sum <> coalesce(wx_order, 0) + coalesce(zf_order, 0)"
                            " + coalesce(rmb_order, 0) + coalesce(xs_order, 0) + coalesce(jd_order, 0)") == 0
        types = {row[0] for row in conn.execute(
            "SELECT DISTINCT data_type FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name LIKE 'bss\\_%'")}
        assert {"numeric", "character varying", "date", "timestamp without time zone", "smallint",
                "boolean", "text", "integer", "bigint"} <= types

        # Plausible shape: weekends busier than midweek, revenue follows traffic.
        weekend, midweek = conn.execute(
            "SELECT avg(customer_count) FILTER (WHERE extract(isodow FROM count_date) IN (6, 7)), "
            "avg(customer_count) FILTER (WHERE extract(isodow FROM count_date) IN (2, 3)) "
            "FROM bss_car_day_count").fetchone()
        assert float(weekend) > float(midweek) * 1.2
        correlation = scalar(conn, """
            SELECT corr(c.cars, r.revenue) FROM
              (SELECT service_area_id, count_date, sum(customer_count) AS cars
               FROM bss_car_day_count GROUP BY 1, 2) c
              JOIN bss_service_area s ON s.id = c.service_area_id
              JOIN (SELECT service_no, oper_date, sum(pay_sum) AS revenue
                    FROM bss_business_day_data GROUP BY 1, 2) r
              ON r.service_no = s.service_area_no AND r.oper_date = c.count_date""")
        assert float(correlation) > 0.3


def test_rebuild_is_idempotent_and_byte_identical(fresh_db_uri: str) -> None:
    first = build_demo_database(fresh_db_uri)
    before = fingerprints(fresh_db_uri)
    with psycopg.connect(fresh_db_uri, autocommit=True) as conn:
        conn.execute("DELETE FROM bss_car_day_count WHERE id % 2 = 0")  # damage it; a rebuild repairs
    second = build_demo_database(fresh_db_uri)
    assert fingerprints(fresh_db_uri) == before
    assert (second.tables, second.total_rows) == (first.tables, first.total_rows)


def test_failed_build_raises_clearly_and_keeps_previous_tables(fresh_db_uri: str) -> None:
    build_demo_database(fresh_db_uri)
    before = fingerprints(fresh_db_uri)

    # 1. Fails on the first statement: the session is read-only.
    separator = "&" if "?" in fresh_db_uri else "?"
    read_only = fresh_db_uri + separator + "options=" + quote("-c default_transaction_read_only=on")
    with pytest.raises(DemoDatabaseError, match=r"dropping the old demo tables.*read-only.*rolled back"):
        build_demo_database(read_only, seed=7, days=30)
    assert fingerprints(fresh_db_uri) == before

    # 2. Fails midway: all tables were dropped and the first six recreated and refilled with
    # different data (another seed) when PostgreSQL refuses to create the seventh.
    with psycopg.connect(fresh_db_uri, autocommit=True) as conn:
        conn.execute("""
            CREATE FUNCTION refuse_car_counts() RETURNS event_trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands()
                         WHERE object_identity = 'public.bss_car_day_count') THEN
                RAISE EXCEPTION 'car counts are frozen';
              END IF;
            END $$""")
        conn.execute("CREATE EVENT TRIGGER refuse_car_counts ON ddl_command_end "
                     "WHEN TAG IN ('CREATE TABLE') EXECUTE FUNCTION refuse_car_counts()")
    with pytest.raises(DemoDatabaseError, match=r"creating bss_car_day_count.*car counts are frozen"):
        build_demo_database(fresh_db_uri, seed=7, days=30)
    assert fingerprints(fresh_db_uri) == before
