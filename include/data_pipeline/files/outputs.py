"""Registering a task's output files (type, size, SHA-256, primary flag) at the end of a run."""

from __future__ import annotations

import re
from pathlib import Path

from data_pipeline.files.task_dir import iter_files
from data_pipeline.steps.state import sha256_file
from data_pipeline.tasks.store import OutputRecord

_PRIMARY = re.compile(r"(_pair\.json|^metadata\.txt|_summary\.log|^task_result\.json)$")
_DESCRIPTIONS = {
    ".ddl": "table DDL", "_detail.md": "table documentation", "_pair.json": "question/SQL pairs",
    "metadata.txt": "theme metadata (SQL)", "metadata_detail.md": "theme metadata (Markdown)",
    "_summary.log": "SQL validation summary", "filename_mapping.txt": "table to file mapping",
    "data_pipeline.log": "task log", "task_result.json": "task result", "task_config.json": "task configuration",
}


def describe(name: str) -> str | None:
    for suffix, text in _DESCRIPTIONS.items():
        if name.endswith(suffix):
            return text
    return None


def scan_outputs(task_dir: Path) -> list[OutputRecord]:
    """Every visible top-level file of the task directory (backups and state are not outputs)."""
    records = []
    for info in iter_files(task_dir, recursive=False):
        records.append(OutputRecord(
            file_type=info.file_type, file_name=info.name, file_path=info.path, file_size=info.size,
            content_hash=sha256_file(task_dir / info.path), description=describe(info.name),
            is_primary=bool(_PRIMARY.search(info.name)), is_downloadable=True, modified_at=info.modified_at,
        ))
    return records
