"""The offline embedder as a langchain ``Embeddings``, so a Vanna client can query offline-loaded data.

Vanna's ``PG_VectorStore`` embeds questions with its ``config["embedding_function"]`` (a langchain
``Embeddings``); to search rows ``training_load`` wrote with the offline embedder it must produce the
same vectors::

    from data_pipeline.vectors.langchain_embeddings import OfflineEmbeddings
    PG_VectorStore(config={"connection_string": "postgresql+psycopg://...", "embedding_function": OfflineEmbeddings()})

Importable only where ``langchain-core`` is installed (a test/client dependency, requirements-dev.txt):
the pipeline's runtime never imports this module.
"""

from __future__ import annotations

from langchain_core.embeddings import Embeddings

from data_pipeline.generation.embedding import OFFLINE_DIMENSION, OfflineEmbedder


class OfflineEmbeddings(Embeddings):
    """Same vectors as ``OfflineEmbedder(dimension)``: the dimension must match the one that loaded the store."""

    def __init__(self, dimension: int = OFFLINE_DIMENSION) -> None:
        self._embedder = OfflineEmbedder(dimension)
        self.name = self._embedder.name

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._embedder.embed(texts)

    def embed_query(self, text: str) -> list[float]:
        return self._embedder.embed_one(text)
