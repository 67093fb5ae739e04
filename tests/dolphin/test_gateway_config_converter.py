"""The optional Java-gateway transport, configuration sources, and the snapshot → DolphinScheduler converter."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest

from dolphin_publisher import graph
from dolphin_publisher.checks import validate_definition
from dolphin_publisher.config import IntegrationConfig, from_connection, load_config, save_config
from dolphin_publisher.converter import convert
from dolphin_publisher.errors import ConfigError, GatewayError
from dolphin_publisher.gateway import GatewayTransport
from dolphin_publisher.models import GlobalParam, TaskSpec, WorkflowSnapshot
from dolphin_publisher.publisher import Publisher
from dolphin_publisher.repository import Database
from dolphin_publisher.runtime import Runtime
from platform_db import get_connection
from platform_db.connections import parse_connection

from .conftest import PROJECT_CODE, chain_spec, fast_client
from .fake_dolphinscheduler import ApiError, BadParam, FakeDolphinScheduler

# ---- gateway --------------------------------------------------------------------------------------------


class GatewayStandIn:
    """What the py4j entry point exposes, backed by the fake server's store (as the real gateway is)."""

    def __init__(self, fake: FakeDolphinScheduler) -> None:
        self.fake = fake
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def ping(self) -> str:
        self.calls.append(("ping", ()))
        return "PONG"

    def genTaskCodeList(self, n: int) -> dict[str, Any]:
        """PythonGateway.genTaskCodeList answers the service's ``{status, msg, data}`` map."""
        self.calls.append(("genTaskCodeList", (n,)))
        return self.fake.gateway_gen_task_codes(n)

    def createOrUpdateWorkflow(self, *args: Any) -> int:
        """PythonGateway.createOrUpdateWorkflow (api/python/PythonGateway.java, dev): an existing workflow is
        released OFFLINE (its schedule with it), updated *ignoring the update's result*, then released
        to the ``releaseState`` argument (1 online, 0 offline); a failed create raises."""
        self.calls.append(("createOrUpdateWorkflow", args))
        name, description, global_params = args[2:5]
        timeout, release, relations, tasks, execution_type = args[9], args[11], args[12], args[13], args[15]
        params = {"name": name, "description": description, "globalParams": global_params,
                  "taskRelationJson": relations, "taskDefinitionJson": tasks, "timeout": str(timeout),
                  "executionType": execution_type}
        existing = self.fake.by_name(name, PROJECT_CODE)
        if existing:
            code = existing[0].code
            self.fake._release({"releaseState": "OFFLINE"}, PROJECT_CODE, str(code))
            with contextlib.suppress(ApiError, BadParam):
                self.fake._update_workflow(params, PROJECT_CODE, str(code))
        else:
            try:
                code = self.fake._create_workflow(params, PROJECT_CODE)[1]["code"]
            except ApiError as exc:
                raise RuntimeError(f"py4j.protocol.Py4JJavaError: {exc.code} {exc.msg}") from exc
        self.fake._release({"releaseState": "ONLINE" if release == 1 else "OFFLINE"}, PROJECT_CODE, str(code))
        return code


def test_gateway_needs_py4j_and_says_so() -> None:
    transport = GatewayTransport(host="127.0.0.1", port=25333, auth_token="secret-gw", project_name="p")
    with pytest.raises(GatewayError, match="py4j") as info:
        transport.ping()
    assert "secret-gw" not in repr(transport) + str(info.value.to_dict())
    with pytest.raises(GatewayError, match="address"):
        GatewayTransport(host="", project_name="p")


def test_publish_through_the_gateway_transport(db: Database, fake_ds: FakeDolphinScheduler) -> None:
    runtime = Runtime(db, config=IntegrationConfig(environment="gw", rest_base_url=fake_ds.base_url,
                                                   token=fake_ds.token, project_code=PROJECT_CODE,
                                                   project_name="text2sql", transport="gateway",
                                                   gateway_host="127.0.0.1"), client_factory=fast_client)
    stand_in = GatewayStandIn(fake_ds)
    ref = runtime.workflows.create(chain_spec("via_gateway", 150), operator="t")
    with runtime.client() as client:
        transport = GatewayTransport(host="127.0.0.1", project_name="text2sql",
                                     entry_point_factory=lambda *_: stand_in)
        publisher = Publisher(db, runtime.config(), client, transport)
        outcome = publisher.publish(ref.workflow_id, "online", operator="t")
        assert outcome.ok, outcome.record.log
        assert [c[1] for c in stand_in.calls if c[0] == "genTaskCodeList"] == [(100,), (50,)]
        (definition,) = fake_ds.by_name("via_gateway")
        assert definition.release_state == "ONLINE"  # release went over REST
        assert transport.ping()["answer"] == "PONG"

        runtime.workflows.update(ref.workflow_id, chain_spec("via_gateway", 151), operator="t")
        again = publisher.publish(ref.workflow_id, "deploy", operator="t")
        assert again.ok and again.record.engine_workflow_code == definition.code
        assert len(fake_ds.by_name("via_gateway")) == 1

        runtime.workflows.update(ref.workflow_id, chain_spec("renamed_gw", 151, prefix="via_gateway"),
                                 operator="t")
        refused = publisher.publish(ref.workflow_id, "deploy", operator="t")
    assert refused.record.status.value == "failed" and "cannot rename" in (refused.record.error_message or "")


def test_gateway_errors_are_wrapped() -> None:
    class Broken:
        def genTaskCodeList(self, n: int) -> list[int]:
            raise ConnectionRefusedError("Connection refused")

    transport = GatewayTransport(host="10.0.0.1", project_name="p", entry_point_factory=lambda *_: Broken())
    with pytest.raises(GatewayError, match=r"genTaskCodeList failed at 10\.0\.0\.1:25333: Connection refused"):
        transport.gen_task_codes(3)


# ---- configuration --------------------------------------------------------------------------------------


def test_connection_json_and_uri_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_DOLPHINSCHEDULER_DEFAULT", json.dumps({
        "conn_type": "http", "host": "http://ds:12345/dolphinscheduler/", "password": "tok-123",
        "extra": {"project_code": "7001", "project_name": "text2sql", "gateway_address": "gw", "gateway_port": 25333,
                  "gateway_token": "gw-secret"}}))
    conn = get_connection("dolphinscheduler_default")
    assert conn is not None
    config = from_connection(conn)
    assert (config.rest_base_url, config.project_code, config.gateway_host, config.gateway_port) == (
        "http://ds:12345/dolphinscheduler", 7001, "gw", 25333)
    assert "tok-123" not in repr(config) and "gw-secret" not in repr(config)
    assert "tok-123" not in json.dumps(config.public_dict()) and "gw-secret" not in json.dumps(config.public_dict())
    assert config.workflow_url(99) == "http://ds:12345/dolphinscheduler/ui/projects/7001/workflow/definitions/99"

    uri = parse_connection("dolphinscheduler_default", "http://admin:tok@ds.example:12345/dolphinscheduler?project_code=5")
    assert from_connection(uri).rest_base_url == "http://ds.example:12345/dolphinscheduler"
    for broken, message in ((parse_connection("x", '{"conn_type": "http", "host": "h", "password": "t"}'),
                             "project_code"),
                            (parse_connection("x", '{"conn_type": "http", "host": "h", "extra": {"project_code": 1}}'),
                             "access token")):
        with pytest.raises(ConfigError, match=message):
            from_connection(broken)


def test_integration_config_table_per_environment(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="not configured"):
        load_config(db)
    save_config(db, IntegrationConfig(environment="prod", rest_base_url="https://ds.prod/dolphinscheduler/",
                                      token="prod-token", project_code=11, project_name="p",
                                      ui_base_url="https://ui.prod"))
    save_config(db, IntegrationConfig(environment="default", rest_base_url="http://ds.dev/dolphinscheduler",
                                      token="dev-token", project_code=22))
    prod = load_config(db, "prod")
    assert (prod.rest_base_url, prod.project_code, prod.token) == ("https://ds.prod/dolphinscheduler", 11, "prod-token")
    assert prod.workflow_url(5) == "https://ui.prod/ui/projects/11/workflow/definitions/5"
    assert load_config(db).project_code == 22
    monkeypatch.setenv("DOLPHIN_PUBLISHER_ENV", "prod")
    assert load_config(db).project_code == 11
    monkeypatch.setenv("AIRFLOW_CONN_DOLPHINSCHEDULER_DEFAULT", json.dumps(
        {"conn_type": "http", "host": "http://c/dolphinscheduler", "password": "t", "extra": {"project_code": 33}}))
    assert load_config(db).project_code == 33  # the connection wins unless an environment is named
    assert load_config(db, "prod").project_code == 11
    with pytest.raises(ConfigError, match="'staging'"):
        load_config(db, "staging")


# ---- converter ------------------------------------------------------------------------------------------


def test_converter_output() -> None:
    snapshot = WorkflowSnapshot(
        name="diamond",
        tasks=[TaskSpec(task_id="a", command="echo a", retries=2, retry_delay_minutes=3, timeout_minutes=10),
               TaskSpec(task_id="b", command="echo b", worker_group="gpu"),
               TaskSpec(task_id="c", type="SQL", sql="  SELECT 1", datasource=4),
               TaskSpec(task_id="d", type="PYTHON", command="print(1)")],
        dependencies=[("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")],
        global_params=[GlobalParam(prop="task_id", value="")],
    )
    codes = {"a": 11, "b": 12, "c": 13, "d": 14}
    payload = convert(snapshot, codes)
    form = payload.form()
    tasks = {t["name"]: t for t in json.loads(form["taskDefinitionJson"])}
    relations = json.loads(form["taskRelationJson"])
    assert {(r["preTaskCode"], r["postTaskCode"]) for r in relations} == {(0, 11), (11, 12), (11, 13), (12, 14),
                                                                          (13, 14)}
    assert {r["postTaskCode"] for r in relations} == set(codes.values())
    assert (tasks["a"]["failRetryTimes"], tasks["a"]["failRetryInterval"], tasks["a"]["timeout"],
            tasks["a"]["timeoutFlag"], tasks["a"]["timeoutNotifyStrategy"]) == (2, 3, 10, "OPEN", "FAILED")
    assert tasks["b"]["workerGroup"] == "gpu" and tasks["b"]["timeoutFlag"] == "CLOSE"
    assert tasks["c"]["taskParams"]["datasource"] == 4 and tasks["c"]["taskParams"]["sqlType"] == "0"
    assert tasks["d"]["taskType"] == "PYTHON" and tasks["d"]["taskParams"]["rawScript"] == "print(1)"
    assert all(t["version"] == 0 for t in tasks.values())
    xs = {loc["taskCode"]: loc["x"] for loc in json.loads(form["locations"])}
    assert xs[11] < xs[12] == xs[13] < xs[14]
    assert json.loads(form["globalParams"]) == [{"prop": "task_id", "direct": "IN", "type": "VARCHAR", "value": ""}]
    # Server-assigned versions do not change the content hash.
    versioned = convert(snapshot, codes, task_versions={11: 3, 12: 2})
    assert versioned.content_hash() == payload.content_hash()
    wire = {t["code"]: t["version"] for t in json.loads(versioned.form()["taskDefinitionJson"])}
    assert wire == {11: 3, 12: 2, 13: 0, 14: 0}
    assert {(r["postTaskCode"], r["postTaskVersion"]) for r in json.loads(versioned.form()["taskRelationJson"])
            if r["preTaskCode"] == 0} == {(11, 3)}
    with pytest.raises(ValueError, match="no task code"):
        convert(snapshot, {"a": 1})


def test_5000_task_workflow_validates_and_converts() -> None:
    n = 5000
    tasks = [TaskSpec(task_id=f"t{i}", command=f"echo {i}") for i in range(n)]
    edges = [(f"t{(i - 1) // 3}", f"t{i}") for i in range(1, n)]
    entry, exit_ = validate_definition({t.task_id: t for t in tasks}, [t.task_id for t in tasks], edges)
    assert entry == ["t0"] and len(exit_) > 3000
    payload = convert(WorkflowSnapshot(name="huge", tasks=tasks, dependencies=edges),
                      {f"t{i}": 10**13 + i for i in range(n)})
    assert len(payload.task_definitions) == n and len(payload.task_relations) == n
    assert graph.find_cycle([t.task_id for t in tasks], [*edges, ("t4999", "t0")]) is not None
