"""Registers the data pipeline's REST apps with the Airflow api-server (see data_pipeline_airflow.rest_api)."""

from airflow.plugins_manager import AirflowPlugin

from data_pipeline_airflow.rest_api import task_api, workflow_api
from platform_api.envelope import ControlCharacterGuard

TASK_PAGE = "/api/v0/data_pipeline/ui/"  # the task page (data_pipeline.api.routers.ui), embedded by Airflow's UI


class DataPipelinePlugin(AirflowPlugin):
    name = "data_pipeline"
    fastapi_apps = [
        {"app": task_api(), "url_prefix": "/api/v0/data_pipeline", "name": "Data pipeline task API"},
        {"app": workflow_api(), "url_prefix": "/api/v1", "name": "Workflow platform API"},
    ]
    fastapi_root_middlewares = [
        {"middleware": ControlCharacterGuard, "args": [], "kwargs": {}, "name": "data_pipeline path guard"},
    ]
    external_views = [
        {"name": "Training data", "href": TASK_PAGE, "destination": "nav", "url_route": "training-data",
         "category": None},
        {"name": "Training data", "href": TASK_PAGE + "?dag_id={DAG_ID}&dag_run_id={RUN_ID}", "destination": "dag_run",
         "url_route": "training-data-run"},
        {"name": "Task API (OpenAPI)", "href": "/api/v0/data_pipeline/docs", "destination": "nav",
         "category": "docs", "url_route": None},
        {"name": "Workflow API (OpenAPI)", "href": "/api/v1/docs", "destination": "nav", "category": "docs",
         "url_route": None},
    ]
