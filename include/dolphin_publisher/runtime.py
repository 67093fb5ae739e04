"""Wiring for the CLI, the API and the DAG: one database, one config, clients built on demand."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dolphin_publisher.client import DolphinClient, RetryPolicy
from dolphin_publisher.config import IntegrationConfig, load_config
from dolphin_publisher.definitions import WorkflowService
from dolphin_publisher.dependencies import DependencyResolver
from dolphin_publisher.errors import ConfigError
from dolphin_publisher.gateway import DEFAULT_PORT, GatewayTransport
from dolphin_publisher.history import HistorySync
from dolphin_publisher.publisher import Publisher
from dolphin_publisher.repository import Database, Row
from dolphin_publisher.transport import RestTransport, Transport
from dolphin_publisher.versions import VersionService

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, db: Database | None = None, *, environment: str | None = None,
                 config: IntegrationConfig | None = None,
                 client_factory: Callable[[IntegrationConfig], DolphinClient] | None = None) -> None:
        self.db = db or Database()
        self.environment = environment
        self._config = config
        self._client_factory = client_factory or default_client
        self.workflows = WorkflowService(self.db, link_builder=self._link)
        self.versions = VersionService(self.db, self.workflows)
        self.resolver = DependencyResolver(self.db)

    def config(self) -> IntegrationConfig:
        if self._config is None:
            self._config = load_config(self.db, self.environment)
        return self._config

    def _link(self, row: Row) -> str | None:
        try:
            config = self.config()
        except ConfigError:
            return None
        return config.workflow_url(row["workflow_code"], row["project_code"])

    @contextmanager
    def client(self) -> Iterator[DolphinClient]:
        client = self._client_factory(self.config())
        try:
            yield client
        finally:
            client.close()

    def transport(self, client: DolphinClient) -> Transport:
        config = self.config()
        if config.transport == "gateway":
            return GatewayTransport(host=config.gateway_host or "", port=config.gateway_port or DEFAULT_PORT,
                                    auth_token=config.gateway_token, user_name=config.gateway_user,
                                    project_name=config.project_name, worker_group=config.worker_group,
                                    client=client)
        return RestTransport(client)

    @contextmanager
    def publisher(self) -> Iterator[Publisher]:
        with self.client() as client:
            yield Publisher(self.db, self.config(), client, self.transport(client))

    @contextmanager
    def history(self) -> Iterator[HistorySync]:
        with self.client() as client:
            yield HistorySync(self.db, self.config(), client)


def default_client(config: IntegrationConfig) -> DolphinClient:
    return DolphinClient(config.rest_base_url, config.token, config.project_code,
                         timeout=config.timeout_seconds, retry=RetryPolicy(attempts=max(1, config.retries)))


def run_scheduled_sync() -> dict[str, Any]:
    """Entry point of the ``dolphin_history_sync`` DAG: configuration from the environment/Airflow."""
    runtime = Runtime()
    try:
        runtime.config()
    except ConfigError as exc:
        log.info("DolphinScheduler not configured, nothing to sync: %s", exc.message)
        return {"configured": False, "message": exc.message}
    with runtime.history() as history:
        report = history.sync_all()
    report["configured"] = True
    return report
