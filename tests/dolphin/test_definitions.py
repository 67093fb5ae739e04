"""Definitions, ownership and reassignment, versions (snapshot, diff, rollback), lineage counts."""

from __future__ import annotations

import pytest

from dolphin_publisher.errors import ConflictError, CronConversionError, NotFoundError, WorkflowValidationError
from dolphin_publisher.models import ReassignMode, TaskSpec, WorkflowFile, WorkflowStatus
from dolphin_publisher.runtime import Runtime

from .conftest import chain_spec


def _tasks(*ids: str) -> list[TaskSpec]:
    return [TaskSpec(task_id=t, command=f"run {t}") for t in ids]


def _members(runtime: Runtime, workflow_id: int) -> tuple[list[str], list[tuple[str, str]]]:
    detail = runtime.workflows.get(workflow_id)
    return sorted(t.task_id for t in detail.tasks), sorted(tuple(e) for e in detail.dependencies)


def test_create_stores_definition_entry_exit_and_first_version(runtime: Runtime) -> None:
    spec = WorkflowFile(name="diamond", tasks=_tasks("a", "b", "c", "d"),
                        dependencies=[("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])
    ref = runtime.workflows.create(spec, operator="alice")
    detail = runtime.workflows.get(ref.workflow_id)
    assert (detail.entry_task_ids, detail.exit_task_ids) == (["a"], ["d"])
    assert detail.status == WorkflowStatus.DRAFT and detail.current_version == 1 and detail.task_count == 4
    (version,) = runtime.versions.list(ref.workflow_id)
    assert version.change_summary["summary"] == "created with 4 tasks and 4 dependencies"
    assert version.created_by == "alice"


@pytest.mark.parametrize(("spec", "message"), [
    (WorkflowFile(name="empty"), "has no tasks"),
    (WorkflowFile(name="selfloop", tasks=_tasks("a"), dependencies=[("a", "a")]), "cycle: a → a"),
    (WorkflowFile(name="dangling", tasks=_tasks("a"), dependencies=[("a", "zzz")]), "refers to zzz"),
    (WorkflowFile(name="nocmd", tasks=[TaskSpec(task_id="a")]), "without a command: a"),
    (WorkflowFile(name="sql", tasks=[TaskSpec(task_id="q", type="SQL", sql="select 1")]),
     "need both sql and datasource"),
    (WorkflowFile(name="dupname", tasks=[TaskSpec(task_id="a", name="x", command="1"),
                                         TaskSpec(task_id="b", name="x", command="2")]), "task name 'x'"),
    (WorkflowFile(name="dupid", tasks=_tasks("a", "a")), "listed twice: a"),
    (WorkflowFile(name="badcron", tasks=_tasks("a"), schedule={"cron": "0 0 1 * 1"}), "restricts both"),
    (WorkflowFile(name="badtz", tasks=_tasks("a"), schedule={"cron": "@daily", "timezone": "Mars/Base"}),
     "unknown time zone"),
])
def test_invalid_definitions_are_rejected(runtime: Runtime, spec: WorkflowFile, message: str) -> None:
    with pytest.raises(WorkflowValidationError) as info:
        runtime.workflows.create(spec, operator="t")
    assert message in info.value.message
    assert runtime.workflows.list()[1] == 0


def test_duplicate_workflow_name_is_a_conflict(runtime: Runtime) -> None:
    runtime.workflows.create(chain_spec("same", 1, prefix="s1"), operator="t")
    with pytest.raises(ConflictError, match="already exists"):
        runtime.workflows.create(chain_spec("same", 1, prefix="s2"), operator="t")


def test_update_without_change_makes_no_version_and_change_is_diffed(runtime: Runtime) -> None:
    ref = runtime.workflows.create(chain_spec("ver", 3), operator="t")
    same = runtime.workflows.update(ref.workflow_id, chain_spec("ver", 3), operator="t")
    assert (same.version, same.changed) == (1, False)
    changed_spec = chain_spec("ver", 4)
    changed_spec.tasks[0].command = "echo changed"
    changed_spec.description = "now with four"
    ref2 = runtime.workflows.update(ref.workflow_id, changed_spec, operator="t")
    assert ref2.version == 2
    diff = runtime.versions.diff(ref.workflow_id, 1, 2)
    assert diff["tasks_added"] == ["ver_t3"]
    assert diff["dependencies_added"] == [["ver_t2", "ver_t3"]]
    assert diff["tasks_changed"] == {"ver_t0": {"command": {"from": "echo step 0", "to": "echo changed"}}}
    assert diff["properties_changed"] == {"description": {"from": "", "to": "now with four"}}
    assert runtime.versions.get(ref.workflow_id, 2).change_summary["tasks_added"] == ["ver_t3"]


def test_rollback_creates_a_new_version_with_old_content(runtime: Runtime) -> None:
    ref = runtime.workflows.create(chain_spec("rb", 2), operator="t")
    runtime.workflows.update(ref.workflow_id, chain_spec("rb", 4), operator="t")
    back = runtime.versions.rollback(ref.workflow_id, 1, operator="t")
    assert back.version == 3
    assert _members(runtime, ref.workflow_id)[0] == ["rb_t0", "rb_t1"]
    v3 = runtime.versions.get(ref.workflow_id, 3)
    assert v3.trigger_source == "rollback" and v3.change_summary["rolled_back_to"] == 1
    assert v3.content_hash == runtime.versions.get(ref.workflow_id, 1).content_hash
    tasks, _ = runtime.workflows.list_tasks(workflow_id=ref.workflow_id)
    assert sorted(t.task_id for t in tasks) == ["rb_t0", "rb_t1"]  # relations follow the rollback
    with pytest.raises(NotFoundError):
        runtime.versions.rollback(ref.workflow_id, 99, operator="t")


def _two_workflows(runtime: Runtime) -> tuple[int, int]:
    source = runtime.workflows.create(
        WorkflowFile(name="source", tasks=_tasks("s1", "s2", "s3", "s4", "s5"),
                     dependencies=[("s1", "s2"), ("s2", "s3"), ("s3", "s4"), ("s1", "s5")]), operator="t")
    target = runtime.workflows.create(WorkflowFile(name="target", tasks=_tasks("t1")), operator="t")
    return source.workflow_id, target.workflow_id


def test_reassign_only_this_task_bridges_the_gap(runtime: Runtime) -> None:
    source, target = _two_workflows(runtime)
    with pytest.raises(ConflictError, match="choose a reassignment mode"):
        runtime.workflows.assign_tasks(target, ["s2"], mode=None, dependencies=None, operator="t")
    runtime.workflows.reassign_task("s2", target, mode=ReassignMode.ONLY_THIS, operator="t")
    assert _members(runtime, source) == (["s1", "s3", "s4", "s5"], [("s1", "s3"), ("s1", "s5"), ("s3", "s4")])
    assert _members(runtime, target)[0] == ["s2", "t1"]
    summary = runtime.versions.get(source, 2).change_summary
    assert summary["reassigned_to"] == {"workflow": "target", "tasks": ["s2"]}
    moved = {t.task_id: t for t in runtime.workflows.list_tasks(workflow_id=target)[0]}
    assert moved["s2"].workflow_inheritance_mode == "only_this" and moved["t1"].workflow_inheritance_mode is None


def test_reassign_cascade_downstream_moves_descendants_with_their_edges(runtime: Runtime) -> None:
    source, target = _two_workflows(runtime)
    runtime.workflows.reassign_task("s2", target, mode=ReassignMode.CASCADE_DOWNSTREAM, operator="t")
    assert _members(runtime, source) == (["s1", "s5"], [("s1", "s5")])
    assert _members(runtime, target) == (["s2", "s3", "s4", "t1"], [("s2", "s3"), ("s3", "s4")])


def test_reassign_cascade_both_moves_ancestors_and_descendants(runtime: Runtime) -> None:
    source, target = _two_workflows(runtime)
    runtime.workflows.reassign_task("s3", target, mode=ReassignMode.CASCADE_BOTH, operator="t")
    assert _members(runtime, source) == (["s5"], [])
    assert _members(runtime, target)[0] == ["s1", "s2", "s3", "s4", "t1"]


def test_reassignment_that_would_create_a_cycle_changes_nothing(runtime: Runtime) -> None:
    source, target = _two_workflows(runtime)
    with pytest.raises(WorkflowValidationError, match="cycle"):
        runtime.workflows.assign_tasks(target, ["s2"], mode=ReassignMode.ONLY_THIS,
                                       dependencies=[("t1", "s2"), ("s2", "t1")], operator="t")
    assert _members(runtime, source)[0] == ["s1", "s2", "s3", "s4", "s5"]
    assert _members(runtime, target)[0] == ["t1"]
    assert [v.version_no for v in runtime.versions.list(source)] == [1]


def test_lineage_gives_dependencies_and_counts(runtime: Runtime) -> None:
    runtime.workflows.upsert_tasks(_tasks("extract", "transform", "load", "report"))
    resolver = runtime.resolver
    resolver.record_access("extract", writes=["ods.orders"])
    resolver.record_access("transform", reads=["ods.orders"], writes=["dw.orders"])
    resolver.record_access("load", reads=["dw.orders"])
    resolver.record_access("report", reads=["dw.orders", "ods.orders"])
    ref = runtime.workflows.create(WorkflowFile(name="etl", task_ids=["extract", "transform", "load"]), operator="t")
    assert _members(runtime, ref.workflow_id)[1] == [("extract", "transform"), ("transform", "load")]

    tasks = {t.task_id: t for t in runtime.workflows.list_tasks()[0]}
    assert (tasks["transform"].upstream_task_count, tasks["transform"].downstream_task_count) == (1, 2)
    assert tasks["transform"].workflow_name == "etl"
    assert tasks["report"].workflow_id is None
    downstream_of_extract = runtime.workflows.list_tasks(upstream_task_id="extract")[0]
    assert sorted(t.task_id for t in downstream_of_extract) == ["report", "transform"]
    upstream_of_report = runtime.workflows.list_tasks(downstream_task_id="report")[0]
    assert sorted(t.task_id for t in upstream_of_report) == ["extract", "transform"]

    # Adding a task without explicit dependencies derives its edges from lineage too.
    runtime.workflows.assign_tasks(ref.workflow_id, ["report"], mode=None, dependencies=None, operator="t")
    assert ("transform", "report") in _members(runtime, ref.workflow_id)[1]


def test_platform_status_and_delete(runtime: Runtime) -> None:
    ref = runtime.workflows.create(chain_spec("lifecycle", 2), operator="t")
    assert runtime.workflows.set_status(ref.workflow_id, WorkflowStatus.ONLINE, operator="t").status == "online"
    assert runtime.workflows.resolve("lifecycle") == ref.workflow_id == runtime.workflows.resolve(str(ref.workflow_id))
    runtime.workflows.delete(ref.workflow_id)
    with pytest.raises(NotFoundError):
        runtime.workflows.resolve("lifecycle")
    # Its tasks are free again: another workflow can take them without a mode.
    runtime.workflows.create(WorkflowFile(name="heir", task_ids=["lifecycle_t0"]), operator="t")


def test_cron_errors_surface_as_validation_errors() -> None:
    assert issubclass(CronConversionError, WorkflowValidationError)
