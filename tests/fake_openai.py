"""A real local HTTP server speaking the OpenAI chat-completions and embeddings API, for tests.

Usage::

    with FakeOpenAI(api_key="sk-test") as server:         # 127.0.0.1 on a free port
        server.script({"themes": [...]}, "not json", Reply(status=500), ...)   # answers, in call order
        server.route("question/SQL", {"pairs": [...]})     # answers for calls whose prompt contains a text
        settings = LLMSettings(base_url=server.base_url, model="fake", api_key="sk-test")
        ...
        server.requests                                    # every request received (path, headers, body)

An answer is a ``str`` (returned as the message content), a ``dict``/``list`` (returned as its JSON
text), or a ``Reply`` for faults: an HTTP error status, a delay before answering (to provoke client
timeouts), a raw body that is not a chat completion, or a dropped connection. When nothing is
scripted, ``responder(request_json)`` is asked; without one the server answers HTTP 500. With
``api_key`` set, requests without ``Authorization: Bearer <key>`` get 401 like the real API.

``POST /v1/embeddings`` returns deterministic unit vectors of ``embedding_dim`` dimensions (or of the
request's ``dimensions``, as OpenAI's text-embedding-3 models do) derived from a SHA-256 of each input
text (same text, same vector), so embedding clients can be tested too; ``script_embeddings(Reply(...))``
queues faults for the next embedding calls. Faults follow OpenAI's documented behaviour: 429 with a
``Retry-After`` header (seconds or an HTTP-date), 5xx on server errors.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    content: Any = None  # message content (str, or dict/list sent as JSON text)
    status: int = 200
    delay: float = 0.0  # seconds to wait before answering
    raw_body: str | None = None  # sent as-is instead of a chat completion
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without an answer


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    received_at: float
    active: int  # requests being handled at that moment, this one included

    @property
    def user_prompt(self) -> str:
        messages = (self.body or {}).get("messages") or []
        return "\n".join(m.get("content", "") for m in messages if m.get("role") == "user")


class FakeOpenAI:
    def __init__(self, *, api_key: str | None = None, embedding_dim: int = 16) -> None:
        self.api_key = api_key
        self.embedding_dim = embedding_dim
        self.requests: list[RecordedRequest] = []
        self.responder: Callable[[dict[str, Any]], Any] | None = None
        self.max_active = 0
        self._queue: deque[Any] = deque()
        self._embedding_queue: deque[Reply] = deque()
        self._routes: list[tuple[str, deque[Any]]] = []
        self._lock = threading.Lock()
        self._active = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting ---------------------------------------------------------------------------

    def script(self, *answers: Any) -> None:
        """Answers for the next chat calls, in order (after any matching route)."""
        with self._lock:
            self._queue.extend(answers)

    def route(self, contains: str, *answers: Any) -> None:
        """Answers for chat calls whose user prompt contains ``contains``, in order."""
        with self._lock:
            for text, queue in self._routes:
                if text == contains:
                    queue.extend(answers)
                    return
            self._routes.append((contains, deque(answers)))

    def script_embeddings(self, *replies: Reply) -> None:
        """Faults for the next embedding calls, in order; after them embeddings are answered normally."""
        with self._lock:
            self._embedding_queue.extend(replies)

    def pending(self) -> int:
        with self._lock:
            return len(self._queue) + sum(len(q) for _, q in self._routes)

    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> FakeOpenAI:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                return

            def do_POST(self) -> None:
                fake._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- handling ----------------------------------------------------------------------------

    def _next_answer(self, body: dict[str, Any]) -> Any:
        prompt = "\n".join(m.get("content", "") for m in body.get("messages") or [] if m.get("role") == "user")
        with self._lock:
            for text, queue in self._routes:
                if text in prompt and queue:
                    return queue.popleft()
            if self._queue:
                return self._queue.popleft()
        if self.responder is not None:
            return self.responder(body)
        return Reply(status=500, raw_body=json.dumps({"error": {"message": "fake server: nothing scripted"}}))

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self._lock:
            self._active += 1
            self.max_active = max(self.max_active, self._active)
            self.requests.append(RecordedRequest("POST", handler.path, dict(handler.headers.items()), body,
                                                 time.time(), self._active))
        try:
            self._respond(handler, body)
        finally:
            with self._lock:
                self._active -= 1

    def _send(self, handler: BaseHTTPRequestHandler, status: int, text: str,
              headers: dict[str, str] | None = None) -> None:
        data = text.encode("utf-8")
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            handler.wfile.write(data)

    def _respond(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        if self.api_key is not None and handler.headers.get("Authorization") != f"Bearer {self.api_key}":
            self._send(handler, 401, json.dumps({"error": {"message": "Incorrect API key provided",
                                                           "type": "invalid_request_error"}}))
            return
        if not isinstance(body, dict):
            self._send(handler, 400, json.dumps({"error": {"message": "body must be a JSON object"}}))
            return
        if handler.path.rstrip("/").endswith("/embeddings"):
            with self._lock:
                fault = self._embedding_queue.popleft() if self._embedding_queue else None
            if fault is not None and fault.status != 200:
                self._send(handler, fault.status, json.dumps({"error": {"message": f"fake error {fault.status}"}}),
                           fault.headers)
                return
            self._send(handler, 200, json.dumps(self._embeddings(body)))
            return
        if not handler.path.rstrip("/").endswith("/chat/completions"):
            self._send(handler, 404, json.dumps({"error": {"message": f"no route {handler.path}"}}))
            return
        answer = self._next_answer(body)
        reply = answer if isinstance(answer, Reply) else Reply(content=answer)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.drop:
            handler.close_connection = True
            return
        if reply.raw_body is not None:
            self._send(handler, reply.status, reply.raw_body, reply.headers)
            return
        if reply.status != 200:
            self._send(handler, reply.status, json.dumps({"error": {"message": f"fake error {reply.status}"}}),
                       reply.headers)
            return
        content = reply.content if isinstance(reply.content, str) else json.dumps(reply.content, ensure_ascii=False)
        completion = {
            "id": f"chatcmpl-fake-{len(self.requests)}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": len(json.dumps(body.get("messages"))) // 4,
                      "completion_tokens": len(content) // 4, "total_tokens": 0},
        }
        self._send(handler, 200, json.dumps(completion, ensure_ascii=False), reply.headers)

    def _embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        dim = int(body.get("dimensions") or self.embedding_dim)
        return {"object": "list", "model": body.get("model", "fake"),
                "data": [{"object": "embedding", "index": i, "embedding": fake_embedding(t, dim)}
                         for i, t in enumerate(texts)],
                "usage": {"prompt_tokens": sum(len(str(t)) for t in texts), "total_tokens": 0}}


def fake_embedding(text: str, dim: int) -> list[float]:
    """A deterministic unit vector for ``text`` (what the fake server returns)."""
    values: list[float] = []
    counter = 0
    while len(values) < dim:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend(v / 2**31 - 1.0 for v in struct.unpack(">8I", digest))
        counter += 1
    values = values[:dim]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]
