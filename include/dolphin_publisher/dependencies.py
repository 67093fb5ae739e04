"""The lineage-based dependency resolver (seed §4.6).

A task that writes table X is upstream of every task that reads X. Lineage comes from
``table_task_relation`` (task → table, READ/WRITE) and ``data_lineage`` (source → target table by a
task). The resolver materialises those edges, plus the edges users drew in workflows, into
``task_dependency_view`` and writes the upstream/downstream counts the task list shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dolphin_publisher.repository import Database, Repo


class DependencyResolver:
    def __init__(self, db: Database) -> None:
        self.db = db

    def refresh(self) -> dict[str, Any]:
        with self.db.transaction() as repo:
            return refresh_in(repo)

    def edges_among(self, task_ids: Sequence[str]) -> list[tuple[str, str]]:
        with self.db.connect() as conn:
            return lineage_edges_among(Repo(conn), task_ids)

    def record_access(self, task_id: str, *, reads: Sequence[str] = (), writes: Sequence[str] = ()) -> None:
        """Register which tables a task reads and writes (what a lineage collector would do)."""
        with self.db.transaction() as repo:
            for table in reads:
                repo.add_table_access(task_id, table, "READ")
            for table in writes:
                repo.add_table_access(task_id, table, "WRITE")
            refresh_in(repo)


def lineage_edges_among(repo: Repo, task_ids: Sequence[str]) -> list[tuple[str, str]]:
    """Lineage edges whose both ends are in ``task_ids`` (used to derive a workflow's DAG)."""
    return sorted({(row["upstream"], row["downstream"]) for row in repo.lineage_edges(task_ids)})


def refresh_in(repo: Repo) -> dict[str, Any]:
    """Rebuild the dependency view and the relation counts inside the caller's transaction."""
    rows: list[tuple[str, str, str, str]] = [
        (row["upstream"], row["downstream"], "lineage", row["via_table"]) for row in repo.lineage_edges()
    ]
    rows.extend((row["upstream"], row["downstream"], "workflow", "") for row in repo.all_workflow_edges())
    repo.replace_dependency_view(rows)
    repo.refresh_relation_counts()
    return {"edges": len(rows)}
