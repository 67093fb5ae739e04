"""Platform workflow definitions, versions, and their publication to Apache DolphinScheduler 3.3/3.4.

Plain Python: no Airflow import at module level (only the DAG importer loads Airflow, lazily), and
nothing from ``data_pipeline``. Entry points: ``python -m dolphin_publisher`` (cli), the
``/api/v1`` router (api.create_router), the history sync (history.run_scheduled_sync).
"""
