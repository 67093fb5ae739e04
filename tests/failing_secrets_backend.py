"""A secrets backend that always fails, as an unreachable vault would (configured by tests through
``AIRFLOW__SECRETS__BACKEND``)."""

from __future__ import annotations

from airflow.secrets import BaseSecretsBackend


class FailingSecretsBackend(BaseSecretsBackend):
    def get_conn_value(self, conn_id: str) -> str | None:
        raise ConnectionError("vault.example unreachable: connection refused")

    def get_variable(self, key: str) -> str | None:
        raise ConnectionError("vault.example unreachable: connection refused")
