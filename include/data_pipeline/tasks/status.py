"""Task and step statuses.

``StrEnum`` members are ``str``: they compare equal to the plain strings other code and the API
use, serialise to the same JSON, and go to PostgreSQL as their value.
"""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    PARTIAL_COMPLETED = "partial_completed"
    COMPLETED = "completed"
    FAILED = "failed"

    def is_terminal(self) -> bool:
        """A finished execution: the task holds no claim and may be executed (or deleted) again."""
        return self in _TERMINAL_TASK

    @classmethod
    def terminal(cls) -> frozenset[TaskStatus]:
        return _TERMINAL_TASK


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"

    def is_terminal(self) -> bool:
        """The step will not change any more in this execution."""
        return self in _TERMINAL_STEP

    def is_unfinished(self) -> bool:
        """Selected for the execution but not done: waiting or interrupted while running."""
        return self in (StepStatus.PENDING, StepStatus.RUNNING)


_TERMINAL_TASK = frozenset({TaskStatus.COMPLETED, TaskStatus.PARTIAL_COMPLETED, TaskStatus.FAILED})
_TERMINAL_STEP = frozenset({StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.SKIPPED})
