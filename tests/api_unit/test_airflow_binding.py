"""The plugin's bindings, without an api-server: Airflow's auth and launcher bound, URL from configuration."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from data_pipeline.api import deps
from data_pipeline.api.ports import Credentials
from data_pipeline.errors import UpstreamError

os.environ.setdefault("AIRFLOW_HOME", str(Path(__file__).resolve().parents[2] / ".local" / "airflow_home_unit"))
rest_api = pytest.importorskip("data_pipeline_airflow.rest_api")


class Recorder:
    def __init__(self, response: httpx.Response | Exception) -> None:
        self.response = response
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, url: str, **kwargs: Any) -> httpx.Response:
        self.calls.append((url, kwargs))
        if isinstance(self.response, Exception):
            raise self.response
        return self.response


def test_both_plugin_apps_are_bound_to_airflows_auth() -> None:
    for app in (rest_api.task_api(), rest_api.workflow_api()):
        assert app.dependency_overrides[deps.read_access] is rest_api.read_access
        assert app.dependency_overrides[deps.write_access] is rest_api.write_access
    task_app = rest_api.task_api()
    assert task_app.dependency_overrides[deps.get_credentials] is rest_api.credentials
    launcher = task_app.dependency_overrides[deps.get_launcher]()
    assert isinstance(launcher, rest_api.AirflowRunLauncher)


def test_the_base_url_comes_from_configuration_never_the_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_PIPELINE_AIRFLOW_API_URL", "http://airflow.internal:9999/")
    assert rest_api.airflow_api_url() == "http://airflow.internal:9999"
    monkeypatch.delenv("DATA_PIPELINE_AIRFLOW_API_URL")
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.org/")
    assert rest_api.airflow_api_url() == "https://airflow.example.org"
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "")
    monkeypatch.setenv("AIRFLOW__API__PORT", "8793")
    assert rest_api.airflow_api_url() == "http://127.0.0.1:8793"


def test_trigger_posts_as_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder(httpx.Response(200, json={"dag_run_id": "api__task_20250101_000000__1"}))
    monkeypatch.setattr(rest_api.httpx, "post", recorder)
    launcher = rest_api.AirflowRunLauncher("http://airflow.internal:9999")
    run_id = launcher.trigger(Credentials("tok"), "task_20250101_000000", "step", "qa_generation")
    ((url, kwargs),) = recorder.calls
    assert run_id == "api__task_20250101_000000__1"
    assert url == "http://airflow.internal:9999/api/v2/dags/data_pipeline/dagRuns"
    assert kwargs["headers"] == {"Authorization": "Bearer tok"}
    assert kwargs["json"]["conf"] == {"task_id": "task_20250101_000000", "execution_mode": "step",
                                      "step_name": "qa_generation"}


@pytest.mark.parametrize("response", [httpx.Response(403, text="no"), httpx.ConnectError("refused")])
def test_airflow_refusing_or_silent_is_a_502(monkeypatch: pytest.MonkeyPatch, response: Any) -> None:
    monkeypatch.setattr(rest_api.httpx, "post", Recorder(response))
    with pytest.raises(UpstreamError) as caught:
        rest_api.AirflowRunLauncher("http://a").trigger(Credentials("tok"), "task_20250101_000000", "complete", None)
    assert (caught.value.http_status, caught.value.error_code) == (502, "AIRFLOW_ERROR")


def test_credentials_from_the_header_or_the_session_cookie() -> None:
    def request(headers: list[tuple[bytes, bytes]]) -> Request:
        return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "query_string": b""})

    assert rest_api.credentials(request([(b"authorization", b"Bearer abc")])).token == "abc"
    assert rest_api.credentials(request([(b"cookie", b"_token=xyz")])).token == "xyz"
    assert rest_api.credentials(request([])).token is None
