"""What the offline generator reads from one table: its entity name, time column, measures, labels,
categories and logical-delete column, which decide the questions worth asking about it."""

from __future__ import annotations

import re
from collections.abc import Sequence

from data_pipeline.files.table_list import quote_if_needed as quote_ident
from data_pipeline.generation.naming import column_phrase, comment_fits, split_tokens, table_phrase
from data_pipeline.schema.model import ColumnInfo, ForeignKey, TableInfo

_DELETE_FLAGS = {"deleted", "is_deleted", "is_delete", "del_flag", "delete_flag", "is_del", "del", "removed",
                 "is_removed"}
_DELETE_TIMES = {"delete_ts", "deleted_at", "delete_time", "deleted_time", "delete_date", "deleted_on",
                 "removed_at"}
_AUDIT_TIMES = {"created_at", "create_time", "created_time", "create_date", "updated_at", "update_time",
                 "updated_time", "modified_at", "modify_time", "gmt_create", "gmt_modified", "insert_time"}
_NOT_MEASURES = {"id", "no", "code", "lat", "latitude", "lng", "lon", "longitude", "year", "month", "day", "seq",
                 "sort", "order_no", "version", "level", "type", "status", "state", "phone", "mobile", "zip"}
_TOTAL_TOKENS = {"sum", "total", "amount", "amt", "revenue", "income", "sales", "fee", "money", "pay"}
_ENTITY_SUFFIXES = ("日统计", "日数据", "统计表", "数据表", "明细", "记录", "统计", "数据", "表")
_LABEL_SUFFIXES = ("名称", "名字", "姓名", "编码", "编号", "代码")


def _strip_suffixes(text: str, suffixes: Sequence[str]) -> str:
    for suffix in suffixes:
        if text.endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)]
    return text


def _entity(table: TableInfo, zh: bool) -> str:
    """What one row of the table is, for questions: ``公司（路段管理分公司）`` -> ``公司``."""
    phrase = re.split(r"[（(]", table_phrase(table, zh), maxsplit=1)[0].strip() or table.name
    phrase = re.split(r"[/／、]", phrase, maxsplit=1)[0].strip() or phrase
    if zh:
        return _strip_suffixes(phrase, ("表",))
    phrase = re.sub(r"\s+table$", "", phrase, flags=re.I)
    return phrase[:1].lower() + phrase[1:] if not phrase[:2].isupper() else phrase


def topic_entity(table: TableInfo, zh: bool) -> str:
    """The entity without words like 数据/统计/records, as a theme's subject."""
    entity = _entity(table, zh)
    if zh:
        return _strip_suffixes(entity, _ENTITY_SUFFIXES)
    return re.sub(r"\s+((daily|day)\s+)?(data|records?|details?|statistics|stats)$", "", entity) or entity


def column_words(column: ColumnInfo, zh: bool) -> str:
    """The column's phrase as used inside a sentence."""
    phrase = column_phrase(column, zh)
    if zh or not comment_fits(column.comment, column.comment_generated, zh) or not phrase[1:2].islower():
        return phrase
    return phrase[:1].lower() + phrase[1:]  # "Customer count" from a comment, inside a sentence


class TableProfile:
    """What the offline generator needs to know to ask sensible questions about one table."""

    def __init__(self, table: TableInfo, zh: bool) -> None:
        self.table = table
        self.zh = zh
        self.ref = table.ref.display
        self.entity = _entity(table, zh)
        fk_columns = {c for fk in table.foreign_keys for c in fk.columns}
        self.fk_columns = fk_columns
        self.delete_flag = next((c for c in table.columns if c.name.lower() in _DELETE_FLAGS
                                 and c.base_type in ("boolean", "integer")), None)
        self.delete_time = next((c for c in table.columns if c.name.lower() in _DELETE_TIMES and c.is_temporal), None)
        self.labels = [c for c in table.columns if c.is_text and not c.enum_values and c.name not in fk_columns
                       and (split_tokens(c.name)[-1:] in (["name"], ["title"]) or
                            (c.comment is not None and re.search(r"名称|姓名|name", c.comment, re.I) is not None))]
        self.categories = [c for c in table.columns if c.enum_values and 1 < len(c.enum_values) <= 20
                           and c.base_type not in ("boolean",) and c is not self.delete_flag
                           and c.name not in fk_columns and not c.is_primary_key]
        self.time = self._pick_time()
        self.measures = self._pick_measures()
        self.year = self._year()
        self.ambiguous: set[str] = set()  # measure phrases other fact tables use too (set by build_profiles)

    def _pick_time(self) -> ColumnInfo | None:
        temporal = [c for c in self.table.columns if c.is_temporal and c is not self.delete_time]
        business = [c for c in temporal if c.name.lower() not in _AUDIT_TIMES]
        for group in (business, temporal):
            dates = [c for c in group if c.base_type == "date"]
            if dates or group:
                return (dates or group)[0]
        return None

    def _pick_measures(self) -> list[ColumnInfo]:
        found = []
        for column in self.table.columns:
            tokens = split_tokens(column.name)
            if (not column.is_numeric or column.is_primary_key or column.name in self.fk_columns
                    or column is self.delete_flag or column.enum_values or not tokens
                    or tokens[-1] in _NOT_MEASURES or "_".join(tokens) in _NOT_MEASURES
                    or column.identity is not None):
                continue
            found.append(column)
        # totals first (pay_sum, amount, ...), then the others in table order
        return sorted(found, key=lambda c: (not (set(split_tokens(c.name)) & _TOTAL_TOKENS
                                                 or "总" in (c.comment or "") or "合计" in (c.comment or "")),
                                            self.table.columns.index(c)))

    def _year(self) -> int | None:
        if self.time is None:
            return None
        years = [int(v[:4]) for v in self.time.sample_values if re.match(r"^\d{4}-\d{2}", v)]
        return max(years) if years else None

    @property
    def is_fact(self) -> bool:
        return self.time is not None and self.time.name.lower() not in _AUDIT_TIMES and bool(self.measures)

    @property
    def is_link(self) -> bool:
        """A many-to-many link table: two or more foreign keys and nothing else of its own."""
        own = [c for c in self.table.columns if c.name not in self.fk_columns and not c.is_primary_key
               and c.name.lower() not in _AUDIT_TIMES]
        return len(self.table.foreign_keys) >= 2 and not own

    def alive(self, alias: str | None = None) -> str | None:
        """The condition that keeps rows not logically deleted, or None when the table has no such column."""
        prefix = f"{alias}." if alias else ""
        if self.delete_flag is not None:
            column = prefix + quote_ident(self.delete_flag.name)
            if self.delete_flag.base_type == "boolean":
                return f"{column} IS NOT TRUE" if self.delete_flag.nullable else f"NOT {column}"
            return f"COALESCE({column}, 0) = 0"
        if self.delete_time is not None:
            return f"{prefix}{quote_ident(self.delete_time.name)} IS NULL"
        return None

    def deleted(self) -> str | None:
        if self.delete_flag is not None:
            column = quote_ident(self.delete_flag.name)
            return column if self.delete_flag.base_type == "boolean" else f"{column} <> 0"
        if self.delete_time is not None:
            return f"{quote_ident(self.delete_time.name)} IS NOT NULL"
        return None

    def category_words(self, column: ColumnInfo) -> str:
        words = column_words(column, self.zh)
        if self.zh:
            return _strip_suffixes(words, _LABEL_SUFFIXES)
        return re.sub(r"\s+name$", "", words) or words

    def measure_words(self, column: ColumnInfo) -> str:
        """The measure's phrase, with its table named when another table has a measure called the same."""
        words = column_words(column, self.zh)
        if words not in self.ambiguous:
            return words
        subject = topic_entity(self.table, self.zh)
        return f"{subject}的{words}" if self.zh else f"{words} of {subject}"

    def label_for(self) -> ColumnInfo | None:
        return self.labels[0] if self.labels else None

    def label_words(self, column: ColumnInfo) -> str:
        words = column_words(column, self.zh)
        if self.zh:
            return _strip_suffixes(words, _LABEL_SUFFIXES) or self.entity
        return re.sub(r"\s+(name|title)$", "", words) or self.entity


def build_profiles(tables: Sequence[TableInfo], zh: bool) -> dict[str, TableProfile]:
    """A profile per table (by ``table_key``), with the measure names that several fact tables share."""
    profiles = {table_key(t): TableProfile(t, zh) for t in tables}
    seen: dict[str, int] = {}
    for p in profiles.values():
        if p.is_fact:
            for phrase in {column_words(m, zh) for m in p.measures}:
                seen[phrase] = seen.get(phrase, 0) + 1
    ambiguous = {phrase for phrase, n in seen.items() if n > 1}
    for p in profiles.values():
        p.ambiguous = ambiguous
    return profiles


def target_key(fk: ForeignKey) -> str:
    """The ``table_key`` of the table a foreign key points at."""
    return f"{fk.ref_schema}.{fk.ref_table}"


def table_key(table: TableInfo) -> str:
    """``schema.name``: how profiles and foreign-key targets are matched."""
    return f"{table.schema_name}.{table.name}"
