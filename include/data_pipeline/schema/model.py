"""What introspection learns about a business table; written by ddl_generation, read by later steps.

Step 1 stores one ``TableInfo`` per table as JSON in the task's hidden state folder, so qa_generation
and sql_validation can use the structure without parsing the human-oriented ``.ddl``/``.md`` files.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from data_pipeline.files.table_list import TableRef


class ForeignKey(BaseModel):
    name: str
    columns: list[str]
    ref_schema: str
    ref_table: str
    ref_columns: list[str]
    definition: str  # pg_get_constraintdef, e.g. FOREIGN KEY (a) REFERENCES b(id) ON DELETE CASCADE


class ColumnInfo(BaseModel):
    name: str
    data_type: str  # format_type(): e.g. numeric(19,4), character varying(50), integer[]
    nullable: bool = True
    default: str | None = None
    identity: str | None = None  # 'ALWAYS' | 'BY DEFAULT' | None
    generated: str | None = None  # generation expression of a stored generated column
    comment: str | None = None
    comment_generated: bool = False  # True when the comment was written by the generator, not the DB
    is_primary_key: bool = False
    enum_values: list[str] | None = None  # enum type labels or the distinct values of an enum-like column
    sample_values: list[str] = Field(default_factory=list)
    base_type: str | None = None  # 'numeric', 'text', 'date', 'timestamp', 'boolean', 'integer', 'enum', ...

    @property
    def is_numeric(self) -> bool:
        return self.base_type in {"integer", "numeric", "float"}

    @property
    def is_temporal(self) -> bool:
        return self.base_type in {"date", "timestamp"}

    @property
    def is_text(self) -> bool:
        return self.base_type in {"text", "enum"}


class TableInfo(BaseModel):
    schema_name: str
    name: str
    kind: str = "table"  # table | partitioned table
    comment: str | None = None
    comment_generated: bool = False
    columns: list[ColumnInfo]
    primary_key: list[str] = Field(default_factory=list)
    primary_key_name: str | None = None
    unique_constraints: list[dict[str, Any]] = Field(default_factory=list)  # {name, definition}
    check_constraints: list[dict[str, Any]] = Field(default_factory=list)  # {name, definition}
    foreign_keys: list[ForeignKey] = Field(default_factory=list)
    partition_key: str | None = None  # pg_get_partkeydef for partitioned tables
    partition_of: str | None = None  # parent (qualified as PostgreSQL prints it) when this table is a partition
    partition_bound: str | None = None  # e.g. FOR VALUES FROM ('2024-01-01') TO ('2024-02-01')
    row_estimate: int = 0
    sample_rows: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def ref(self) -> TableRef:
        return TableRef(self.schema_name, self.name)

    def column(self, name: str) -> ColumnInfo | None:
        return next((c for c in self.columns if c.name == name), None)


class TableComments(BaseModel):
    """Comments the generator proposes for a table without database comments; keyed by column name."""

    table_comment: str
    column_comments: dict[str, str] = Field(default_factory=dict)


class Theme(BaseModel):
    topic: str
    description: str = ""
    related_tables: list[str] = Field(default_factory=list)
    business_entities: list[str] = Field(default_factory=list)
    metrics: list[str] = Field(default_factory=list)


class QAPair(BaseModel):
    question: str
    sql: str
