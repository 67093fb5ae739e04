"""Embeddings: an OpenAI-compatible ``/embeddings`` endpoint or the offline embedder (placeholder)."""
