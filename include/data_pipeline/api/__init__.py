"""The task-management REST API (``/api/v0/data_pipeline``) as a FastAPI app that knows nothing of Airflow.

Authentication/authorisation and DAG-run triggering are bound by the host (``AccessControl``,
``RunLauncher``, as dependency overrides); the Airflow plugin supplies the real ones, tests stand-ins.
The app: ``data_pipeline.api.app.create_app``; what the host supplies: ``data_pipeline.api.ports``.
"""
