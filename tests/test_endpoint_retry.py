"""The one retry policy of the chat client and the embedder, ``dimensions``, and HTTP connection URLs.

Against a real local HTTP server (tests/fake_openai.py) answering as OpenAI documents: 429 with
``Retry-After`` (seconds or an HTTP-date), 5xx on server errors.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Iterator

import pytest

from data_pipeline.generation.chat import ChatClient
from data_pipeline.generation.embedding import EmbeddingError, OpenAIEmbedder
from data_pipeline.generation.endpoint import EmbeddingSettings, LLMSettings, embedding_settings, llm_settings
from tests.fake_openai import FakeOpenAI, Reply


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-retry-test-123", embedding_dim=8) as fake:
        yield fake


def _chat(server: FakeOpenAI) -> ChatClient:
    return ChatClient(LLMSettings(base_url=server.base_url, model="m", api_key="sk-retry-test-123",
                                  max_retries=2, backoff_seconds=0.01, backoff_max_seconds=0.05))


def _embedder(server: FakeOpenAI, **extra: object) -> OpenAIEmbedder:
    return OpenAIEmbedder(EmbeddingSettings(base_url=server.base_url, model="e", api_key="sk-retry-test-123",
                                            max_retries=2, backoff_seconds=0.01, backoff_max_seconds=0.05,
                                            **extra))


def test_chat_waits_for_retry_after_seconds_then_succeeds(server: FakeOpenAI) -> None:
    server.script(Reply(status=429, headers={"Retry-After": "1"}), "hello")
    started = time.monotonic()
    with _chat(server) as client:
        assert client.chat([{"role": "user", "content": "hi"}], purpose="test") == "hello"
    assert time.monotonic() - started >= 0.9  # the server's hint, far above the 0.05 s backoff cap
    assert len(server.chat_requests()) == 2


def test_chat_honours_an_http_date_retry_after(server: FakeOpenAI) -> None:
    when = email.utils.formatdate(time.time() + 2, usegmt=True)  # whole seconds: waits 1-2 s
    server.script(Reply(status=503, headers={"Retry-After": when}), "ok")
    started = time.monotonic()
    with _chat(server) as client:
        assert client.chat([{"role": "user", "content": "hi"}], purpose="test") == "ok"
    assert time.monotonic() - started >= 0.9


@pytest.mark.parametrize("status", [500, 408, 409])
def test_chat_retries_the_transient_statuses(server: FakeOpenAI, status: int) -> None:
    server.script(Reply(status=status), "fine")
    with _chat(server) as client:
        assert client.chat([{"role": "user", "content": "hi"}], purpose="test") == "fine"
    assert len(server.chat_requests()) == 2


def test_embedder_waits_for_retry_after_then_succeeds(server: FakeOpenAI) -> None:
    server.script_embeddings(Reply(status=429, headers={"Retry-After": "1"}))
    started = time.monotonic()
    with _embedder(server) as embedder:
        vectors = embedder.embed(["a", "b"])
    assert len(vectors) == 2 and embedder.requests_sent == 2
    assert time.monotonic() - started >= 0.9


def test_embedder_retries_a_500_and_gives_up_after_the_budget(server: FakeOpenAI) -> None:
    server.script_embeddings(Reply(status=500))
    with _embedder(server) as embedder:
        assert len(embedder.embed(["a"])) == 1
        assert embedder.requests_sent == 2
        server.script_embeddings(Reply(status=502), Reply(status=502), Reply(status=502))
        with pytest.raises(EmbeddingError, match="failed after 3 attempts: HTTP 502"):
            embedder.embed(["b"])


def test_embedder_sends_dimensions_when_configured(server: FakeOpenAI) -> None:
    with _embedder(server, dimensions=4) as embedder:
        assert embedder.dimension == 4
        assert [len(v) for v in embedder.embed(["a", "b"])] == [4, 4]
    bodies = [r.body for r in server.requests if r.path.endswith("/embeddings")]
    assert bodies and all(body["dimensions"] == 4 for body in bodies)
    with _embedder(server) as embedder:
        embedder.embed(["a"])
    assert "dimensions" not in server.requests[-1].body


def test_dimensions_from_the_environment_and_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_EMBEDDING_DEFAULT", raising=False)
    monkeypatch.setenv("DATA_PIPELINE_EMBEDDING_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("DATA_PIPELINE_EMBEDDING_DIMENSIONS", "256")
    settings = embedding_settings()
    assert settings is not None and (settings.dimensions, settings.dimension) == (256, 256)
    monkeypatch.setenv("AIRFLOW_CONN_EMBEDDING_DEFAULT", json.dumps(
        {"conn_type": "http", "host": "emb.local", "schema": "https", "extra": {"dimensions": 512}}))
    settings = embedding_settings()
    assert settings is not None and settings.dimensions == 512 and settings.base_url == "https://emb.local"


@pytest.mark.parametrize(("conn", "url"), [
    ({"conn_type": "http", "host": "api.example", "schema": "https", "port": 8443}, "https://api.example:8443"),
    ({"conn_type": "http", "host": "api.example", "schema": "http"}, "http://api.example"),
    ({"conn_type": "http", "host": "https://api.example/v1", "schema": "https", "port": 1}, "https://api.example/v1"),
    ({"conn_type": "https", "host": "api.example"}, "https://api.example"),
    ({"conn_type": "http", "host": "api.example"}, "http://api.example"),
    ({"conn_type": "http", "host": "h", "port": 8000, "schema": "v1"}, "http://h:8000/v1"),  # the URI form's path
])
def test_http_connections_follow_the_http_provider(monkeypatch: pytest.MonkeyPatch, conn: dict[str, object],
                                                   url: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_LLM_DEFAULT", json.dumps(conn))
    settings = llm_settings()
    assert settings is not None and settings.base_url == url
