"""Publishing against the fake DolphinScheduler over real HTTP, with the platform tables in PostgreSQL."""

from __future__ import annotations

import psycopg
import pytest

from dolphin_publisher.errors import ConflictError, DolphinAuthError, DolphinTransientError, WorkflowValidationError
from dolphin_publisher.models import TaskSpec, WorkflowFile, WorkflowStatus
from dolphin_publisher.repository import Database
from dolphin_publisher.runtime import Runtime

from .conftest import PROJECT_CODE, chain_spec, fast_client, make_config
from .fake_dolphinscheduler import FakeDolphinScheduler

TABLES = ("platform_task", "data_workflow", "workflow_task_relation", "workflow_version", "workflow_publish_record")


def counts(db: Database) -> dict[str, int]:
    with psycopg.connect(db.dsn) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}  # type: ignore[index]


def workflow_row(db: Database, workflow_id: int) -> dict[str, object]:
    with db.connect() as conn:
        row = conn.execute("SELECT * FROM data_workflow WHERE id = %s", (workflow_id,)).fetchone()
    assert row is not None
    return row


def test_end_to_end_create_version_deploy_online_start_sync_offline(runtime: Runtime, fake_ds: FakeDolphinScheduler,
                                                                     db: Database) -> None:
    ref = runtime.workflows.create(chain_spec("daily_sales", 3, cron="30 2 * * *"), operator="alice")
    assert ref.version == 1
    ref2 = runtime.workflows.update(ref.workflow_id, chain_spec("daily_sales", 4, cron="30 2 * * *"),
                                    operator="alice")
    assert (ref2.version, ref2.changed) == (2, True)
    wid = ref.workflow_id

    with runtime.publisher() as publisher:
        deployed = publisher.publish(wid, "deploy", operator="alice")
        assert deployed.ok, deployed.record.log
        code = deployed.record.engine_workflow_code
        assert code is not None
        stored = fake_ds.definitions[code]
        assert [t["name"] for t in stored.tasks] == ["step_0", "step_1", "step_2", "step_3"]
        assert stored.release_state == "OFFLINE"

        online = publisher.publish(wid, "online", operator="alice")
        assert online.ok, online.record.log
        assert online.record.engine_workflow_code == code
        assert stored.release_state == "ONLINE"
        (schedule,) = [s for s in fake_ds.schedules.values() if s["workflowDefinitionCode"] == code]
        assert (schedule["crontab"], schedule["timezoneId"], schedule["releaseState"]) == (
            "0 30 2 * * ? *", "Asia/Shanghai", "ONLINE")

        started = publisher.start(wid, operator="alice")
        (instance_id,) = started["instance_ids"]

    with runtime.history() as history:
        report = history.sync_all()
        assert report["workflows"] == 1 and report["errors"] == []
        executions = history.executions(wid)
        assert [(e.instance_id, e.state) for e in executions] == [(instance_id, "RUNNING_EXECUTION")]
        assert executions[0].started_by == "alice"  # the start is on record, kept through the sync

        fake_ds.complete_instance(instance_id, "SUCCESS")
        history.sync_workflow(wid)
        assert history.executions(wid)[0].state == "SUCCESS"
        tasks = history.task_instances(wid, instance_id)
        assert tasks["state"] == "SUCCESS" and len(tasks["tasks"]) == 4
        first = next(t for t in tasks["tasks"] if t["name"] == "step_0")
        assert "echo step 0" in history.task_log(first["id"])["message"]
    assert workflow_row(db, wid)["last_execution_state"] == "SUCCESS"

    with runtime.publisher() as publisher:
        offline = publisher.publish(wid, "offline", operator="bob")
        assert offline.ok
    assert stored.release_state == "OFFLINE"
    assert schedule["releaseState"] == "OFFLINE"  # the server takes the schedule offline with the workflow

    detail = runtime.workflows.get(wid)
    assert detail.publish_status == "offline" and detail.engine_release_state == "OFFLINE"
    assert detail.last_published_version == 2
    assert detail.dolphinscheduler_url == f"{fake_ds.base_url}/ui/projects/{PROJECT_CODE}/workflow/definitions/{code}"
    records = detail.recent_publish_records
    assert [(r.operation.value, r.status.value, r.operator, r.version_no) for r in records] == [
        ("offline", "success", "bob", 2), ("online", "success", "alice", 2), ("deploy", "success", "alice", 2)]
    assert all(r.engine_workflow_code == code for r in records)
    assert all(fake_ds.token not in r.log for r in records)
    assert [v.version_no for v in runtime.versions.list(wid)] == [2, 1]


def test_publishing_an_unchanged_version_twice_writes_nothing(runtime: Runtime, fake_ds: FakeDolphinScheduler) -> None:
    ref = runtime.workflows.create(chain_spec("twice", 5, cron="@daily"), operator="t")
    with runtime.publisher() as publisher:
        assert publisher.publish(ref.workflow_id, "online", operator="t").ok
        fake_ds.reset_calls()
        again = publisher.publish(ref.workflow_id, "online", operator="t")
        deploy_again = publisher.publish(ref.workflow_id, "deploy", operator="t")
    assert again.record.status.value == "skipped" and deploy_again.record.status.value == "skipped"
    assert fake_ds.writes() == []
    assert len(fake_ds.definitions) == 1
    assert "nothing sent" in again.record.log


@pytest.mark.parametrize("mode", ["close", "502"])
def test_lost_create_response_does_not_duplicate(runtime: Runtime, fake_ds: FakeDolphinScheduler, mode: str) -> None:
    ref = runtime.workflows.create(chain_spec("lossy", 3), operator="t")
    fake_ds.drop_response_after("create-workflow", mode=mode)
    with runtime.publisher() as publisher:
        outcome = publisher.publish(ref.workflow_id, "deploy", operator="t")
    assert outcome.ok, outcome.record.log
    assert fake_ds.count("create-workflow") == 1  # never sent twice
    (definition,) = fake_ds.by_name("lossy")
    assert outcome.record.engine_workflow_code == definition.code
    assert "response was lost" in outcome.record.log


def test_lost_create_and_failed_lookup_then_retry_adopts_the_definition(
        runtime: Runtime, fake_ds: FakeDolphinScheduler, db: Database) -> None:
    ref = runtime.workflows.create(chain_spec("lossy2", 3), operator="t")
    fake_ds.drop_response_after("create-workflow")
    fake_ds.fail_next("query-by-name", times=4, status=503)  # 1 pre-create lookup + 3 attempts after the loss
    with runtime.publisher() as publisher:
        failed = publisher.publish(ref.workflow_id, "deploy", operator="t")
        assert not failed.ok and failed.record.status.value == "failed"
        assert workflow_row(db, ref.workflow_id)["publish_status"] == "failed"
        retried = publisher.publish(ref.workflow_id, "deploy", operator="t")
    assert retried.ok, retried.record.log
    (definition,) = fake_ds.by_name("lossy2")
    assert retried.record.engine_workflow_code == definition.code
    assert fake_ds.count("create-workflow") == 1


def test_failure_records_server_code_and_a_retry_succeeds(runtime: Runtime, fake_ds: FakeDolphinScheduler,
                                                          db: Database) -> None:
    ref = runtime.workflows.create(chain_spec("flaky", 2), operator="t")
    fake_ds.error_next("create-workflow", 10105, "create workflow definition error")
    with runtime.publisher() as publisher:
        failed = publisher.publish(ref.workflow_id, "deploy", operator="carol")
        row = workflow_row(db, ref.workflow_id)
        assert (row["publish_status"], row["publish_error_code"], row["publish_error_message"]) == (
            "failed", 10105, "create workflow definition error")
        assert (failed.record.error_code, failed.record.error_message) == (10105, "create workflow definition error")
        assert failed.error is not None and failed.error.to_dict()["code"] == 10105
        assert fake_ds.definitions == {}

        retried = publisher.publish(ref.workflow_id, "deploy", operator="carol")
    assert retried.ok
    row = workflow_row(db, ref.workflow_id)
    assert (row["publish_status"], row["publish_error_code"], row["publish_error_message"]) == ("deployed", None, None)
    assert len(fake_ds.definitions) == 1
    assert [r.status.value for r in runtime.workflows.get(ref.workflow_id).recent_publish_records] == [
        "success", "failed"]


def _tree_spec(name: str, count: int) -> WorkflowFile:
    tasks = [TaskSpec(task_id=f"{name}_{i}", name=f"task_{i}", command=f"echo {i}") for i in range(count)]
    deps = [(f"{name}_{(i - 1) // 2}", f"{name}_{i}") for i in range(1, count)]
    return WorkflowFile(name=name, tasks=tasks, dependencies=deps)


def test_500_task_workflow_publishes_online_in_at_most_8_calls(runtime: Runtime, fake_ds: FakeDolphinScheduler) -> None:
    ref = runtime.workflows.create(_tree_spec("big", 500), operator="t")
    fake_ds.reset_calls()
    with runtime.publisher() as publisher:
        outcome = publisher.publish(ref.workflow_id, "online", operator="t")
    assert outcome.ok, outcome.record.log
    assert fake_ds.count() <= 8, [c.endpoint for c in fake_ds.calls]
    gen_calls = [c for c in fake_ds.calls if c.endpoint == "gen-task-codes"]
    assert len(gen_calls) == 5 and all(int(c.query["genNum"]) <= 100 for c in gen_calls)
    stored = fake_ds.definitions[outcome.record.engine_workflow_code]  # type: ignore[index]
    assert len(stored.tasks) == 500 and len(stored.relations) == 500
    assert stored.release_state == "ONLINE"


def test_new_tasks_reuse_stored_codes_and_only_new_ones_are_generated(runtime: Runtime,
                                                                       fake_ds: FakeDolphinScheduler) -> None:
    ref = runtime.workflows.create(chain_spec("grow", 3), operator="t")
    with runtime.publisher() as publisher:
        first = publisher.publish(ref.workflow_id, "deploy", operator="t")
        code = first.record.engine_workflow_code
        before = {t["name"]: t["code"] for t in fake_ds.definitions[code].tasks}  # type: ignore[index]
        runtime.workflows.update(ref.workflow_id, chain_spec("grow", 5), operator="t")
        fake_ds.reset_calls()
        second = publisher.publish(ref.workflow_id, "deploy", operator="t")
    assert second.ok and second.record.engine_workflow_code == code
    (gen,) = [c for c in fake_ds.calls if c.endpoint == "gen-task-codes"]
    assert gen.query["genNum"] == "2"
    after = {t["name"]: t["code"] for t in fake_ds.definitions[code].tasks}  # type: ignore[index]
    assert {k: after[k] for k in before} == before
    assert len(fake_ds.definitions) == 1


def test_renamed_workflow_updates_its_definition(runtime: Runtime, fake_ds: FakeDolphinScheduler) -> None:
    ref = runtime.workflows.create(chain_spec("old_name", 2, prefix="rn"), operator="t")
    with runtime.publisher() as publisher:
        code = publisher.publish(ref.workflow_id, "deploy", operator="t").record.engine_workflow_code
        runtime.workflows.update(ref.workflow_id, chain_spec("new_name", 2, prefix="rn"), operator="t")
        renamed = publisher.publish(ref.workflow_id, "deploy", operator="t")
    assert renamed.ok and renamed.record.engine_workflow_code == code
    assert [d.name for d in fake_ds.definitions.values()] == ["new_name"]


def test_deploying_a_change_to_an_online_workflow_keeps_it_online(runtime: Runtime,
                                                                  fake_ds: FakeDolphinScheduler) -> None:
    """The server refuses to edit an ONLINE definition: it is released OFFLINE, updated with
    releaseState=ONLINE (WorkflowDefinitionController.updateWorkflowDefinition re-releases it)."""
    ref = runtime.workflows.create(chain_spec("live", 2), operator="t")
    with runtime.publisher() as publisher:
        code = publisher.publish(ref.workflow_id, "online", operator="t").record.engine_workflow_code
        runtime.workflows.update(ref.workflow_id, chain_spec("live", 3), operator="t")
        fake_ds.reset_calls()
        outcome = publisher.publish(ref.workflow_id, "deploy", operator="t")
        assert outcome.ok, outcome.record.log
        assert [c.endpoint for c in fake_ds.writes()] == ["release", "update-workflow"]
        assert [c.form.get("releaseState") for c in fake_ds.writes()] == ["OFFLINE", "ONLINE"]
        assert fake_ds.definitions[code].release_state == "ONLINE"  # type: ignore[index]
        assert "releasing it OFFLINE" in outcome.record.log
        assert len(fake_ds.definitions[code].tasks) == 3  # type: ignore[index]
        assert workflow_row(runtime.db, ref.workflow_id)["publish_status"] == "online"
        back = publisher.publish(ref.workflow_id, "online", operator="t")
    assert back.ok and fake_ds.definitions[code].release_state == "ONLINE"  # type: ignore[index]


def test_schedule_change_updates_the_existing_schedule(runtime: Runtime, fake_ds: FakeDolphinScheduler) -> None:
    ref = runtime.workflows.create(chain_spec("sched", 2, cron="0 3 * * *"), operator="t")
    with runtime.publisher() as publisher:
        publisher.publish(ref.workflow_id, "online", operator="t")
        runtime.workflows.update(ref.workflow_id, chain_spec("sched", 2, cron="15 */6 * * 1-5"), operator="t")
        outcome = publisher.publish(ref.workflow_id, "online", operator="t")
    assert outcome.ok, outcome.record.log
    (schedule,) = fake_ds.schedules.values()
    assert (schedule["crontab"], schedule["releaseState"]) == ("0 15 0/6 ? * 2-6 *", "ONLINE")


def test_platform_offline_blocks_start_and_online_publish(runtime: Runtime, fake_ds: FakeDolphinScheduler) -> None:
    ref = runtime.workflows.create(chain_spec("gated", 2), operator="t")
    with runtime.publisher() as publisher:
        publisher.publish(ref.workflow_id, "online", operator="t")
        runtime.workflows.set_status(ref.workflow_id, WorkflowStatus.OFFLINE, operator="t")
        with pytest.raises(ConflictError, match="offline on the platform"):
            publisher.start(ref.workflow_id, operator="t")
        refused = publisher.publish(ref.workflow_id, "online", operator="t")
    assert not refused.ok and "offline on the platform" in (refused.record.error_message or "")
    assert fake_ds.instances == {}


def test_start_of_a_definition_that_is_offline_in_dolphinscheduler_reports_50004(
        runtime: Runtime, fake_ds: FakeDolphinScheduler) -> None:
    ref = runtime.workflows.create(chain_spec("notreleased", 2), operator="t")
    with runtime.publisher() as publisher:
        publisher.publish(ref.workflow_id, "deploy", operator="t")
        with pytest.raises(Exception) as info:
            publisher.start(ref.workflow_id, operator="t")
    assert getattr(info.value, "code", None) == 50004


# ---- bad input: clear errors, nothing half-written --------------------------------------------------


def test_cycle_is_rejected_with_its_path_and_nothing_written(runtime: Runtime, db: Database) -> None:
    before = counts(db)
    spec = WorkflowFile(name="loop", tasks=[TaskSpec(task_id=t, command="true") for t in ("a", "b", "c", "d")],
                        dependencies=[("a", "b"), ("b", "c"), ("c", "d"), ("d", "b")])
    with pytest.raises(WorkflowValidationError) as info:
        runtime.workflows.create(spec, operator="t")
    assert "cycle: b → c → d → b" in info.value.message
    assert counts(db) == before


def test_unknown_tasks_are_named_and_nothing_written(runtime: Runtime, db: Database) -> None:
    before = counts(db)
    spec = WorkflowFile(name="ghosts", tasks=[TaskSpec(task_id="real", command="true")],
                        task_ids=["ghost_1", "ghost_2"], dependencies=[("real", "ghost_1")])
    with pytest.raises(WorkflowValidationError, match=r"unknown tasks.*ghost_1, ghost_2"):
        runtime.workflows.create(spec, operator="t")
    assert counts(db) == before


def test_task_owned_by_another_workflow_is_a_conflict_and_nothing_written(runtime: Runtime, db: Database) -> None:
    runtime.workflows.create(chain_spec("owner", 2, prefix="own"), operator="t")
    before = counts(db)
    spec = WorkflowFile(name="thief", tasks=[TaskSpec(task_id="new_task", command="true")],
                        task_ids=["own_t1"], dependencies=[("own_t1", "new_task")])
    with pytest.raises(ConflictError) as info:
        runtime.workflows.create(spec, operator="t")
    assert "own_t1 (workflow 'owner'" in info.value.message and "only_this" in info.value.message
    assert counts(db) == before


def test_unknown_project_code_fails_with_10018_and_stores_no_engine_state(
        db: Database, fake_ds: FakeDolphinScheduler) -> None:
    runtime = Runtime(db, config=make_config(fake_ds, project_code=424242), client_factory=fast_client)
    ref = runtime.workflows.create(chain_spec("nowhere", 2), operator="t")
    with runtime.publisher() as publisher:
        outcome = publisher.publish(ref.workflow_id, "deploy", operator="t")
    assert not outcome.ok
    assert outcome.record.error_code == 10018 and "project 424242 not found" in (outcome.record.error_message or "")
    row = workflow_row(db, ref.workflow_id)
    assert (row["publish_status"], row["publish_error_code"], row["workflow_code"]) == ("failed", 10018, None)
    with db.connect() as conn:
        assert conn.execute("SELECT count(*) AS n FROM workflow_task_relation WHERE engine_task_code IS NOT NULL"
                            ).fetchone()["n"] == 0
    assert fake_ds.definitions == {}


def test_invalid_token_fails_clearly_and_never_logs_the_token(db: Database, fake_ds: FakeDolphinScheduler) -> None:
    bad = "wrong-secret-token-123"
    runtime = Runtime(db, config=make_config(fake_ds, token=bad), client_factory=fast_client)
    ref = runtime.workflows.create(chain_spec("locked", 2), operator="t")
    with runtime.publisher() as publisher:
        outcome = publisher.publish(ref.workflow_id, "deploy", operator="t")
    assert not outcome.ok and isinstance(outcome.error, DolphinAuthError)
    assert "HTTP 401" in (outcome.record.error_message or "")
    assert bad not in outcome.record.log and bad not in (outcome.record.error_message or "")
    assert fake_ds.count("query-by-name") == 1  # 401 is not retried
    with runtime.client() as client, pytest.raises(DolphinAuthError):
        client.ping()


def test_lost_start_response_is_not_retried_and_says_so(runtime: Runtime, fake_ds: FakeDolphinScheduler) -> None:
    ref = runtime.workflows.create(chain_spec("started_once", 2), operator="t")
    with runtime.publisher() as publisher:
        publisher.publish(ref.workflow_id, "online", operator="t")
        fake_ds.drop_response_after("start")
        with pytest.raises(DolphinTransientError) as info:
            publisher.start(ref.workflow_id, operator="t")
    assert "may have started anyway" in info.value.message
    assert fake_ds.count("start") == 1 and len(fake_ds.instances) == 1
    with runtime.history() as history:
        history.sync_workflow(ref.workflow_id)
        assert [e.instance_id for e in history.executions(ref.workflow_id)] == list(fake_ds.instances)


def test_concurrent_publish_of_one_workflow_is_refused(runtime: Runtime, db: Database) -> None:
    ref = runtime.workflows.create(chain_spec("busy", 2), operator="t")
    with db.publish_lock(ref.workflow_id) as held, runtime.publisher() as publisher:
        assert held
        with pytest.raises(ConflictError, match="already running"):
            publisher.publish(ref.workflow_id, "deploy", operator="t")
    with runtime.publisher() as publisher:
        assert publisher.publish(ref.workflow_id, "deploy", operator="t").ok


def test_online_failing_at_release_is_retried_without_rewriting_the_definition(
        runtime: Runtime, fake_ds: FakeDolphinScheduler, db: Database) -> None:
    ref = runtime.workflows.create(chain_spec("half_way", 3), operator="t")
    fake_ds.error_next("release", 10107, "release workflow definition error")
    with runtime.publisher() as publisher:
        failed = publisher.publish(ref.workflow_id, "online", operator="t")
        assert (failed.record.status.value, failed.record.error_code) == ("failed", 10107)
        (definition,) = fake_ds.definitions.values()
        assert workflow_row(db, ref.workflow_id)["workflow_code"] == definition.code
        fake_ds.reset_calls()
        retried = publisher.publish(ref.workflow_id, "online", operator="t")
    assert retried.ok and definition.release_state == "ONLINE"
    assert [c.endpoint for c in fake_ds.writes()] == ["release"]
