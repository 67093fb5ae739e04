"""Both OpenAPI documents: named answer schemas, one shared error schema, declared auth and errors."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

METHODS = {"get", "post", "put", "delete", "patch"}


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in doc["paths"].items() for method, op in item.items()
            if method in METHODS]


def test_every_success_answer_has_a_named_schema(task_app: FastAPI, workflow_app: FastAPI) -> None:
    for app in (task_app, workflow_app):
        doc = app.openapi()
        schemas = doc["components"]["schemas"]
        for method, path, op in operations(doc):
            successes = {status: r for status, r in op["responses"].items() if status.startswith("2")}
            assert successes, (method, path)
            for status, response in successes.items():
                for media_type, content in response["content"].items():
                    schema = content["schema"]
                    if media_type == "application/octet-stream":  # file downloads
                        assert schema == {"type": "string", "format": "binary"}, (method, path)
                        continue
                    ref = schema.get("$ref", "")
                    assert ref.startswith("#/components/schemas/Envelope_"), (method, path, status, schema)
                    data = schemas[ref.rsplit("/", 1)[1]]["properties"]["data"]
                    named = [s for s in data.get("anyOf", [data]) if s != {"type": "null"}]
                    assert named and all("$ref" in s or s.get("items", {}).get("$ref") for s in named), (
                        method, path, data)


def test_both_apps_share_one_error_schema(task_app: FastAPI, workflow_app: FastAPI) -> None:
    docs = [task_app.openapi(), workflow_app.openapi()]
    assert docs[0]["components"]["schemas"]["ErrorEnvelope"] == docs[1]["components"]["schemas"]["ErrorEnvelope"]
    for doc in docs:
        assert not {"HTTPValidationError", "ValidationError"} & set(doc["components"]["schemas"])
        for method, path, op in operations(doc):
            errors = {status: r for status, r in op["responses"].items() if status[0] in "45"}
            assert {"400", "401", "403", "500"} <= set(errors) and "422" not in op["responses"], (method, path)
            for response in errors.values():
                assert response["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorEnvelope"}, (method, path)


def test_every_route_declares_the_bearer_token(task_app: FastAPI, workflow_app: FastAPI) -> None:
    for app in (task_app, workflow_app):
        doc = app.openapi()
        assert doc["components"]["securitySchemes"]["AirflowToken"] == {
            "type": "http", "scheme": "bearer", "description": doc["components"]["securitySchemes"]["AirflowToken"][
                "description"]}
        for method, path, op in operations(doc):
            assert op.get("security") == [{"AirflowToken": []}], (method, path)


def test_docs_pages_load_their_assets_from_the_app_not_a_cdn(task_app: FastAPI, workflow_app: FastAPI) -> None:
    """An Airflow without internet access still shows the docs: page, script and style come from the app."""
    from fastapi.testclient import TestClient

    for prefix, app in (("/api/v0/data_pipeline", task_app), ("/api/v1", workflow_app)):
        with TestClient(app, root_path=prefix) as client:
            page = client.get("/docs")
            assert page.status_code == 200 and "SwaggerUIBundle" in page.text
            assert "://" not in page.text, page.text  # no CDN, no outside favicon
            assert f"'{prefix}/openapi.json'" in page.text or f'"{prefix}/openapi.json"' in page.text
            for name, kind, marker in (("swagger-ui-bundle.js", "javascript", "SwaggerUIBundle"),
                                       ("swagger-ui.css", "text/css", ".swagger-ui")):
                assert f"{prefix}/docs/assets/{name}" in page.text
                asset = client.get(f"/docs/assets/{name}")
                assert asset.status_code == 200 and kind in asset.headers["content-type"]
                assert marker in asset.text and len(asset.content) > 100_000
            assert client.get("/docs/assets/..%2Fmain.py").status_code == 404
            assert client.get("/docs/assets/main.py").status_code == 404
