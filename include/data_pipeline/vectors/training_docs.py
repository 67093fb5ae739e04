"""Turning a task directory's outputs into the documents step 4 embeds.

- ``*.ddl`` → collection ``ddl``, split per SQL statement (a real splitter: quotes, dollar quotes and
  comments never split a statement). Decision: statements that only make sense with their table —
  ``COMMENT ON TABLE/COLUMN``, ``ALTER TABLE``, ``CREATE INDEX`` on a table created in the same file —
  stay in that table's document, so the document recreates the table *with* its comments (a lone
  ``COMMENT ON COLUMN`` is poor retrieval text). Every other statement (``CREATE TYPE``, a view, ...) is
  a document of its own. ``--`` lines before a statement stay with it.
- ``*_detail.md`` (which includes ``metadata_detail.md``) → ``documentation``, one document per heading
  section: the heading lines of its parents, its own heading, its text. Sections without text of their
  own (a title directly followed by a subheading) are not documents; their heading appears in their
  children. Very long sections are cut at line boundaries, each part with the headings.
- ``metadata.txt`` → ``documentation``, one document per SQL statement (the table and each theme row).
- ``*_pair.json`` → ``sql``, one document per pair in Vanna's format: the JSON text
  ``{"question": ..., "sql": ...}``.

Identical documents (same collection and text) have the same id and are loaded once.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlparse

from data_pipeline.errors import InvalidInput
from data_pipeline.vectors.store import document_id

MAX_SECTION_CHARS = 6000
PAIR_SUFFIX = "_pair.json"
DETAIL_SUFFIX = "_detail.md"
METADATA_SQL = "metadata.txt"


@dataclass(frozen=True)
class TrainingDoc:
    id: str
    collection: str  # key of vector_store.COLLECTIONS
    text: str
    source: str  # file name inside the task directory
    extra: dict[str, Any] = field(default_factory=dict, compare=False)  # goes into the row's cmetadata


@dataclass
class CollectedDocs:
    documents: list[TrainingDoc]
    files: list[str]
    per_source: dict[str, int]
    per_collection: dict[str, int]
    duplicates: int


# -- SQL statements -----------------------------------------------------------------------------

def split_sql(text: str) -> list[str]:
    """Statements of ``text`` by ``sqlparse.split`` (its lexer keeps quotes, dollar quotes and comments
    whole), each with its leading ``--`` lines and final ``;``.

    Parts that are only comments, transaction control (``BEGIN``/``COMMIT``) or ``SET`` are dropped:
    they are no training material.
    """
    return [s.strip() for s in sqlparse.split(text) if _has_code(s)]


def _strip_comments(statement: str) -> str:
    """The statement without its comments (for classifying it)."""
    return sqlparse.format(statement, strip_comments=True).strip()


_NOT_CONTENT = re.compile(r"(?:BEGIN|COMMIT|END|ROLLBACK|START\s+TRANSACTION|SET\s|RESET\s|\\)", re.I)


def _has_code(statement: str) -> bool:
    """Whether a statement says something: not only comments, not transaction control or ``SET``."""
    code = _strip_comments(statement).strip(" \t\r\n;")
    return code != "" and not _NOT_CONTENT.match(code)


_IDENT = r'(?:"(?:[^"]|"")+"|[^\W\d][\w$]*)'
_QUALIFIED = re.compile(rf"{_IDENT}(?:\s*\.\s*{_IDENT})*")
_IDENT_PART = re.compile(_IDENT)
_CREATE_TABLE = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?(?:(?:GLOBAL|LOCAL)\s+)?(?:(?:TEMPORARY|TEMP|UNLOGGED)\s+)?"
                           r"TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?", re.I)
_REFERENCES = (
    (re.compile(r"COMMENT\s+ON\s+TABLE\s+", re.I), False),
    (re.compile(r"COMMENT\s+ON\s+COLUMN\s+", re.I), True),  # name ends with the column: drop it
    (re.compile(r"ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?", re.I), False),
    (re.compile(r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?"
                rf"(?:{_IDENT}\s+)?ON\s+(?:ONLY\s+)?", re.I), False),
)


def _table_key(name: str, *, drop_last: bool = False) -> tuple[str, ...] | None:
    parts = [p[1:-1].replace('""', '"') if p.startswith('"') else p.lower() for p in _IDENT_PART.findall(name)]
    if drop_last:
        parts = parts[:-1]
    if not parts:
        return None
    return tuple(parts) if len(parts) > 1 else ("public", parts[0])


def _statement_table(code: str) -> tuple[str, tuple[str, ...] | None]:
    """('create', table) for CREATE TABLE, ('ref', table) for statements about a table, else ('other', None)."""
    m = _CREATE_TABLE.match(code)
    if m:
        name = _QUALIFIED.match(code, m.end())
        return ("create", _table_key(name.group()) if name else None)
    for pattern, drop_last in _REFERENCES:
        m = pattern.match(code)
        if m:
            name = _QUALIFIED.match(code, m.end())
            return ("ref", _table_key(name.group(), drop_last=drop_last) if name else None)
    return ("other", None)


def ddl_documents(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Documents of a ``.ddl`` file: (text, extra metadata) per table or standalone statement."""
    statements = split_sql(text)
    kinds = [_statement_table(_strip_comments(s)) for s in statements]
    created = {table: i for i, (kind, table) in enumerate(kinds) if kind == "create" and table}
    groups: dict[int, list[str]] = {}
    order: list[int] = []
    for i, (statement, (kind, table)) in enumerate(zip(statements, kinds, strict=True)):
        owner = created.get(table) if kind == "ref" and table else None
        anchor = i if owner is None else owner
        if anchor not in groups:
            groups[anchor] = []
            order.append(anchor)
        groups[anchor].append(statement)
    docs = []
    for anchor in sorted(order):
        kind, table = kinds[anchor]
        extra = {"table": ".".join(table)} if kind == "create" and table else {}
        docs.append(("\n".join(groups[anchor]), extra))
    return docs


# -- Markdown -----------------------------------------------------------------------------------

_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+|$)(.*?)[ \t#]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def markdown_sections(text: str, *, max_chars: int = MAX_SECTION_CHARS) -> list[tuple[str, dict[str, Any]]]:
    """Documents of a Markdown file: one per heading section, prefixed with the parent headings."""
    docs: list[tuple[str, dict[str, Any]]] = []
    path: list[tuple[int, str]] = []
    heading_lines: list[str] = []
    title = ""
    body: list[str] = []
    fence: str | None = None

    def flush() -> None:
        content = "\n".join(body).strip("\n")
        if content.strip():
            docs.extend((part, {"section": title} if title else {})
                        for part in _cut(heading_lines, content, max_chars))

    for line in text.splitlines():
        fm = _FENCE.match(line)
        if fm:
            if fence is None:
                fence = fm.group(1)
            elif fm.group(1) == fence:
                fence = None
        m = _HEADING.match(line) if fence is None else None
        if m is None:
            body.append(line)
            continue
        flush()
        level = len(m.group(1))
        while path and path[-1][0] >= level:
            path.pop()
        path.append((level, line.strip()))
        heading_lines = [h for _, h in path]
        title = m.group(2).strip()
        body = []
    flush()
    return docs


def _cut(headings: list[str], content: str, max_chars: int) -> list[str]:
    head = "\n".join(headings)
    prefix = head + "\n" if head else ""
    if len(prefix) + len(content) <= max_chars:
        return [prefix + content]
    parts, current, size = [], [], 0
    budget = max(max_chars - len(prefix), 200)
    for line in content.split("\n"):
        if current and size + len(line) + 1 > budget:
            parts.append(prefix + "\n".join(current).strip("\n"))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current and "\n".join(current).strip():
        parts.append(prefix + "\n".join(current).strip("\n"))
    return parts


# -- pairs --------------------------------------------------------------------------------------


def pair_documents(text: str, name: str) -> list[str]:
    """Vanna ``sql`` documents from a pair file; anything malformed is an error naming file and item."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{name} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                           file=name) from None
    if not isinstance(data, list):
        raise InvalidInput(f"{name} must hold a JSON array of {{\"question\", \"sql\"}} objects, "
                           f"found a JSON {type(data).__name__}", file=name)
    docs = []
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise InvalidInput(f"{name}: item at index {index} is not an object with \"question\" and \"sql\"",
                               file=name, index=index)
        for key in ("question", "sql"):
            value = item.get(key)
            if not isinstance(value, str) or not value.strip():
                raise InvalidInput(f"{name}: item at index {index} has no {key!r} text", file=name, index=index)
        docs.append(json.dumps({"question": item["question"].strip(), "sql": item["sql"].strip()},
                               ensure_ascii=False))
    return docs


# -- the task directory -------------------------------------------------------------------------


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path.name} is not UTF-8 text (byte {exc.start})", file=path.name) from None


def input_files(task_dir: Path) -> list[Path]:
    """The top-level files step 4 reads, in a fixed order (ddl, docs, metadata, pairs)."""
    files = [p for p in task_dir.iterdir() if p.is_file() and not p.is_symlink() and not p.name.startswith(".")]

    def rank(p: Path) -> tuple[int, str]:
        if p.name.endswith(".ddl"):
            return (0, p.name)
        if p.name.endswith(DETAIL_SUFFIX):
            return (1, p.name)
        if p.name == METADATA_SQL:
            return (2, p.name)
        if p.name.endswith(PAIR_SUFFIX):
            return (3, p.name)
        return (9, p.name)

    return sorted((p for p in files if rank(p)[0] < 9), key=rank)


def collect_documents(task_dir: Path) -> CollectedDocs:
    """Every document of the task directory, deduplicated by id, in file order."""
    seen: dict[str, TrainingDoc] = {}
    per_source: Counter[str] = Counter()
    duplicates = 0
    files = input_files(task_dir)
    for path in files:
        text = _read(path)
        name = path.name
        if name.endswith(".ddl"):
            items = [("ddl", t, extra) for t, extra in ddl_documents(text)]
        elif name.endswith(DETAIL_SUFFIX):
            items = [("documentation", t, extra) for t, extra in markdown_sections(text)]
        elif name == METADATA_SQL:
            items = [("documentation", t, {}) for t in split_sql(text)]
        else:
            items = [("sql", t, {}) for t in pair_documents(text, name)]
        for collection, doc_text, extra in items:
            doc_id = document_id(collection, doc_text)
            if doc_id in seen:
                duplicates += 1
                continue
            seen[doc_id] = TrainingDoc(id=doc_id, collection=collection, text=doc_text, source=name, extra=extra)
            per_source[name] += 1
    documents = list(seen.values())
    return CollectedDocs(
        documents=documents, files=[p.name for p in files], per_source=dict(per_source),
        per_collection=dict(Counter(d.collection for d in documents)), duplicates=duplicates,
    )
