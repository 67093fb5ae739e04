# Airflow image for the text-to-SQL training-data pipeline.
#
# The official Apache Airflow 3.3.2 image (Python 3.11: the interpreter requirements.txt was resolved and
# tested on) plus this project: its pinned runtime dependencies, its packages (data_pipeline,
# dolphin_publisher, platform_db), the DAGs and the plugin. docker-compose.yaml builds and runs it.
#
#   docker build -t text2sql-data-pipeline-airflow:0.1.0 .
FROM apache/airflow:3.3.2-python3.11

# The official image keeps Airflow in a virtualenv owned by the "airflow" user (/home/airflow/.local)
# and expects packages to be installed as that user, never as root.
USER airflow

# 1. The fully pinned runtime set, in a layer of its own (rebuilt only when requirements.txt changes).
#    requirements.txt pins apache-airflow==3.3.2 itself, so this never moves Airflow off the image's
#    version; the image's own providers (celery, redis, ...) stay installed.
COPY --chown=airflow:root requirements.txt /tmp/project/requirements.txt
RUN pip install --no-cache-dir -r /tmp/project/requirements.txt

# 2. The project itself, with --no-deps: every dependency is already there from the pinned set above.
#    A regular (non-editable) install into the image's virtualenv, so `python -m data_pipeline ...`,
#    `python -m dolphin_publisher ...` and every Airflow component import the packages without path hacks.
COPY --chown=airflow:root pyproject.toml README.md /tmp/project/
COPY --chown=airflow:root include/ /tmp/project/include/
RUN pip install --no-cache-dir --no-deps /tmp/project \
    && rm -rf /tmp/project \
    && python -c "import data_pipeline, dolphin_publisher, platform_db"

# 3. DAGs and the plugin where Airflow looks for them.
COPY --chown=airflow:root dags/ /opt/airflow/dags/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/

# 4. Task directories (inputs, outputs, task logs, backups). docker-compose.yaml mounts one named volume
#    at exactly this path in every Airflow container, so a task written by one worker is seen by all.
ENV DATA_PIPELINE_DATA_DIR=/opt/airflow/data/training_data
RUN mkdir -p "${DATA_PIPELINE_DATA_DIR}"
