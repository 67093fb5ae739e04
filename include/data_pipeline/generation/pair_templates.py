"""Question/SQL templates of the offline generator: single-table, join and link-table questions.

Every statement quotes identifiers where PostgreSQL needs it and skips logically deleted rows, so the
pairs run unchanged on the real schema.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from data_pipeline.files.table_list import quote_if_needed as quote_ident
from data_pipeline.generation.table_profile import TableProfile, column_words, target_key, topic_entity
from data_pipeline.schema.model import ColumnInfo, ForeignKey, QAPair


def _literal(value: str, column: ColumnInfo) -> str | None:
    """A SQL literal for ``value`` compared with ``column``; None when it cannot be written safely."""
    if "\\" in value or "\x00" in value:
        return None
    if column.is_numeric:
        return value if re.fullmatch(r"-?\d+(\.\d+)?", value) else None
    return "'" + value.replace("'", "''") + "'"


def _total_en(words: str) -> str:
    return words if re.search(r"\b(total|sum)\b", words) else f"total {words}"


def _plural(words: str) -> str:
    if words.endswith("s"):
        return words
    return words + ("es" if words.endswith(("ch", "sh", "x")) else "s")


def _where(*conditions: str | None) -> str:
    parts = [c for c in conditions if c]
    return f" WHERE {' AND '.join(parts)}" if parts else ""


def _year_range(column: str, year: int | None) -> str | None:
    if year is None:
        return None
    return f"{column} >= DATE '{year}-01-01' AND {column} < DATE '{year + 1}-01-01'"


def _alias(text: str, zh: bool) -> str:
    if zh:
        return quote_ident(text)
    return quote_ident(re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "value")


class PairBuilder:
    """Collects candidate pairs of one kind, in the order they are proposed."""

    def __init__(self, zh: bool) -> None:
        self.zh = zh
        self.pairs: list[QAPair] = []

    def add(self, zh_question: str, en_question: str, sql: str) -> None:
        question = zh_question if self.zh else en_question
        self.pairs.append(QAPair(question=question, sql=sql.strip().rstrip(";") + ";"))


def merge_pairs(groups: Sequence[tuple[list[QAPair], int]], count: int) -> list[QAPair]:
    """Weighted round-robin over candidate groups; a repeated question or SQL is skipped."""
    out: list[QAPair] = []
    questions: set[str] = set()
    statements: set[str] = set()
    cursors = [0] * len(groups)
    while len(out) < count and any(cursors[i] < len(g) for i, (g, _) in enumerate(groups)):
        for i, (group, weight) in enumerate(groups):
            taken = 0
            while taken < weight and cursors[i] < len(group) and len(out) < count:
                pair = group[cursors[i]]
                cursors[i] += 1
                if pair.question in questions or pair.sql in statements:
                    continue
                questions.add(pair.question)
                statements.add(pair.sql)
                out.append(pair)
                taken += 1
    return out


def table_pairs(p: TableProfile, b: PairBuilder) -> None:
    """Single-table questions, most useful first."""
    zh = p.zh
    e = p.entity
    data_zh = f"{topic_entity(p.table, zh)}数据"
    alive = p.alive()
    time_col = quote_ident(p.time.name) if p.time else None
    time_words = column_words(p.time, zh) if p.time else ""
    label = p.label_for()
    year = p.year
    yr_zh = f"{year}年" if year else ""
    yr_en = f" in {year}" if year else ""
    in_year = _year_range(time_col, year) if time_col else None
    n_alias = _alias("数量" if zh else "record_count", zh)

    if p.is_fact and time_col:
        month = _alias("月份" if zh else "month", zh)
        day = _alias("日期" if zh else "day", zh)
        for rank, m in enumerate(p.measures[:4]):
            mw = p.measure_words(m)
            plain = column_words(m, zh)  # aliases stay short
            tm = _total_en(mw)
            mcol = quote_ident(m.name)
            total = _alias(f"{plain}合计" if zh else _total_en(plain), zh)
            if label is not None:
                lw = p.label_words(label)
                lcol = quote_ident(label.name)
                b.add(f"各{lw}{yr_zh}的{mw}合计是多少？", f"What is the {tm} of each {lw}{yr_en}?",
                      f"SELECT {lcol}, SUM({mcol}) AS {total} FROM {p.ref}{_where(in_year, alive)} "
                      f"GROUP BY {lcol} ORDER BY {total} DESC NULLS LAST")
            b.add(f"{yr_zh}每月的{mw}合计是多少？", f"What is the monthly {tm}{yr_en}?",
                  f"SELECT date_trunc('month', {time_col})::date AS {month}, SUM({mcol}) AS {total} FROM {p.ref}"
                  f"{_where(in_year, alive)} GROUP BY {month} ORDER BY {month}")
            for cat in p.categories[:2]:
                c = p.category_words(cat)
                col = quote_ident(cat.name)
                b.add(f"{yr_zh}各{c}的{mw}合计分别是多少？", f"What is the {tm} per {c}{yr_en}?",
                      f"SELECT {col}, SUM({mcol}) AS {total} FROM {p.ref}{_where(in_year, alive)} "
                      f"GROUP BY {col} ORDER BY {total} DESC NULLS LAST")
            if label is not None:
                lw = p.label_words(label)
                lcol = quote_ident(label.name)
                b.add(f"{yr_zh}{mw}最高的前10个{lw}是哪些？",
                      f"Which 10 {_plural(lw)} have the highest {tm}{yr_en}?",
                      f"SELECT {lcol}, SUM({mcol}) AS {total} FROM {p.ref}{_where(in_year, alive)} "
                      f"GROUP BY {lcol} ORDER BY {total} DESC NULLS LAST LIMIT 10")
            if rank > 1:
                continue
            for other in p.labels[1:2] if rank == 0 else ():
                ow = p.label_words(other)
                ocol = quote_ident(other.name)
                b.add(f"{yr_zh}{mw}最高的前10个{ow}是哪些？",
                      f"Which 10 {_plural(ow)} have the highest {tm}{yr_en}?",
                      f"SELECT {ocol}, SUM({mcol}) AS {total} FROM {p.ref}{_where(in_year, alive)} "
                      f"GROUP BY {ocol} ORDER BY {total} DESC NULLS LAST LIMIT 10")
            daily = _alias("当日合计" if zh else "daily_total", zh)
            avg = _alias(f"日均{plain}" if zh else f"daily_average_{plain}", zh)
            b.add(f"{yr_zh}日均{mw}是多少？", f"What is the average daily {mw}{yr_en}?",
                  f"SELECT ROUND(AVG({daily})::numeric, 2) AS {avg} FROM (SELECT {time_col}::date AS {day}, "
                  f"SUM({mcol}) AS {daily} FROM {p.ref}{_where(in_year, alive)} GROUP BY {time_col}::date) AS daily")
            for cat in p.categories[:1]:
                c = p.category_words(cat)
                col = quote_ident(cat.name)
                avg_alias = _alias(f"平均{plain}" if zh else f"average_{plain}", zh)
                b.add(f"各{c}的平均{mw}是多少？", f"What is the average {mw} per {c}?",
                      f"SELECT {col}, ROUND(AVG({mcol})::numeric, 2) AS {avg_alias} FROM {p.ref}{_where(alive)} "
                      f"GROUP BY {col} ORDER BY {avg_alias} DESC NULLS LAST")
                value = next((v for v in cat.enum_values or [] if _literal(v, cat) is not None), None)
                if value is not None:
                    condition = f"{col} = {_literal(value, cat)}"
                    b.add(f"{yr_zh}{c}为“{value}”的{mw}合计是多少？", f"What is the {tm} for {c} '{value}'{yr_en}?",
                          f"SELECT SUM({mcol}) AS {total} FROM {p.ref}{_where(in_year, condition, alive)}")
            b.add(f"最近一天（{time_words}最新的一天）的{mw}合计是多少？",
                  f"What is the {tm} on the latest {time_words}?",
                  f"SELECT {time_col}::date AS {day}, SUM({mcol}) AS {total} FROM {p.ref} WHERE {time_col}::date = "
                  f"(SELECT MAX({time_col})::date FROM {p.ref}){' AND ' + alive if alive else ''} "
                  f"GROUP BY {time_col}::date")
    else:
        if alive:
            b.add(f"目前有多少个有效的{e}（不含已删除）？",
                  f"How many active {e} records are there (excluding deleted)?",
                  f"SELECT COUNT(*) AS {_alias('有效' + e + '数量' if zh else 'active_count', zh)} FROM {p.ref}"
                  f"{_where(alive)}")
        else:
            b.add(f"一共有多少个{e}？", f"How many {e} records are there?",
                  f"SELECT COUNT(*) AS {_alias(e + '数量' if zh else 'record_count', zh)} FROM {p.ref}")
        for cat in p.categories[:3]:
            c = p.category_words(cat)
            col = quote_ident(cat.name)
            b.add(f"各{c}的{e}数量分别是多少？", f"How many {e} records are there per {c}?",
                  f"SELECT {col}, COUNT(*) AS {n_alias} FROM {p.ref}{_where(alive)} GROUP BY {col} "
                  f"ORDER BY {n_alias} DESC")
        for cat in p.categories[:2]:
            value = next((v for v in cat.enum_values or [] if _literal(v, cat) is not None), None)
            if value is None:
                continue
            c = p.category_words(cat)
            condition = f"{quote_ident(cat.name)} = {_literal(value, cat)}"
            b.add(f"{c}为“{value}”的{e}有多少个？", f"How many {e} records have {c} '{value}'?",
                  f"SELECT COUNT(*) AS {n_alias} FROM {p.ref}{_where(condition, alive)}")
        deleted = p.deleted()
        if deleted:
            b.add(f"已删除（逻辑删除）的{e}有多少个？", f"How many {e} records are logically deleted?",
                  f"SELECT COUNT(*) AS {_alias('已删除数量' if zh else 'deleted_count', zh)} FROM {p.ref} "
                  f"WHERE {deleted}")
        if time_col and year:
            month = _alias("月份" if zh else "month", zh)
            b.add(f"{year}年每月新增多少个{e}（按{time_words}）？",
                  f"How many {e} records were added per month in {year} (by {time_words})?",
                  f"SELECT date_trunc('month', {time_col})::date AS {month}, COUNT(*) AS {n_alias} FROM {p.ref}"
                  f"{_where(in_year)} GROUP BY {month} ORDER BY {month}")
    if time_col:
        first = _alias("最早" + time_words if zh else "first_" + time_words, zh)
        last = _alias("最晚" + time_words if zh else "last_" + time_words, zh)
        b.add(f"{data_zh}的{time_words}范围是从哪天到哪天？", f"What range of {time_words} does the {e} data cover?",
              f"SELECT MIN({time_col}) AS {first}, MAX({time_col}) AS {last} FROM {p.ref}")
    if p.is_fact:
        b.add(f"{data_zh}共有多少条记录？", f"How many {e} records are there?",
              f"SELECT COUNT(*) AS {_alias('记录数' if zh else 'record_count', zh)} FROM {p.ref}{_where(alive)}")


def _join_condition(fk: ForeignKey, child: str, parent: str) -> str:
    pairs = zip(fk.columns, fk.ref_columns, strict=False)
    return " AND ".join(f"{child}.{quote_ident(c)} = {parent}.{quote_ident(r)}" for c, r in pairs)


def join_pairs(child: TableProfile, fk: ForeignKey, parent: TableProfile, b: PairBuilder) -> None:
    """Questions that need the join along ``fk`` (child -> parent)."""
    label = parent.label_for()
    if label is None or not fk.ref_columns:
        return
    zh = child.zh
    pe = parent.entity
    lcol = f"p.{quote_ident(label.name)}"
    key_cols = ", ".join(f"p.{quote_ident(c)}" for c in fk.ref_columns)
    on = _join_condition(fk, "c", "p")
    parent_alive = parent.alive("p")
    child_alive = child.alive("c")
    active = "有效" if parent_alive else ""
    active_en = "active " if parent_alive else ""
    name_alias = _alias(pe, zh)
    if child.is_fact and child.time is not None:
        m = child.measures[0]
        mw = child.measure_words(m)
        plain = column_words(m, zh)  # aliases stay short
        tm = _total_en(mw)
        total = _alias(f"{plain}合计" if zh else _total_en(plain), zh)
        time_col = f"c.{quote_ident(child.time.name)}"
        in_year = _year_range(time_col, child.year)
        yr_zh = f"{child.year}年" if child.year else ""
        yr_en = f" in {child.year}" if child.year else ""
        select = (f"SELECT {lcol} AS {name_alias}, SUM(c.{quote_ident(m.name)}) AS {total} FROM {child.ref} AS c "
                  f"JOIN {parent.ref} AS p ON {on}{_where(in_year, child_alive, parent_alive)} "
                  f"GROUP BY {key_cols}, {lcol} ORDER BY {total} DESC NULLS LAST")
        b.add(f"{yr_zh}各{active}{pe}的{mw}合计是多少？", f"What is the {tm} of each {active_en}{pe}{yr_en}?", select)
        b.add(f"{yr_zh}{mw}最高的5个{active}{pe}是哪些？", f"Which 5 {active_en}{pe} records have the highest {tm}"
              f"{yr_en}?", select + " LIMIT 5")
    else:
        n_alias = _alias(f"{child.entity}数量" if zh else "record_count", zh)
        b.add(f"各{active}{pe}分别有多少个{child.entity}？",
              f"How many {child.entity} records does each {active_en}{pe} have?",
              f"SELECT {lcol} AS {name_alias}, COUNT(*) AS {n_alias} FROM {child.ref} AS c JOIN {parent.ref} AS p "
              f"ON {on}{_where(child_alive, parent_alive)} GROUP BY {key_cols}, {lcol} ORDER BY {n_alias} DESC")
        for cat in child.categories[:1]:
            c = child.category_words(cat)
            ccol = f"c.{quote_ident(cat.name)}"
            b.add(f"各{active}{pe}下不同{c}的{child.entity}数量是多少？",
                  f"How many {child.entity} records of each {c} does each {active_en}{pe} have?",
                  f"SELECT {lcol} AS {name_alias}, {ccol}, COUNT(*) AS {n_alias} FROM {child.ref} AS c "
                  f"JOIN {parent.ref} AS p ON {on}{_where(child_alive, parent_alive)} "
                  f"GROUP BY {key_cols}, {lcol}, {ccol} ORDER BY {lcol}, {n_alias} DESC")


def link_pairs(link: TableProfile, profiles: dict[str, TableProfile], b: PairBuilder) -> None:
    """Many-to-many link tables: how many of one side each item of the other side has."""
    fks = [fk for fk in link.table.foreign_keys if target_key(fk) in profiles]
    for one, other in ((fks[0], fks[1]), (fks[1], fks[0])) if len(fks) >= 2 else ():
        a, o = profiles[target_key(one)], profiles[target_key(other)]
        label = a.label_for()
        if label is None or not one.ref_columns or not other.ref_columns:
            continue
        zh = link.zh
        lcol = f"a.{quote_ident(label.name)}"
        keys = ", ".join(f"a.{quote_ident(c)}" for c in one.ref_columns)
        n_alias = _alias(f"{o.entity}数量" if zh else "related_count", zh)
        name_alias = _alias(a.entity, zh)
        other_key = f"o.{quote_ident(other.ref_columns[0])}"
        b.add(f"每个{a.entity}关联了多少个{o.entity}？", f"How many {o.entity} records is each {a.entity} linked to?",
              f"SELECT {lcol} AS {name_alias}, COUNT(DISTINCT {other_key}) AS {n_alias} FROM {link.ref} AS l "
              f"JOIN {a.ref} AS a ON {_join_condition(one, 'l', 'a')} JOIN {o.ref} AS o ON "
              f"{_join_condition(other, 'l', 'o')}{_where(a.alive('a'), o.alive('o'))} GROUP BY {keys}, {lcol} "
              f"ORDER BY {n_alias} DESC")
