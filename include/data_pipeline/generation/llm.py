"""The LLM implementation of the ``Generator`` protocol: prompts out, validated answers in.

The model's answers are checked against what was asked: comments only for columns the table has,
themes only over the listed tables, SQL exactly one statement. What fails the check is dropped (and
logged) or filled in offline, never passed on. Transport, retries and JSON parsing are ``chat``'s;
where the endpoint is and how to call it is ``endpoint``'s.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

import sqlparse

from data_pipeline.config import LLM_CONN_ID
from data_pipeline.generation import prompts
from data_pipeline.generation.base import RepairRequest
from data_pipeline.generation.chat import CODE_FENCE, ChatClient, LLMError, LLMResponseError, excerpt
from data_pipeline.generation.endpoint import LLMSettings, llm_settings
from data_pipeline.generation.offline import describe_table_offline
from data_pipeline.schema.model import QAPair, TableComments, TableInfo, Theme

__all__ = ["LLM_CONN_ID", "ChatClient", "LLMError", "LLMGenerator", "LLMResponseError", "LLMSettings", "clean_sql",
           "llm_settings"]
log = logging.getLogger("data_pipeline.generation.llm")


# -- answer validation -----------------------------------------------------------------------


def clean_sql(text: str) -> str | None:
    """One PostgreSQL statement ending with ';', fences and surrounding blanks removed; None otherwise."""
    if not isinstance(text, str):
        return None
    sql = text.strip()
    fenced = CODE_FENCE.match(sql)
    if fenced:
        sql = fenced.group("body").strip()
    statements = [s.strip() for s in sqlparse.split(sql) if s.strip() and s.strip() != ";"]
    statements = [s for s in statements if sqlparse.format(s, strip_comments=True).strip().rstrip(";").strip()]
    if len(statements) != 1:
        return None
    sql = statements[0]
    if not sql.endswith(";"):
        # a trailing line comment would swallow the semicolon
        sql = sql + ("\n;" if "--" in sql.rsplit("\n", 1)[-1] else ";")
    return sql


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [v for v in re.split(r"[,，、;；]", value)]
    if not isinstance(value, list):
        return []
    return [str(v).strip() for v in value if isinstance(v, str | int | float) and str(v).strip()]


def _table_names(tables: Sequence[TableInfo]) -> dict[str, str]:
    """Every way an answer may name a table (lower-cased) -> how we name it (``TableRef.display``)."""
    names: dict[str, str] = {}
    for table in tables:
        shown = table.ref.display
        for alias in (table.name, f"{table.schema_name}.{table.name}", shown, table.ref.qualified):
            names.setdefault(alias.lower(), shown)
            names.setdefault(alias.replace('"', "").lower(), shown)
    return names


def _items(answer: Any, key: str) -> list[Any]:
    """``answer[key]`` if it is a list, or the answer itself if the model returned a bare list."""
    if isinstance(answer, list):
        return answer
    if isinstance(answer, dict):
        value = answer.get(key)
        if isinstance(value, list):
            return value
        lists = [v for v in answer.values() if isinstance(v, list)]
        if len(lists) == 1:
            return lists[0]
    return []


class LLMGenerator:
    """``generator.Generator`` backed by an OpenAI-compatible chat model."""

    def __init__(self, client: ChatClient) -> None:
        self.client = client
        self.name = f"llm:{client.settings.model}"
        self.concurrency = client.settings.concurrency

    # -- step 1 ------------------------------------------------------------------------------

    def describe_table(self, table: TableInfo, business_context: str) -> TableComments:
        purpose = f"comments of table {table.ref.display}"
        answer = self.client.complete_json(prompts.SYSTEM, prompts.describe_table(table, business_context), purpose)
        if not isinstance(answer, dict):
            raise LLMResponseError(f"LLM answer for {purpose} is not a JSON object")
        fallback = describe_table_offline(table, business_context)
        table_comment = str(answer.get("table_comment") or "").strip() or fallback.table_comment
        raw = answer.get("columns") or answer.get("column_comments") or {}
        proposed: dict[str, str] = {}
        if isinstance(raw, dict):
            proposed = {str(k): str(v).strip() for k, v in raw.items() if isinstance(v, str | int | float)}
        elif isinstance(raw, list):
            for entry in raw:
                if isinstance(entry, dict) and entry.get("name") is not None and entry.get("comment") is not None:
                    proposed[str(entry["name"])] = str(entry["comment"]).strip()
        by_exact = {c.name: c.name for c in table.columns}
        by_lower: dict[str, list[str]] = {}
        for column in table.columns:
            by_lower.setdefault(column.name.lower(), []).append(column.name)
        comments: dict[str, str] = {}
        unknown: list[str] = []
        for name, text in proposed.items():
            target = by_exact.get(name) or by_exact.get(name.strip('"'))
            if target is None and len(by_lower.get(name.strip('"').lower(), [])) == 1:
                target = by_lower[name.strip('"').lower()][0]
            if target is None or not text:
                unknown.append(name)
                continue
            comments.setdefault(target, text)
        missing = [c.name for c in table.columns if c.name not in comments]
        if unknown:
            log.warning("LLM proposed comments for columns %s that table %s does not have; ignored",
                        ", ".join(unknown[:20]), table.ref.display)
        if missing:
            log.warning("LLM gave no comment for column(s) %s of %s; derived them from the names",
                        ", ".join(missing[:20]), table.ref.display)
            for name in missing:
                comments[name] = fallback.column_comments.get(name, name)
        ordered = {c.name: comments[c.name] for c in table.columns}
        return TableComments(table_comment=table_comment, column_comments=ordered)

    # -- step 2 ------------------------------------------------------------------------------

    def extract_themes(self, documents: Sequence[str], tables: Sequence[TableInfo], business_context: str,
                       count: int) -> list[Theme]:
        purpose = f"extraction of {count} business themes"
        user = prompts.extract_themes(documents, tables, business_context, count, self.client.settings.max_prompt_chars)
        answer = self.client.complete_json(prompts.SYSTEM, user, purpose)
        known = _table_names(tables)
        themes: list[Theme] = []
        seen: set[str] = set()
        for entry in _items(answer, "themes"):
            if not isinstance(entry, dict):
                continue
            topic = str(entry.get("topic") or entry.get("topic_name") or entry.get("name") or "").strip()
            if not topic or topic.lower() in seen:
                continue
            related: list[str] = []
            dropped: list[str] = []
            for name in _strings(entry.get("related_tables") or entry.get("tables")):
                shown = known.get(name.lower()) or known.get(name.replace('"', "").lower())
                if shown is None:
                    dropped.append(name)
                elif shown not in related:
                    related.append(shown)
            if dropped:
                log.warning("theme %r names unknown tables %s; ignored", topic, ", ".join(dropped))
            if not related:
                log.warning("theme %r names none of the listed tables; dropped", topic)
                continue
            seen.add(topic.lower())
            themes.append(Theme(
                topic=topic, description=str(entry.get("description") or "").strip(), related_tables=related,
                business_entities=_strings(entry.get("business_entities") or entry.get("biz_entities")),
                metrics=_strings(entry.get("metrics") or entry.get("biz_metrics")),
            ))
        if not themes:
            raise LLMResponseError(f"LLM answer for {purpose} holds no usable theme (each needs a topic and at least "
                                   f"one of the listed tables): {excerpt(json.dumps(answer, ensure_ascii=False))!r}")
        return themes[:count]

    def generate_pairs(self, theme: Theme, documents: Sequence[str], tables: Sequence[TableInfo],
                       business_context: str, count: int) -> list[QAPair]:
        purpose = f"question/SQL pairs for theme {theme.topic!r}"
        user = prompts.generate_pairs(theme, documents, tables, business_context, count,
                                      self.client.settings.max_prompt_chars)
        answer = self.client.complete_json(prompts.SYSTEM, user, purpose)
        pairs: list[QAPair] = []
        dropped = 0
        for entry in _items(answer, "pairs"):
            if not isinstance(entry, dict):
                dropped += 1
                continue
            question = str(entry.get("question") or "").strip()
            sql = clean_sql(str(entry.get("sql") or ""))
            if not question or sql is None:
                dropped += 1
                continue
            pairs.append(QAPair(question=question, sql=sql))
        if dropped:
            log.warning("%d pair(s) for theme %r dropped: no question, or SQL that is not exactly one statement",
                        dropped, theme.topic)
        return pairs[:count]

    # -- step 3 ------------------------------------------------------------------------------

    def repair_sql(self, items: Sequence[RepairRequest], documents: Sequence[str], *,
                   batch_size: int = 10) -> list[str | None]:
        """A corrected SQL per item (same order); None where the model offers nothing usable."""
        results: list[str | None] = []
        for start in range(0, len(items), batch_size):
            batch = items[start:start + batch_size]
            purpose = f"repair of SQL items {start + 1}-{start + len(batch)}"
            user = prompts.repair_sql(batch, documents, self.client.settings.max_prompt_chars)
            answer = self.client.complete_json(prompts.SYSTEM, user, purpose)
            fixed: dict[int, str | None] = {}
            for position, entry in enumerate(_items(answer, "items")):
                if not isinstance(entry, dict):
                    continue
                index = entry.get("index", position + 1)
                try:
                    index = int(index)
                except (TypeError, ValueError):
                    continue
                raw = entry.get("sql")
                fixed[index] = clean_sql(raw) if isinstance(raw, str) and raw.strip() else None
            results.extend(fixed.get(i + 1) for i in range(len(batch)))
        return results
