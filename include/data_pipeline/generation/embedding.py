"""Embeddings for step 4: an OpenAI-compatible ``/embeddings`` endpoint or the offline embedder.

Both implement ``Embedder``, so the training load never knows which one runs. The endpoint is chosen
when the ``embedding_default`` connection or ``DATA_PIPELINE_EMBEDDING_BASE_URL`` is configured;
otherwise the offline embedder is used: deterministic, no network, no model download.
"""

from __future__ import annotations

import hashlib
import logging
import math
import operator
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from itertools import chain
from typing import Protocol, runtime_checkable

import httpx

from data_pipeline import secrets_mask
from data_pipeline.errors import PipelineError
from data_pipeline.generation import retry
from data_pipeline.generation.endpoint import EmbeddingSettings, embedding_settings

__all__ = ["Embedder", "EmbeddingError", "EmbeddingSettings", "OfflineEmbedder", "OpenAIEmbedder", "embedding_settings",
           "make_embedder"]
OFFLINE_DIMENSION = 1024
_log = logging.getLogger("data_pipeline.generation.embedding")


@runtime_checkable
class Embedder(Protocol):
    name: str  # recorded in row metadata and state fingerprints: a different model means a fresh load

    @property
    def dimension(self) -> int:
        """Length of every vector ``embed`` returns."""
        ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in the order of ``texts``."""
        ...


class EmbeddingError(PipelineError):
    """The embedding endpoint failed. ``fatal`` errors (auth, unknown model, unreachable) stop the step;
    others concern the texts sent (too long, rejected) and only fail those documents."""

    error_code = "EMBEDDING_ERROR"
    http_status = 502

    def __init__(self, message: str, *, status: int | None = None, fatal: bool = True) -> None:
        super().__init__(secrets_mask.mask(message), status=status)
        self.status = status
        self.fatal = fatal


def make_embedder() -> Embedder:
    """The configured embedder: the endpoint if configured, else offline."""
    settings = embedding_settings()
    if settings is None:
        return OfflineEmbedder()
    return OpenAIEmbedder(settings)


# -- OpenAI-compatible endpoint -----------------------------------------------------------------

_CONTENT_STATUS = frozenset({400, 413, 422})  # the texts were rejected: fail those documents only


class OpenAIEmbedder:
    """``POST {base}/embeddings`` in batches; retries transient failures only, never logs the key."""

    def __init__(self, settings: EmbeddingSettings, *, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self.name = f"openai:{settings.model}"
        self._dimension = settings.dimension
        self._client = httpx.Client(
            base_url=settings.base_url, headers=settings.headers(), transport=transport,
            timeout=httpx.Timeout(settings.timeout_seconds, connect=settings.connect_timeout_seconds),
        )
        self.requests_sent = 0

    def __enter__(self) -> OpenAIEmbedder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    @property
    def dimension(self) -> int:
        if self._dimension is None:  # not configured: ask the endpoint once
            self._dimension = len(self._request(["dimension probe"])[0])
        return self._dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        size = self.settings.batch_size
        for start in range(0, len(texts), size):
            batch = list(texts[start:start + size])
            got = self._request(batch)
            if self._dimension is None:
                self._dimension = len(got[0])
            for vec in got:
                if len(vec) != self._dimension:
                    raise EmbeddingError(f"the embedding endpoint returned a {len(vec)}-dimensional vector for "
                                         f"model {self.settings.model}; expected {self._dimension}")
            vectors.extend(got)
        return vectors

    def _request(self, batch: list[str]) -> list[list[float]]:
        try:
            return retry.retrying(self.settings, _log, "embedding request")(self._post, batch)
        except retry.TransientError as exc:
            raise EmbeddingError(f"embedding request to {self.settings.base_url}/embeddings failed after "
                                 f"{self.settings.max_attempts} attempts: {exc}", status=exc.status) from None

    def _post(self, batch: list[str]) -> list[list[float]]:
        self.requests_sent += 1
        body: dict[str, object] = {"model": self.settings.model, "input": batch}
        if self.settings.dimensions is not None:  # models that can shorten their vectors (text-embedding-3-*)
            body["dimensions"] = self.settings.dimensions
        response = retry.send(lambda: self._client.post("/embeddings", json=body),
                              f"{self.settings.base_url}/embeddings")
        status = response.status_code
        if status in (401, 403):
            raise EmbeddingError(f"the embedding endpoint {self.settings.base_url} rejected the API key "
                                 f"(HTTP {status}): {_snippet(response)}", status=status)
        if status >= 400:
            raise EmbeddingError(f"the embedding endpoint {self.settings.base_url} answered HTTP {status} for "
                                 f"model {self.settings.model}: {_snippet(response)}", status=status,
                                 fatal=status not in _CONTENT_STATUS)
        return self._parse(response, len(batch))

    def _parse(self, response: httpx.Response, expected: int) -> list[list[float]]:
        try:
            items = response.json()["data"]
            pairs = sorted(((int(item["index"]), item["embedding"]) for item in items), key=lambda p: p[0])
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingError(f"the embedding endpoint returned an unexpected body ({exc!r}): "
                                 f"{_snippet(response)}") from None
        if [index for index, _ in pairs] != list(range(expected)):
            raise EmbeddingError(f"the embedding endpoint returned {len(pairs)} embeddings for {expected} texts "
                                 "(indexes do not match the input)")
        vectors = []
        for _, vec in pairs:
            if not isinstance(vec, list) or not vec or not all(isinstance(x, int | float) for x in vec):
                raise EmbeddingError("the embedding endpoint returned an embedding that is not a list of numbers")
            vectors.append([float(x) for x in vec])
        return vectors


def _snippet(response: httpx.Response, limit: int = 300) -> str:
    text = response.text.strip().replace("\n", " ")
    return secrets_mask.mask(text[:limit] + ("..." if len(text) > limit else ""))


# -- offline ------------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+")  # letters/digits runs: snake_case identifiers split into their words


class OfflineEmbedder:
    """Signed feature hashing of character 1-3 grams and word tokens, L2-normalised.

    Character n-grams make it work for Chinese (no spaces) as well as English and identifiers; word
    tokens are letter/digit runs, so ``service_area_id`` gives ``service``, ``area``, ``id``. Single
    characters count only outside ASCII (a 汉字 carries meaning, a lone ``e`` does not: dropping ASCII
    unigrams ranked every demo question's own pair first instead of 38 of 39). Counts are damped by a
    square root. Hashing is keyed BLAKE2b, so vectors are identical in every process and machine.

    Speed without numpy: the features of each whitespace-separated token (its n-grams, with the
    surrounding spaces, and its words) are hashed once and cached as a tuple of slots; a document is
    then ``Counter`` over the chained slot tuples of its tokens, all in C, and one loop over its few
    hundred distinct slots. Only n-grams spanning two tokens are lost, which costs nothing measurable
    in similarity.
    """

    preferred_chunk = 1000  # documents per embed-and-upsert round in the training load
    _CACHE_LIMIT = 200_000  # tokens (and n-grams) kept; cleared when exceeded

    def __init__(self, dimension: int = OFFLINE_DIMENSION) -> None:
        if dimension < 8:
            raise ValueError("offline embedding dimension must be at least 8")
        self._dim = dimension
        self.name = f"offline-ngram-v1-{dimension}"
        self._tokens: dict[str, tuple[int, ...]] = {}
        self._slots: dict[str, int] = {}

    @property
    def dimension(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.embed_one(text) for text in texts]

    def embed_one(self, text: str) -> list[float]:
        tokens = unicodedata.normalize("NFKC", text).lower().split() or ["\x02empty"]
        cache = self._tokens
        unseen = set(tokens).difference(cache)
        if unseen:
            if len(cache) + len(unseen) > self._CACHE_LIMIT:
                cache.clear()
                self._slots.clear()
                unseen = set(tokens)
            for token in unseen:
                cache[token] = self._token_slots(token)
        counts = Counter(chain.from_iterable(map(cache.__getitem__, tokens)))
        dim = self._dim
        sqrt = math.sqrt
        vec = [0.0] * dim
        # Slot s < D adds to component s, slot D + s subtracts from it (signed hashing); square roots damp
        # frequent n-grams (sublinear tf), which ranks a question's own pair first far more often when the
        # SQL text is long. A loop over the few hundred distinct slots beats dense list arithmetic.
        for slot, count in counts.items():
            if slot < dim:
                vec[slot] += sqrt(count)
            else:
                vec[slot - dim] -= sqrt(count)
        norm = math.hypot(*vec)
        if norm == 0.0:  # every feature cancelled out: a fixed unit vector keeps cosine defined
            vec = [0.0] * dim
            vec[self._slot_of("\x02empty") % dim] = 1.0
            return vec
        inv = 1.0 / norm
        return [x * inv for x in vec]

    def _token_slots(self, token: str) -> tuple[int, ...]:
        padded = f" {token} "
        bigrams = list(map(operator.add, padded, padded[1:]))
        trigrams = list(map(operator.add, bigrams, padded[2:]))
        words = list(map("\x01".__add__, _WORD.findall(token)))  # own namespace: word "id" is not n-gram "id"
        # a lone Latin letter or digit is noise; a 汉字 is a word
        unigrams = [] if token.isascii() else [ch for ch in token if ch > "\x7f"]
        features = [*unigrams, *bigrams, *trigrams, *words]
        slots = self._slots
        for feature in set(features).difference(slots):
            slots[feature] = self._slot_of(feature)
        return tuple(map(slots.__getitem__, features))

    def _slot_of(self, feature: str) -> int:
        digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8, key=b"data_pipeline-offline").digest()
        return int.from_bytes(digest, "little") % (2 * self._dim)
