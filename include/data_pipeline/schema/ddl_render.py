"""Rendering a ``TableInfo`` as ``<stem>.ddl`` (valid PostgreSQL) and ``<stem>_detail.md`` (documentation).

The ``.ddl`` is written to be executed, not just read: comments live in ``--`` lines above the
statement and in ``COMMENT ON`` statements, never inside the column list (the old system put commas
inside ``--`` comments there and produced invalid SQL). Statements that need other tables — foreign
keys and partition attachment — follow ``DEFERRED_MARKER`` at the end of the file, so a set of files
can be applied in any order: everything above the marker of every file first, then the rest.
Enum types, domains and schemas are not created by the file (they are shared between tables); its
header lists the enum types it needs. Output depends on the ``TableInfo`` only: same database, same
bytes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from data_pipeline.files.table_list import quote_if_needed as _quote_if_needed
from data_pipeline.schema.column_values import is_sensitive
from data_pipeline.schema.model import ColumnInfo, TableInfo

DEFERRED_MARKER = "-- Deferred: run after every table exists (foreign keys, partition attachment)"
MD_SAMPLE_VALUES = 5
MD_VALUE_CHARS = 40
_NEXTVAL = re.compile(r"nextval\('((?:[^']|'')+)'::regclass\)")
_WHITESPACE = re.compile(r"\s+")
_ODD_BLANKS = re.compile(r"[^\S ]|  ")  # any blank other than a single space

# Column names are quoted several times per table (columns, COMMENT ON, bullets): remember the answers.
quote_if_needed = functools.lru_cache(maxsize=65536)(_quote_if_needed)


def table_name_sql(info: TableInfo) -> str:
    """The table as SQL names it: bare in ``public``, schema-qualified elsewhere, quoted where needed."""
    name = quote_if_needed(info.name)
    return name if info.schema_name == "public" else f"{quote_if_needed(info.schema_name)}.{name}"


def qualified_display(info: TableInfo) -> str:
    return f"{quote_if_needed(info.schema_name)}.{quote_if_needed(info.name)}"


def sql_literal(text: str) -> str:
    """A string constant that means ``text`` whatever ``standard_conforming_strings`` says."""
    if "\\" in text:
        return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"
    return "'" + text.replace("'", "''") + "'"


def one_line(text: str | None) -> str:
    """Text safe for a ``--`` comment or a Markdown bullet: newlines and runs of blanks become one space."""
    if not text:
        return ""
    if text.isprintable() and "  " not in text:  # the common case, without a regex: no blank but single spaces
        return text.strip()
    return _WHITESPACE.sub(" ", text).strip() if _ODD_BLANKS.search(text) else text.strip()


def _column_sql(column: ColumnInfo) -> str:
    parts = [quote_if_needed(column.name), column.data_type]
    if column.generated is not None:
        parts.append(f"GENERATED ALWAYS AS ({column.generated}) STORED")
    elif column.identity:
        parts.append(f"GENERATED {column.identity} AS IDENTITY")
    elif column.default is not None:
        parts.append(f"DEFAULT {column.default}")
    if not column.nullable:
        parts.append("NOT NULL")
    return " ".join(parts)


def _sequences(info: TableInfo) -> list[str]:
    """Sequences named in ``nextval`` defaults (serial columns): created first so the defaults resolve."""
    names: list[str] = []
    for column in info.columns:
        for match in _NEXTVAL.finditer(column.default or ""):
            name = match.group(1).replace("''", "'")
            if name not in names:
                names.append(name)
    return names


def _generated_note(info: TableInfo) -> str | None:
    generated = [c.name for c in info.columns if c.comment_generated]
    if info.comment_generated and len(generated) == len(info.columns):
        return "-- Comments: generated (the database has none)"
    if info.comment_generated or generated:
        what = (["table"] if info.comment_generated else []) + [quote_if_needed(n) for n in generated]
        return "-- Comments: from the database; generated for " + one_line(", ".join(what))
    return None


def render_ddl(info: TableInfo) -> str:
    """The table's ``.ddl`` file."""
    name = table_name_sql(info)
    # Every ``--`` line goes through one_line: a newline inside a quoted name or comment would end the
    # comment and turn the rest of the line into SQL.
    lines = [f"-- {one_line(qualified_display(info))}" + (f": {one_line(info.comment)}" if info.comment else "")]
    note = _generated_note(info)
    if note:
        lines.append(note)
    if info.kind in ("view", "materialized view", "foreign table"):
        lines.append(f"-- A {info.kind} in the source database; its columns are given as a table definition.")
    lines.append(f"-- Estimated rows: {info.row_estimate}")
    enum_types = sorted({c.data_type.removesuffix("[]") for c in info.columns if c.base_type == "enum"})
    if enum_types:
        lines.append("-- Needs enum types: " + one_line(", ".join(enum_types)))
    if info.partition_of:
        lines.append(f"-- Partition of {one_line(info.partition_of)} {one_line(info.partition_bound)}")
    lines.extend(f"CREATE SEQUENCE IF NOT EXISTS {seq};" for seq in _sequences(info))
    body = [_column_sql(c) for c in info.columns]
    if info.kind not in ("view", "materialized view"):
        if info.primary_key and info.primary_key_name:
            keys = ", ".join(quote_if_needed(c) for c in info.primary_key)
            body.append(f"CONSTRAINT {quote_if_needed(info.primary_key_name)} PRIMARY KEY ({keys})")
        for constraint in [*info.unique_constraints, *info.check_constraints]:
            body.append(f"CONSTRAINT {quote_if_needed(constraint['name'])} {constraint['definition']}")
    create = f"CREATE TABLE {name} (\n" + ",\n".join(f"    {part}" for part in body) + "\n)"
    if not body:
        create = f"CREATE TABLE {name} ()"
    if info.partition_key:
        create += f" PARTITION BY {info.partition_key}"
    lines.append(create + ";")
    if info.comment:
        lines.append(f"COMMENT ON TABLE {name} IS {sql_literal(info.comment)};")
    for column in info.columns:
        if column.comment:
            lines.append(f"COMMENT ON COLUMN {name}.{quote_if_needed(column.name)} IS {sql_literal(column.comment)};")
    deferred = [f"ALTER TABLE {name} ADD CONSTRAINT {quote_if_needed(fk.name)} {fk.definition};"
                for fk in info.foreign_keys]
    if info.partition_of and info.partition_bound:
        deferred.append(f"ALTER TABLE {info.partition_of} ATTACH PARTITION {name} {info.partition_bound};")
    if deferred:
        lines.extend(["", DEFERRED_MARKER, *deferred])
    return "\n".join(lines) + "\n"


def split_deferred(ddl: str) -> tuple[str, str]:
    """``(immediate, deferred)`` parts of a rendered ``.ddl``; deferred is empty when there is none."""
    head, marker, tail = ddl.partition(DEFERRED_MARKER)
    return (head, tail) if marker else (ddl, "")


# -- Markdown -----------------------------------------------------------------------------------

def _short(value: str) -> str:
    value = one_line(value)
    return value if len(value) <= MD_VALUE_CHARS else value[: MD_VALUE_CHARS - 1] + "…"


def _join_values(values: Iterable[str]) -> str:
    return ", ".join(_short(v) for v in values)


def _flags(info: TableInfo, column: ColumnInfo) -> list[str]:
    flags = []
    if column.is_primary_key:
        flags.append("primary key")
    if not column.nullable:
        flags.append("not null")
    if any(u.get("type", "unique") == "unique" and u.get("columns") == [column.name] for u in info.unique_constraints):
        flags.append("unique")
    if column.identity:
        flags.append(f"identity {column.identity.lower()}")
    if column.generated is not None:
        flags.append(f"generated: {one_line(column.generated)}")
    elif column.default is not None and not column.identity:
        flags.append(f"default {one_line(column.default)}")
    for fk in info.foreign_keys:
        if column.name in fk.columns:
            target = fk.ref_table if fk.ref_schema == "public" else f"{fk.ref_schema}.{fk.ref_table}"
            ref_column = fk.ref_columns[fk.columns.index(column.name)]
            flags.append(f"references {target}.{ref_column}")
    return flags


def render_detail_md(info: TableInfo) -> str:
    """The table's ``_detail.md`` file: heading, one bullet per column, enum values, keys."""
    heading = one_line(qualified_display(info)) + (f"（{one_line(info.comment)}）" if info.comment else "")
    lines = [f"# {heading}", ""]
    if info.kind != "table":
        lines.append(f"Kind: {info.kind}" + (f", partitioned by {info.partition_key}" if info.partition_key else ""))
    if info.partition_of:
        lines.append(f"Partition of {info.partition_of} {one_line(info.partition_bound)}")
    lines.append(f"Estimated rows: {info.row_estimate}")
    note = _generated_note(info)
    if note:
        lines.append(note.removeprefix("-- ") + ".")
    lines += ["", "## Columns", ""]
    for column in info.columns:
        bullet = f"- {one_line(quote_if_needed(column.name))} ({one_line(column.data_type)})"
        if column.comment:
            bullet += f" - {one_line(column.comment)}"
        flags = _flags(info, column)
        if flags:
            bullet += f" [{', '.join(flags)}]"
        if column.sample_values and not is_sensitive(column):
            bullet += f" sample values: {_join_values(column.sample_values[:MD_SAMPLE_VALUES])}"
        lines.append(bullet)
    enum_columns = [c for c in info.columns if c.enum_values and (c.base_type == "enum" or not is_sensitive(c))]
    if enum_columns:
        lines += ["", "## Enum values", ""]
        for column in enum_columns:
            source = "enum type" if column.base_type == "enum" else "distinct values"
            lines.append(f"- {one_line(quote_if_needed(column.name))} ({source}): "
                         f"{_join_values(column.enum_values or [])}")
    keys: list[str] = []
    if info.primary_key:
        keys.append(f"- primary key: ({', '.join(quote_if_needed(c) for c in info.primary_key)})")
    for constraint in info.unique_constraints:
        keys.append(f"- {constraint.get('type', 'unique')} {constraint['name']}: {one_line(constraint['definition'])}")
    for constraint in info.check_constraints:
        keys.append(f"- check {constraint['name']}: {one_line(constraint['definition'])}")
    for fk in info.foreign_keys:
        keys.append(f"- foreign key {fk.name}: {one_line(fk.definition)}")
    if keys:
        lines += ["", "## Keys and constraints", "", *keys]
    return "\n".join(lines) + "\n"
