"""What the API needs from its host (Airflow): who the caller is, may they, and how runs start."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import Request

from data_pipeline.tasks.store import TaskRecord


@dataclass(frozen=True)
class Principal:
    name: str


class AccessControl(Protocol):
    """FastAPI dependencies: ``read`` for GET routes, ``write`` for routes that change or run things.

    Each returns the caller or raises HTTPException 401 (not authenticated) / 403 (not allowed).
    """

    read: Callable[..., Any]
    write: Callable[..., Any]


class RunLauncher(Protocol):
    dag_id: str

    def trigger(self, request: Request, task_id: str, execution_mode: str, step_name: str | None) -> str:
        """Start a DAG run whose conf holds only the task id and mode; return the run id."""
        ...

    def run_state(self, request: Request, task: TaskRecord) -> str | None:
        """State of the task's linked run (queued, running, success, failed) or None if there is none."""
        ...
