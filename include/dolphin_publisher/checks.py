"""Checks a workflow definition must pass before anything is written or sent to DolphinScheduler.

They mirror what DolphinScheduler checks on create/update, so a bad definition fails here with
task ids and every problem at once, instead of later with a bare server code.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping, Sequence

from dolphin_publisher import graph
from dolphin_publisher.cron import to_quartz
from dolphin_publisher.errors import CronConversionError, WorkflowValidationError
from dolphin_publisher.models import ScheduleSpec, TaskSpec, TaskType

Edge = tuple[str, str]
MAX_LISTED = 20  # names listed in one error message before "... and N more"


def listed(items: Sequence[str]) -> str:
    """Names for an error message, cut after ``MAX_LISTED``."""
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f" ... and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


def validate_schedule(schedule: ScheduleSpec | None) -> list[str]:
    if schedule is None:
        return []
    problems = []
    try:
        to_quartz(schedule.cron)
    except CronConversionError as exc:
        problems.append(exc.message)
    try:
        zoneinfo.ZoneInfo(schedule.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory, a name too long
        problems.append(f"unknown time zone {schedule.timezone!r}")
    return problems


def validate_definition(tasks: Mapping[str, TaskSpec], members: Sequence[str],
                        edges: Sequence[Edge]) -> tuple[list[str], list[str]]:
    """Check one definition; return (entry tasks, exit tasks) or raise with every problem found.

    Mirrors the checks DolphinScheduler makes on create/update (empty DAG, task parameters,
    duplicate names, relations to unknown tasks, cycles) so they fail here, with task ids, instead
    of later with a bare server code.
    """
    problems: list[str] = []
    if not members:
        raise WorkflowValidationError("the workflow has no tasks: add at least one task")
    member_set = set(members)
    unknown = [t for t in members if t not in tasks]
    if unknown:
        problems.append(f"unknown tasks: {listed(unknown)}")
    for a, b in edges:
        missing = [t for t in (a, b) if t not in member_set]
        if missing:
            problems.append(f"dependency {a} → {b} refers to {listed(missing)}, not a task of this workflow")
    no_command = [t for t in members if t in tasks and tasks[t].type in (TaskType.SHELL, TaskType.PYTHON)
                  and not (tasks[t].command or "").strip()]
    if no_command:
        problems.append(f"SHELL/PYTHON tasks without a command: {listed(no_command)}")
    bad_sql = [t for t in members if t in tasks and tasks[t].type is TaskType.SQL
               and (not (tasks[t].sql or "").strip() or tasks[t].datasource is None)]
    if bad_sql:
        problems.append(f"SQL tasks need both sql and datasource: {listed(bad_sql)}")
    by_name: dict[str, list[str]] = {}
    for t in members:
        if t in tasks:
            by_name.setdefault(tasks[t].name, []).append(t)
    for name, ids in by_name.items():
        if len(ids) > 1:
            problems.append(f"task name {name!r} is used by several tasks ({listed(ids)}); names must be unique")
    if problems:
        raise WorkflowValidationError("; ".join(problems), problems=problems)
    cycle = graph.find_cycle(members, edges)
    if cycle:
        path = " → ".join(cycle)
        raise WorkflowValidationError(f"the dependencies form a cycle: {path}", details={"cycle": cycle})
    entry, exit_ = graph.roots_and_leaves(members, edges)
    return entry, exit_
