"""Several processes preparing the same fresh database at once (xdist workers starting stacks did)."""

from __future__ import annotations

import os
import secrets
from concurrent.futures import ThreadPoolExecutor

import psycopg

from platform_db import embedded
from platform_db.extensions import create_extension


def test_concurrent_creators_of_an_extension_all_succeed() -> None:
    for _ in range(5):
        name = f"dp_ext_race_{os.getpid()}_{secrets.token_hex(4)}"
        uri = embedded.ensure_database(name, extensions=())

        def create(_: int, uri: str = uri) -> None:
            with psycopg.connect(uri, autocommit=True) as conn:
                create_extension(conn, "vector")

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, range(8)))  # before: UniqueViolation on pg_extension_name_index
        with psycopg.connect(uri) as conn:
            assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'vector'").fetchone() == (1,)


def test_a_lost_race_inside_a_transaction_keeps_the_callers_work() -> None:
    uri = embedded.ensure_database(f"dp_ext_tx_{os.getpid()}_{secrets.token_hex(4)}")
    with psycopg.connect(uri) as conn:
        conn.execute("CREATE TABLE kept (x int)")
        create_extension(conn, "vector")  # exists already: nothing happens, the transaction goes on
        conn.execute("INSERT INTO kept VALUES (1)")
    with psycopg.connect(uri) as conn:
        assert conn.execute("SELECT x FROM kept").fetchall() == [(1,)]
