"""ddl_generation on the demo database: files and their content, bad inputs, resuming.

Everything goes through ``workflow.execute_step`` with a real task directory and the embedded
PostgreSQL server; the offline generator writes the missing comments.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from data_pipeline.errors import StepFailed
from data_pipeline.files.table_list import TableRef
from data_pipeline.generation.offline import OfflineGenerator
from data_pipeline.schema import demo_db
from data_pipeline.schema.model import TableComments, TableInfo
from data_pipeline.schema.sidecars import load_table_infos, read_sidecar, sidecar_path
from data_pipeline.steps import ddl
from data_pipeline.steps.context import StepContext
from data_pipeline.steps.state import StepState
from data_pipeline.tasks.log import TaskLogger
from data_pipeline.tasks.parameters import TaskParameters
from data_pipeline.workflow.pipeline import execute_step
from platform_db import embedded

DEMO = list(demo_db.DEMO_TABLES)
WITH_ALL_COMMENTS = {"bss_company", "bss_service_area"}  # every column commented in the demo database


@pytest.fixture(scope="module")
def demo_uri() -> Iterator[str]:
    """The demo database (plus a table created as "Orders", to be listed as orders) for this module."""
    name = f"dp_ddl_demo_{os.getpid()}_{secrets.token_hex(4)}"
    uri = embedded.ensure_database(name, extensions=())
    demo_db.build_demo_database(uri, days=60)
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # settled statistics: autovacuum has nothing left to change mid-module
        conn.execute('CREATE TABLE "Orders" (id integer PRIMARY KEY, status text)')
        conn.execute("CREATE VIEW open_areas AS SELECT id, service_area_name, service_state FROM bss_service_area "
                     "WHERE service_state = '开放'")
        conn.execute("CREATE TABLE notes (kind text, body text); INSERT INTO notes SELECT (ARRAY['memo', 'todo'])"
                     "[1 + g % 2], repeat('long text ', 10) FROM generate_series(1, 30) g")  # never analyzed
    yield uri
    embedded.drop_database(name)


def make_ctx(task_dir: Path, uri: str, tables: list[str] | str | bytes | None = None, *,
             generator: Any = None, **params: Any) -> StepContext:
    task_dir.mkdir(parents=True, exist_ok=True)
    if tables is not None:
        path = task_dir / "table_list.txt"
        if isinstance(tables, bytes):
            path.write_bytes(tables)
        else:
            path.write_text(tables if isinstance(tables, str) else "\n".join(tables) + "\n", encoding="utf-8")
    return StepContext(task_dir=task_dir, params=TaskParameters(db_connection=uri, **params),
                       log=TaskLogger(task_dir=task_dir, task_id=None, store=None), generator_override=generator)


def outputs_of(task_dir: Path) -> dict[str, bytes]:
    """Every step-1 output, sidecars included, as bytes (logs and results carry timestamps: excluded)."""
    files = {p.name: p.read_bytes() for p in task_dir.iterdir()
             if p.suffix in (".ddl", ".md") or p.name == "filename_mapping.txt"}
    files |= {f"schema/{p.name}": p.read_bytes() for p in (task_dir / ".state" / "schema").glob("*.json")}
    return files


def item_records(task_dir: Path) -> dict[str, Any]:
    records = {}
    for scope in sorted((task_dir / ".state" / "ddl_generation").glob("batch_*")):
        state = StepState(task_dir, "ddl_generation", scope.name)
        state.load()
        records.update(state.records())
    return records


def failure(ctx: StepContext) -> str:
    with pytest.raises(StepFailed) as caught:
        execute_step(ctx, "ddl_generation")
    result = json.loads((ctx.task_dir / "ddl_generation_result.json").read_text(encoding="utf-8"))
    assert result["status"] == "failed"
    assert not list(ctx.task_dir.glob("*.ddl")) and not (ctx.task_dir / "filename_mapping.txt").exists()
    return caught.value.message


# -- the files --------------------------------------------------------------------------------------

def test_demo_tables_give_ddl_detail_and_mapping(tmp_path: Path, demo_uri: str) -> None:
    ctx = make_ctx(tmp_path / "task", demo_uri, [*DEMO, "orders", "bss_company"], batch_size=3)
    result = execute_step(ctx, "ddl_generation")
    task = ctx.task_dir
    assert (result.status, result.items_total, result.items_completed) == ("completed", 9, 9)

    service_area = (task / "bss_service_area_detail.md").read_text(encoding="utf-8")
    assert service_area.startswith("# public.bss_service_area（服务区）\n")
    assert ("- service_state (character varying(8)) - 服务区状态：开放/关闭/上传数据 [not null] sample values: "
            in service_area)
    assert "- id (integer) - 主键 [primary key, not null, identity by default] sample values: 1, 2, 3" \
        in service_area
    assert "## Enum values\n\n- service_area_type (distinct values): 信息化服务区, 智能化服务区\n" \
           "- service_state (distinct values): 上传数据, 关闭, 开放\n" in service_area
    assert "Estimated rows: " in service_area and "generated" not in service_area

    # Database comments kept as they are; nothing generated for a fully commented table.
    company = (task / "bss_company.ddl").read_text(encoding="utf-8")
    assert company.startswith("-- public.bss_company: 公司（路段管理分公司）\n")
    assert "COMMENT ON TABLE bss_company IS '公司（路段管理分公司）';" in company
    assert "COMMENT ON COLUMN bss_company.company_name IS '公司名称';" in company
    assert "-- Comments" not in company
    create = company[company.index("CREATE TABLE"):company.index(");")]
    assert "--" not in create and "COMMENT" not in create
    assert "    company_no character varying(16) NOT NULL,\n" in create
    assert "CONSTRAINT bss_company_pkey PRIMARY KEY (id)" in create

    # A table without comments gets generated ones, marked as such in all three outputs.
    route = (task / "bss_section_route.ddl").read_text(encoding="utf-8")
    assert "-- Comments: generated (the database has none)\n" in route
    assert "COMMENT ON TABLE bss_section_route IS " in route
    assert route.count("COMMENT ON COLUMN bss_section_route.") == 4
    info = read_sidecar(task, TableRef("public", "bss_section_route"))
    assert info is not None and info.comment_generated and all(c.comment_generated for c in info.columns)
    assert "Comments: generated (the database has none)." in (task / "bss_section_route_detail.md").read_text()
    # Partly commented: database comments kept, only the gaps filled (matched by column name).
    branch = read_sidecar(task, TableRef("public", "bss_branch"))
    assert branch is not None and branch.comment == "档口/门店" and not branch.comment_generated
    assert branch.column("classify").comment == "档口类别：餐饮/便利店/汽修/加油站/其他"  # type: ignore[union-attr]
    assert branch.column("branch_no").comment_generated  # type: ignore[union-attr]

    # Foreign keys follow the deferred marker; the table itself comes first.
    link = (task / "bss_section_route_area_link.ddl").read_text(encoding="utf-8")
    head, _, tail = link.partition("-- Deferred: run after every table exists")
    assert "PRIMARY KEY (section_route_id, service_area_id)" in head and "FOREIGN KEY" not in head
    assert tail.count("FOREIGN KEY") == 2

    # "Orders" listed as orders: resolved with a warning, files named after the real table.
    assert (task / "Orders.ddl").read_text(encoding="utf-8").count('CREATE TABLE "Orders" (') == 1
    log = (task / "data_pipeline.log").read_text(encoding="utf-8")
    assert 'using public."Orders"' in log
    assert "repeats line 1; duplicate removed" in log
    assert "progress 9/9 tables" in log

    mapping = (task / "filename_mapping.txt").read_text(encoding="utf-8").splitlines()
    assert mapping[1:] == [f"public.{t} -> {t}.ddl, {t}_detail.md" for t in DEMO] + [
        'public."Orders" -> Orders.ddl, Orders_detail.md']
    assert sorted(p.name for p in task.glob("*.ddl")) == sorted([f"{t}.ddl" for t in DEMO] + ["Orders.ddl"])
    assert set(result.outputs) >= {"bss_company.ddl", "bss_company_detail.md", "filename_mapping.txt"}


def test_views_and_never_analyzed_tables(tmp_path: Path, demo_uri: str) -> None:
    ctx = make_ctx(tmp_path / "task", demo_uri, ["open_areas", "notes"])
    execute_step(ctx, "ddl_generation")
    view = (ctx.task_dir / "open_areas.ddl").read_text(encoding="utf-8")
    assert "-- A view in the source database; its columns are given as a table definition." in view
    assert "CREATE TABLE open_areas (\n    id integer,\n    service_area_name character varying(64)," in view
    notes = (ctx.task_dir / "notes_detail.md").read_text(encoding="utf-8")
    assert "Estimated rows: 30\n" in notes  # counted by the bounded scan: the planner knows nothing yet
    assert "- kind (distinct values): memo, todo" in notes
    assert "- body (distinct values)" not in notes  # repeated long text is not a category


def test_rerun_replaces_files_in_place_and_drops_unlisted_tables(tmp_path: Path, demo_uri: str) -> None:
    task = tmp_path / "task"
    first = execute_step(make_ctx(task, demo_uri, DEMO[:4]), "ddl_generation")
    before = outputs_of(task)
    second = execute_step(make_ctx(task, demo_uri), "ddl_generation")
    assert not second.resumed and second.details["processed"] == 4 == first.details["processed"]
    assert outputs_of(task) == before  # same database, same bytes; no *.ddl_1 copies
    assert sorted(p.name for p in task.iterdir() if p.suffix == ".ddl") == sorted(f"{t}.ddl" for t in DEMO[:4])

    (task / "table_list.txt").write_text("bss_company\nbss_branch\n", encoding="utf-8")
    third = execute_step(make_ctx(task, demo_uri), "ddl_generation")
    assert sorted(third.details["removed_stale_files"]) == sorted(
        f"{t}{suffix}" for t in DEMO[1:4] for suffix in (".ddl", "_detail.md"))
    assert sorted(p.name for p in task.glob("*.ddl")) == ["bss_branch.ddl", "bss_company.ddl"]
    assert not sidecar_path(task, TableRef("public", "bss_service_area")).exists()


def test_load_table_infos_reads_sidecars_and_falls_back_to_the_database(tmp_path: Path, demo_uri: str) -> None:
    ctx = make_ctx(tmp_path / "task", demo_uri, ["bss_company", "bss_section_route"])
    execute_step(ctx, "ddl_generation")
    refs = [TableRef("public", "bss_section_route"), TableRef("public", "bss_company")]
    sidecar_path(ctx.task_dir, refs[1]).unlink()
    route, company = load_table_infos(ctx, refs)
    assert route.comment_generated and route.comment  # from the sidecar: generated comments included
    assert company.comment == "公司（路段管理分公司）" and company.primary_key == ["id"]  # from the database
    assert [c.name for c in company.columns] == ["id", "company_name", "company_no", "created_at", "remark"]


# -- bad inputs: clear errors, nothing written ----------------------------------------------------------

@pytest.mark.parametrize(("tables", "expected"), [
    ("# only a comment\n\n", "table list is empty"),
    ("bss_company\nbss company!\n", "table list line 2"),
    ("\n".join(f"t{i}" for i in range(10_000)) + "\n", "more than 1000 tables"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
])
def test_bad_table_lists_are_rejected(tmp_path: Path, demo_uri: str, tables: str | bytes, expected: str) -> None:
    assert expected in failure(make_ctx(tmp_path / "task", demo_uri, tables))


def test_unknown_tables_are_all_named_before_any_work(tmp_path: Path, demo_uri: str) -> None:
    message = failure(make_ctx(tmp_path / "task", demo_uri, ["bss_company", "no_such_table", "ghost.tbl",
                                                             "bss_compnay"]))
    assert "3 listed table(s) do not exist" in message
    assert "public.no_such_table" in message and "ghost.tbl" in message
    assert "public.bss_compnay (did you mean public.bss_company?)" in message
    assert not (tmp_path / "task" / ".state" / "schema").exists()


def test_unreachable_database(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    message = failure(make_ctx(tmp_path / "task", f"postgresql://postgres@127.0.0.1:{port}/highway", ["bss_company"]))
    assert "cannot connect to the business database" in message and "nothing is listening" in message


class WrongPasswordServer:
    """A real TCP server speaking the PostgreSQL wire protocol just far enough to reject the password."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.passwords: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError, struct.error):
                self._handle(conn)

    @staticmethod
    def _read(conn: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = conn.recv(size - len(data))
            if not chunk:
                raise OSError("client went away")
            data += chunk
        return data

    def _handle(self, conn: socket.socket) -> None:
        while True:  # SSLRequest / GSSENCRequest are declined, then the StartupMessage follows
            length, code = struct.unpack("!ii", self._read(conn, 8))
            self._read(conn, length - 8)
            if code in (80877103, 80877104):
                conn.sendall(b"N")
                continue
            break
        conn.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
        _kind, length = struct.unpack("!ci", self._read(conn, 5))
        self.passwords.append(self._read(conn, length - 4))
        fields = b"".join(tag + text + b"\x00" for tag, text in (
            (b"S", b"FATAL"), (b"V", b"FATAL"), (b"C", b"28P01"),
            (b"M", b'password authentication failed for user "reporter"')))
        body = fields + b"\x00"
        conn.sendall(b"E" + struct.pack("!i", len(body) + 4) + body)

    def close(self) -> None:
        self.sock.close()


def test_wrong_password_is_reported_without_the_password(tmp_path: Path) -> None:
    server = WrongPasswordServer()
    try:
        uri = f"postgresql://reporter:S3cret-Pa55@127.0.0.1:{server.port}/highway?sslmode=disable"
        message = failure(make_ctx(tmp_path / "task", uri, ["bss_company"]))
    finally:
        server.close()
    assert server.passwords and server.passwords[0].startswith(b"S3cret-Pa55")  # it really was sent
    assert "wrong user name or password" in message
    assert "S3cret-Pa55" not in message
    assert "S3cret-Pa55" not in (tmp_path / "task" / "data_pipeline.log").read_text(encoding="utf-8")
    assert "S3cret-Pa55" not in (tmp_path / "task" / "ddl_generation_result.json").read_text(encoding="utf-8")


# -- resuming ------------------------------------------------------------------------------------------

class Killed(BaseException):
    """Stands for kill -9: not an Exception, so nothing in the step records it as an item failure."""


class KilledAfter(OfflineGenerator):
    def __init__(self, calls: int) -> None:
        self.calls_left = calls

    def describe_table(self, table: TableInfo, business_context: str) -> TableComments:
        if self.calls_left == 0:
            raise Killed
        self.calls_left -= 1
        return super().describe_table(table, business_context)


class FailingFor(OfflineGenerator):
    def __init__(self, table: str) -> None:
        self.table = table

    def describe_table(self, table: TableInfo, business_context: str) -> TableComments:
        if table.name == self.table:
            raise RuntimeError(f"no comments for {table.name} today")
        return super().describe_table(table, business_context)


def test_resume_after_a_crash_redoes_nothing_and_gives_identical_files(tmp_path: Path, demo_uri: str) -> None:
    reference = tmp_path / "uninterrupted"
    execute_step(make_ctx(reference, demo_uri, DEMO, batch_size=3), "ddl_generation")

    task = tmp_path / "task"
    with pytest.raises(Killed):  # dies inside the second batch, on its third table needing comments
        execute_step(make_ctx(task, demo_uri, DEMO, batch_size=3, generator=KilledAfter(3)), "ddl_generation")
    before = {k: r for k, r in item_records(task).items() if r.status == "completed"}
    assert 3 <= len(before) < len(DEMO)
    assert any(r.status == "running" for r in item_records(task).values())  # the table in flight
    assert not (task / "filename_mapping.txt").exists()

    result = execute_step(make_ctx(task, demo_uri, batch_size=3), "ddl_generation")  # the same command again
    after = item_records(task)
    assert result.status == "completed" and result.resumed
    assert result.already_completed == len(before)
    assert result.details["processed"] == len(DEMO) - len(before)
    redone = [k for k, r in before.items() if after[k].completed_at != r.completed_at or after[k].attempts != 1]
    assert redone == []
    assert outputs_of(task) == outputs_of(reference)


def test_changed_or_deleted_outputs_of_completed_tables_are_redone(tmp_path: Path, demo_uri: str) -> None:
    reference = tmp_path / "uninterrupted"
    execute_step(make_ctx(reference, demo_uri, DEMO, batch_size=4), "ddl_generation")
    task = tmp_path / "task"
    with pytest.raises(Killed):
        execute_step(make_ctx(task, demo_uri, DEMO, batch_size=4, generator=KilledAfter(4)), "ddl_generation")
    before = {k: r for k, r in item_records(task).items() if r.status == "completed"}
    assert {"public.bss_company", "public.bss_service_area"} <= set(before)
    (task / "bss_company.ddl").unlink()
    with open(task / "bss_service_area.ddl", "a", encoding="utf-8") as handle:
        handle.write("-- edited by hand\n")

    result = execute_step(make_ctx(task, demo_uri, batch_size=4), "ddl_generation")
    after = item_records(task)
    redone = sorted(k for k, r in before.items() if after[k].completed_at != r.completed_at)
    assert redone == ["public.bss_company", "public.bss_service_area"]
    assert result.details["processed"] == len(DEMO) - len(before) + 2
    assert outputs_of(task) == outputs_of(reference)


def test_batches_merge_only_when_all_are_complete(tmp_path: Path, demo_uri: str) -> None:
    ctx = make_ctx(tmp_path / "task", demo_uri, DEMO, batch_size=3)
    batches = ddl.plan_batches(ctx)
    assert [len(b) for b in batches] == [3, 3, 2]
    assert ddl.run_batch(ctx, 2).items_completed == 2
    assert not ddl.batches_complete(ctx)
    merged = ddl.merge(ctx)
    assert merged.status == "failed" and "6 of 8 tables not done" in (merged.error_message or "")
    assert "public.bss_company (batch 0 has not run)" in (merged.error_message or "")
    assert not (ctx.task_dir / "filename_mapping.txt").exists()
    assert ddl.plan_batches(ctx) == batches  # planning again (a retry) keeps the plan and its state
    for index in (1, 0):
        ddl.run_batch(ctx, index)
    assert ddl.batches_complete(ctx)
    assert ddl.merge(ctx).items_completed == 8
    assert ddl.merge(ctx).items_completed == 8  # idempotent: two batches finishing together both merge
    assert len((ctx.task_dir / "filename_mapping.txt").read_text(encoding="utf-8").splitlines()) == 9


def test_failed_table_is_retried_then_skipped(tmp_path: Path, demo_uri: str) -> None:
    task = tmp_path / "task"
    broken = FailingFor("bss_branch")
    ctx = make_ctx(task, demo_uri, DEMO, generator=broken, max_retries=2)
    with pytest.raises(StepFailed) as caught:
        execute_step(ctx, "ddl_generation")
    assert "public.bss_branch (failed: RuntimeError: no comments for bss_branch today)" in caught.value.message
    assert (task / "bss_company.ddl").exists() and not (task / "bss_branch.ddl").exists()

    result = execute_step(make_ctx(task, demo_uri, generator=broken, max_retries=2), "ddl_generation")
    assert (result.status, result.items_completed, result.items_skipped) == ("completed", 7, 1)
    assert result.details["processed"] == 1  # only the failing table was tried again
    mapping = (task / "filename_mapping.txt").read_text(encoding="utf-8")
    assert "# skipped after repeated failures: public.bss_branch" in mapping
    assert "bss_branch.ddl" not in mapping


def test_stop_on_first_failure_when_continue_on_error_is_off(tmp_path: Path, demo_uri: str) -> None:
    ctx = make_ctx(tmp_path / "task", demo_uri, DEMO, generator=FailingFor("bss_section_route"),
                   continue_on_error=False)
    with pytest.raises(StepFailed) as caught:
        execute_step(ctx, "ddl_generation")
    assert "public.bss_section_route (failed: RuntimeError" in caught.value.message
    assert "public.bss_charging_day_data (batch 0 did not reach it)" in caught.value.message
    assert not (ctx.task_dir / "bss_charging_day_data.ddl").exists()
