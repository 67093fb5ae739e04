"""Step 2 end to end after step 1: offline and LLM modes, outputs, errors, earlier files, resumption."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest

from data_pipeline.errors import StepFailed
from data_pipeline.generation.llm import ChatClient, LLMGenerator, LLMSettings
from data_pipeline.generation.naming import has_cjk
from data_pipeline.generation.offline import OfflineGenerator
from data_pipeline.schema.demo_db import DEMO_TABLES, build_demo_database
from data_pipeline.schema.model import QAPair, TableInfo, Theme
from data_pipeline.steps.context import StepContext
from data_pipeline.tasks.log import TaskLogger
from data_pipeline.tasks.parameters import TaskParameters
from data_pipeline.workflow.pipeline import execute_step
from platform_db import embedded
from tests.conftest import database_name, new_database
from tests.fake_openai import FakeOpenAI, Reply

PAIR_NAME = re.compile(r"^qs_(?P<db>.+)_\d{8}_\d{6}_pair\.json$")


@pytest.fixture(scope="module")
def demo_uri() -> Iterator[str]:
    uri = new_database("dp_qa_demo")
    build_demo_database(uri, days=60)
    yield uri
    embedded.drop_database(database_name(uri))


def make_ctx(task_dir: Path, uri: str, generator: Any = None, **params: Any) -> StepContext:
    return StepContext(task_dir=task_dir, params=TaskParameters(db_connection=uri, **params),
                       log=TaskLogger(task_dir=task_dir, task_id=None, store=None), generator_override=generator)


@pytest.fixture(scope="module")
def step1_dir(demo_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A task directory after ddl_generation on the demo database (copied by each test)."""
    task_dir = tmp_path_factory.mktemp("step1")
    (task_dir / "table_list.txt").write_text("\n".join(DEMO_TABLES) + "\n", encoding="utf-8")
    execute_step(make_ctx(task_dir, demo_uri), "ddl_generation")
    return task_dir


@pytest.fixture
def task_dir(step1_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "task"
    shutil.copytree(step1_dir, target)
    return target


def pair_files(task_dir: Path) -> list[Path]:
    return sorted(p for p in task_dir.iterdir() if PAIR_NAME.match(p.name))


def read_pairs(path: Path) -> list[dict[str, str]]:
    return json.loads(path.read_text(encoding="utf-8"))


def explain_failures(uri: str, pairs: Sequence[dict[str, str]]) -> list[str]:
    failures = []
    with psycopg.connect(uri) as conn:
        conn.read_only = True
        for pair in pairs:
            try:
                with conn.transaction():
                    conn.execute("EXPLAIN " + pair["sql"])
            except psycopg.Error as exc:
                failures.append(f"{pair['sql']}: {exc}")
    return failures


def test_offline_end_to_end(task_dir: Path, demo_uri: str, fresh_db_uri: str) -> None:
    result = execute_step(make_ctx(task_dir, demo_uri), "qa_generation")
    (pair_file,) = pair_files(task_dir)
    assert PAIR_NAME.match(pair_file.name).group("db") == database_name(demo_uri)  # type: ignore[union-attr]
    assert result.outputs == [pair_file.name, "metadata.txt", "metadata_detail.md"]
    pairs = read_pairs(pair_file)
    assert len(pairs) >= 30 and all(set(p) == {"question", "sql"} for p in pairs)
    assert all(has_cjk(p["question"]) for p in pairs)
    assert '"question": "' in pair_file.read_text(encoding="utf-8") and "\\u" not in pair_file.read_text()
    assert explain_failures(demo_uri, pairs) == []
    assert result.items_total == result.items_completed == 1 + len(result.details["themes"])
    assert result.details["generator"] == "offline" and result.details["pairs"] == len(pairs)
    on_disk = json.loads((task_dir / "qa_generation_result.json").read_text(encoding="utf-8"))
    assert on_disk["status"] == "completed" and on_disk["details"]["pair_file"] == pair_file.name

    metadata = (task_dir / "metadata.txt").read_text(encoding="utf-8")
    with psycopg.connect(fresh_db_uri, autocommit=True) as conn:
        conn.execute(metadata)
        conn.execute(metadata)  # runs again: CREATE TABLE IF NOT EXISTS
        rows = conn.execute("SELECT topic_name, related_tables, biz_entities, biz_metrics, "
                            "pg_typeof(related_tables)::text, array_length(related_tables, 1) FROM metadata "
                            "ORDER BY id").fetchall()
    themes = result.details["themes"]
    assert len(rows) == 2 * len(themes)
    for (topic, tables, entities, metrics, type_name, length), theme in zip(rows, themes, strict=False):
        assert topic == theme["theme"]
        assert type_name == "text[]" and isinstance(tables, list) and length == len(tables) >= 1
        assert set(tables) <= set(DEMO_TABLES) and isinstance(entities, list) and isinstance(metrics, list)
    detail = (task_dir / "metadata_detail.md").read_text(encoding="utf-8")
    for theme in themes:
        assert f". {theme['theme']}" in detail
    assert "问答对数量" in detail


def test_missing_documents_are_listed(task_dir: Path, demo_uri: str) -> None:
    (task_dir / "bss_branch.ddl").unlink()
    (task_dir / "bss_company_detail.md").unlink()
    (task_dir / "bss_car_day_count.ddl").unlink()
    with pytest.raises(StepFailed) as err:
        execute_step(make_ctx(task_dir, demo_uri), "qa_generation")
    message = str(err.value)
    for name in ("bss_branch.ddl", "bss_company_detail.md", "bss_car_day_count.ddl"):
        assert name in message
    assert "ddl_generation" in message
    assert pair_files(task_dir) == [] and not (task_dir / "metadata.txt").exists()
    on_disk = json.loads((task_dir / "qa_generation_result.json").read_text(encoding="utf-8"))
    assert on_disk["status"] == "failed" and "bss_branch.ddl" in on_disk["error_message"]


def test_earlier_pair_files_are_moved_aside(task_dir: Path, demo_uri: str) -> None:
    old = task_dir / "qs_olddb_20240101_000000_pair.json"
    old.write_text("[]", encoding="utf-8")
    (task_dir / "qs_olddb_20240101_000000_pair.json.backup").write_text("[]", encoding="utf-8")
    first = execute_step(make_ctx(task_dir, demo_uri), "qa_generation")
    (current,) = pair_files(task_dir)
    assert current.name == first.details["pair_file"]
    previous = task_dir / "previous_pairs"
    assert sorted(p.name for p in previous.iterdir()) == ["qs_olddb_20240101_000000_pair.json",
                                                          "qs_olddb_20240101_000000_pair.json.backup"]
    assert not list(task_dir.glob("*.backup"))
    second = execute_step(make_ctx(task_dir, demo_uri), "qa_generation")  # a new run, possibly the same second
    assert second.details["pair_file"] != first.details["pair_file"]
    assert [p.name for p in pair_files(task_dir)] == [second.details["pair_file"]]
    assert (previous / first.details["pair_file"]).is_file()
    assert second.details["moved_to_previous_pairs"] == [first.details["pair_file"]]
    assert read_pairs(previous / first.details["pair_file"]) == read_pairs(task_dir / second.details["pair_file"])


class Interrupted(BaseException):
    """Stands in for the process being killed in the middle of a theme."""


class CountingGenerator(OfflineGenerator):
    name = "offline"  # same fingerprint as the plain offline generator

    def __init__(self, interrupt_at: int | None = None, fail_topics: Sequence[str] = ()) -> None:
        self.theme_calls = 0
        self.pair_calls: list[str] = []
        self.interrupt_at = interrupt_at
        self.fail_topics = set(fail_topics)

    def extract_themes(self, documents: Sequence[str], tables: Sequence[TableInfo], business_context: str,
                       count: int) -> list[Theme]:
        self.theme_calls += 1
        return super().extract_themes(documents, tables, business_context, count)

    def generate_pairs(self, theme: Theme, documents: Sequence[str], tables: Sequence[TableInfo],
                       business_context: str, count: int) -> list[QAPair]:
        self.pair_calls.append(theme.topic)
        if self.interrupt_at is not None and len(self.pair_calls) == self.interrupt_at:
            raise Interrupted
        if theme.topic in self.fail_topics:
            raise ValueError(f"model refused theme {theme.topic}")
        return super().generate_pairs(theme, documents, tables, business_context, count)


def test_resume_after_interruption_redoes_only_unfinished_themes(task_dir: Path, demo_uri: str,
                                                                  tmp_path: Path, step1_dir: Path) -> None:
    killed = CountingGenerator(interrupt_at=3)
    with pytest.raises(Interrupted):
        execute_step(make_ctx(task_dir, demo_uri, killed), "qa_generation")
    assert pair_files(task_dir) == [] and not (task_dir / "metadata.txt").exists()
    done_before = killed.pair_calls[:2]

    resumed = CountingGenerator()
    result = execute_step(make_ctx(task_dir, demo_uri, resumed), "qa_generation")
    assert resumed.theme_calls == 0
    assert resumed.pair_calls and not set(resumed.pair_calls) & set(done_before)
    assert resumed.pair_calls[0] == killed.pair_calls[2]
    assert result.resumed and result.already_completed == 3
    assert result.items_completed == result.items_total

    clean_dir = tmp_path / "clean"
    shutil.copytree(step1_dir, clean_dir)
    clean = execute_step(make_ctx(clean_dir, demo_uri), "qa_generation")
    assert read_pairs(task_dir / result.details["pair_file"]) == read_pairs(clean_dir / clean.details["pair_file"])

    again = CountingGenerator()
    execute_step(make_ctx(task_dir, demo_uri, again), "qa_generation")  # finished: a new run starts afresh
    assert again.theme_calls == 1 and len(again.pair_calls) == len(result.details["themes"])


def test_failed_theme_is_retried_then_skipped(task_dir: Path, demo_uri: str) -> None:
    first = CountingGenerator(fail_topics=["档口营业分析"])
    result = execute_step(make_ctx(task_dir, demo_uri, first, max_retries=2), "qa_generation")
    assert result.items_failed == 1 and result.errors[0]["theme"] == "档口营业分析"
    assert "model refused theme" in result.errors[0]["error"]
    statuses = {t["theme"]: t["status"] for t in result.details["themes"]}
    assert statuses["档口营业分析"] == "failed"
    name = result.details["pair_file"]
    assert not any("营业" in p["question"] for p in read_pairs(task_dir / name))

    second = CountingGenerator(fail_topics=["档口营业分析"])
    result = execute_step(make_ctx(task_dir, demo_uri, second, max_retries=2), "qa_generation")
    assert second.pair_calls == ["档口营业分析"] and second.theme_calls == 0  # only the failed theme again
    assert result.details["pair_file"] == name

    third = CountingGenerator(fail_topics=["档口营业分析"])
    result = execute_step(make_ctx(task_dir, demo_uri, third, max_retries=2), "qa_generation")
    assert third.pair_calls == [] and result.items_skipped == 1 and result.items_failed == 0
    assert {t["theme"]: t["status"] for t in result.details["themes"]}["档口营业分析"] == "skipped"


def test_failed_theme_stops_the_step_without_continue_on_error(task_dir: Path, demo_uri: str) -> None:
    generator = CountingGenerator(fail_topics=["档口营业分析"])
    with pytest.raises(StepFailed, match=r"档口营业分析.*model refused"):
        execute_step(make_ctx(task_dir, demo_uri, generator, continue_on_error=False), "qa_generation")
    assert pair_files(task_dir) == []


# -- LLM mode against the fake OpenAI server -------------------------------------------------

THEMES_ANSWER = {"themes": [
    {"topic": "车流量分析", "description": "各服务区车流量",
     "related_tables": ["bss_car_day_count", "bss_service_area"],
     "business_entities": ["服务区", "车辆类别"], "metrics": ["车辆数"]},
    {"topic": "营业收入分析", "description": "档口营业额",
     "related_tables": ["bss_business_day_data", "no_such_table"],
     "business_entities": ["档口"], "metrics": ["支付总金额", "订单总数"]},
]}
TRAFFIC_PAIRS = {"pairs": [
    {"question": "2024年各服务区的车流量是多少？", "sql": "```sql\nSELECT s.service_area_name, SUM(c.customer_count) "
     "FROM bss_car_day_count c JOIN bss_service_area s ON s.id = c.service_area_id GROUP BY 1\n```"},
    {"question": "有多少种车辆类别？", "sql": "SELECT COUNT(DISTINCT car_type) FROM bss_car_day_count;"},
    {"question": "两条语句不合格", "sql": "SELECT 1; SELECT 2;"},
]}
REVENUE_PAIRS = {"pairs": [
    {"question": "哪个服务区营业额最高？",
     "sql": "SELECT service_name, SUM(pay_sum) AS total FROM bss_business_day_data GROUP BY service_name "
            "ORDER BY total DESC LIMIT 1;"},
]}


def test_llm_mode_with_fake_server(task_dir: Path, demo_uri: str) -> None:
    key = "sk-qa-test-key-98765"
    with FakeOpenAI(api_key=key) as server:
        server.route("business analysis themes", THEMES_ANSWER)
        server.route('"topic": "车流量分析"', '{"pairs": [ {"question": "x", ', TRAFFIC_PAIRS)  # malformed, re-asked
        server.route('"topic": "营业收入分析"', Reply(status=503), REVENUE_PAIRS)
        settings = LLMSettings(base_url=server.base_url, model="fake-qwen", api_key=key, backoff_seconds=0.01,
                               concurrency=2)
        with ChatClient(settings) as client:
            result = execute_step(make_ctx(task_dir, demo_uri, LLMGenerator(client), themes=2,
                                           questions_per_theme=5), "qa_generation")
        assert server.pending() == 0
        requests = server.chat_requests()
    assert len(requests) == 5  # themes, traffic twice (re-ask), revenue twice (503 retried)
    assert all(r.headers["Authorization"] == f"Bearer {key}" for r in requests)
    themes_prompt = requests[0].user_prompt
    assert "bss_business_day_data" in themes_prompt and "营业日期" in themes_prompt  # the documents are in it
    revenue_prompt = next(r.user_prompt for r in requests if "营业收入分析" in r.user_prompt)
    assert "bss_business_day_data" in revenue_prompt and "CREATE TABLE bss_car_day_count" not in revenue_prompt

    assert result.details["generator"] == "llm:fake-qwen"
    pairs = read_pairs(task_dir / result.details["pair_file"])
    assert [p["question"] for p in pairs] == ["2024年各服务区的车流量是多少？", "有多少种车辆类别？",
                                              "哪个服务区营业额最高？"]
    assert pairs[0]["sql"].startswith("SELECT s.service_area_name") and pairs[0]["sql"].endswith("GROUP BY 1;")
    assert explain_failures(demo_uri, pairs) == []
    metadata = (task_dir / "metadata.txt").read_text(encoding="utf-8")
    assert "ARRAY['bss_business_day_data']::text[]" in metadata and "no_such_table" not in metadata
    log = (task_dir / "data_pipeline.log").read_text(encoding="utf-8")
    assert key not in log and "车流量分析" in log


def test_llm_mode_theme_answer_that_stays_malformed(task_dir: Path, demo_uri: str) -> None:
    with FakeOpenAI() as server:
        server.route("business analysis themes", "Here are the themes: traffic and revenue.", "Sorry, no JSON.")
        settings = LLMSettings(base_url=server.base_url, model="fake", backoff_seconds=0.01)
        with ChatClient(settings) as client, pytest.raises(StepFailed) as err:
            execute_step(make_ctx(task_dir, demo_uri, LLMGenerator(client)), "qa_generation")
    assert "extraction of 5 business themes" in str(err.value) and "not valid JSON" in str(err.value)
    assert pair_files(task_dir) == []
