"""Sidecars: the structure of each table as ddl_generation saw it, stored for the later steps.

Later steps read the same ``TableInfo`` (with generated comments) that the DDL files were rendered
from, instead of introspecting the business database again.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from data_pipeline.errors import NotFound
from data_pipeline.files.table_list import TableRef
from data_pipeline.files.task_dir import STATE_DIR
from data_pipeline.schema.introspect import introspect_tables
from data_pipeline.schema.model import TableInfo

if TYPE_CHECKING:
    from data_pipeline.steps.context import StepContext

SCHEMA_STATE = "schema"  # <task dir>/.state/schema/<file_stem>.json: one TableInfo per table


def sidecar_path(task_dir: Path, ref: TableRef) -> Path:
    """Under the state directory: a sidecar is not an output file users download."""
    return task_dir / STATE_DIR / SCHEMA_STATE / f"{ref.file_stem}.json"


def read_sidecar(task_dir: Path, ref: TableRef) -> TableInfo | None:
    """The stored structure of ``ref``, or None when missing, unreadable or of another table."""
    try:
        info = TableInfo.model_validate_json(sidecar_path(task_dir, ref).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if info.ref == ref else None


def load_table_infos(ctx: StepContext, tables: Iterable[TableRef]) -> list[TableInfo]:
    """The ``TableInfo`` of each table, from step 1's sidecars; the database only for tables without one.

    Introspected fallbacks carry the database comments only (no generated ones): step 1 writes those.
    """
    refs = list(tables)
    found: dict[TableRef, TableInfo] = {}
    for ref in refs:
        info = read_sidecar(ctx.task_dir, ref)
        if info is not None:
            found[ref] = info
    missing = [r for r in refs if r not in found]
    if missing:
        ctx.log.info(f"{len(missing)} table(s) have no stored structure from ddl_generation; "
                     "reading them from the business database")
        with ctx.business_db.connect(autocommit=False) as conn:
            intro = introspect_tables(conn, missing)
        if intro.missing:
            raise NotFound("tables not found in the business database: "
                           + ", ".join(r.qualified for r in intro.missing), unknown_tables=[
                               r.qualified for r in intro.missing])
        found.update(intro.tables)
    return [found[r] for r in refs]
