"""The LLM client and generator against a real local HTTP server speaking the OpenAI API."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr

from data_pipeline.generation import llm
from data_pipeline.generation.llm import ChatClient, LLMError, LLMGenerator, LLMResponseError, LLMSettings
from data_pipeline.schema.model import ColumnInfo, ForeignKey, TableInfo, Theme
from data_pipeline.tasks.log import TaskLogger
from tests.fake_openai import FakeOpenAI, Reply

KEY = "sk-test-0123456789abcdef"


def secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as fake:
        yield fake


def settings_for(server: FakeOpenAI, **overrides: object) -> LLMSettings:
    values: dict[str, object] = {"base_url": server.base_url, "model": "fake-model", "api_key": KEY,
                                 "timeout_seconds": 5.0, "backoff_seconds": 0.01, "max_retries": 3}
    values.update(overrides)
    return LLMSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def client(server: FakeOpenAI) -> Iterator[ChatClient]:
    with ChatClient(settings_for(server)) as chat:
        yield chat


def test_happy_path_sends_model_key_and_json_mode(server: FakeOpenAI, client: ChatClient) -> None:
    server.script({"answer": 42, "text": "你好"})
    assert client.complete_json("system text", "user text", "unit test") == {"answer": 42, "text": "你好"}
    (request,) = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.body["model"] == "fake-model"
    assert request.body["response_format"] == {"type": "json_object"}
    assert [m["role"] for m in request.body["messages"]] == ["system", "user"]


def test_fenced_json_and_arrays_are_accepted(server: FakeOpenAI, client: ChatClient) -> None:
    server.script('```json\n{"a": [1, 2]}\n```', "  [1, 2, 3]  ", "<think>let me see</think>\n{\"b\": 1}")
    assert client.complete_json("s", "u", "fenced") == {"a": [1, 2]}
    assert client.complete_json("s", "u", "array") == [1, 2, 3]
    assert client.complete_json("s", "u", "reasoning model") == {"b": 1}
    assert len(server.requests) == 3


def test_malformed_json_is_asked_again_once(server: FakeOpenAI, client: ChatClient) -> None:
    server.script('{"a": 1,', {"a": 1})
    assert client.complete_json("s", "u", "re-ask test") == {"a": 1}
    _first, second = server.requests
    messages = second.body["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[2]["content"] == '{"a": 1,'
    assert "not valid JSON" in messages[3]["content"]


def test_text_that_is_not_json_twice_is_a_clear_error(server: FakeOpenAI, client: ChatClient) -> None:
    server.script("Sure! Here are your themes: sales, traffic.", "I cannot produce JSON, sorry.")
    with pytest.raises(LLMResponseError) as err:
        client.complete_json("s", "u", "extraction of 5 business themes")
    message = str(err.value)
    assert "extraction of 5 business themes" in message
    assert "not valid JSON" in message and "I cannot produce JSON" in message
    assert len(server.requests) == 2


def test_json_scalar_is_rejected(server: FakeOpenAI, client: ChatClient) -> None:
    server.script('"just a string"', "42")
    with pytest.raises(LLMResponseError, match="not an object or array"):
        client.complete_json("s", "u", "scalar")


def test_server_errors_are_retried_until_success(server: FakeOpenAI, client: ChatClient) -> None:
    server.script(Reply(status=500), Reply(status=503), {"ok": True})
    assert client.complete_json("s", "u", "retry") == {"ok": True}
    assert len(server.requests) == 3


def test_rate_limit_is_retried(server: FakeOpenAI, client: ChatClient) -> None:
    server.script(Reply(status=429, headers={"Retry-After": "0"}), {"ok": 1})
    assert client.complete_json("s", "u", "rate limit") == {"ok": 1}
    assert len(server.requests) == 2


def test_retries_are_bounded(server: FakeOpenAI) -> None:
    server.script(*[Reply(status=502)] * 5)
    with ChatClient(settings_for(server, max_retries=2)) as chat, pytest.raises(LLMError) as err:
        chat.complete_json("s", "u", "bounded")
    assert "after 3 attempts" in str(err.value) and "HTTP 502" in str(err.value)
    assert len(server.requests) == 3


def test_read_timeout_then_success(server: FakeOpenAI) -> None:
    server.script(Reply(content={"late": True}, delay=3.0), {"on": "time"})
    with ChatClient(settings_for(server, timeout_seconds=0.5)) as chat:
        assert chat.complete_json("s", "u", "timeout") == {"on": "time"}
    assert len(server.requests) == 2


def test_dropped_connection_is_retried(server: FakeOpenAI, client: ChatClient) -> None:
    server.script(Reply(drop=True), {"ok": 2})
    assert client.complete_json("s", "u", "drop") == {"ok": 2}


def test_wrong_key_is_not_retried_and_says_what_to_fix(server: FakeOpenAI) -> None:
    with ChatClient(settings_for(server, api_key="sk-wrong-key-000")) as chat, pytest.raises(LLMError) as err:
        chat.complete_json("s", "u", "auth")
    message = str(err.value)
    assert "rejected the API key (HTTP 401)" in message and "llm_default" in message
    assert "sk-wrong-key-000" not in message
    assert len(server.requests) == 1


@pytest.mark.parametrize(("status", "expected"), [(400, "refused the request"), (404, r"not found \(HTTP 404\)")])
def test_client_errors_are_not_retried(server: FakeOpenAI, client: ChatClient, status: int, expected: str) -> None:
    server.script(Reply(status=status))
    with pytest.raises(LLMError, match=expected):
        client.complete_json("s", "u", "client error")
    assert len(server.requests) == 1


def test_endpoint_without_json_mode_is_used_without_it(server: FakeOpenAI, client: ChatClient) -> None:
    server.script(Reply(status=400, raw_body='{"error": {"message": "unknown field response_format"}}'), {"x": 1},
                  {"y": 2})
    assert client.complete_json("s", "u", "no json mode") == {"x": 1}
    assert client.complete_json("s", "u", "no json mode") == {"y": 2}
    assert [("response_format" in r.body) for r in server.requests] == [True, False, False]


def test_body_that_is_not_a_chat_completion(server: FakeOpenAI, client: ChatClient) -> None:
    server.script(Reply(raw_body="<html>gateway</html>"))
    with pytest.raises(LLMResponseError, match="unexpected body"):
        client.complete_json("s", "u", "proxy page")


def test_concurrency_limit_is_respected(server: FakeOpenAI) -> None:
    server.responder = lambda body: Reply(content={"ok": True}, delay=0.2)
    with ChatClient(settings_for(server, concurrency=2)) as chat:
        threads = [threading.Thread(target=chat.complete_json, args=("s", "u", f"c{i}")) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(server.requests) == 6
    assert server.max_active <= 2


def test_key_never_reaches_logs(server: FakeOpenAI, tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    logger = TaskLogger(task_dir=tmp_path, task_id=None, store=None, step="qa_generation")
    server.script({"ok": 1}, Reply(status=500, raw_body=f'{{"error": "bad token {KEY}"}}'),
                  Reply(status=400, raw_body=f'{{"error": "bad token {KEY}"}}'))
    with ChatClient(settings_for(server)) as chat:
        chat.complete_json("s", "u", "logged call")
        with pytest.raises(LLMError) as err:
            chat.complete_json("s", "u", "failing call")
    logger.error(str(err.value))
    assert "HTTP 400" in str(err.value) and KEY not in str(err.value)
    log_file = (tmp_path / "data_pipeline.log").read_text(encoding="utf-8")
    captured = capsys.readouterr()
    assert "logged call" in caplog.text and "response_chars" in caplog.text
    for text in (caplog.text, log_file, captured.out, captured.err):
        assert KEY not in text


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_LLM_DEFAULT", raising=False)
    for name in ("BASE_URL", "API_KEY", "MODEL"):
        monkeypatch.setenv(f"DATA_PIPELINE_LLM_{name}", "")
    assert llm.llm_settings() is None
    monkeypatch.setenv("DATA_PIPELINE_LLM_BASE_URL", "http://llm.local:8000/v1/")
    monkeypatch.setenv("DATA_PIPELINE_LLM_API_KEY", "sk-env-key-12345")
    monkeypatch.setenv("DATA_PIPELINE_LLM_MODEL", "qwen-plus")
    settings = llm.llm_settings()
    assert settings is not None
    assert (settings.base_url, settings.model, secret(settings.api_key)) == ("http://llm.local:8000/v1", "qwen-plus",
                                                                       "sk-env-key-12345")
    assert "sk-env-key-12345" not in repr(settings)
    from data_pipeline.secrets_mask import mask

    assert mask("key sk-env-key-12345 here") == "key *** here"


def test_settings_from_connection_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_PIPELINE_LLM_BASE_URL", "http://env.local/v1")
    monkeypatch.setenv("AIRFLOW_CONN_LLM_DEFAULT", json.dumps(
        {"conn_type": "http", "host": "https://dashscope.example/compatible-mode/v1", "password": "sk-conn-999999",
         "extra": {"model": "qwen-max"}}))
    settings = llm.llm_settings()
    assert settings is not None
    assert (settings.base_url, settings.model, secret(settings.api_key)) == (
        "https://dashscope.example/compatible-mode/v1", "qwen-max", "sk-conn-999999")
    monkeypatch.setenv("AIRFLOW_CONN_LLM_DEFAULT", "http://:sk-uri-key-1234@ollama.local:11434/v1?model=llama3")
    settings = llm.llm_settings()
    assert settings is not None
    assert (settings.base_url, settings.model, secret(settings.api_key)) == ("http://ollama.local:11434/v1", "llama3",
                                                                       "sk-uri-key-1234")


# -- the generator ---------------------------------------------------------------------------


def _table() -> TableInfo:
    return TableInfo(
        schema_name="public", name="bss_car_day_count",
        columns=[ColumnInfo(name="id", data_type="bigint", is_primary_key=True, nullable=False, base_type="integer"),
                 ColumnInfo(name="count_date", data_type="date", base_type="date"),
                 ColumnInfo(name="customer_count", data_type="bigint", base_type="integer"),
                 ColumnInfo(name="Car_Type", data_type="character varying(8)", base_type="text"),
                 ColumnInfo(name="service_area_id", data_type="integer", base_type="integer")],
        primary_key=["id"],
        foreign_keys=[ForeignKey(name="fk", columns=["service_area_id"], ref_schema="public",
                                 ref_table="bss_service_area", ref_columns=["id"],
                                 definition="FOREIGN KEY (service_area_id) REFERENCES bss_service_area(id)")])


def test_describe_table_matches_columns_by_name_not_position(server: FakeOpenAI, client: ChatClient) -> None:
    server.script({"table_comment": "服务区车流量日统计", "columns": {
        "customer_count": "车辆数", "id": "主键", "car_type": "车辆类别", "no_such_column": "虚构",
        "count_date": "统计日期"}})
    comments = LLMGenerator(client).describe_table(_table(), "高速公路服务区")
    assert comments.table_comment == "服务区车流量日统计"
    assert list(comments.column_comments) == ["id", "count_date", "customer_count", "Car_Type", "service_area_id"]
    assert comments.column_comments["customer_count"] == "车辆数"
    assert comments.column_comments["Car_Type"] == "车辆类别"
    assert "no_such_column" not in comments.column_comments
    assert comments.column_comments["service_area_id"].startswith("服务区编号")  # missing: derived from the name
    prompt = server.requests[0].user_prompt
    assert "高速公路服务区" in prompt and "customer_count" in prompt


def test_extract_themes_keeps_only_known_tables(server: FakeOpenAI, client: ChatClient) -> None:
    server.script({"themes": [
        {"topic": "车流量分析", "description": "d", "related_tables": ["bss_car_day_count", "ghost_table"],
         "business_entities": ["服务区", "车辆类别"], "metrics": "车辆数, 日均车流"},
        {"topic": "虚构主题", "related_tables": ["ghost_table"]},
        {"topic": "车流量分析", "related_tables": ["bss_car_day_count"]},
        {"topic": "车型结构", "related_tables": ["public.bss_car_day_count"]},
    ]})
    themes = LLMGenerator(client).extract_themes(["# doc"], [_table()], "", 5)
    assert [t.topic for t in themes] == ["车流量分析", "车型结构"]
    assert themes[0].related_tables == ["bss_car_day_count"]
    assert themes[0].metrics == ["车辆数", "日均车流"]
    assert themes[1].related_tables == ["bss_car_day_count"]


def test_extract_themes_without_usable_theme_fails_clearly(server: FakeOpenAI, client: ChatClient) -> None:
    server.script({"themes": [{"topic": "x", "related_tables": ["nope"]}]})
    with pytest.raises(LLMResponseError, match="no usable theme"):
        LLMGenerator(client).extract_themes(["# doc"], [_table()], "", 3)


def test_generate_pairs_cleans_and_drops(server: FakeOpenAI, client: ChatClient) -> None:
    server.script({"pairs": [
        {"question": "一共有多少条记录？", "sql": "```sql\nSELECT COUNT(*) FROM bss_car_day_count\n```"},
        {"question": "两条语句", "sql": "SELECT 1; SELECT 2;"},
        {"question": "", "sql": "SELECT 1;"},
        {"question": "注释里的分号", "sql": "SELECT ';' AS x -- a;b\n"},
        {"question": "空", "sql": "  "},
    ]})
    theme = Theme(topic="车流量", related_tables=["bss_car_day_count"])
    pairs = LLMGenerator(client).generate_pairs(theme, ["# doc"], [_table()], "", 10)
    assert [p.sql for p in pairs] == ["SELECT COUNT(*) FROM bss_car_day_count;", "SELECT ';' AS x -- a;b\n;"]


@dataclass
class _Item:
    sql: str
    error: str
    question: str


def test_repair_sql_keeps_order_across_batches(server: FakeOpenAI, client: ChatClient) -> None:
    server.script({"items": [{"index": 2, "sql": "SELECT 2;"}, {"index": 1, "sql": None}]},
                  {"items": [{"index": 1, "sql": "SELECT 3; SELECT 4;"}]})
    items = [_Item("SELEC 1", "syntax error", "q1"), _Item("SELEC 2", "syntax error", "q2"),
             _Item("SELEC 3", "syntax error", "q3")]
    assert LLMGenerator(client).repair_sql(items, ["# doc"], batch_size=2) == [None, "SELECT 2;", None]
    assert "syntax error" in server.requests[0].user_prompt
