"""A platform workflow's life through /api/v1 on the real api-server, DolphinScheduler being the fake.

Everything goes through HTTP with the users' tokens; the fake is only read to see what reached
DolphinScheduler and to finish the instance a worker would run.
"""

from __future__ import annotations

import secrets

import httpx

from tests.api.conftest import DS_PROJECT_CODE, LiveAirflow, envelope

V1 = "/api/v1"


def new_workflow(admin: httpx.Client) -> tuple[int, dict]:
    suffix = secrets.token_hex(4)
    extract, load = f"extract_{suffix}", f"load_{suffix}"
    body = {"name": f"live_sales_{suffix}", "description": "nightly sales load",
            "schedule": {"cron": "30 2 * * *", "timezone": "Asia/Shanghai"},
            "tasks": [{"task_id": extract, "command": "python extract.py", "retries": 2},
                      {"task_id": load, "command": "python load.py"}],
            "dependencies": [[extract, load]]}
    created = envelope(admin.post(f"{V1}/workflows", json=body), 201)["data"]
    assert created["version"] == 1
    return created["workflow_id"], body


def test_create_publish_start_sync_and_take_offline(live: LiveAirflow, admin: httpx.Client) -> None:
    ds = live.dolphin
    wid, body = new_workflow(admin)
    assert envelope(admin.post(f"{V1}/workflows/{wid}/online"), 200)["data"]["status"] == "online"

    record = envelope(admin.post(f"{V1}/workflows/{wid}/publish", json={"operation": "online"}), 200)["data"]
    assert (record["operation"], record["status"], record["operator"]) == ("online", "success", "admin")
    code = record["engine_workflow_code"]
    (definition,) = ds.by_name(body["name"])
    assert (definition.code, definition.release_state, len(definition.tasks)) == (code, "ONLINE", 2)
    (schedule,) = [s for s in ds.schedules.values() if s["workflowDefinitionCode"] == code]
    assert (schedule["crontab"], schedule["timezoneId"], schedule["releaseState"]) == (
        "0 30 2 * * ? *", "Asia/Shanghai", "ONLINE")
    detail = envelope(admin.get(f"{V1}/workflows/{wid}"), 200)["data"]
    assert detail["publish_status"] == "online"
    assert detail["dolphinscheduler_url"] == f"{ds.base_url}/ui/projects/{DS_PROJECT_CODE}/workflow/definitions/{code}"

    started = envelope(admin.post(f"{V1}/workflows/{wid}/start", json={"params": {"run_date": "2025-01-01"}}),
                       200)["data"]
    (instance_id,) = started["instance_ids"]
    assert ds.instances[instance_id]["workflowDefinitionCode"] == code
    ds.complete_instance(instance_id, "FAILURE")  # what DolphinScheduler's workers would do

    synced = envelope(admin.post(f"{V1}/workflows/{wid}/sync"), 200)["data"]
    assert synced["instances"] == 1 and [f["instance_id"] for f in synced["failures"]] == [instance_id]
    executions = envelope(admin.get(f"{V1}/workflows/{wid}/executions"), 200)["data"]
    assert [(e["instance_id"], e["state"], e["engine_workflow_code"]) for e in executions] == [
        (instance_id, "FAILURE", code)]
    assert envelope(admin.get(f"{V1}/workflows/{wid}"), 200)["data"]["last_execution_state"] == "FAILURE"
    tasks = envelope(admin.get(f"{V1}/workflows/{wid}/executions/{instance_id}/tasks"), 200)["data"]
    states = {t["name"]: t["state"] for t in tasks["tasks"]}
    assert states == {body["tasks"][0]["task_id"]: "SUCCESS", body["tasks"][1]["task_id"]: "FAILURE"}
    failed_task = next(t["id"] for t in tasks["tasks"] if t["state"] == "FAILURE")
    log = envelope(admin.get(f"{V1}/task-instances/{failed_task}/log", params={"limit": 10}), 200)["data"]
    assert "python load.py" in log["message"]

    record = envelope(admin.post(f"{V1}/workflows/{wid}/publish", json={"operation": "offline"}), 200)["data"]
    assert (record["operation"], record["status"], record["engine_workflow_code"]) == ("offline", "success", code)
    assert definition.release_state == "OFFLINE" and schedule["releaseState"] == "OFFLINE"
    assert envelope(admin.get(f"{V1}/workflows/{wid}"), 200)["data"]["publish_status"] == "offline"
    # DolphinScheduler refuses to start an offline definition: the caller's conflict, with its code.
    refused = envelope(admin.post(f"{V1}/workflows/{wid}/start"), 409)
    assert (refused["error_code"], refused["data"]["dolphin_code"]) == ("DOLPHIN_CONFLICT", 50004)
    assert len([i for i in ds.instances.values() if i["workflowDefinitionCode"] == code]) == 1
    records = envelope(admin.get(f"{V1}/workflows/{wid}/publish-records"), 200)["data"]
    assert [r["operation"] for r in records] == ["offline", "online"]
    assert ds.token not in str(records) + str(detail)


def test_unknown_dolphinscheduler_objects_are_404(admin: httpx.Client) -> None:
    wid, _ = new_workflow(admin)
    envelope(admin.post(f"{V1}/workflows/{wid}/publish", json={"operation": "deploy"}), 200)
    missing = envelope(admin.get(f"{V1}/workflows/{wid}/executions/2147483647/tasks"), 404)
    assert (missing["error_code"], missing["data"]["dolphin_code"]) == ("DOLPHIN_NOT_FOUND", 50001)
    missing = envelope(admin.get(f"{V1}/task-instances/2147483647/log"), 404)
    assert (missing["error_code"], missing["data"]["dolphin_code"]) == ("DOLPHIN_NOT_FOUND", 10008)


def test_viewer_cannot_publish(live: LiveAirflow, admin: httpx.Client) -> None:
    wid, body = new_workflow(admin)
    with live.client("viewer") as viewer:
        envelope(viewer.post(f"{V1}/workflows/{wid}/publish", json={"operation": "online"}), 403)
        envelope(viewer.post(f"{V1}/workflows/{wid}/start"), 403)
        assert envelope(viewer.get(f"{V1}/workflows/{wid}"), 200)["data"]["publish_status"] == "unpublished"
        assert envelope(viewer.get(f"{V1}/workflows/{wid}/publish-records"), 200)["data"] == []
    assert live.dolphin.by_name(body["name"]) == []
