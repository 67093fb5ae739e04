"""The text generator behind steps 1-3: an OpenAI-compatible LLM or the offline generator.

Both implement ``base.Generator``, so steps never know which one runs. The LLM is chosen when the
``llm_default`` connection or ``DATA_PIPELINE_LLM_BASE_URL`` is configured; otherwise the offline,
deterministic generator is used (no network).
"""

from __future__ import annotations

from data_pipeline.config import LLM_CONN_ID
from data_pipeline.generation.base import Generator, RepairRequest
from data_pipeline.generation.endpoint import llm_settings

__all__ = ["LLM_CONN_ID", "Generator", "RepairRequest", "make_generator"]


def make_generator() -> Generator:
    """The configured generator: LLM if configured, else offline.

    Settings are read without the LLM client, so offline runs never import it (httpx, tenacity,
    sqlparse, prompts: a sizeable share of a CLI run's start-up).
    """
    settings = llm_settings()
    if settings is not None:
        from data_pipeline.generation.chat import ChatClient
        from data_pipeline.generation.llm import LLMGenerator

        return LLMGenerator(ChatClient(settings))
    from data_pipeline.generation.offline import OfflineGenerator

    return OfflineGenerator()
