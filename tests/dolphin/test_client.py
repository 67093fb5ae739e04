"""The REST client against the fake server, and the fake's contract checks (real HTTP both ways)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import httpx
import pytest

from dolphin_publisher.client import DolphinClient, RetryPolicy
from dolphin_publisher.config import IntegrationConfig
from dolphin_publisher.converter import DefinitionPayload, convert, convert_schedule
from dolphin_publisher.errors import DolphinApiError, DolphinAuthError, DolphinTransientError
from dolphin_publisher.models import ScheduleSpec, TaskSpec, WorkflowSnapshot
from dolphin_publisher.transport import RestTransport

from .conftest import PROJECT_CODE, fast_client
from .fake_dolphinscheduler import FakeDolphinScheduler


@pytest.fixture
def client(ds_config: IntegrationConfig) -> Iterator[DolphinClient]:
    with fast_client(ds_config) as c:
        yield c


def payload(client: DolphinClient, name: str, count: int = 3, *, edges: list[tuple[int, int]] | None = None
            ) -> DefinitionPayload:
    tasks = [TaskSpec(task_id=f"t{i}", name=f"task {i}", command=f"echo {i}") for i in range(count)]
    deps = [(f"t{a}", f"t{b}") for a, b in (edges if edges is not None else [(i, i + 1) for i in range(count - 1)])]
    codes = dict(zip([t.task_id for t in tasks], client.gen_task_codes(count), strict=True))
    return convert(WorkflowSnapshot(name=name, tasks=tasks, dependencies=deps), codes)


def api_error(call: object) -> DolphinApiError:
    with pytest.raises(DolphinApiError) as info:
        call()  # type: ignore[operator]
    return info.value


# ---- wire rules ---------------------------------------------------------------------------------------


def test_form_encoded_only_and_token_header(fake_ds: FakeDolphinScheduler, client: DolphinClient) -> None:
    url = f"{fake_ds.base_url}/projects/{PROJECT_CODE}/workflow-definition"
    # A JSON body binds no @RequestParam: the endpoint's own code (10105), with HTTP 200 (ApiExceptionHandler).
    rejected = httpx.post(url, json={"name": "x"}, headers={"token": fake_ds.token})
    assert rejected.status_code == 200 and rejected.json()["code"] == 10105
    created = client.create_definition(payload(client, "wire"))
    call = fake_ds.calls[-1]
    assert call.endpoint == "create-workflow" and call.status == 201
    assert set(call.form) >= {"name", "taskDefinitionJson", "taskRelationJson", "locations", "globalParams"}
    assert created.code in fake_ds.definitions


def test_missing_or_wrong_token_gets_401_with_empty_body(fake_ds: FakeDolphinScheduler,
                                                         ds_config: IntegrationConfig) -> None:
    response = httpx.get(f"{fake_ds.base_url}/projects/{PROJECT_CODE}/workflow-definition")
    assert response.status_code == 401 and response.content == b""
    with fast_client(dataclasses.replace(ds_config, token="nope")) as bad, pytest.raises(DolphinAuthError) as info:
        bad.ping()
    assert "nope" not in str(info.value.to_dict())
    assert fake_ds.count("list-workflows") == 2  # one raw call, one client call: 401 is not retried


def test_business_errors_are_not_retried(fake_ds: FakeDolphinScheduler, client: DolphinClient) -> None:
    error = api_error(lambda: client.get_instance(4242))
    assert (error.code, error.msg) == (50001, "workflow instance 4242 does not exist")
    assert fake_ds.count("get-instance") == 1


def test_unknown_project_is_10018(fake_ds: FakeDolphinScheduler, ds_config: IntegrationConfig) -> None:
    with fast_client(dataclasses.replace(ds_config, project_code=99)) as other:
        error = api_error(other.ping)
    assert error.code == 10018 and "project 99 not found" in error.msg


def test_transient_failures_of_reads_are_retried_with_backoff(fake_ds: FakeDolphinScheduler,
                                                              client: DolphinClient) -> None:
    fake_ds.fail_next("list-workflows", times=2, status=503)
    assert client.ping()["project_code"] == PROJECT_CODE
    assert fake_ds.count("list-workflows") == 3
    fake_ds.fail_next("list-workflows", times=5, status=504)
    with pytest.raises(DolphinTransientError) as info:
        client.ping()
    assert info.value.details["http_status"] == 504
    assert fake_ds.count("list-workflows") == 6  # 3 more attempts, then give up


def test_timeouts_of_reads_are_retried(fake_ds: FakeDolphinScheduler) -> None:
    fake_ds.delay_next("list-workflows", seconds=0.6)
    with DolphinClient(fake_ds.base_url, fake_ds.token, PROJECT_CODE, timeout=0.25,
                       retry=RetryPolicy(attempts=2, initial_backoff=0.01, max_backoff=0.02)) as slow:
        assert slow.ping()["workflow_definitions"] == 0
    assert fake_ds.count("list-workflows") == 2


def test_a_create_whose_response_is_lost_is_not_repeated(fake_ds: FakeDolphinScheduler, client: DolphinClient) -> None:
    fake_ds.drop_response_after("create-workflow", mode="502")
    with pytest.raises(DolphinTransientError) as info:
        client.create_definition(payload(client, "once"))
    assert info.value.outcome_unknown
    assert fake_ds.count("create-workflow") == 1 and len(fake_ds.by_name("once")) == 1
    fake_ds.drop_response_after("create-workflow", mode="close")
    with pytest.raises(DolphinTransientError, match="connection dropped"):
        client.create_definition(payload(client, "twice"))
    assert len(fake_ds.by_name("twice")) == 1


def test_gen_task_codes_limits(fake_ds: FakeDolphinScheduler, client: DolphinClient) -> None:
    for bad, code in (("0", 50017), ("101", 50017), ("abc", 10049)):  # abc: not an Integer, endpoint's code
        body = httpx.get(f"{fake_ds.base_url}/projects/{PROJECT_CODE}/task-definition/gen-task-codes",
                         params={"genNum": bad}, headers={"token": fake_ds.token}).json()
        assert body["code"] == code and body["success"] is False
    with pytest.raises(ValueError, match=r"1\.\.100"):
        client.gen_task_codes(101)
    fake_ds.reset_calls()
    codes = client.gen_task_codes_batched(250)
    assert len(set(codes)) == 250
    assert [c.query["genNum"] for c in fake_ds.calls] == ["100", "100", "50"]


# ---- the server's definition checks -------------------------------------------------------------------


def test_definition_checks_and_their_codes(client: DolphinClient) -> None:
    good = payload(client, "checks", 3)
    t0, t1 = good.task_definitions[0], good.task_definitions[1]

    def variant(**changes: object) -> DefinitionPayload:
        return dataclasses.replace(good, **changes)  # type: ignore[arg-type]

    no_script = {**t0, "taskParams": {"rawScript": " ", "localParams": [], "resourceList": []}}

    def edge(pre: int, post: int) -> dict[str, int]:
        return {"preTaskCode": pre, "preTaskVersion": 0, "postTaskCode": post, "postTaskVersion": 0}

    def root(post: int) -> dict[str, int]:
        return edge(0, post)

    cases = {
        50017: variant(task_definitions=[]),
        50020: variant(task_definitions=[no_script, *good.task_definitions[1:]]),
        50030: variant(task_relations=[*good.task_relations, root(123)]),
        50036: variant(task_relations=[*good.task_relations, edge(t0["code"], 0)]),
        50019: variant(task_relations=[root(t0["code"]), edge(t0["code"], t1["code"]), edge(t1["code"], t0["code"]),
                                       edge(t1["code"], good.task_definitions[2]["code"])]),
    }
    for expected, bad in cases.items():
        assert api_error(lambda bad=bad: client.create_definition(bad)).code == expected, expected
    assert api_error(lambda: client.create_definition(variant(task_relations=[]))).code == 50017
    # The real server has no duplicate-task-name check (no 10198 in the 3.3 line): it accepts them.
    pair = payload(client, "twins")
    twins = client.create_definition(dataclasses.replace(
        pair, task_definitions=[{**t, "name": "same"} for t in pair.task_definitions]))
    assert client.get_definition(twins.code) is not None

    created = client.create_definition(good)
    assert api_error(lambda: client.create_definition(good)).code == 10168
    assert client.verify_name("checks") is False and client.verify_name("free") is True
    fetched = client.get_definition(created.code)
    assert fetched is not None and {t.code for t in fetched.tasks} == set(good.task_codes.values())
    assert client.get_definition(1) is None and client.query_by_name("nobody") is None


def test_release_semantics_and_edit_of_an_online_definition(fake_ds: FakeDolphinScheduler,
                                                            client: DolphinClient) -> None:
    created = client.create_definition(payload(client, "rel"))
    assert api_error(lambda: client.start_instance(created.code)).code == 50004
    client.release(created.code, "ONLINE")
    client.release(created.code, "ONLINE")  # already online: a no-op success
    assert api_error(lambda: client.update_definition(created.code, payload(client, "rel"))).code == 50008
    assert api_error(lambda: client.release(12345, "OFFLINE")).code == 50003

    # A transport that believes the definition is offline still gets the update through.
    stale = created.model_copy(update={"release_state": "OFFLINE"})
    notes: list[str] = []
    result = RestTransport(client).upsert_definition(payload(client, "rel", 4), current=stale, note=notes.append)
    assert result.released_offline and fake_ds.definitions[created.code].version == 2
    assert any("50008" in n for n in notes)


def test_schedules(fake_ds: FakeDolphinScheduler, client: DolphinClient) -> None:
    created = client.create_definition(payload(client, "sch"))
    wanted = convert_schedule(ScheduleSpec(cron="0 3 * * *", timezone="Asia/Shanghai"))
    assert api_error(lambda: client.create_schedule(created.code, wanted)).code == 50004  # needs ONLINE
    client.release(created.code, "ONLINE")
    schedule = client.create_schedule(created.code, wanted)
    assert schedule.release_state == "OFFLINE" and schedule.crontab == "0 0 3 * * ? *"
    assert api_error(lambda: client.create_schedule(created.code, wanted)).code == 10204
    client.schedule_online(schedule.id)
    (listed,) = client.list_schedules(created.code)
    assert listed.release_state == "ONLINE"
    client.release(created.code, "OFFLINE")
    assert client.list_schedules(created.code)[0].release_state == "OFFLINE"


def test_instances_pages_tasks_logs_and_control(fake_ds: FakeDolphinScheduler, client: DolphinClient) -> None:
    created = client.create_definition(payload(client, "runs", 2))
    client.release(created.code, "ONLINE")
    ids = [client.start_instance(created.code, start_params={"task_id": "task_20250101_000000"})[0]
           for _ in range(3)]
    first_page = client.list_instances(created.code, page_no=1, page_size=2)
    assert [i.id for i in first_page.items] == [ids[2], ids[1]]  # newest first
    assert (first_page.total, first_page.total_page) == (3, 2)
    assert [i.id for i in client.list_instances(created.code, page_no=2, page_size=2).items] == [ids[0]]
    assert first_page.items[0].start_time is not None and first_page.items[0].state == "RUNNING_EXECUTION"

    client.execute(ids[0], "STOP")
    assert client.get_instance(ids[0]).state == "STOP"
    state, tasks = client.instance_tasks(ids[1])
    assert state == "RUNNING_EXECUTION" and sorted(t.name or "" for t in tasks) == ["task 0", "task 1"]
    log = client.task_log(tasks[0].id, skip_lines=1, limit=1)
    assert log["line_num"] == 1 and "rawScript: echo" in log["message"]
    assert api_error(lambda: client.task_log(999999)).code == 10008

    batch = client.batch_start([created.code])
    assert isinstance(batch, list) and len(batch) == 1
