"""After each training load, a retrieval smoke check of the vector store (optional).

Scheduled on the asset ``training_load`` emits (``TRAINING_DATA``, declared once in the DAG factory).
It searches the store for a few of its own stored questions through ``data_pipeline.vectors.smoke_check``
and logs how many found their pair. Not loaded when ``DATA_PIPELINE_SMOKE_CHECK_ENABLED=false``.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import dag, task

from data_pipeline.config import smoke_check
from data_pipeline_airflow.dag_factory import TRAINING_DATA

if smoke_check().enabled:

    @dag(
        dag_id="training_data_smoke_check",
        schedule=[TRAINING_DATA],
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        tags=["data_pipeline", "vectors"],
        doc_md="Runs after each training load: embeds a few stored questions and checks that the vector "
               "store returns their own question/SQL pair among the nearest rows. "
               "Off with `DATA_PIPELINE_SMOKE_CHECK_ENABLED=false`.",
    )
    def training_data_smoke_check() -> None:
        @task
        def retrieval_smoke_check() -> dict[str, Any]:
            import logging

            from data_pipeline.vectors.smoke_check import run_smoke_check

            result = run_smoke_check(top_k=smoke_check().top_k)
            log = logging.getLogger("airflow.task")
            log.info("%s", result.summary())
            for probe in result.probes:
                log.info("%s %r -> %s", "hit " if probe.hit else "MISS", probe.question,
                         ", ".join(f"{row['id']} ({row['distance']:.3f})" for row in probe.top))
            return result.as_dict()

        retrieval_smoke_check()

    training_data_smoke_check()
