"""The task page on a real api-server: served with the UI's session cookie, the caller's rights from
Airflow's auth manager, and both external views accepted by Airflow's plugin listing."""

from __future__ import annotations

import httpx

from .conftest import API, LiveAirflow, envelope


def test_me_reports_what_airflow_lets_the_caller_do(live: LiveAirflow) -> None:
    with live.client("admin") as admin, live.client("viewer") as viewer:
        assert envelope(admin.get(f"{API}/me"), 200)["data"]["can_run"] is True
        seen = envelope(viewer.get(f"{API}/me"), 200)["data"]
        assert seen["can_run"] is False and seen["user"]
        assert viewer.post(f"{API}/tasks", json={"db_conn_id": "highway_demo"}).status_code == 403


def test_the_page_is_served_with_the_session_cookie_only(live: LiveAirflow) -> None:
    with httpx.Client(base_url=live.base_url, timeout=60) as anonymous:
        assert anonymous.get(f"{API}/ui/").status_code == 401
    with httpx.Client(base_url=live.base_url, timeout=60, cookies={"_token": live.viewer_token}) as browser:
        page = browser.get(f"{API}/ui/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert browser.get(f"{API}/ui/app.js").headers["content-type"].startswith("text/javascript")
        assert envelope(browser.get(f"{API}/me"), 200)["data"]["can_run"] is False


def test_airflow_lists_the_nav_entry_and_the_run_view(live: LiveAirflow) -> None:
    with live.client("admin") as admin:
        plugins = admin.get("/api/v2/plugins").json()["plugins"]
    views = [v for p in plugins if p["name"] == "data_pipeline" for v in p["external_views"]]
    by_destination = {v["destination"]: v for v in views if v["name"] == "Training data"}
    assert by_destination["nav"]["href"] == "/api/v0/data_pipeline/ui/"
    assert by_destination["nav"]["url_route"] == "training-data"
    assert "{DAG_ID}" in by_destination["dag_run"]["href"] and "{RUN_ID}" in by_destination["dag_run"]["href"]
