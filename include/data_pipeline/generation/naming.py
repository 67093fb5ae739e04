"""Readable phrases for identifiers and tables, in Chinese or English, from names and existing comments.

Shared by the offline comments, themes and questions so that a table is called the same everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from data_pipeline.generation.glossary import TABLE_PREFIXES, WORDS
from data_pipeline.schema.model import ColumnInfo, TableInfo

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")

_MAX_PHRASE_TOKENS = 3


def has_cjk(text: str | None) -> bool:
    """Whether the text has Chinese characters: it decides the language of everything generated."""
    return bool(text and _CJK.search(text))


def split_tokens(name: str) -> list[str]:
    """``serviceAreaID2`` / ``service_area_id`` -> ``['service', 'area', 'id', '2']`` (lower case)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", spaced)
    spaced = re.sub(r"([A-Za-z])([0-9])|([0-9])([A-Za-z])", lambda m: " ".join(g for g in m.groups() if g), spaced)
    return [t.lower() for t in re.split(r"[\s_\-.$]+", spaced) if t]


def _translate(tokens: Sequence[str], zh: bool) -> list[str]:
    """Greedy longest-match of token sequences against the dictionary; unknown tokens stay as they are."""
    words: list[str] = []
    i = 0
    while i < len(tokens):
        for span in range(min(_MAX_PHRASE_TOKENS, len(tokens) - i), 0, -1):
            key = "_".join(tokens[i:i + span])
            if key in WORDS:
                words.append(WORDS[key][0 if zh else 1])
                i += span
                break
        else:
            words.append(_stemmed(tokens[i], zh))
            i += 1
    return words


def _stemmed(token: str, zh: bool) -> str:
    """``charging`` -> ``charge``, ``orders`` -> ``order``: a plural or -ing form of a known word."""
    for suffix, repl in (("ies", "y"), ("es", ""), ("s", ""), ("ing", ""), ("ing", "e"), ("ed", ""), ("ed", "e")):
        if token.endswith(suffix) and len(token) > len(suffix) + 2:
            base = token[: -len(suffix)] + repl
            if base in WORDS:
                return WORDS[base][0] if zh else token
    return token


def _join(words: Sequence[str], zh: bool) -> str:
    if not zh:
        return " ".join(words)
    out = ""
    for word in words:
        # keep a space between two ASCII words so "wx order" does not become "wxorder"
        if out and out[-1].isascii() and out[-1].isalnum() and word[:1].isascii() and word[:1].isalnum():
            out += " "
        out += word
    return out


def name_phrase(name: str, zh: bool) -> str:
    """A readable phrase for an identifier (the identifier itself when it is already Chinese)."""
    if has_cjk(name):
        return name
    tokens = split_tokens(name)
    if not tokens:
        return name
    return _join(_translate(tokens, zh), zh)


def _dedupe_adjacent(words: list[str]) -> list[str]:
    out: list[str] = []
    for word in words:
        if not out or out[-1] != word:
            out.append(word)
    return out


def comment_fits(comment: str | None, generated: bool, zh: bool) -> bool:
    """A database comment always counts; a generated one only when it is in the language wanted."""
    return bool(comment) and (not generated or has_cjk(comment) == zh)


def table_phrase(table: TableInfo, zh: bool) -> str:
    """The table's comment if it has one, else a phrase from its name without technical prefixes."""
    if table.comment and comment_fits(table.comment, table.comment_generated, zh):
        return table.comment
    if has_cjk(table.name):
        return table.name
    tokens = split_tokens(table.name)
    while len(tokens) > 1 and tokens[0] in TABLE_PREFIXES:
        tokens = tokens[1:]
    return _join(_dedupe_adjacent(_translate(tokens, zh)), zh) or table.name


def column_phrase(column: ColumnInfo, zh: bool) -> str:
    """The column's comment (first clause, before a colon) if it has one, else a phrase from its name."""
    if column.comment and comment_fits(column.comment, column.comment_generated, zh):
        return re.split(r"[:：(（]", column.comment, maxsplit=1)[0].strip() or column.comment
    return name_phrase(column.name, zh)


def schema_is_chinese(tables: Sequence[TableInfo], business_context: str = "") -> bool:
    """Chinese output when the business context or any existing comment is Chinese."""
    if has_cjk(business_context):
        return True
    for table in tables:
        if has_cjk(table.comment) or any(has_cjk(c.comment) or has_cjk(c.name) for c in table.columns):
            return True
        if has_cjk(table.name):
            return True
    return False
