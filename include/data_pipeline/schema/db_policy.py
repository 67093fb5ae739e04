"""Which databases a task may read: the operator's allow-lists, and the databases no list can allow.

A task reads its business database with the worker's network position and, for a connection id, the
operator's credentials; so the server decides, not the task's author:

* ``db_conn_id`` — allowed when the id is in ``DATA_PIPELINE_ALLOWED_DB_CONN_IDS`` (``prefix*`` entries
  match by prefix) or the connection's extra says ``"data_pipeline_business_db": true``;
* ``db_connection`` URIs — refused unless ``DATA_PIPELINE_ALLOWED_DB_HOSTS`` is set, then only to the
  ``host:port`` entries it lists (``host:*`` any port, ``*`` any server);
* never, whatever the lists say: the platform's own store, the vector database and Airflow's metadata
  database. They are compared by server and database — resolved addresses (a Unix socket and any
  loopback address count as this machine), port and database name — not by how the task spelled them.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import socket
import sys

from data_pipeline.errors import InvalidInput
from data_pipeline.schema.db_target import DEFAULT_PORT, DbTarget, from_dsn
from platform_db import ConnectionInfo
from platform_db.settings import PLATFORM_DB_CONN_ID, airflow, business_db_policy, databases, local_dir

BUSINESS_DB_FLAG = "data_pipeline_business_db"  # connection extra that allows a connection id
Endpoint = tuple[str, ...]


class DatabaseNotAllowed(InvalidInput):
    """The operator's business-database policy refuses this database."""

    error_code = "DATABASE_NOT_ALLOWED"


# -- connection ids ------------------------------------------------------------------------------------


def conn_id_listed(conn_id: str) -> bool:
    for entry in business_db_policy().conn_id_entries():
        if entry == conn_id or (entry.endswith("*") and conn_id.startswith(entry[:-1])):
            return True
    return False


def flagged(info: ConnectionInfo) -> bool:
    value = info.extra.get(BUSINESS_DB_FLAG)
    return value is True or str(value).strip().lower() in ("true", "1", "yes")


def check_conn_id(conn_id: str, info: ConnectionInfo | None) -> ConnectionInfo:
    """The connection, if the policy lets tasks read it; the same refusal whether it is undefined or unlisted."""
    if conn_id == PLATFORM_DB_CONN_ID:
        raise DatabaseNotAllowed(f"connection {conn_id!r} is the platform's own database: a task may never read it",
                                 invalid_params=["db_conn_id"])
    listed = conn_id_listed(conn_id)
    if info is not None and (listed or flagged(info)):
        return info
    if listed:
        raise InvalidInput(f"connection {conn_id!r} is not defined: create it in Airflow (Admin > Connections)",
                           invalid_params=["db_conn_id"])
    raise DatabaseNotAllowed(
        f"connection {conn_id!r} is not an allowed business database: the operator lists allowed ids in "
        f"DATA_PIPELINE_ALLOWED_DB_CONN_IDS or sets the connection's extra {{\"{BUSINESS_DB_FLAG}\": true}}",
        invalid_params=["db_conn_id"])


# -- raw URIs ----------------------------------------------------------------------------------------


def _entry(text: str) -> tuple[str, str]:
    """An allow-list entry as (host, port or '*'): ``host``, ``host:port``, ``[v6]:port``, ``/dir:port``."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else str(DEFAULT_PORT)
        return _normal_host(host), port
    head, colon, tail = text.rpartition(":")
    if colon and "/" not in tail and (tail == "*" or tail.isdigit()) and head.count(":") == 0:
        return _normal_host(head), tail
    return _normal_host(text), str(DEFAULT_PORT)


def _normal_host(host: str) -> str:
    if host.startswith("/"):
        return os.path.realpath(host)
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host.lower()


def check_uri_allowed(target: DbTarget) -> None:
    entries = business_db_policy().host_entries()
    if not entries:
        raise DatabaseNotAllowed("db_connection URIs are turned off on this server (DATA_PIPELINE_ALLOWED_DB_HOSTS "
                                 "is unset): use db_conn_id with a connection the operator allows",
                                 invalid_params=["db_connection"])
    host = _normal_host(target.host)
    for text in entries:
        if text == "*":
            return
        allowed_host, allowed_port = _entry(text)
        if allowed_host == host and allowed_port in ("*", str(target.port)):
            return
    raise DatabaseNotAllowed(f"db_connection server {target.where.rsplit('/', 1)[0]} is not in "
                             "DATA_PIPELINE_ALLOWED_DB_HOSTS, the servers tasks may read",
                             invalid_params=["db_connection"])


# -- databases no list allows --------------------------------------------------------------------------


def protected_databases() -> list[tuple[str, DbTarget]]:
    """(what, where) of the platform store, the vector database and Airflow's metadata database."""
    found: list[tuple[str, DbTarget]] = []
    for what, dsn in (("the platform's own database (task store)", _platform_dsn()),
                      ("the vector database", databases().vector_db_uri),
                      ("Airflow's metadata database", _airflow_metadata_dsn())):
        target = from_dsn(dsn) if dsn else None
        if target is not None:
            found.append((what, target))
    return found


def _platform_dsn() -> str:
    """Where the platform store is, without starting the embedded server just to find out."""
    from platform_db import get_connection

    uri = databases().db_uri
    if uri:
        return uri
    conn = get_connection(PLATFORM_DB_CONN_ID)
    if conn is not None:
        return conn.postgres_uri()
    from platform_db.dsn import EMBEDDED_DATABASE

    return f"postgresql://postgres@/{EMBEDDED_DATABASE}?host={local_dir() / 'pgdata'}"


def _airflow_metadata_dsn() -> str | None:
    secret = airflow().metadata_db_uri
    if secret is not None:
        return secret.get_secret_value()
    if "airflow" in sys.modules:  # configured in airflow.cfg rather than the environment
        try:
            from airflow.configuration import conf

            return str(conf.get("database", "sql_alchemy_conn"))
        except Exception:  # no Airflow configuration here
            return None
    return None


@functools.lru_cache(maxsize=256)
def _addresses(host: str, port: int) -> frozenset[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return frozenset()
    return frozenset(str(info[4][0]).split("%")[0] for info in infos)


def endpoints(host: str, port: int) -> set[Endpoint]:
    """Keys naming a server: this machine (socket, loopback, unspecified address) or each resolved address."""
    if host.startswith("/"):
        return {("local", str(port))}
    keys: set[Endpoint] = {("name", host.lower(), str(port))}
    candidates = {host} if _is_ip(host) else set(_addresses(host, port))
    for address in candidates:
        ip = ipaddress.ip_address(address)
        ip = ip.ipv4_mapped or ip if isinstance(ip, ipaddress.IPv6Address) else ip
        local = ip.is_loopback or ip.is_unspecified
        keys.add(("local", str(port)) if local else ("ip", str(ip), str(port)))
    return keys


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_not_protected(target: DbTarget, *, address: str | None = None, label: str | None = None) -> None:
    """Refuse the platform's and Airflow's databases; ``address`` is the IP a live connection reached,
    ``label`` how the refusal names the database (a connection id's server stays the operator's business)."""
    same_name = [(what, p) for what, p in protected_databases() if p.dbname == target.dbname]
    if not same_name:
        return
    mine = endpoints(address or target.host, target.port)
    for what, protected in same_name:
        if mine & endpoints(protected.host, protected.port):
            raise DatabaseNotAllowed(f"the business database {label or target.where} is {what}: a task may never "
                                     "read it",
                                     invalid_params=["db_connection", "db_conn_id"])
