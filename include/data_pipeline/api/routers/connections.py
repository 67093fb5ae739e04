"""The business databases a task may read, for the task page's create form: ids and table names, never addresses.

The ids come from the operator's allow-list (``DATA_PIPELINE_ALLOWED_DB_CONN_IDS``); a table listing goes
through the same policy as a task (``business_db.resolve``), so a page can never read what a task may not.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from data_pipeline.api.answers_ui import BusinessConnections, ConnectionTables
from data_pipeline.api.deps import ERRORS, ReaderDep
from data_pipeline.schema.business_db import resolve
from data_pipeline.schema.table_resolve import all_tables
from data_pipeline.workflow.input_check import answering_connection
from platform_api.envelope import Envelope, error_responses, ok
from platform_db import get_connection
from platform_db.settings import PLATFORM_DB_CONN_ID, business_db_policy

router = APIRouter(tags=["business databases"], responses=ERRORS)
MAX_TABLES = 5000
ConnIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.\-]+$", max_length=250, description="Airflow connection id")]


def _defined(conn_id: str) -> bool:
    try:
        return get_connection(conn_id) is not None
    except ValueError:  # a malformed definition: not usable as it stands
        return False


@router.get("/connections", response_model=Envelope[BusinessConnections],
            summary="Connection ids of the business databases tasks may read")
def connections(user: ReaderDep) -> Any:
    entries = business_db_policy().conn_id_entries()
    ids = sorted({e for e in entries if not e.endswith("*") and e != PLATFORM_DB_CONN_ID})
    return ok({"connections": [{"conn_id": i, "defined": _defined(i)} for i in ids],
               "prefixes": sorted({e for e in entries if e.endswith("*")})})


@router.get("/connections/{conn_id}/tables", response_model=Envelope[ConnectionTables],
            summary="Tables of an allowed business database (schema-qualified names)",
            responses=error_responses({424: "DATABASE_UNREACHABLE / BUSINESS_DB_ERROR: the database (or where its "
                                            "connection is defined) could not be read"}, 424))
def tables(conn_id: ConnIdPath, user: ReaderDep) -> Any:
    database = resolve(db_conn_id=conn_id, db_connection=None)
    with answering_connection(database, application_name="data_pipeline_ui",
                              doing="its tables were listed") as conn:
        conn.execute("SET statement_timeout = 15000")
        refs = all_tables(conn)
    names = [r.qualified for r in refs]
    return ok({"conn_id": conn_id, "tables": names[:MAX_TABLES], "count": len(names),
               "truncated": len(names) > MAX_TABLES})
