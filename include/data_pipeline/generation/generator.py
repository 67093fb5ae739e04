"""The text generator behind steps 1-3: an OpenAI-compatible LLM or the offline generator.

Both implement ``Generator``, so steps never know which one runs. The LLM is chosen when the
``llm_default`` connection or ``DATA_PIPELINE_LLM_BASE_URL`` is configured; otherwise the offline,
deterministic generator is used (no network).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from data_pipeline.schema.model import QAPair, TableComments, TableInfo, Theme


class RepairRequest(Protocol):
    sql: str
    error: str
    question: str


@runtime_checkable
class Generator(Protocol):
    name: str  # "offline" or "llm:<model>"; recorded in results and state fingerprints

    def describe_table(self, table: TableInfo, business_context: str) -> TableComments:
        """Table and column comments for a table whose database comments are missing."""
        ...

    def extract_themes(self, documents: Sequence[str], tables: Sequence[TableInfo], business_context: str,
                       count: int) -> list[Theme]:
        """Business themes from the DDL/Markdown documents (and the parsed tables)."""
        ...

    def generate_pairs(self, theme: Theme, documents: Sequence[str], tables: Sequence[TableInfo],
                       business_context: str, count: int) -> list[QAPair]:
        """Question/SQL pairs for one theme; SQL is one PostgreSQL statement ending with ';'."""
        ...

    def repair_sql(self, items: Sequence[RepairRequest], documents: Sequence[str]) -> list[str | None]:
        """A corrected SQL per item, or None where no repair is offered (the offline generator)."""
        ...


LLM_CONN_ID = "llm_default"  # the same id ``llm.llm_settings`` reads
LLM_BASE_URL_ENV = "DATA_PIPELINE_LLM_BASE_URL"


def make_generator() -> Generator:
    """The configured generator: LLM if configured, else offline.

    Without any LLM setting the LLM module (httpx, tenacity, sqlparse, prompts: a sizeable share of a
    CLI run's start-up) is never imported; ``llm.llm_settings`` decides everything else.
    """
    if _llm_may_be_configured():
        from data_pipeline.generation import llm

        settings = llm.llm_settings()
        if settings is not None:
            return llm.LLMGenerator(llm.ChatClient(settings))
    from data_pipeline.generation.offline import OfflineGenerator

    return OfflineGenerator()


def _llm_may_be_configured() -> bool:
    """False only when neither source ``llm.llm_settings`` reads has a value (then it would say offline)."""
    if (os.environ.get(LLM_BASE_URL_ENV) or "").strip():
        return True
    from platform_db import get_connection

    conn = get_connection(LLM_CONN_ID)
    return conn is not None and bool(conn.host)
