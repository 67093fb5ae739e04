"""Embedders: the offline one (deterministic, normalised, sensible similarity) and the OpenAI-compatible
client against a local fake server over real HTTP (batching, order, retries, no key leaks)."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from data_pipeline import secrets_mask
from data_pipeline.generation.embedding import (
    EmbeddingError,
    EmbeddingSettings,
    OfflineEmbedder,
    OpenAIEmbedder,
    embedding_settings,
    make_embedder,
)

API_KEY = "sk-test-embedding-key-0123456789"


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


# -- offline ------------------------------------------------------------------------------------


def test_offline_vectors_have_fixed_dimension_and_unit_length() -> None:
    emb = OfflineEmbedder()
    texts = ["CREATE TABLE bss_service_area (id varchar(32) PRIMARY KEY);", "服务区的日营业额", "x", ""]
    vectors = emb.embed(texts)
    assert emb.dimension == 1024
    assert [len(v) for v in vectors] == [1024] * 4
    for vec in vectors:
        assert math.isclose(math.sqrt(sum(x * x for x in vec)), 1.0, rel_tol=1e-9)
    small = OfflineEmbedder(dimension=256)
    assert len(small.embed(["hello"])[0]) == 256
    assert small.name != emb.name  # a different dimension is a different model for the store


def test_offline_vectors_are_identical_across_instances_and_processes() -> None:
    text = "每个服务区上个月的营业额是多少? revenue per service_area"
    first = OfflineEmbedder().embed([text])[0]
    assert OfflineEmbedder().embed([text])[0] == first
    # Another interpreter with another hash seed must produce the very same vector.
    code = ("import json,sys; from data_pipeline.generation.embedding import OfflineEmbedder; "
            "print(json.dumps(OfflineEmbedder().embed([sys.argv[1]])[0]))")
    out = subprocess.run([sys.executable, "-c", code, text], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"})
    assert json.loads(out.stdout) == first


def test_offline_similarity_ranks_related_texts_above_unrelated_ones() -> None:
    emb = OfflineEmbedder()
    cases = [
        ("服务区的日营业额是多少", "每个服务区每天的营业收入", "高速公路收费站的车道数量"),
        ("How many orders did each customer place last month?", "number of orders per customer last month",
         "The weather in Paris is sunny today"),
        ("SELECT service_area_name, SUM(pay_sum) FROM bss_business_day_data GROUP BY 1;",
         "total pay_sum per service area from bss_business_day_data", "车辆类型 危化品 城际 过境"),
        ("bss_service_area 服务区 名称 编码", "服务区名称 service area name", "car_type 车辆类别"),
    ]
    for query, related, unrelated in cases:
        q, r, u = emb.embed([query, related, unrelated])
        assert cosine(q, r) > cosine(q, u) + 0.1, (query, cosine(q, r), cosine(q, u))


def test_offline_is_case_and_width_insensitive() -> None:
    emb = OfflineEmbedder()
    a, b = emb.embed(["SELECT COUNT(*) FROM Orders", "select count(*) from orders"])
    assert a == b
    a, b = emb.embed(["ＡＢＣ１２３", "abc123"])  # full-width forms normalise (NFKC)
    assert a == b


# -- a local OpenAI-compatible server -----------------------------------------------------------


@dataclass
class FakeEmbeddings:
    """Serves POST /v1/embeddings. ``script`` holds statuses for the next requests (200 = answer)."""

    dimension: int = 8
    script: list[int] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    delay: float = 0.0
    url: str = ""

    def vector_for(self, text: str) -> list[float]:
        # Encodes the text's identity so the test can check each vector went to the right text.
        return [float(len(text)), float(sum(map(ord, text)) % 997)] + [0.5] * (self.dimension - 2)


@pytest.fixture
def fake() -> Iterator[FakeEmbeddings]:
    state = FakeEmbeddings()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
            if state.delay:
                time.sleep(state.delay)
            status = state.script.pop(0) if state.script else 200
            if self.path != "/v1/embeddings":
                status = 404
            if status != 200:
                # Like some real servers, echo the credentials in the error: must never reach our logs.
                self._send(status, {"error": {"message": f"failure for key {self.headers.get('Authorization')}"}})
                return
            data = [{"object": "embedding", "index": i, "embedding": state.vector_for(t)}
                    for i, t in enumerate(body["input"])]
            self._send(200, {"object": "list", "data": list(reversed(data)), "model": body["model"]})

        def _send(self, status: int, doc: dict[str, Any]) -> None:
            raw = json.dumps(doc).encode()
            self.send_response(status)
            if status == 429:
                self.send_header("Retry-After", "0")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError):  # the client gave up (timeout test)
                self.wfile.write(raw)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield state
    server.shutdown()
    server.server_close()


def client(fake: FakeEmbeddings, **kw: Any) -> OpenAIEmbedder:
    settings = EmbeddingSettings(base_url=fake.url, model="bge-m3", api_key=API_KEY, dimension=kw.pop("dimension", 8),
                                 batch_size=kw.pop("batch_size", 2), backoff_seconds=0.01, **kw)
    secrets_mask.register_secret(API_KEY)
    return OpenAIEmbedder(settings)


def test_openai_batches_and_orders_by_index(fake: FakeEmbeddings) -> None:
    texts = ["服务区", "revenue by day", "a", "CREATE TABLE t (id int);", "五"]
    with client(fake) as emb:
        vectors = emb.embed(texts)
    assert vectors == [fake.vector_for(t) for t in texts]  # server answered in reverse order
    assert [r["body"]["input"] for r in fake.requests] == [texts[0:2], texts[2:4], texts[4:5]]
    assert {r["body"]["model"] for r in fake.requests} == {"bge-m3"}
    assert {r["auth"] for r in fake.requests} == {f"Bearer {API_KEY}"}


def test_openai_retries_server_errors_and_rate_limits_then_succeeds(fake: FakeEmbeddings) -> None:
    fake.script = [500, 429, 503]
    with client(fake) as emb:
        assert emb.embed(["x", "y"]) == [fake.vector_for("x"), fake.vector_for("y")]
    assert len(fake.requests) == 4


def test_openai_gives_up_after_bounded_retries(fake: FakeEmbeddings) -> None:
    fake.script = [500] * 10
    with client(fake, max_retries=2) as emb, pytest.raises(EmbeddingError) as err:
        emb.embed(["x"])
    assert len(fake.requests) == 3
    assert "after 3 attempts" in err.value.message and "HTTP 500" in err.value.message
    assert API_KEY not in err.value.message


def test_openai_does_not_retry_a_rejected_key_and_never_leaks_it(fake: FakeEmbeddings,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake.script = [500, 401]
    with client(fake) as emb, pytest.raises(EmbeddingError) as err:
        emb.embed(["x"])
    assert len(fake.requests) == 2  # one retry for the 500, none for the 401
    assert err.value.fatal and err.value.status == 401
    assert "rejected the API key" in err.value.message
    assert API_KEY not in err.value.message and API_KEY not in str(err.value)
    assert "retrying" in caplog.text
    assert API_KEY not in caplog.text


def test_openai_content_errors_are_not_fatal(fake: FakeEmbeddings) -> None:
    fake.script = [400]
    with client(fake) as emb, pytest.raises(EmbeddingError) as err:
        emb.embed(["a text the server rejects"])
    assert not err.value.fatal and len(fake.requests) == 1


def test_openai_checks_the_dimension(fake: FakeEmbeddings) -> None:
    with client(fake, dimension=16) as emb, pytest.raises(EmbeddingError, match="8-dimensional"):
        emb.embed(["x"])


def test_openai_learns_an_unconfigured_dimension(fake: FakeEmbeddings) -> None:
    with client(fake, dimension=None) as emb:
        assert emb.dimension == 8
    assert len(fake.requests) == 1


def test_openai_timeouts_are_retried_then_reported(fake: FakeEmbeddings) -> None:
    fake.delay = 0.5
    with client(fake, timeout_seconds=0.1, max_retries=1) as emb, pytest.raises(EmbeddingError, match="timed out"):
        emb.embed(["x"])
    assert len(fake.requests) == 2


# -- configuration ------------------------------------------------------------------------------


def test_no_configuration_means_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_EMBEDDING_DEFAULT", raising=False)
    monkeypatch.setenv("DATA_PIPELINE_EMBEDDING_BASE_URL", "  ")  # empty counts as unset
    assert embedding_settings() is None
    assert isinstance(make_embedder(), OfflineEmbedder)


def test_settings_from_env_register_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_EMBEDDING_DEFAULT", raising=False)
    monkeypatch.setenv("DATA_PIPELINE_EMBEDDING_BASE_URL", "http://127.0.0.1:9/v1/")
    monkeypatch.setenv("DATA_PIPELINE_EMBEDDING_API_KEY", "sk-env-secret-77")
    monkeypatch.setenv("DATA_PIPELINE_EMBEDDING_MODEL", "text-embedding-v3")
    monkeypatch.setenv("DATA_PIPELINE_EMBEDDING_DIMENSION", "")
    settings = embedding_settings()
    assert settings is not None
    assert (settings.base_url, settings.model, settings.dimension) == ("http://127.0.0.1:9/v1", "text-embedding-v3",
                                                                       None)
    assert "sk-env-secret-77" not in repr(settings)
    assert secrets_mask.mask("key sk-env-secret-77") == "key ***"
    emb = make_embedder()
    assert isinstance(emb, OpenAIEmbedder) and emb.name == "openai:text-embedding-v3"


def test_settings_from_the_connection_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_PIPELINE_EMBEDDING_BASE_URL", "http://ignored:1")
    monkeypatch.setenv("AIRFLOW_CONN_EMBEDDING_DEFAULT", json.dumps({
        "conn_type": "http", "host": "https://dashscope.example/compatible-mode/v1", "password": "sk-conn-secret-88",
        "extra": {"model": "text-embedding-v4", "dimension": 1024}}))
    settings = embedding_settings()
    assert settings is not None
    assert settings.base_url == "https://dashscope.example/compatible-mode/v1"
    assert settings.api_key is not None
    assert (settings.model, settings.dimension, settings.api_key.get_secret_value()) == (
        "text-embedding-v4", 1024, "sk-conn-secret-88")
    assert secrets_mask.mask("sk-conn-secret-88") == "***"
