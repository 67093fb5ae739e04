"""Prompts for the LLM generator. Each asks for one JSON object whose shape ``llm.LLMGenerator`` validates.

Documents are shortened to a character budget (the Markdown documents go first: they hold comments,
sample and enum values), so a large schema still fits the model's context.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from data_pipeline.generation.offline import schema_is_chinese
from data_pipeline.schema.column_values import is_sensitive
from data_pipeline.schema.model import TableInfo, Theme

SYSTEM = (
    "You are a senior data analyst and PostgreSQL expert who prepares training data for a text-to-SQL "
    "assistant. You answer with exactly one JSON value and nothing else: no prose, no code fences."
)


def _language(tables: Sequence[TableInfo], business_context: str) -> str:
    if schema_is_chinese(tables, business_context):
        return "Write all natural-language text (comments, topics, descriptions, questions) in Simplified Chinese."
    return "Write all natural-language text (comments, topics, descriptions, questions) in English."


def _context(business_context: str) -> str:
    return f"Business context: {business_context.strip()}\n" if business_context.strip() else ""


def fit_documents(documents: Sequence[str], budget: int) -> str:
    """Join documents within ``budget`` characters: each shortened evenly, and past ~300 characters each, the
    rest left out with a note (the table names are listed elsewhere in the prompt)."""
    docs = [d.strip() for d in documents if d and d.strip()]
    if not docs:
        return "(no documents)"
    if sum(len(d) + 2 for d in docs) <= budget:
        return "\n\n".join(docs)
    minimum = 300
    shown = docs if len(docs) * minimum <= budget else docs[: max(1, budget // minimum)]
    share = budget // len(shown)
    parts = [d if len(d) <= share else d[:share] + "\n…(shortened)" for d in shown]
    if len(shown) < len(docs):
        parts.append(f"…({len(docs) - len(shown)} more document(s) left out to fit the context)")
    return "\n\n".join(parts)


def json_correction(error: str) -> str:
    return ("Your previous answer could not be used: " + error + "\nReply again with only the JSON value requested "
            "above: no explanation, no Markdown, no code fences.")


def _table_summary(table: TableInfo) -> dict[str, Any]:
    """What the model sees of a table; columns that may hold secrets show no values (enum type labels aside)."""
    return {
        "table": table.ref.display,
        "comment": table.comment,
        "columns": [
            {k: v for k, v in {
                "name": c.name, "type": c.data_type, "comment": c.comment,
                "primary_key": c.is_primary_key or None, "not_null": (not c.nullable) or None,
                "enum_values": c.enum_values[:20] if c.enum_values and (
                    c.base_type == "enum" or not is_sensitive(c)) else None,
                "samples": None if is_sensitive(c) else c.sample_values[:5] or None,
            }.items() if v is not None}
            for c in table.columns
        ],
        "foreign_keys": [fk.definition for fk in table.foreign_keys] or None,
    }


def describe_table(table: TableInfo, business_context: str) -> str:
    summary = json.dumps(_table_summary(table), ensure_ascii=False, indent=1)
    return (
        f"{_context(business_context)}"
        "Write a short business comment for the table below and for EVERY one of its columns.\n"
        "Keep an existing comment's meaning; use the column names, types, sample and enum values to infer the "
        "meaning of the others. Comments are plain text of at most 60 characters, without quotes.\n"
        f"{_language([table], business_context)}\n"
        "Answer with a JSON object of this shape, using the exact column names as keys:\n"
        '{"table_comment": "...", "columns": {"<column name>": "<comment>", ...}}\n\n'
        f"Table:\n{summary}"
    )


def extract_themes(documents: Sequence[str], tables: Sequence[TableInfo], business_context: str, count: int,
                   budget: int) -> str:
    names = ", ".join(t.ref.display for t in tables)
    return (
        f"{_context(business_context)}"
        f"From the table documentation below, identify {count} distinct business analysis themes a user of this "
        "database would ask questions about (for example sales trends, traffic, operations, rankings).\n"
        f"related_tables must only contain names from this list: {names}.\n"
        f"{_language(tables, business_context)}\n"
        "Answer with a JSON object of this shape:\n"
        '{"themes": [{"topic": "...", "description": "...", "related_tables": ["..."], '
        '"business_entities": ["..."], "metrics": ["..."]}]}\n\n'
        f"Documentation:\n{fit_documents(documents, budget)}"
    )


def generate_pairs(theme: Theme, documents: Sequence[str], tables: Sequence[TableInfo], business_context: str,
                   count: int, budget: int) -> str:
    theme_json = json.dumps(theme.model_dump(), ensure_ascii=False)
    return (
        f"{_context(business_context)}"
        f"Write {count} different questions a business user would ask about the theme below, each with the "
        "PostgreSQL query that answers it.\n"
        "Rules for the SQL: exactly one SELECT statement ending with ';'; only tables and columns that appear in "
        "the documentation; double-quote identifiers that are not lower-case ASCII or are reserved words; give "
        "computed columns readable aliases; exclude logically deleted rows when the table has a delete flag; use "
        "LIMIT for top-N questions. Questions must be answerable by their SQL and cover counts, trends over time, "
        "rankings, comparisons and breakdowns.\n"
        f"{_language(tables, business_context)}\n"
        "Answer with a JSON object of this shape:\n"
        '{"pairs": [{"question": "...", "sql": "SELECT ...;"}]}\n\n'
        f"Theme: {theme_json}\n\nDocumentation:\n{fit_documents(documents, budget)}"
    )


def repair_sql(items: Sequence[Any], documents: Sequence[str], budget: int) -> str:
    listing = json.dumps([{"index": i + 1, "question": getattr(item, "question", ""), "sql": item.sql,
                           "error": item.error} for i, item in enumerate(items)], ensure_ascii=False, indent=1)
    return (
        "Each PostgreSQL query below failed EXPLAIN on the database with the error shown. Correct each one so "
        "that it answers its question and runs on the schema in the documentation: exactly one statement ending "
        "with ';'. If a query cannot be corrected, give null as its sql.\n"
        "Answer with a JSON object of this shape, one entry per index:\n"
        '{"items": [{"index": 1, "sql": "SELECT ...;"}]}\n\n'
        f"Queries:\n{listing}\n\nDocumentation:\n{fit_documents(documents, budget)}"
    )
