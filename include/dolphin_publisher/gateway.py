"""The optional Java gateway transport (py4j ``GatewayServer`` in the DolphinScheduler API server).

Off by default on the server and py4j is not a dependency of this project, so py4j is imported only
when the gateway is actually used. ``createOrUpdateWorkflow`` upserts by workflow name, which gives
the same no-duplicate guarantee as the REST path; it cannot rename a definition (the name is the key).

What ``PythonGateway.java`` really does, and how this transport copes: ``genTaskCodeList`` answers the
service's result map ``{status, msg, data}`` (codes in ``data``), not a list; ``createOrUpdateWorkflow``
takes an existing workflow offline, updates it *ignoring the update's result*, then releases it to
the ``releaseState`` argument — so the definition is re-read over REST to confirm the update landed,
and the release state it had is passed back so an online workflow stays online.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from dolphin_publisher.client import MAX_CODES_PER_CALL, DolphinClient
from dolphin_publisher.converter import DefinitionPayload
from dolphin_publisher.errors import GatewayError
from dolphin_publisher.remote import RemoteDefinition
from dolphin_publisher.transport import UpsertResult
from platform_db import settings

DEFAULT_PORT = 25333


def gateway_settings_from_env() -> dict[str, Any]:
    """The PyDolphinScheduler SDK's environment convention, used when the config has no gateway."""
    env = settings.dolphin()
    token = env.gateway_token.get_secret_value() if env.gateway_token else None
    return {"host": env.gateway_address, "port": env.gateway_port, "token": token}


def _py4j_entry_point(host: str, port: int, auth_token: str | None) -> Any:
    try:
        from py4j.java_gateway import GatewayParameters, JavaGateway
    except ImportError as exc:
        raise GatewayError(
            "the Java gateway transport needs the py4j package, which is not installed "
            "(pip install py4j) — or use the REST transport"
        ) from exc
    gateway = JavaGateway(gateway_parameters=GatewayParameters(
        address=host, port=port, auto_convert=True, auth_token=auth_token))
    return gateway.entry_point


class GatewayTransport:
    kind = "gateway"

    def __init__(self, *, host: str, port: int = DEFAULT_PORT, auth_token: str | None = None,
                 user_name: str = "admin", project_name: str, worker_group: str = "default",
                 entry_point_factory: Callable[[str, int, str | None], Any] | None = None,
                 client: DolphinClient | None = None) -> None:
        if not host:
            raise GatewayError("no Java gateway address configured (gateway_address / PYDS_JAVA_GATEWAY_ADDRESS)")
        if not project_name:
            raise GatewayError("the Java gateway addresses projects by name: configure project_name")
        self.host, self.port, self._token = host, port, auth_token
        self.user_name, self.project_name, self.worker_group = user_name, project_name, worker_group
        self._factory = entry_point_factory or _py4j_entry_point
        self._entry: Any = None
        self.client = client  # REST, to confirm what the gateway did

    def __repr__(self) -> str:
        return f"GatewayTransport(host={self.host!r}, port={self.port}, project_name={self.project_name!r})"

    def _call(self, method: str, *args: Any) -> Any:
        try:
            if self._entry is None:
                self._entry = self._factory(self.host, self.port, self._token)
            return getattr(self._entry, method)(*args)
        except GatewayError:
            raise
        except Exception as exc:  # py4j raises Py4JError/Py4JNetworkError; keep the text, drop the stack
            raise GatewayError(f"Java gateway {method} failed at {self.host}:{self.port}: {exc}",
                               endpoint=f"gateway:{method}") from exc

    def ping(self) -> dict[str, Any]:
        return {"gateway": f"{self.host}:{self.port}", "answer": str(self._call("ping"))}

    def gen_task_codes(self, count: int) -> list[int]:
        codes: list[int] = []
        while len(codes) < count:
            batch = min(MAX_CODES_PER_CALL, count - len(codes))
            codes.extend(_task_codes(self._call("genTaskCodeList", batch), batch))
        return codes

    def upsert_definition(self, payload: DefinitionPayload, *, current: RemoteDefinition | None,
                          note: Callable[[str], None]) -> UpsertResult:
        if current is not None and current.name != payload.name:
            raise GatewayError(
                f"the Java gateway upserts by name and cannot rename definition {current.code} "
                f"from {current.name!r} to {payload.name!r}; use the REST transport",
                endpoint="gateway:createOrUpdateWorkflow",
            )
        form = payload.form()
        release = 1 if current is not None and current.release_state == "ONLINE" else 0
        code = self._call(
            "createOrUpdateWorkflow", self.user_name, self.project_name, payload.name, payload.description,
            form["globalParams"], None, False, "NONE", 0, payload.timeout, self.worker_group, release,
            form["taskRelationJson"], form["taskDefinitionJson"], None, payload.execution_type,
        )
        note(f"gateway createOrUpdateWorkflow returned code {code}")
        state = "ONLINE" if release else "OFFLINE"
        version = None
        if self.client is not None:
            stored = self.client.get_definition(int(code))
            if stored is None or stored.name != payload.name or (
                    {t.code for t in stored.tasks} != set(payload.task_codes.values())):
                raise GatewayError(
                    f"the Java gateway answered code {code} but definition {code} over REST does not hold "
                    "the workflow sent (the gateway ignores a failed update)",
                    endpoint="gateway:createOrUpdateWorkflow")
            state, version = stored.release_state or state, stored.version
            note(f"confirmed over REST: definition {code} version {version} is {state}")
        return UpsertResult(code=int(code), created=current is None, engine_version=version, release_state=state)


def _task_codes(answer: Any, expected: int) -> list[int]:
    """The codes out of ``genTaskCodeList``'s ``{status, msg, data}`` map (a py4j JavaMap or a dict)."""
    if not isinstance(answer, Mapping) and not hasattr(answer, "get"):
        raise GatewayError(f"genTaskCodeList answered {type(answer).__name__}, not its result map",
                           endpoint="gateway:genTaskCodeList")
    status = str(answer.get("status") or "")
    data = answer.get("data")
    if status not in ("SUCCESS", "0") or data is None:
        raise GatewayError(f"genTaskCodeList failed: {status} {answer.get('msg') or ''}".strip(),
                           endpoint="gateway:genTaskCodeList")
    codes = [int(c) for c in data]
    if len(codes) != expected:
        raise GatewayError(f"asked the gateway for {expected} task codes, got {len(codes)}",
                           endpoint="gateway:genTaskCodeList")
    return codes
