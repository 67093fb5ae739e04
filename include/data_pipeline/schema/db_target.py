"""Where a business database is: one server, one port, one database, parsed strictly.

A ``db_connection`` URI is parsed here, not by libpq, so that what the policy checks is exactly what
the step connects to: the conninfo is rebuilt from the parsed fields with host, port and database always
explicit (no ``PG*`` environment default, no ``hostaddr``/``service`` indirection). Every parse problem is
an ``InvalidInput`` (HTTP 400) whose message never repeats a secret.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from psycopg.conninfo import make_conninfo

from data_pipeline.errors import InvalidInput
from platform_db import ConnectionInfo

DEFAULT_PORT = 5432
SSL_MODES = frozenset({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"})
# What a URI may say besides where the server is: nothing that reads a file on the worker or redirects the connection.
OPTION_PARAMETERS = frozenset({"sslmode", "connect_timeout", "application_name"})
TARGET_PARAMETERS = frozenset({"host", "port", "dbname", "user"})
SECRET_PARAMETERS = frozenset({"password", "sslpassword", "passfile", "sslkey", "sslcert", "service",
                               "servicefile", "requirepeer", "krbsrvname", "gsslib"})
# Extras of an operator's Airflow connection passed on to libpq (the rest are Airflow's own keys).
CONNECTION_EXTRAS = OPTION_PARAMETERS | frozenset({"sslrootcert", "sslcert", "sslkey", "sslcrl", "options",
                                                   "keepalives", "keepalives_idle", "target_session_attrs",
                                                   "client_encoding", "gssencmode", "channel_binding"})


@dataclass(frozen=True)
class DbTarget:
    """One database on one server; ``host`` is a name, an IP address or an absolute Unix-socket directory."""

    host: str
    port: int
    dbname: str
    user: str | None = None
    options: tuple[tuple[str, str], ...] = field(default=())

    @property
    def is_socket(self) -> bool:
        return self.host.startswith("/")

    @property
    def where(self) -> str:
        """``host:port/dbname`` as a user would write it (no user, no secret)."""
        host = f"[{self.host}]" if ":" in self.host and not self.is_socket else self.host
        return f"{host}:{self.port}/{self.dbname}"

    def conninfo(self, password: str | None = None) -> str:
        params: dict[str, Any] = {"host": self.host, "port": str(self.port), "dbname": self.dbname}
        if self.user:
            params["user"] = self.user
        if password:
            params["password"] = password
        params.update(dict(self.options))
        return make_conninfo("", **params)

    def uri(self) -> str:
        """The password-free URI stored in a task's parameters and shown by the API."""
        auth = quote(self.user, safe="") + "@" if self.user else ""
        query = list(self.options)
        if self.is_socket:
            netloc = auth
            query = [("host", self.host), ("port", str(self.port)), *query]
        else:
            host = f"[{self.host}]" if ":" in self.host else self.host
            netloc = f"{auth}{host}:{self.port}"
        text = f"postgresql://{netloc}/{quote(self.dbname, safe='')}"
        if query:
            text += "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='/')}" for k, v in query)
        return text


def _bad(message: str) -> InvalidInput:
    return InvalidInput(f"db_connection {message}", invalid_params=["db_connection"])


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise _bad("has an invalid port: give a number from 1 to 65535")
    return int(text)


def _host(text: str) -> str:
    """A host name, IP address (brackets removed) or socket directory; one only."""
    if "," in text:
        raise _bad("names several hosts: give exactly one server")
    if text.startswith("/"):
        return text
    if text.startswith("["):
        if not text.endswith("]"):
            raise _bad("has an unterminated [IPv6] address")
        text = text[1:-1]
        try:
            return str(ipaddress.IPv6Address(text))
        except ValueError:
            raise _bad("has an invalid [IPv6] address") from None
    if not text or any(c in text for c in "[]/@\\ \t\r\n\x00") or ":" in text:
        raise _bad("has an invalid host name")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text.lower()


def _split_host_port(hostport: str) -> tuple[str, str | None]:
    if "," in hostport:
        raise _bad("names several hosts: give exactly one server")
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise _bad("has an unterminated [IPv6] address")
        rest = hostport[end + 1:]
        if rest and not rest.startswith(":"):
            raise _bad("has an invalid host name")
        return hostport[: end + 1], rest[1:] if rest else None
    host, colon, port = hostport.partition(":")
    return host, port if colon else None


def parse_uri(uri: str) -> tuple[DbTarget, str | None]:
    """``postgresql://[user[:password]@]host[:port]/dbname[?param=value&...]`` -> the target and its password."""
    scheme, sep, rest = uri.strip().partition("://")
    if not sep or scheme.lower() not in ("postgresql", "postgres"):
        raise _bad("must be a postgresql:// URI")
    if "#" in rest or any(ord(c) < 32 for c in rest):
        raise _bad("must not contain '#' or control characters")
    netloc_end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    netloc, tail = rest[:netloc_end], rest[netloc_end:]
    path, _, query = tail.partition("?")
    userinfo, at, hostport = netloc.rpartition("@")
    if not at:
        userinfo, hostport = "", netloc
    user, colon, raw_password = userinfo.partition(":")
    values: dict[str, str] = {}
    password = unquote(raw_password) if colon else None
    if user:
        values["user"] = unquote(user)
    host_text, port_text = _split_host_port(hostport)
    if host_text:
        values["host"] = unquote(host_text)
    if port_text is not None:
        values["port"] = port_text
    if path.strip("/"):
        values["dbname"] = unquote(path[1:])
    options: dict[str, str] = {}
    for key, value in _query_pairs(query):
        if key == "password":
            if password and value and value != password:
                raise _bad("gives two different passwords")
            password = value
        elif key in TARGET_PARAMETERS:
            values[key] = value
        elif key in OPTION_PARAMETERS:
            options[key] = value
        else:
            accepted = ", ".join(sorted(TARGET_PARAMETERS | OPTION_PARAMETERS | {"password"}))
            reason = " (it carries a secret or a file of the server)" if key in SECRET_PARAMETERS else ""
            raise _bad(f"parameter {key[:40]!r} is not accepted{reason}; accepted: {accepted}")
    return _target(values, options), password or None


def _query_pairs(query: str) -> list[tuple[str, str]]:
    """``k=v&k=v`` percent-decoded as libpq decodes it (``+`` stays a plus)."""
    pairs = []
    for item in filter(None, query.split("&")):
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise _bad("has a malformed query string: use ?name=value&name=value")
        pairs.append((unquote(key), unquote(value)))
    return pairs


def _target(values: dict[str, str], options: dict[str, str]) -> DbTarget:
    if not values.get("host"):
        raise _bad("must name the server: a host name, an IP address or ?host=/socket/directory")
    host = _host(values["host"])
    port = _port(values["port"]) if values.get("port") else DEFAULT_PORT
    dbname = values.get("dbname") or values.get("user")
    if not dbname:
        raise _bad("must name the database: postgresql://user@host:port/dbname")
    if "sslmode" in options and options["sslmode"] not in SSL_MODES:
        raise _bad(f"sslmode must be one of {', '.join(sorted(SSL_MODES))}")
    if "connect_timeout" in options and not options["connect_timeout"].isdigit():
        raise _bad("connect_timeout must be a whole number of seconds")
    return DbTarget(host=host, port=port, dbname=dbname, user=values.get("user") or None,
                    options=tuple(sorted(options.items())))


def from_connection(info: ConnectionInfo) -> tuple[DbTarget, str | None]:
    """The target of an operator's Airflow connection (its host may be a socket directory)."""
    extra = {k: str(v) for k, v in info.extra.items() if k in CONNECTION_EXTRAS and isinstance(v, str | int)}
    host = info.host or str(info.extra.get("host") or "")
    if not host:
        raise InvalidInput(f"connection {info.conn_id!r} names no host", invalid_params=["db_conn_id"])
    if "," in host:
        raise InvalidInput(f"connection {info.conn_id!r} names several hosts: a business database is one server",
                           invalid_params=["db_conn_id"])
    dbname = info.schema or info.login
    if not dbname:
        raise InvalidInput(f"connection {info.conn_id!r} names no database (its schema field)",
                           invalid_params=["db_conn_id"])
    port_text = str(info.port or info.extra.get("port") or DEFAULT_PORT)
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise InvalidInput(f"connection {info.conn_id!r} has an invalid port", invalid_params=["db_conn_id"])
    port = int(port_text)
    return DbTarget(host=host if host.startswith("/") else host.strip("[]").lower(), port=port, dbname=dbname,
                    user=info.login, options=tuple(sorted(extra.items()))), info.password


def from_dsn(dsn: str) -> DbTarget | None:
    """A platform-side DSN (URI or key=value, maybe SQLAlchemy's ``postgresql+driver://``), leniently; None if
    it is not PostgreSQL or cannot be read (a protected database then falls back to other checks)."""
    from psycopg.conninfo import conninfo_to_dict

    text = dsn.strip()
    scheme, sep, rest = text.partition("://")
    if sep:
        if not scheme.lower().startswith(("postgresql", "postgres")):
            return None
        text = "postgresql://" + rest
    try:
        params = conninfo_to_dict(text)
    except Exception:  # any unreadable DSN is simply not comparable
        return None
    host = str(params.get("hostaddr") or params.get("host") or "/")  # no host: the default local socket.split(",")[0]
    port = str(params.get("port") or DEFAULT_PORT).split(",")[0]
    dbname = str(params.get("dbname") or params.get("user") or "")
    if not port.isdigit() or not dbname:
        return None
    if not host.startswith("/"):
        host = host.strip("[]").lower()
    return DbTarget(host=host, port=int(port), dbname=dbname, user=str(params.get("user") or "") or None)
