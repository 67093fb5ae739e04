"""What every text generator offers steps 1-3, apart from any implementation.

The steps, the LLM generator and the offline generator all depend on this module and on nothing of
each other, so choosing a generator (``generator.make_generator``) never closes an import cycle.
"""

from __future__ import annotations

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
