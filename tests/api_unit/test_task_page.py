"""The task page in the Airflow UI and the routes it needs: served behind read access, self-contained,
the caller's rights, the business databases a task may read, the task of a DAG run."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from data_pipeline.tasks.store import TaskStore

from .conftest import API, READER, WRITER, envelope, new_task

PAGE = f"{API}/ui/"
STATIC_FILES = ("index.html", "app.css", "app.js", "lib.js", "task.js", "create.js")


def test_the_page_and_its_assets_are_served_with_their_content_types(client: TestClient) -> None:
    page = client.get(PAGE, headers=READER)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<title>Training data</title>" in page.text
    for module in ("app.js", "lib.js", "task.js", "create.js"):
        script = client.get(f"{PAGE}{module}", headers=READER)
        assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    style = client.get(f"{PAGE}app.css", headers=READER)
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")


def test_the_page_needs_authentication_and_serves_only_its_own_files(client: TestClient) -> None:
    for url in (PAGE, *(f"{PAGE}{name}" for name in STATIC_FILES)):
        assert client.get(url).status_code == 401
    for name in ("..%2Fapp.py", "ui.py", "other.html", "%2Fetc%2Fpasswd"):
        assert client.get(f"{PAGE}{name}", headers=READER).status_code == 404
    assert "/ui/" not in str(client.app.openapi()["paths"])  # a page, not an API


def test_asset_urls_are_relative_and_no_file_names_another_host() -> None:
    folder = resources.files("data_pipeline.api").joinpath("ui_static")
    index = folder.joinpath("index.html").read_text(encoding="utf-8")
    assets = re.findall(r'(?:src|href)="([^"]+)"', index)
    assert {"app.js", "app.css"} <= set(assets)
    assert all(not a.startswith(("/", "http:", "https:", "//")) for a in assets), assets
    assert {p.name for p in folder.iterdir()} == set(STATIC_FILES)  # every file is served, none forgotten
    for name in STATIC_FILES:
        text = folder.joinpath(name).read_text(encoding="utf-8")
        imports = re.findall(r'from "([^"]+)"', text)
        assert all(i.startswith("./") and i[2:] in STATIC_FILES for i in imports), (name, imports)
        assert not re.search(r"https?://", text), name
        assert "//cdn" not in text and "localStorage" not in text, name


def test_the_static_files_are_package_data() -> None:
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text(encoding="utf-8")
    assert '"data_pipeline.api" = ["ui_static/*.html", "ui_static/*.js", "ui_static/*.css"]' in pyproject


def test_me_tells_a_writer_from_a_viewer(client: TestClient) -> None:
    assert envelope(client.get(f"{API}/me", headers=WRITER), 200)["data"] == {"user": "wendy", "can_run": True}
    assert envelope(client.get(f"{API}/me", headers=READER), 200)["data"] == {"user": "rita", "can_run": False}
    envelope(client.get(f"{API}/me"), 401)
    # what the page hides, the server refuses
    refused = client.post(f"{API}/tasks", json={"db_conn_id": "highway_demo"}, headers=READER)
    assert envelope(refused, 403)["message"].startswith("Forbidden")


def test_connections_lists_the_allowed_ids_without_addresses(client: TestClient, demo_business_uri: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_PIPELINE_ALLOWED_DB_CONN_IDS", "highway_demo, highway, sales_*, data_pipeline_db")
    monkeypatch.setenv("AIRFLOW_CONN_HIGHWAY_DEMO", demo_business_uri)
    monkeypatch.delenv("AIRFLOW_CONN_HIGHWAY", raising=False)
    body = envelope(client.get(f"{API}/connections", headers=READER), 200)
    assert body["data"] == {"connections": [{"conn_id": "highway", "defined": False},
                                            {"conn_id": "highway_demo", "defined": True}],
                            "prefixes": ["sales_*"]}
    assert demo_business_uri.split("@")[-1] not in str(body)
    envelope(client.get(f"{API}/connections"), 401)


def test_tables_of_an_allowed_database(client: TestClient, demo_business_uri: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_HIGHWAY_DEMO", demo_business_uri)
    data = envelope(client.get(f"{API}/connections/highway_demo/tables", headers=READER), 200)["data"]
    assert data["conn_id"] == "highway_demo" and data["truncated"] is False
    assert data["count"] == len(data["tables"]) > 0
    assert all("." in t for t in data["tables"]) and data["tables"] == sorted(data["tables"])


def test_tables_of_a_disallowed_database_are_refused_like_creation(client: TestClient) -> None:
    listing = envelope(client.get(f"{API}/connections/not_allowed/tables", headers=READER), 400)
    creation = envelope(client.post(f"{API}/tasks", json={"db_conn_id": "not_allowed", "business_context": "sales"},
                                   headers=WRITER), 400)
    assert listing["message"] == creation["message"] and "not an allowed business database" in listing["message"]
    assert listing["error_code"] == "DATABASE_NOT_ALLOWED"
    envelope(client.get(f"{API}/connections/data_pipeline_db/tables", headers=READER), 400)


def test_tables_of_an_unreachable_database_are_a_clear_4xx(client: TestClient,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_HIGHWAY", "postgresql://someone:hunter2-pw@127.0.0.1:1/nowhere")
    body = envelope(client.get(f"{API}/connections/highway/tables", headers=READER), 424)
    assert body["error_code"] == "DATABASE_UNREACHABLE"
    assert body["message"].startswith("cannot connect to the business database connection 'highway'")
    assert "hunter2" not in str(body) and "127.0.0.1" not in str(body)


def test_task_list_filters_by_dag_run(client: TestClient, task_store: TaskStore) -> None:
    first, second = (new_task(client, table_list=["bss_company"]) for _ in range(2))
    run = envelope(client.post(f"{API}/tasks/{first}/execute", json={}, headers=WRITER), 202)["data"]["dag_run_id"]
    found = envelope(client.get(f"{API}/tasks", params={"dag_run_id": run}, headers=READER), 200)["data"]
    assert [t["task_id"] for t in found["tasks"]] == [first] and found["total"] == 1
    none = envelope(client.get(f"{API}/tasks", params={"dag_run_id": "manual__nothing"}, headers=READER), 200)
    assert none["data"]["tasks"] == [] and none["data"]["total"] == 0
    assert second != first  # the other task is not in the answer


def test_the_plugin_declares_the_nav_entry_and_the_run_view() -> None:
    pytest.importorskip("airflow")
    from airflow.api_fastapi.core_api.datamodels.plugins import ExternalViewResponse
    from data_pipeline_plugin import DataPipelinePlugin

    for view in DataPipelinePlugin.external_views:  # what Airflow's plugin listing accepts
        ExternalViewResponse.model_validate(view)

    views = {(v["destination"], v["name"]): v for v in DataPipelinePlugin.external_views}
    nav = views[("nav", "Training data")]
    assert nav["href"] == "/api/v0/data_pipeline/ui/" and nav["url_route"] == "training-data"
    run = views[("dag_run", "Training data")]
    assert run["href"] == "/api/v0/data_pipeline/ui/?dag_id={DAG_ID}&dag_run_id={RUN_ID}" and run["url_route"]
    assert nav["category"] is None and run["name"] == "Training data"
    assert ("nav", "Task API (OpenAPI)") in views and ("nav", "Workflow API (OpenAPI)") in views


def test_a_host_without_a_write_probe_shows_no_actions(task_store: TaskStore, data_dir: Path) -> None:
    from data_pipeline.api.app import create_app
    from data_pipeline.api.ports import Access

    from .conftest import FakeLauncher, fake_read, fake_write

    app = create_app(Access(read=fake_read, write=fake_write), FakeLauncher(), store=task_store, prefix=API)
    with TestClient(app) as bare:
        assert envelope(bare.get(f"{API}/me", headers=WRITER), 200)["data"]["can_run"] is False
