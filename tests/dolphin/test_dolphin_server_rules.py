"""The publisher against what the real DolphinScheduler server does (see docs/dolphinscheduler.md).

Each test names the server source it follows; the fake (``fake_dolphinscheduler.py``) encodes it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from croniter import croniter

from dolphin_publisher.client import DolphinClient
from dolphin_publisher.config import IntegrationConfig
from dolphin_publisher.converter import convert, convert_schedule
from dolphin_publisher.cron import dst_warnings, to_quartz
from dolphin_publisher.errors import DolphinApiError, DolphinProtocolError, DolphinTransientError, GatewayError
from dolphin_publisher.gateway import GatewayTransport
from dolphin_publisher.models import ScheduleSpec, TaskSpec, WorkflowFile, WorkflowSnapshot
from dolphin_publisher.publisher import Publisher
from dolphin_publisher.repository import Database
from dolphin_publisher.runtime import Runtime

from . import quartz
from .conftest import PROJECT_CODE, chain_spec, fast_client
from .fake_dolphinscheduler import FakeDolphinScheduler
from .test_gateway_config_converter import GatewayStandIn


@pytest.fixture
def client(ds_config: IntegrationConfig) -> Iterator[DolphinClient]:
    with fast_client(ds_config) as c:
        yield c


def online_definition(client: DolphinClient, name: str, count: int = 2) -> int:
    tasks = [TaskSpec(task_id=f"t{i}", name=f"task {i}", command=f"echo {i}") for i in range(count)]
    deps = [(f"t{i}", f"t{i + 1}") for i in range(count - 1)]
    codes = dict(zip([t.task_id for t in tasks], client.gen_task_codes(count), strict=True))
    created = client.create_definition(convert(WorkflowSnapshot(name=name, tasks=tasks, dependencies=deps), codes))
    client.release(created.code, "ONLINE")
    return created.code


def raw(fake: FakeDolphinScheduler, method: str, path: str, **form: Any) -> httpx.Response:
    return httpx.request(method, f"{fake.base_url}/projects/{PROJECT_CODE}{path}", headers={"token": fake.token},
                         data={k: str(v) for k, v in form.items()} or None)


def spec(name: str, count: int, cron: str, timezone: str = "Asia/Shanghai") -> WorkflowFile:
    data = chain_spec(name, count).model_dump()
    data["schedule"] = {"cron": cron, "timezone": timezone}
    return WorkflowFile.model_validate(data)


# ---- 1. batch start (ExecutorController.batchTriggerWorkflowDefinitions) --------------------------------


def test_batch_start_sends_exec_type_which_the_server_has_no_default_for(fake_ds: FakeDolphinScheduler,
                                                                       client: DolphinClient) -> None:
    code = online_definition(client, "batch1")
    missing = raw(fake_ds, "POST", "/executors/batch-start-workflow-instance", workflowDefinitionCodes=code,
                  scheduleTime="", failureStrategy="CONTINUE", warningType="NONE").json()
    assert missing["code"] == 50014 and missing["msg"].endswith(":null") and not fake_ds.instances
    assert len(client.batch_start([code])) == 1
    assert fake_ds.calls[-1].form["execType"] == "START_PROCESS"


def test_the_server_starts_a_batch_one_by_one_and_a_failure_hides_earlier_starts(
        fake_ds: FakeDolphinScheduler, client: DolphinClient) -> None:
    first, third = online_definition(client, "b_first"), online_definition(client, "b_third")
    offline = online_definition(client, "b_off")
    client.release(offline, "OFFLINE")
    with pytest.raises(DolphinApiError) as info:
        client.batch_start([first, offline, third])
    assert info.value.code == 50004  # the failing workflow's own ServiceException code
    assert [i["workflowDefinitionCode"] for i in fake_ds.instances.values()] == [first]  # already running


def test_publisher_batch_start_of_three_where_the_second_fails_names_each(runtime: Runtime,
                                                                         fake_ds: FakeDolphinScheduler) -> None:
    ids = [runtime.workflows.create(chain_spec(f"trio_{i}", 2), operator="t").workflow_id for i in range(3)]
    with runtime.publisher() as publisher:
        for wid in ids:
            assert publisher.publish(wid, "online", operator="t").ok
        publisher.client.release(publisher.client.query_by_name("trio_1").code, "OFFLINE")  # type: ignore[union-attr]
        result = publisher.batch_start(ids, operator="t")
    assert [s["workflow_id"] for s in result["started"]] == [ids[0], ids[2]]
    (failed,) = result["failed"]
    assert failed["workflow_id"] == ids[1] and failed["error"]["dolphin_code"] == 50004
    assert len(result["result"]) == 2 and len(fake_ds.instances) == 2


# ---- 2. schedule update overwrites every field (SchedulerServiceImpl.updateSchedule) ------------------------


def test_schedule_update_keeps_tenant_environment_and_alerts(runtime: Runtime, fake_ds: FakeDolphinScheduler) -> None:
    ref = runtime.workflows.create(spec("keep", 2, "0 3 * * *"), operator="t")
    with runtime.publisher() as publisher:
        assert publisher.publish(ref.workflow_id, "online", operator="t").ok
        (schedule,) = fake_ds.schedules.values()
        schedule.update(tenantCode="etl", environmentCode=42, warningGroupId=5, failureStrategy="CONTINUE",
                        warningType="FAILURE", workflowInstancePriority="HIGH")
        runtime.workflows.update(ref.workflow_id, spec("keep", 2, "30 4 * * *"), operator="t")
        outcome = publisher.publish(ref.workflow_id, "online", operator="t")
    assert outcome.ok, outcome.record.log
    assert (schedule["crontab"], schedule["releaseState"]) == ("0 30 4 * * ? *", "ONLINE")
    assert (schedule["tenantCode"], schedule["environmentCode"], schedule["warningGroupId"]) == ("etl", 42, 5)
    assert (schedule["failureStrategy"], schedule["warningType"], schedule["workflowInstancePriority"]) == (
        "CONTINUE", "FAILURE", "HIGH")


def test_the_server_overwrites_omitted_schedule_fields_and_refuses_an_online_schedule(
        fake_ds: FakeDolphinScheduler, client: DolphinClient) -> None:
    code = online_definition(client, "overwrite")
    wanted = convert_schedule(ScheduleSpec(cron="0 3 * * *"))
    created = client.create_schedule(code, wanted, tenant_code="etl", environment_code=42)
    schedule = fake_ds.schedules[created.id]
    assert (schedule["tenantCode"], schedule["environmentCode"], schedule["failureStrategy"]) == ("etl", 42, "CONTINUE")
    assert raw(fake_ds, "PUT", f"/schedules/{created.id}", schedule=wanted.schedule_json()).json()["code"] == 0
    assert (schedule["tenantCode"], schedule["environmentCode"], schedule["warningGroupId"],
            schedule["failureStrategy"]) == ("default", -1, 1, "END")
    client.schedule_online(created.id)
    with pytest.raises(DolphinApiError) as info:
        client.update_schedule(created, wanted)
    assert info.value.code == 10023


# ---- 3. redeploy keeps the release state --------------------------------------------------------------------


def test_redeploy_of_an_online_scheduled_workflow_keeps_it_online(runtime: Runtime,
                                                                  fake_ds: FakeDolphinScheduler) -> None:
    ref = runtime.workflows.create(spec("redeploy", 2, "0 3 * * *"), operator="t")
    with runtime.publisher() as publisher:
        first = publisher.publish(ref.workflow_id, "online", operator="t")
        assert first.ok, first.record.log
        (schedule,) = fake_ds.schedules.values()
        schedule.update(tenantCode="etl", environmentCode=42)
        runtime.workflows.update(ref.workflow_id, spec("redeploy", 3, "15 5 * * *"), operator="t")
        outcome = publisher.publish(ref.workflow_id, "deploy", operator="t")
    assert outcome.ok, outcome.record.log
    (definition,) = fake_ds.by_name("redeploy")
    assert definition.release_state == "ONLINE" and len(definition.tasks) == 3
    assert (schedule["releaseState"], schedule["crontab"]) == ("ONLINE", "0 15 5 * * ? *")
    assert (schedule["tenantCode"], schedule["environmentCode"]) == ("etl", 42)
    assert len(fake_ds.schedules) == 1


# ---- 4. delete (WorkflowDefinitionServiceImpl.deleteWorkflowDefinitionByCode) --------------------------------


def test_delete_of_an_online_scheduled_workflow_takes_both_offline_first(runtime: Runtime,
                                                                         fake_ds: FakeDolphinScheduler) -> None:
    ref = runtime.workflows.create(spec("doomed", 2, "0 3 * * *"), operator="t")
    with runtime.publisher() as publisher:
        assert publisher.publish(ref.workflow_id, "online", operator="t").ok
        (definition,) = fake_ds.by_name("doomed")
        assert raw(fake_ds, "DELETE", f"/workflow-definition/{definition.code}").json()["code"] == 50021
        assert publisher.delete_remote(ref.workflow_id) == definition.code
    assert not fake_ds.by_name("doomed") and not fake_ds.schedules


def test_delete_is_refused_while_the_schedule_is_online(fake_ds: FakeDolphinScheduler, client: DolphinClient) -> None:
    code = online_definition(client, "sched_on")
    created = client.create_schedule(code, convert_schedule(ScheduleSpec(cron="0 3 * * *")))
    client.schedule_online(created.id)
    fake_ds.definitions[code].release_state = "OFFLINE"  # a state only a race produces; the check exists
    assert raw(fake_ds, "DELETE", f"/workflow-definition/{code}").json()["code"] == 50023


# ---- 5. the Java gateway (PythonGateway.java) ----------------------------------------------------------------


def test_gateway_gen_task_codes_reads_the_result_map(fake_ds: FakeDolphinScheduler) -> None:
    transport = GatewayTransport(host="127.0.0.1", project_name="text2sql",
                                 entry_point_factory=lambda *_: GatewayStandIn(fake_ds))
    codes = transport.gen_task_codes(3)
    assert len(codes) == 3 and set(codes) <= fake_ds.issued_codes


def test_gateway_upsert_is_confirmed_over_rest(db: Database, runtime: Runtime, fake_ds: FakeDolphinScheduler) -> None:
    class SilentlyFailingUpdate(GatewayStandIn):
        def createOrUpdateWorkflow(self, *args: Any) -> int:
            existing = self.fake.by_name(args[2], PROJECT_CODE)
            return existing[0].code if existing else super().createOrUpdateWorkflow(*args)

    ref = runtime.workflows.create(chain_spec("gw_confirm", 2), operator="t")
    with runtime.client() as client:
        transport = GatewayTransport(host="127.0.0.1", project_name="text2sql", client=client,
                                     entry_point_factory=lambda *_: SilentlyFailingUpdate(fake_ds))
        publisher = Publisher(db, runtime.config(), client, transport)
        assert publisher.publish(ref.workflow_id, "online", operator="t").ok
        runtime.workflows.update(ref.workflow_id, chain_spec("gw_confirm", 3), operator="t")
        outcome = publisher.publish(ref.workflow_id, "deploy", operator="t")
    assert not outcome.ok and isinstance(outcome.error, GatewayError)
    assert "does not hold the workflow sent" in outcome.error.message


# ---- 6. retries ----------------------------------------------------------------------------------------------


def test_http_500_is_retried_for_reads_and_never_for_creates(fake_ds: FakeDolphinScheduler,
                                                             client: DolphinClient) -> None:
    fake_ds.fail_next("list-workflows", times=2, status=500)
    assert client.ping()["project_code"] == PROJECT_CODE
    assert fake_ds.count("list-workflows") == 3
    tasks = [TaskSpec(task_id="a", command="echo a")]
    payload = convert(WorkflowSnapshot(name="once500", tasks=tasks), {"a": client.gen_task_codes(1)[0]})
    fake_ds.fail_next("create-workflow", status=500)
    with pytest.raises(DolphinTransientError) as info:
        client.create_definition(payload)
    assert info.value.outcome_unknown and fake_ds.count("create-workflow") == 1


# ---- 7. cron → Quartz ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("cron", "croniter_form", "expected"), [
    ("0 0 L * *", "0 0 L * *", "0 0 0 L * ? *"),
    ("0 6 15W * *", "0 6 15W * *", "0 0 6 15W * ? *"),
    ("0 9 * * 5L", "0 9 * * L5", "0 0 9 ? * 6L *"),
    ("30 8 * * 1#2", "30 8 * * 1#2", "0 30 8 ? * 2#2 *"),
    ("0 12 ? * 1", "0 12 * * 1", "0 0 12 ? * 2 *"),
    ("0 22-2 * * *", "0 22-2 * * *", "0 0 0-2,22,23 * * ? *"),
    ("0 7 * * 5-1", "0 7 * * 5-1", "0 0 7 ? * 1,2,6,7 *"),
])
def test_quartz_tokens_are_converted_with_the_same_firing_times(cron: str, croniter_form: str, expected: str) -> None:
    assert to_quartz(cron) == expected
    start = datetime(2025, 1, 1)
    it = croniter(croniter_form, start)
    assert quartz.fire_times(expected, start, 30) == [it.get_next(datetime) for _ in range(30)]


def test_a_schedule_in_a_dst_gap_or_repeated_hour_is_warned_about(runtime: Runtime) -> None:
    warnings = dst_warnings("30 2 * * *", "Europe/Berlin", start=datetime(2026, 1, 1))
    assert len(warnings) == 2 and "skips that run" in warnings[0] and "runs it once" in warnings[1]
    assert dst_warnings("30 2 * * *", "UTC", start=datetime(2026, 1, 1)) == []
    ref = runtime.workflows.create(spec("berlin", 2, "30 2 * * *", timezone="Europe/Berlin"), operator="t")
    with runtime.publisher() as publisher:
        outcome = publisher.publish(ref.workflow_id, "online", operator="t")
    assert outcome.ok and "warning:" in outcome.record.log and "Quartz" in outcome.record.log


# ---- 8. the fake follows the server ----------------------------------------------------------------------------


def test_fake_transport_rules_follow_the_server(fake_ds: FakeDolphinScheduler, client: DolphinClient) -> None:
    # DsErrorController: an unknown path is the UI's index.html with HTTP 200 — not an envelope.
    page = httpx.get(f"{fake_ds.base_url}/no/such/path", headers={"token": fake_ds.token})
    assert page.status_code == 200 and page.text.startswith("<!DOCTYPE html>")
    with pytest.raises(DolphinProtocolError):
        client.request("GET", "/no/such/path", endpoint="nowhere", idempotent=True)
    # ApiExceptionHandler: missing parameters answer the endpoint's own code with HTTP 200.
    for path, form, code in (("/workflow-definition", {"name": "x"}, 10105),
                             ("/executors/start-workflow-instance", {"workflowDefinitionCode": 1}, 50014),
                             ("/schedules", {"workflowDefinitionCode": 1}, 10076)):
        answer = raw(fake_ds, "POST", path, **form)
        assert (answer.status_code, answer.json()["code"]) == (200, code), path
    fake_ds.error_next("list-workflows", 10000, "Internal Server Error: boom")
    assert httpx.get(f"{fake_ds.base_url}/projects/{PROJECT_CODE}/workflow-definition",
                     params={"pageNo": 1, "pageSize": 1}, headers={"token": fake_ds.token}).status_code == 200


def test_fake_schedule_list_is_flat_and_start_params_may_be_a_property_list(fake_ds: FakeDolphinScheduler,
                                                                            client: DolphinClient) -> None:
    code = online_definition(client, "flat")
    client.create_schedule(code, convert_schedule(ScheduleSpec(cron="0 3 * * *", timezone="Asia/Shanghai")))
    body = raw(fake_ds, "GET", f"/schedules?workflowDefinitionCode={code}&pageNo=1&pageSize=10").json()
    (item,) = body["data"]["totalList"]
    assert "schedule" not in item and (item["crontab"], item["timezoneId"]) == ("0 0 3 * * ? *", "Asia/Shanghai")
    assert {"startTime", "endTime", "tenantCode", "environmentCode"} <= set(item)
    properties = json.dumps([{"prop": "day", "direct": "IN", "type": "VARCHAR", "value": "2025-01-01"}])
    started = raw(fake_ds, "POST", "/executors/start-workflow-instance", workflowDefinitionCode=code, scheduleTime="",
                  failureStrategy="CONTINUE", warningType="NONE", startParams=properties).json()
    assert started["code"] == 0 and len(started["data"]) == 1
