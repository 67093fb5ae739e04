"""Checking a task's table list against the business database: exact names, case-only mismatches, typos.

Every unknown or ambiguous table is named in one error, with a close match suggested, so a user fixes
the list in one go.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg

from data_pipeline.errors import UnknownTables
from data_pipeline.files.table_list import TableRef


@dataclass
class ResolvedTables:
    """The listed tables as they exist in the database, with the spelling corrections made."""

    tables: list[TableRef]
    warnings: list[str] = field(default_factory=list)


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
    """Map listed names onto existing tables; raise ``UnknownTables`` naming EVERY unknown table at once.

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
        raise UnknownTables("table list check failed" + where + ": " + "; ".join(parts) + ". Nothing was generated.",
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


def all_tables(conn: psycopg.Connection) -> list[TableRef]:
    """Every table, view and foreign table a table list may name, sorted by schema and name."""
    rows = conn.execute(_ALL_NAMES_SQL).fetchall()
    return [TableRef(s, n) for s, n in sorted((str(s), str(n)) for s, n in rows)]


def _suggestions(conn: psycopg.Connection, unknown: Sequence[TableRef]) -> dict[str, str]:
    names = all_tables(conn)
    by_text = {r.qualified: r for r in names}
    hints: dict[str, str] = {}
    for ref in unknown[:50]:
        close = difflib.get_close_matches(ref.qualified, list(by_text), n=1, cutoff=0.75)
        if close:
            hints[ref.qualified] = close[0]
    return hints
