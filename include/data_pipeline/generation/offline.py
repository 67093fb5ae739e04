"""The offline generator: deterministic comments, themes and question/SQL pairs derived from the schema.

It is the provider used when no LLM is configured, so it must produce output a user can
train on: comments read like a person wrote them, and every SQL it emits is valid against the real
schema (identifiers quoted exactly where PostgreSQL needs it). Nothing here touches the network, and
the same schema always gives the same output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from data_pipeline.generation.naming import has_cjk, name_phrase, schema_is_chinese, split_tokens, table_phrase
from data_pipeline.generation.pair_templates import PairBuilder, join_pairs, link_pairs, merge_pairs, table_pairs
from data_pipeline.generation.table_profile import build_profiles, column_words, table_key, target_key, topic_entity
from data_pipeline.schema.model import ColumnInfo, QAPair, TableComments, TableInfo, Theme

if TYPE_CHECKING:
    from data_pipeline.generation.base import RepairRequest


def _column_comment(table: TableInfo, column: ColumnInfo, zh: bool) -> str:
    tokens = split_tokens(column.name)
    if has_cjk(column.name):
        text = column.name
    elif column.base_type == "boolean" and tokens and tokens[0] not in {"is", "has"}:
        text = ("是否" if zh else "whether ") + name_phrase(column.name, zh)
        if zh:
            text = text.replace("是否是否", "是否")
    else:
        text = name_phrase(column.name, zh)
    if column.name in table.primary_key and len(table.primary_key) == 1 and tokens in (["id"], ["pk"]):
        text = "主键" if zh else "Primary key"
    if not zh and text:
        text = text[0].upper() + text[1:]
    for fk in table.foreign_keys:
        if column.name in fk.columns and len(fk.columns) == 1:
            target = f"{fk.ref_table}.{fk.ref_columns[0]}" if fk.ref_columns else fk.ref_table
            text += f"（关联 {target}）" if zh else f" (references {target})"
            break
    values = column.enum_values or []
    if values and len(values) <= 8 and all(len(v) <= 20 for v in values):
        sep = "/"
        text += ("：" if zh else ": ") + sep.join(values)
    return text


def describe_table_offline(table: TableInfo, business_context: str) -> TableComments:
    """Comments derived from names: Chinese when the context, existing comments or the data are Chinese."""
    zh = schema_is_chinese([table], business_context) or any(
        has_cjk(v) for c in table.columns for v in [*(c.enum_values or []), *c.sample_values[:5]])
    if table.comment:
        table_comment = table.comment
    else:
        phrase = table_phrase(table, zh)
        table_comment = (phrase if phrase.endswith("表") else phrase + "表") if zh else phrase[:1].upper() + phrase[1:]
    columns = {c.name: _column_comment(table, c, zh) for c in table.columns}
    return TableComments(table_comment=table_comment, column_comments=columns)


# -- themes and question/SQL pairs ------------------------------------------------------------------

def _components(tables: Sequence[TableInfo]) -> list[list[TableInfo]]:
    """Groups of tables connected by foreign keys (in either direction), in table-list order."""
    keys = [table_key(t) for t in tables]
    parent = {k: k for k in keys}

    def find(k: str) -> str:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for table in tables:
        for fk in table.foreign_keys:
            target = target_key(fk)
            if target in parent and target != table_key(table):
                parent[find(table_key(table))] = find(target)
    groups: dict[str, list[TableInfo]] = {}
    for table in tables:
        groups.setdefault(find(table_key(table)), []).append(table)
    return list(groups.values())


def _degree(table: TableInfo, tables: Sequence[TableInfo]) -> int:
    inside = {table_key(t) for t in tables}
    outgoing = sum(1 for fk in table.foreign_keys if target_key(fk) in inside)
    incoming = sum(1 for t in tables for fk in t.foreign_keys if target_key(fk) == table_key(table) and t is not table)
    return outgoing + incoming


def extract_themes_offline(tables: Sequence[TableInfo], business_context: str, count: int) -> list[Theme]:
    """One theme per fact table (with the tables it references), then one per group of related other tables."""
    zh = schema_is_chinese(tables, business_context)
    profiles = build_profiles(tables, zh)
    facts = sorted((p for p in profiles.values() if p.is_fact),
                   key=lambda p: (-p.table.row_estimate, tables.index(p.table)))
    themes: list[Theme] = []
    for p in facts:
        refs = [p.table] + [profiles[target_key(fk)].table for fk in p.table.foreign_keys if target_key(fk) in profiles
                            and target_key(fk) != table_key(p.table)]
        related = list(dict.fromkeys(t.ref.display for t in refs))
        measures = [column_words(m, zh) for m in p.measures[:5]]  # theme metrics: the plain names
        dims = [profiles[table_key(t)].entity for t in refs[1:]] + [column_words(c, zh) for c in p.categories[:3]] + [
            p.label_words(c) for c in p.labels[:2]]
        subject = topic_entity(p.table, zh)
        time_words = column_words(p.time, zh) if p.time else ""
        if zh:
            topic = f"{subject}分析"
            description = (f"基于{p.ref}（{p.entity}）按{time_words}统计{'、'.join(measures[:3])}的趋势、排名与构成"
                           + (f"，可按{'、'.join(dict.fromkeys(dims[:4]))}对比" if dims else "") + "。")
        else:
            topic = f"{subject[:1].upper()}{subject[1:]} analysis"
            description = (f"Trends, rankings and breakdowns of {', '.join(measures[:3])} in {p.ref} ({p.entity}) by "
                           f"{time_words}" + (f", compared across {', '.join(dict.fromkeys(dims[:4]))}" if dims else "")
                           + ".")
        themes.append(Theme(topic=topic, description=description, related_tables=related,
                            business_entities=list(dict.fromkeys([p.entity, *dims]))[:6],
                            metrics=measures or ["记录数" if zh else "record count"]))
    fact_keys = {table_key(p.table) for p in facts}
    for group in _components(tables):
        others = [t for t in group if table_key(t) not in fact_keys]
        if not others:
            continue
        ordered = sorted(others, key=lambda t: (-_degree(t, group), group.index(t)))
        entities = list(dict.fromkeys(profiles[table_key(t)].entity for t in ordered
                                      if not profiles[table_key(t)].is_link))
        entities = entities or [profiles[table_key(ordered[0])].entity]
        cats = [column_words(c, zh) for t in ordered for c in profiles[table_key(t)].categories[:2]]
        if zh:
            topic = f"{'、'.join(entities[:3])}基础信息"
            description = (f"{'、'.join(entities)}的数量、分布与相互关联" + (f"，按{'、'.join(cats[:4])}等维度统计"
                                                                             if cats else "") + "。")
            metrics = [f"{e}数量" for e in entities[:4]]
        else:
            topic = f"{', '.join(entities[:3])} master data"
            topic = topic[:1].upper() + topic[1:]
            description = (f"Counts, distribution and relationships of {', '.join(entities)}"
                           + (f", broken down by {', '.join(cats[:4])}" if cats else "") + ".")
            metrics = [f"number of {e} records" for e in entities[:4]]
        themes.append(Theme(topic=topic, description=description, related_tables=[t.ref.display for t in ordered],
                            business_entities=list(dict.fromkeys(entities + cats))[:8], metrics=metrics))
    return themes[:count]


def generate_pairs_offline(theme: Theme, tables: Sequence[TableInfo], business_context: str,
                           count: int) -> list[QAPair]:
    """Pairs for the theme's tables: the main table's questions first, mixed with joins and the other tables."""
    zh = schema_is_chinese(tables, business_context)
    profiles = build_profiles(tables, zh)
    by_display = {t.ref.display: table_key(t) for t in tables}
    by_display.update({t.name: table_key(t) for t in tables if t.name not in by_display})
    members = [profiles[by_display[name]] for name in theme.related_tables if name in by_display]
    if not members:
        return []
    member_keys = {table_key(p.table) for p in members}
    joins = PairBuilder(zh)
    for p in members:
        if p.is_link:
            link_pairs(p, profiles, joins)
            continue
        for fk in p.table.foreign_keys:
            target = profiles.get(target_key(fk))
            if target is not None and target is not p and (target_key(fk) in member_keys or p.is_fact):
                join_pairs(p, fk, target, joins)
    # rows of tables outside the theme that point at its tables (e.g. the branches of a service area)
    for p in members if not members[0].is_fact else ():
        for other in profiles.values():
            if table_key(other.table) in member_keys or other.is_fact or other.is_link:
                continue
            for fk in other.table.foreign_keys:
                if target_key(fk) == table_key(p.table):
                    join_pairs(other, fk, p, joins)
    groups: list[tuple[list[QAPair], int]] = []
    for index, p in enumerate(members):
        if p.is_link or (index > 0 and members[0].is_fact and not p.is_fact):
            continue  # a fact theme asks about its dimension tables through the joins only
        own = PairBuilder(zh)
        table_pairs(p, own)
        groups.append((own.pairs, 2 if index == 0 else 1))
        if index == 0:
            groups.append((joins.pairs, 1))
    if not any(g is joins.pairs for g, _ in groups):
        groups.append((joins.pairs, 1))
    return merge_pairs(groups, count)


class OfflineGenerator:
    """Deterministic generator used when no LLM is configured; implements ``generator.Generator``."""

    name = "offline"
    concurrency = 1

    def describe_table(self, table: TableInfo, business_context: str) -> TableComments:
        return describe_table_offline(table, business_context)

    def extract_themes(self, documents: Sequence[str], tables: Sequence[TableInfo], business_context: str,
                       count: int) -> list[Theme]:
        return extract_themes_offline(tables, business_context, count)

    def generate_pairs(self, theme: Theme, documents: Sequence[str], tables: Sequence[TableInfo],
                       business_context: str, count: int) -> list[QAPair]:
        return generate_pairs_offline(theme, tables, business_context, count)

    def repair_sql(self, items: Sequence[RepairRequest], documents: Sequence[str]) -> list[str | None]:
        return [None for _ in items]
