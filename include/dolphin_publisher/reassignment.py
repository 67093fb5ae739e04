"""Moving tasks between workflows: which tasks move together, and what the giving workflow keeps.

A task belongs to one workflow. Taking it (and, by mode, its downstream or whole connected part)
gives the source workflow a new version without those tasks; paths that ran through them are kept
as direct edges so the remaining order stays the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from dolphin_publisher import graph
from dolphin_publisher.models import ReassignMode, TriggerSource, WorkflowSnapshot
from dolphin_publisher.repository import Repo, Row
from dolphin_publisher.versions import diff_snapshots, snapshot_dict, snapshot_hash


@dataclass
class SourceChange:
    """A workflow that loses tasks to a reassignment."""

    row: Row
    snapshot: WorkflowSnapshot
    moved: set[str]


def moving_with(snapshot: WorkflowSnapshot, task_id: str, mode: ReassignMode) -> set[str]:
    """The tasks that move with ``task_id`` under ``mode``, in the graph of its current workflow."""
    selected = {task_id}
    if mode is ReassignMode.ONLY_THIS:
        return selected
    nodes = [t.task_id for t in snapshot.tasks]
    succ, pred = graph.adjacency(nodes, snapshot.dependencies)
    selected |= graph.reachable([task_id], succ)
    if mode is ReassignMode.CASCADE_BOTH:
        selected |= graph.reachable([task_id], pred)
    return selected


def shrink_source(repo: Repo, source_id: int, change: SourceChange, *, operator: str, target: str) -> None:
    """New version of a workflow that gave tasks away; paths through them are kept as edges."""
    old = change.snapshot
    nodes = [t.task_id for t in old.tasks]
    edges = graph.remove_nodes_keep_order(nodes, old.dependencies, change.moved)
    remaining = [t for t in old.tasks if t.task_id not in change.moved]
    ids = [t.task_id for t in remaining]
    entry, exit_ = graph.roots_and_leaves(ids, edges)
    snapshot = old.model_copy(update={"tasks": remaining, "dependencies": edges, "entry_task_ids": entry,
                                      "exit_task_ids": exit_})
    summary = diff_snapshots(old, snapshot)
    summary["reassigned_to"] = {"workflow": target, "tasks": sorted(change.moved)}
    version = repo.insert_version(source_id, snapshot_dict(snapshot), summary, snapshot_hash(snapshot),
                                  TriggerSource.REASSIGNMENT.value, operator)
    repo.set_definition(source_id, name=old.name, description=old.description,
                        definition=snapshot_dict(snapshot), version_id=int(version["id"]), entry=entry,
                        exit_=exit_, updated_by=operator)
    repo.sync_relations(source_id, ids, int(version["id"]), {})
