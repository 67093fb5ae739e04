"""Answers of the routes the task page in the Airflow UI needs: the caller, and the databases a task may read.

Kept apart from ``answers.py`` so the page's additions stay in their own modules.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Caller(BaseModel):
    user: str
    can_run: bool = Field(description="whether the caller may create, run, change and delete tasks")


class BusinessConnection(BaseModel):
    conn_id: str
    defined: bool = Field(description="whether the connection exists (in Airflow or AIRFLOW_CONN_<ID>)")


class BusinessConnections(BaseModel):
    connections: list[BusinessConnection]
    prefixes: list[str] = Field(description="allow-list entries ending in *: any connection id with that prefix")


class ConnectionTables(BaseModel):
    conn_id: str
    tables: list[str] = Field(description="schema-qualified names, quoted where PostgreSQL needs it")
    count: int
    truncated: bool
