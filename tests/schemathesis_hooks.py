"""Schemathesis hooks (loaded by path through ``SCHEMATHESIS_HOOKS``): URI-shaped ``db_connection`` values.

A schema only says ``db_connection`` is a string, so generated values are rarely anything like a
URI and never reach the URI parsing. Here two of three bodies of ``POST /tasks`` get a URI built
from parts that stress a parser: out-of-range and non-numeric ports, unclosed IPv6 brackets,
several hosts, passwords in the user part and in the query string, sockets as hosts. Every call is
logged as one JSON line to ``$SCHEMATHESIS_CALL_LOG`` (method, path, status, whether it carried such
a URI), so a test can count what was generated, what passed and any 5xx.
"""

from __future__ import annotations

import json
import os
from typing import Any

import schemathesis
from hypothesis import strategies as st

EXAMPLES = (
    "postgresql://u:p@h:99999/db",
    "postgresql://[::1",
    "postgres://a,b:5432/db?password=x",
    "postgresql:///db?host=/tmp&port=abc",
    "postgresql://u:p@h:-1/db",
    "postgresql://u@[::1]:5432/db",
    "postgresql://u:p%40ss@h/db",
    "postgresql://h:5432,h2:5433/db?target_session_attrs=read-write",
    "postgresql://",
    "postgresql://:@:/",
    "postgres://u:p@h/db?sslmode=require&password=other",
    "mysql://u:p@h/db",
)
URI_MARK = "x-generated-uri"

_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_word = st.from_regex(r"[A-Za-z0-9._\-]{0,12}", fullmatch=True)
_scheme = st.sampled_from(["postgresql", "postgres", "postgresql+psycopg", "mysql", "http", "file", ""])
_userinfo = st.one_of(st.just(""), st.builds(lambda u, p: f"{u}{p}@", st.one_of(_word, _text),
                                             st.one_of(st.just(""), _word.map(lambda p: f":{p}"),
                                                       _text.map(lambda p: f":{p}"))))
_host = st.one_of(st.sampled_from(["h", "127.0.0.1", "[::1]", "[::1", "::1", "a,b", "[fe80::1%25eth0]", "",
                                   "%2Ftmp", "localhost", "h1:5432,h2"]), _word)
_port = st.one_of(st.just(""), st.integers(-5, 100_000).map(lambda p: f":{p}"),
                  st.sampled_from([":", ":abc", ":5432:5433", ":0x10", ": 5432"]))
_path = st.one_of(st.just(""), st.just("/"), _word.map(lambda d: f"/{d}"), _text.map(lambda d: f"/{d}"))
_param = st.builds(lambda k, v: f"{k}={v}",
                   st.sampled_from(["password", "host", "port", "dbname", "user", "sslmode", "options", "service",
                                    "passfile", "connect_timeout", "hostaddr", "target_session_attrs"]),
                   st.one_of(_word, _text))
_query = st.one_of(st.just(""), st.lists(_param, min_size=1, max_size=3).map(lambda ps: "?" + "&".join(ps)))
postgres_uris = st.one_of(
    st.sampled_from(EXAMPLES),
    st.builds(lambda s, u, h, p, d, q: f"{s}://{u}{h}{p}{d}{q}", _scheme, _userinfo, _host, _port, _path, _query),
)


def _creates_task(context: Any) -> bool:
    operation = context.operation
    return operation is not None and operation.method.upper() == "POST" \
        and operation.path in ("/tasks", "/api/v0/data_pipeline/tasks")  # not /api/v1's .../tasks


@schemathesis.hook
def flatmap_body(context: Any, body: Any) -> st.SearchStrategy:
    if not _creates_task(context) or not isinstance(body, dict):
        return st.just(body)
    rest = {k: v for k, v in body.items() if k not in ("db_conn_id", "parameters")}
    return st.one_of(st.just(body), postgres_uris.map(lambda uri: {**rest, "db_connection": uri}),
                     # nothing else to refuse: the URI is
                     postgres_uris.map(lambda uri: {"db_connection": uri, "business_context": "服务区"}))


def _carries_uri(case: Any) -> bool:
    body = getattr(case, "body", None)
    return isinstance(body, dict) and isinstance(body.get("db_connection"), str) and "://" in body["db_connection"]


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    path = os.environ.get("SCHEMATHESIS_CALL_LOG")
    if not path:
        return
    record = {"method": case.method, "path": case.operation.path, "status": response.status_code,
              "uri": case.body["db_connection"] if _carries_uri(case) else None}
    if response.status_code >= 500:
        record["answer"] = response.text[:500]
    if record["uri"] is not None and response.status_code == 201:
        record["stored"] = response.json()["data"]["parameters"].get("db_connection")
    with open(path, "a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")
