"""Creating a PostgreSQL extension from several processes at once."""

from __future__ import annotations

import contextlib

import psycopg
from psycopg import sql


def create_extension(conn: psycopg.Connection, name: str) -> None:
    """``CREATE EXTENSION IF NOT EXISTS`` that tolerates a concurrent creator.

    ``IF NOT EXISTS`` checks the catalog before inserting, so two sessions creating the same extension
    at once can both pass the check and the slower one fails on ``pg_extension``'s unique index. The
    statement runs in a savepoint (or its own transaction) so that loss leaves the caller's work intact.
    """
    with contextlib.suppress(psycopg.errors.UniqueViolation, psycopg.errors.DuplicateObject), conn.transaction():
        conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(name)))
