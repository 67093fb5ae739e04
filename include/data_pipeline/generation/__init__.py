"""Question/SQL generation and embeddings: the LLM client, prompts, the offline generator."""
