"""Parse ``table_list.txt`` into table references, with errors that name the line."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from data_pipeline import config
from data_pipeline.errors import InvalidInput

_UNQUOTED = re.compile(r"[^\W\d][\w$]*(?: +[\w$]+)*", re.UNICODE)
"""An unquoted name: an identifier, or words separated by spaces as a table created with quotes is written."""
_UNSAFE_FILENAME = re.compile(r'[\x00-\x1f/\\:*?"<>|]')


@dataclass(frozen=True, order=True)
class TableRef:
    schema: str
    name: str

    @property
    def qualified(self) -> str:
        """How the table is shown to users: ``schema.table`` with quotes only where PostgreSQL needs them."""
        return f"{quote_if_needed(self.schema)}.{quote_if_needed(self.name)}"

    @property
    def display(self) -> str:
        return quote_if_needed(self.name) if self.schema == "public" else self.qualified

    @property
    def file_stem(self) -> str:
        """Base name of this table's output files: ``table`` in public, ``schema__table`` elsewhere."""
        raw = self.name if self.schema == "public" else f"{self.schema}__{self.name}"
        safe = _UNSAFE_FILENAME.sub("_", raw).strip()
        if safe.startswith("."):
            safe = "_" + safe[1:]
        if safe != raw or len(safe.encode()) > 200:
            digest = hashlib.sha256(f"{self.schema}.{self.name}".encode()).hexdigest()[:8]
            safe = f"{safe.encode()[:180].decode(errors='ignore')}_{digest}"
        return safe


# PostgreSQL 16 keywords that cannot stand unquoted as a column or table name in every position
# (reserved, type/function-name and column-name keywords of pg_get_keywords()).
_KEYWORDS_NEEDING_QUOTES = frozenset({
    "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "authorization", "between",
    "bigint", "binary", "bit", "boolean", "both", "case", "cast", "char", "character", "check", "coalesce", "collate",
    "collation", "column", "concurrently", "constraint", "create", "cross", "current_catalog", "current_date",
    "current_role", "current_schema", "current_time", "current_timestamp", "current_user", "dec", "decimal",
    "default", "deferrable", "desc", "distinct", "do", "else", "end", "except", "exists", "extract", "false", "fetch",
    "float", "for", "foreign", "freeze", "from", "full", "grant", "greatest", "group", "grouping", "having", "ilike",
    "in", "initially", "inner", "inout", "int", "integer", "intersect", "interval", "into", "is", "isnull", "join",
    "json_array", "json_arrayagg", "json_object", "json_objectagg", "lateral", "leading", "least", "left", "like",
    "limit", "localtime", "localtimestamp", "national", "natural", "nchar", "none", "normalize", "not", "notnull",
    "null", "nullif", "numeric", "offset", "on", "only", "or", "order", "out", "outer", "overlaps", "overlay",
    "placing", "position", "precision", "primary", "real", "references", "returning", "right", "row", "select",
    "session_user", "setof", "similar", "smallint", "some", "substring", "symmetric", "system_user", "table",
    "tablesample", "then", "time", "timestamp", "to", "trailing", "treat", "trim", "true", "union", "unique", "user",
    "using", "values", "varchar", "variadic", "verbose", "when", "where", "window", "with", "xmlattributes",
    "xmlconcat", "xmlelement", "xmlexists", "xmlforest", "xmlnamespaces", "xmlparse", "xmlpi", "xmlroot",
    "xmlserialize", "xmltable"
})


def quote_if_needed(identifier: str) -> str:
    if re.fullmatch(r"[a-z_][a-z0-9_$]*", identifier) and identifier not in _KEYWORDS_NEEDING_QUOTES:
        return identifier
    return '"' + identifier.replace('"', '""') + '"'


@dataclass
class ParsedTableList:
    tables: list[TableRef]
    warnings: list[str] = field(default_factory=list)


def _split_identifier_chain(text: str, line_no: int) -> list[tuple[str, bool]]:
    """Split ``a.b`` / ``"A"."b c"`` into parts, remembering which were quoted."""
    parts: list[tuple[str, bool]] = []
    i = 0
    n = len(text)
    while True:
        if i < n and text[i] == '"':
            j = i + 1
            buf = []
            while True:
                if j >= n:
                    raise InvalidInput(f"table list line {line_no}: unterminated quoted name in {text!r}")
                if text[j] == '"':
                    if j + 1 < n and text[j + 1] == '"':
                        buf.append('"')
                        j += 2
                        continue
                    break
                buf.append(text[j])
                j += 1
            if not buf:
                raise InvalidInput(f"table list line {line_no}: empty quoted name in {text!r}")
            parts.append(("".join(buf), True))
            i = j + 1
        else:
            m = _UNQUOTED.match(text, i)
            if not m:
                raise InvalidInput(
                    f"table list line {line_no}: {text!r} is not a table name "
                    "(use table or schema.table; quote names with spaces or capitals)"
                )
            # Words with spaces cannot be a folded identifier: they name the table exactly as written.
            parts.append((m.group(0), " " in m.group(0)))
            i = m.end()
        if i == n:
            return parts
        if text[i] != ".":
            raise InvalidInput(f"table list line {line_no}: unexpected {text[i]!r} in {text!r}")
        i += 1


def parse_table_list(text: str, *, max_tables: int | None = None) -> ParsedTableList:
    """Parse the table list; raise ``InvalidInput`` naming the first bad line."""
    limit = max_tables if max_tables is not None else config.limits().max_tables
    if "\x00" in text:
        raise InvalidInput("table list is binary (contains NUL bytes); expected a text file of table names")
    text = text.lstrip("\ufeff")
    seen: dict[TableRef, int] = {}
    warnings: list[str] = []
    for line_no, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#") or line.startswith("--"):
            continue
        for item in (p.strip() for p in line.split(",")):
            if not item:
                continue
            parts = _split_identifier_chain(item, line_no)
            if len(parts) > 2:
                raise InvalidInput(
                    f"table list line {line_no}: {item!r} has {len(parts)} parts; use table or schema.table"
                )
            normalised = [value if quoted else value.lower() for value, quoted in parts]
            ref = TableRef("public", normalised[0]) if len(normalised) == 1 else TableRef(*normalised)
            if ref.schema == "information_schema" or ref.schema.startswith("pg_"):
                raise InvalidInput(f"table list line {line_no}: {ref.qualified} is in the system schema "
                                   f"{ref.schema}; system catalogs are never read")
            if ref in seen:
                warnings.append(
                    f"table list line {line_no}: {ref.qualified} repeats line {seen[ref]}; duplicate removed"
                )
                continue
            seen[ref] = line_no
            if len(seen) > limit:
                raise InvalidInput(f"table list names more than {limit} tables (the limit); split it into tasks")
    if not seen:
        raise InvalidInput("table list is empty: it names no tables (only blank or comment lines)")
    return ParsedTableList(tables=list(seen), warnings=warnings)


def read_table_list(path: Path, *, max_bytes: int | None = None) -> ParsedTableList:
    """Read and parse a table list file, rejecting binary, non-UTF-8 and oversized files clearly."""
    limit = max_bytes if max_bytes is not None else config.limits().max_table_list_bytes
    if not path.is_file():
        raise InvalidInput(f"table list not found: {path.name}")
    size = path.stat().st_size
    if size > limit:
        raise InvalidInput(f"table list is {size} bytes; the limit is {limit} bytes")
    data = path.read_bytes()
    return parse_table_list(decode_table_list(data))


def decode_table_list(data: bytes) -> str:
    if b"\x00" in data:
        raise InvalidInput("table list is binary (contains NUL bytes); expected a text file of table names")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"table list is not UTF-8 text (byte {exc.start} is invalid)") from None
