"""Table list parsing: formats users write, and clear errors for what they should not."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_pipeline.errors import InvalidInput
from data_pipeline.files.table_list import TableRef, parse_table_list, read_table_list


def test_lines_commas_schemas_comments_duplicates() -> None:
    parsed = parse_table_list(
        "# comment\n-- another\n\nbss_company, bss_service_area\nsales.orders\nBSS_COMPANY\n"
        '"MixedCase"."Order Items"\n服务区\n'
    )
    assert parsed.tables == [
        TableRef("public", "bss_company"), TableRef("public", "bss_service_area"), TableRef("sales", "orders"),
        TableRef("MixedCase", "Order Items"), TableRef("public", "服务区"),
    ]
    assert len(parsed.warnings) == 1 and "line 6" in parsed.warnings[0] and "duplicate" in parsed.warnings[0]


def test_file_stems_and_display() -> None:
    assert TableRef("public", "orders").file_stem == "orders"
    assert TableRef("sales", "orders").file_stem == "sales__orders"
    assert TableRef("MixedCase", "Order Items").qualified == '"MixedCase"."Order Items"'
    odd = TableRef("public", "a/b")
    assert "/" not in odd.file_stem and odd.file_stem != TableRef("public", "a_b").file_stem


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("# only comments\n\n", "empty"),
        ("a.b.c", "3 parts"),
        ("orders;drop table x", "unexpected"),
        ('"unterminated', "unterminated"),
        ("1abc", "not a table name"),
        ("a\x00b", "binary"),
    ],
)
def test_bad_lists_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_table_list(text)


def test_limit_on_table_count() -> None:
    text = "\n".join(f"t{i}" for i in range(10_000))
    with pytest.raises(InvalidInput, match="more than 1000 tables"):
        parse_table_list(text)


def test_binary_and_non_utf8_files(tmp_path: Path) -> None:
    binary = tmp_path / "b.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(InvalidInput, match="binary"):
        read_table_list(binary)
    latin = tmp_path / "l.txt"
    latin.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(InvalidInput, match="not UTF-8"):
        read_table_list(latin)
    big = tmp_path / "big.txt"
    big.write_bytes(b"a\n" * (1024 * 1024 + 1))
    with pytest.raises(InvalidInput, match="limit"):
        read_table_list(big)
    with pytest.raises(InvalidInput, match="not found"):
        read_table_list(tmp_path / "missing.txt")


def test_names_with_spaces_are_taken_as_written() -> None:
    """A user copies names from a database tool: no quotes, capitals and spaces kept as the table has them."""
    parsed = parse_table_list("Sales Data.Mixed Case 50\nOrder Items\nsales.Big  Gap\n")
    assert parsed.tables == [TableRef("Sales Data", "Mixed Case 50"), TableRef("public", "Order Items"),
                             TableRef("sales", "Big  Gap")]
    with pytest.raises(InvalidInput, match="unexpected"):
        parse_table_list("Order Items;drop table x")


def test_a_name_written_with_spaces_resolves_to_the_real_table(fresh_db_uri: str) -> None:
    import psycopg

    from data_pipeline.schema.table_resolve import resolve_tables

    with psycopg.connect(fresh_db_uri, autocommit=True) as conn:
        conn.execute('CREATE SCHEMA "Sales Data"')
        conn.execute('CREATE TABLE "Sales Data"."Mixed Case 50" (id int)')
        resolved = resolve_tables(conn, parse_table_list("Sales Data.Mixed Case 50\n").tables)
    assert resolved.tables == [TableRef("Sales Data", "Mixed Case 50")] and resolved.warnings == []
