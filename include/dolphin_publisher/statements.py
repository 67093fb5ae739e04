"""The base of the publisher's SQL: one connection and the two ways of reading from it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

Row = dict[str, Any]


class Statements:
    """SQL over one connection; ``repository.Repo`` combines the statement groups built on this."""

    def __init__(self, conn: psycopg.Connection[Row]) -> None:
        self.conn = conn

    def _all(self, query: str | sql.Composable, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Row]:
        return self.conn.execute(query, params).fetchall()  # type: ignore[arg-type]

    def _one(self, query: str | sql.Composable, params: Sequence[Any] | Mapping[str, Any] = ()) -> Row | None:
        return self.conn.execute(query, params).fetchone()  # type: ignore[arg-type]
