"""The settings module (``platform_db.settings``, read by the pipeline as ``data_pipeline.config``): the only
reader of the environment, its defaults, its errors, and the endpoint settings built from it."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from data_pipeline import config
from data_pipeline.config import PROJECT_ROOT, SettingsError
from data_pipeline.generation.endpoint import EmbeddingSettings, LLMSettings, embedding_settings, llm_settings
from platform_db import settings

ENV_ACCESS = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
SETTINGS_MODULE = PROJECT_ROOT / "include" / "platform_db" / "settings.py"


def env_access(path: Path) -> list[str]:
    """``os.environ``/``os.getenv``-style uses in a module, as ``file:line``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        attribute = isinstance(node, ast.Attribute) and node.attr in ENV_ACCESS \
            and isinstance(node.value, ast.Name) and node.value.id == "os"
        imported = isinstance(node, ast.ImportFrom) and node.module == "os" \
            and bool(ENV_ACCESS & {a.name for a in node.names})
        if attribute or imported:
            found.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}")
    return found


def test_only_the_settings_module_touches_the_environment() -> None:
    offenders = [hit for folder in ("include", "plugins", "dags")
                 for path in sorted((PROJECT_ROOT / folder).rglob("*.py")) if path != SETTINGS_MODULE
                 for hit in env_access(path)]
    assert offenders == [], "read settings through platform_db.settings (data_pipeline.config) instead"
    assert env_access(SETTINGS_MODULE), "the scan must see the settings module's own reads"


def test_project_root_is_defined_once() -> None:
    definitions = [str(path.relative_to(PROJECT_ROOT)) for folder in ("include", "plugins", "dags")
                   for path in (PROJECT_ROOT / folder).rglob("*.py")
                   if "\nPROJECT_ROOT = " in path.read_text(encoding="utf-8")]
    assert definitions == ["include/platform_db/settings.py"]
    assert config.PROJECT_ROOT is settings.PROJECT_ROOT


def test_the_settings_module_loads_neither_the_pipeline_nor_airflow() -> None:
    """``dolphin_publisher`` reads its settings here and must stay independent of ``data_pipeline``."""
    code = ("import sys, platform_db.settings; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'data_pipeline', 'airflow', 'httpx'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert config.limits is settings.limits and config.data_dir is settings.data_dir


@pytest.fixture
def bare_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No declared variable set (restored afterwards)."""
    for name in config.described():
        monkeypatch.delenv(name, raising=False)
    for conn_id in (config.LLM_CONN_ID, config.EMBEDDING_CONN_ID):
        monkeypatch.delenv(config.connection_env_name(conn_id), raising=False)
    return monkeypatch


def test_defaults(bare_env: pytest.MonkeyPatch) -> None:
    assert config.data_dir() == PROJECT_ROOT / "data_pipeline" / "training_data"
    assert config.local_dir() == PROJECT_ROOT / ".local"
    assert config.schedules_file() == PROJECT_ROOT / "dags" / "data_pipeline_schedules.json"
    limits = config.limits()
    assert (limits.max_concurrent_tasks, limits.task_timeout_hours, limits.retention_days) == (1, 2, 30)
    assert (limits.max_download_bytes, limits.max_upload_bytes) == (100 * config.MiB, 10 * config.MiB)
    assert (config.databases().db_uri, config.databases().vector_db_uri) == (None, None)
    assert config.airflow().dags_folder == PROJECT_ROOT / "dags"
    dolphin = config.dolphin()
    assert (dolphin.environment, dolphin.gateway_address, dolphin.gateway_port) == ("default", None, None)
    assert llm_settings() is None and embedding_settings() is None


def test_every_variable_has_a_one_line_description() -> None:
    described = config.described()
    assert {"DATA_PIPELINE_DATA_DIR", "DATA_PIPELINE_MAX_CONCURRENT_TASKS", "DATA_PIPELINE_LLM_BASE_URL",
            "DATA_PIPELINE_EMBEDDING_DIMENSION", "DATA_PIPELINE_DB_URI", "PYDS_JAVA_GATEWAY_PORT",
            "DOLPHIN_PUBLISHER_ENV", "AIRFLOW__CORE__DAGS_FOLDER"} <= set(described)
    assert all(text and "\n" not in text for text in described.values())


def test_values_are_read_at_call_time_and_blanks_count_as_unset(bare_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bare_env.setenv("DATA_PIPELINE_DATA_DIR", str(tmp_path))
    bare_env.setenv("DATA_PIPELINE_MAX_TABLES", " 7 ")
    assert config.data_dir() == tmp_path.resolve()
    assert config.limits().max_tables == 7
    bare_env.setenv("DATA_PIPELINE_MAX_TABLES", "   ")
    assert config.limits().max_tables == 1000


def test_a_bad_integer_names_the_variable(bare_env: pytest.MonkeyPatch) -> None:
    bare_env.setenv("DATA_PIPELINE_MAX_CONCURRENT_TASKS", "two")
    with pytest.raises(SettingsError, match=r"DATA_PIPELINE_MAX_CONCURRENT_TASKS must be an integer, got 'two'"):
        config.limits()
    bare_env.setenv("PYDS_JAVA_GATEWAY_PORT", "port")
    with pytest.raises(SettingsError, match="PYDS_JAVA_GATEWAY_PORT must be an integer"):
        config.dolphin()
    bare_env.setenv("DATA_PIPELINE_LLM_BASE_URL", "http://llm.local/v1")
    bare_env.setenv("DATA_PIPELINE_LLM_TIMEOUT", "soon")
    with pytest.raises(SettingsError, match="DATA_PIPELINE_LLM_TIMEOUT must be a number, got 'soon'"):
        llm_settings()
    assert issubclass(SettingsError, ValueError)


def test_override_sets_the_variable_for_children_and_validates(bare_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bare_env.setenv("DATA_PIPELINE_DATA_DIR", "")  # restored by monkeypatch after the override below
    config.override(data_dir=tmp_path / "out")
    assert config.data_dir() == (tmp_path / "out").resolve()
    assert config.child_environment()["DATA_PIPELINE_DATA_DIR"] == str((tmp_path / "out").resolve())
    bare_env.setenv("DATA_PIPELINE_MAX_TABLES", "5")
    with pytest.raises(SettingsError, match="DATA_PIPELINE_MAX_TABLES must be an integer"):
        config.override(max_tables="many")
    assert config.limits().max_tables == 5
    with pytest.raises(TypeError):
        config.override(no_such_setting="x")


def test_child_environment_and_path_lists(bare_env: pytest.MonkeyPatch) -> None:
    bare_env.setenv("AIRFLOW__CORE__PARALLELISM", "3")
    bare_env.setenv("PYTHONPATH", "/a:/b")
    env = config.child_environment(drop_prefixes=("AIRFLOW__",))
    assert "AIRFLOW__CORE__PARALLELISM" not in env and env["PYTHONPATH"] == "/a:/b"
    assert config.path_list("PYTHONPATH", "/first") == "/first:/a:/b"
    bare_env.delenv("PYTHONPATH")
    assert config.path_list("PYTHONPATH", Path("/only")) == "/only"


# -- the endpoint settings type ---------------------------------------------------------------------


def test_endpoint_settings_from_the_environment(bare_env: pytest.MonkeyPatch) -> None:
    bare_env.setenv("DATA_PIPELINE_EMBEDDING_BASE_URL", "https://emb.local/v1/")
    bare_env.setenv("DATA_PIPELINE_EMBEDDING_API_KEY", "sk-settings-env-4242")
    bare_env.setenv("DATA_PIPELINE_EMBEDDING_DIMENSION", "512")
    bare_env.setenv("DATA_PIPELINE_EMBEDDING_MAX_RETRIES", "1")
    settings = embedding_settings()
    assert isinstance(settings, EmbeddingSettings)
    assert (settings.base_url, settings.model, settings.dimension) == ("https://emb.local/v1", "text-embedding-3-small",
                                                                       512)
    assert (settings.max_retries, settings.max_attempts, settings.batch_size) == (1, 2, 32)
    assert settings.timeout_seconds == 60
    assert isinstance(settings.api_key, SecretStr) and settings.api_key.get_secret_value() == "sk-settings-env-4242"
    assert "sk-settings-env-4242" not in repr(settings)
    assert settings.headers()["Authorization"] == "Bearer sk-settings-env-4242"
    bare_env.setenv("DATA_PIPELINE_EMBEDDING_DIMENSION", "0")
    with pytest.raises(SettingsError, match="DATA_PIPELINE_EMBEDDING_DIMENSION"):
        embedding_settings()
    bare_env.setenv("DATA_PIPELINE_LLM_BASE_URL", "llm.local/v1")
    with pytest.raises(SettingsError, match=r"DATA_PIPELINE_LLM_BASE_URL: .*http:// or https://"):
        llm_settings()


def test_endpoint_settings_from_a_connection(bare_env: pytest.MonkeyPatch) -> None:
    bare_env.setenv("DATA_PIPELINE_LLM_BASE_URL", "http://ignored.local/v1")
    bare_env.setenv("DATA_PIPELINE_LLM_CONCURRENCY", "2")  # the connection's extra leaves it out
    bare_env.setenv(config.connection_env_name(config.LLM_CONN_ID), json.dumps({
        "conn_type": "https", "host": "llm.example", "port": 8443, "schema": "v1", "password": "sk-settings-conn-77",
        "extra": {"model": "qwen-max", "timeout": 30, "max_retries": 5}}))
    settings = llm_settings()
    assert isinstance(settings, LLMSettings)
    assert (settings.base_url, settings.model, settings.timeout_seconds) == ("https://llm.example:8443/v1", "qwen-max",
                                                                             30.0)
    assert (settings.max_retries, settings.concurrency) == (5, 2)
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "sk-settings-conn-77"
    bare_env.setenv(config.connection_env_name(config.LLM_CONN_ID),
                    "http://:sk-settings-conn-77@llm.local:8000/v1?model=m&concurrency=none")
    with pytest.raises(SettingsError, match=r"extra\.concurrency of connection 'llm_default' must be an int") as err:
        llm_settings()
    assert "sk-settings-conn-77" not in str(err.value)
