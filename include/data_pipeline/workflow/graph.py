"""The pipeline as a graph of plain data, built from the step registry; every orchestrator reads it.

Airflow builds the DAG from it (``plugins/data_pipeline_airflow/dag_factory.py``); the
DolphinScheduler import takes each task's command and the order of execution from it. Nodes:
``prepare``, ``backup_existing_files``, per step an Airflow-only ``plan_<step>`` (batched steps:
it plans the batches Airflow maps the step over) and the step, then ``finalize``.

A node's ``argv`` is its CLI command; ``${name}`` in it stands for the run parameter ``name`` (the
DAG param and DolphinScheduler global parameter of that name). An Airflow-only node has no command:
the CLI runs a batched step's batches itself.
"""

from __future__ import annotations

import itertools
import re
import shlex
from dataclasses import dataclass
from typing import Literal

from data_pipeline.steps import registry

NodeKind = Literal["prepare", "backup", "plan", "step", "finalize"]
Edge = tuple[str, str]
CLI: tuple[str, ...] = ("python", "-m", "data_pipeline")
_BARE = re.compile(r"(?:[\w@%+=:,./-]|\$\{\w+\})+")  # shell words that need no quoting (placeholders included)


def param(name: str) -> str:
    """The placeholder of run parameter ``name`` inside a command."""
    return "${" + name + "}"


@dataclass(frozen=True)
class Node:
    id: str
    kind: NodeKind
    argv: tuple[str, ...]
    description: str
    step: str | None = None
    airflow_only: bool = False
    mapped: bool = False
    planned_by: str | None = None
    """For a mapped node: the node whose result is the list of batches."""

    def shell_command(self) -> str:
        """The command as one shell line; placeholders stay bare so the scheduler can substitute them."""
        return " ".join(arg if _BARE.fullmatch(arg) else shlex.quote(arg) for arg in self.argv)


@dataclass(frozen=True)
class PipelineGraph:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]

    def node(self, node_id: str) -> Node:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    @property
    def node_ids(self) -> tuple[str, ...]:
        return tuple(node.id for node in self.nodes)

    def chain_text(self) -> str:
        """The order of execution in one line of markdown (DAG documentation)."""
        return " → ".join(f"`{n.id}`" + (" (mapped batches)" if n.mapped else "") for n in self.nodes)


def _task_args() -> tuple[str, ...]:
    return ("--task-id", param("task_id"))


def pipeline_graph() -> PipelineGraph:
    """The graph for the steps registered now, in their order."""
    nodes = [
        Node("prepare", "prepare",
             (*CLI, "prepare", *_task_args(), "--execution-mode", param("execution_mode"),
              "--step-name", param("step_name")),
             "Resolve or create the task, install its config, mark it running."),
        Node("backup_existing_files", "backup",
             (*CLI, "backup-task", *_task_args(), "--execution-mode", param("execution_mode")),
             "Complete runs: move the previous run's files into file_bak_<time>/."),
    ]
    for spec in registry.all_steps():
        planner = None
        if spec.batched:
            planner = f"plan_{spec.name}"
            nodes.append(Node(planner, "plan", (), f"Plan the batches of {spec.name}.", step=spec.name,
                              airflow_only=True))
        nodes.append(Node(spec.name, "step", (*CLI, "step", *_task_args(), "--step-name", spec.name),
                          f"{spec.title}: {spec.description}", step=spec.name, mapped=spec.batched,
                          planned_by=planner))
    nodes.append(Node("finalize", "finalize", (*CLI, "finalize", *_task_args()),
                      "Register the outputs and set the task's final status."))
    edges = tuple((a.id, b.id) for a, b in itertools.pairwise(nodes))
    return PipelineGraph(nodes=tuple(nodes), edges=edges)
