"""The production shape: docker-compose.yaml, Dockerfile and .dockerignore.

Runs with Python and the pinned dependencies only (no Docker engine, no docker-compose): the compose
file is parsed with PyYAML, interpolated the way Compose does with an empty environment (every
variable's default), checked for what users rely on, and validated against the Compose Specification
with the ``compose-spec`` package (requirements-dev.txt).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

AIRFLOW_VERSION = "3.3.2"
DATA_VOLUME = "pipeline-data"
REQUIRED_SERVICES = {
    "postgres",
    "redis",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
}
NON_AIRFLOW_SERVICES = {"postgres", "redis"}
ONE_SHOT_SERVICES = {"airflow-init", "airflow-cli"}
DEPENDS_ON_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
# Documented local placeholders (the header of docker-compose.yaml says to change them).
PLACEHOLDER_PASSWORDS = {"airflow"}
PLACEHOLDER_PREFIX = "change-me"
SPEC_ENV_VARS = {
    "DATA_PIPELINE_LLM_BASE_URL",
    "DATA_PIPELINE_LLM_API_KEY",
    "DATA_PIPELINE_LLM_MODEL",
    "DATA_PIPELINE_EMBEDDING_BASE_URL",
    "DATA_PIPELINE_EMBEDDING_API_KEY",
    "DATA_PIPELINE_EMBEDDING_MODEL",
    "AIRFLOW_CONN_LLM_DEFAULT",
    "AIRFLOW_CONN_EMBEDDING_DEFAULT",
    "AIRFLOW_CONN_DOLPHINSCHEDULER_DEFAULT",
}

# `$$` (a literal dollar), `${NAME}`, `${NAME:-default}` / `-` / `:?` / `?` / `:+` / `+`, `$NAME`.
_VAR = re.compile(
    r"\$\$|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)
# The user:password@ part of a URI whose user and password may be ${...} substitutions.
_URI_USERINFO = re.compile(
    r"://(?P<user>(?:\$\{[^}]*\}|[^:@/${}])*)(?::(?P<password>(?:\$\{[^}]*\}|[^@/${}])*))?@"
)
_SUBST_ONLY = re.compile(r"^\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?-)(?P<default>[^}]*)\}$")


# --------------------------------------------------------------------------------------------- helpers


def _interpolate_str(value: str, env: dict[str, str]) -> str:
    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group("braced") or m.group("bare")
        op, arg = m.group("op"), m.group("arg") or ""
        current = env.get(name)
        if op in (":-", "-"):
            unset = current is None or (op == ":-" and current == "")
            return arg if unset else current
        if op in (":?", "?"):
            if current is None or (op == ":?" and current == ""):
                raise AssertionError(f"required variable {name} is not set: {arg}")
            return current
        if op in (":+", "+"):
            is_set = current is not None and (op == "+" or current != "")
            return arg if is_set else ""
        return current or ""

    return _VAR.sub(repl, value)


def interpolate(obj: Any, env: dict[str, str] | None = None) -> Any:
    """Compose's variable interpolation over a parsed file (values only, as Compose does)."""
    env = env or {}
    if isinstance(obj, str):
        return _interpolate_str(obj, env)
    if isinstance(obj, list):
        return [interpolate(v, env) for v in obj]
    if isinstance(obj, dict):
        return {k: interpolate(v, env) for k, v in obj.items()}
    return obj


def variable_uses(text: str) -> list[tuple[str, str | None]]:
    """Every ``${NAME...}`` / ``$NAME`` reference in ``text``: (name, operator or None)."""
    uses = []
    for m in _VAR.finditer(text):
        if m.group(0) == "$$":
            continue
        uses.append((m.group("braced") or m.group("bare"), m.group("op")))
    return uses


def env_dict(environment: Any) -> dict[str, str]:
    if environment is None:
        return {}
    if isinstance(environment, list):
        out = {}
        for item in environment:
            key, _, value = str(item).partition("=")
            out[key] = value
        return out
    return {str(k): "" if v is None else str(v) for k, v in environment.items()}


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def volume_targets(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> source (named volume or host path) of a service's volumes."""
    out = {}
    for vol in service.get("volumes") or []:
        if isinstance(vol, dict):
            out[vol["target"]] = vol.get("source", "")
        else:
            parts = str(vol).split(":")
            if len(parts) == 1:
                out[parts[0]] = ""
            else:
                out[parts[1]] = parts[0]
    return out


def published_ports(service: dict[str, Any]) -> list[tuple[str | None, int]]:
    """(host port or None, container port) for every port of a service (short and long syntax)."""
    out: list[tuple[str | None, int]] = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            published = port.get("published")
            out.append((str(published) if published is not None else None, int(port["target"])))
            continue
        spec = str(port).split("/")[0]
        parts = spec.split(":")
        if len(parts) == 1:
            out.append((None, int(parts[0])))
        else:
            out.append((parts[-2], int(parts[-1])))
    return out


def command_text(service: dict[str, Any]) -> str:
    cmd = service.get("command") or ""
    return "\n".join(cmd) if isinstance(cmd, list) else str(cmd)


def header_comment(text: str) -> str:
    lines = []
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            lines.append(line)
        else:
            break
    return "\n".join(lines)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        logical.append(current)
        current = ""
    if current:
        logical.append(current)
    out = []
    for line in logical:
        instr, _, args = line.partition(" ")
        out.append((instr.upper(), " ".join(args.split())))
    return out


def copy_sources_and_dest(args: str) -> tuple[list[str], str]:
    parts = [p for p in args.split() if not p.startswith("--")]
    return parts[:-1], parts[-1]


# --------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def compose_text() -> str:
    return COMPOSE_FILE.read_text()


@pytest.fixture(scope="module")
def raw(compose_text: str) -> dict[str, Any]:
    """The parsed file, YAML anchors and merge keys resolved, variables not yet interpolated."""
    data = yaml.safe_load(compose_text)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    """What Compose would run with no variable set: every ``${VAR}`` replaced by its default."""
    return interpolate(raw)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def common(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["x-airflow-common"]


@pytest.fixture(scope="module")
def airflow_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in services.items() if name not in NON_AIRFLOW_SERVICES}


@pytest.fixture(scope="module")
def data_dir(common: dict[str, Any]) -> str:
    return env_dict(common["environment"])["DATA_PIPELINE_DATA_DIR"]


# --------------------------------------------------------------------------------------------- services


def test_all_services_exist(services: dict[str, dict[str, Any]]) -> None:
    missing = REQUIRED_SERVICES - services.keys()
    assert not missing, f"services missing from docker-compose.yaml: {sorted(missing)}"
    # The always-on services carry no profile; flower is optional, behind the "flower" profile.
    for name in REQUIRED_SERVICES:
        assert not services[name].get("profiles"), f"{name} must start with a plain `docker compose up`"
    assert services["flower"]["profiles"] == ["flower"]
    assert command_text(services["flower"]) == "celery flower"


def test_component_commands(services: dict[str, dict[str, Any]]) -> None:
    expected = {
        "airflow-apiserver": "api-server",
        "airflow-scheduler": "scheduler",
        "airflow-dag-processor": "dag-processor",
        "airflow-triggerer": "triggerer",
        "airflow-worker": "celery worker",
    }
    for name, cmd in expected.items():
        assert command_text(services[name]) == cmd, name


def test_postgres_is_pgvector_16(services: dict[str, dict[str, Any]]) -> None:
    pg = services["postgres"]
    assert pg["image"] == "pgvector/pgvector:pg16"
    assert "/var/lib/postgresql/data" in volume_targets(pg), "the database must live on a volume"
    assert services["redis"]["image"].startswith("redis:")


def test_apiserver_publishes_8080(services: dict[str, dict[str, Any]]) -> None:
    ports = published_ports(services["airflow-apiserver"])
    assert ("8080", 8080) in ports, ports


def test_worker_is_scalable(services: dict[str, dict[str, Any]]) -> None:
    worker = services["airflow-worker"]
    assert "container_name" not in worker, "a fixed container_name makes --scale airflow-worker=N fail"
    assert not worker.get("ports"), "a published host port makes --scale airflow-worker=N fail"
    assert "hostname" not in worker
    assert env_dict(worker["environment"]).get("DUMB_INIT_SETSID") == "0"


def test_airflow_services_share_image_env_and_data_volume(
    compose: dict[str, Any],
    common: dict[str, Any],
    airflow_services: dict[str, dict[str, Any]],
    data_dir: str,
) -> None:
    common_env = env_dict(common["environment"])
    assert common["build"] in (".", {"context": "."}), "the common image is built from ./Dockerfile"
    assert common["image"], "the built image needs a name all services share"
    assert data_dir.startswith("/"), data_dir
    assert volume_targets(common).get(data_dir) == DATA_VOLUME
    assert DATA_VOLUME in (compose.get("volumes") or {}), "the data volume must be a named volume"
    expected = REQUIRED_SERVICES - NON_AIRFLOW_SERVICES | {"flower", "airflow-cli"}
    assert expected <= airflow_services.keys()
    for name, svc in airflow_services.items():
        assert svc.get("image") == common["image"], f"{name} does not use the common image"
        assert svc.get("build") == common["build"], f"{name} does not build the common image"
        env = env_dict(svc.get("environment"))
        for key, value in common_env.items():
            assert env.get(key) == value, f"{name}: {key} differs from x-airflow-common"
        assert env["DATA_PIPELINE_DATA_DIR"] == data_dir
        assert volume_targets(svc).get(data_dir) == DATA_VOLUME, f"{name} lacks the shared data volume"


def test_executor_broker_and_backends(common: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    env = env_dict(common["environment"])
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
    assert broker.scheme == "redis" and broker.hostname == "redis" and broker.port == 6379
    backend = urlsplit(env["AIRFLOW__CELERY__RESULT_BACKEND"])
    assert backend.scheme == "db+postgresql" and backend.hostname == "postgres"
    metadata = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert metadata.scheme.startswith("postgresql") and metadata.hostname == "postgres"
    assert metadata.path == "/" + env_dict(services["postgres"]["environment"])["POSTGRES_DB"]
    task_store = urlsplit(env["AIRFLOW_CONN_DATA_PIPELINE_DB"])
    assert task_store.scheme == "postgresql" and task_store.hostname == "postgres"
    assert task_store.path == "/data_pipeline"
    execution_api = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert (execution_api.hostname, execution_api.port) == ("airflow-apiserver", 8080)
    assert execution_api.path.rstrip("/") == "/execution"
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"], "all components need one shared JWT secret"
    assert env["AIRFLOW__API__SECRET_KEY"], "all components need one shared [api] secret_key"
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith(".SimpleAuthManager")
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "airflow:admin"
    assert env["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"


def test_secrets_come_from_variables(raw: dict[str, Any]) -> None:
    """Secret-looking settings are ``${VAR:-...}`` with an empty default or a documented placeholder."""
    secret_key = re.compile(r"(PASSWORD|SECRET|TOKEN|_KEY)$")
    sections = {"x-airflow-common": raw["x-airflow-common"], **raw["services"]}
    checked = uri_passwords = 0
    for name, svc in sections.items():
        for key, value in env_dict(svc.get("environment")).items():
            if secret_key.search(key):
                m = _SUBST_ONLY.match(value)
                assert m, f"{name}: {key} must come from a ${{VAR}} substitution, not a literal"
                default = m.group("default")
                assert (
                    default == "" or default in PLACEHOLDER_PASSWORDS or default.startswith(PLACEHOLDER_PREFIX)
                ), f"{name}: {key} has a non-placeholder default"
                checked += 1
            elif key.startswith("AIRFLOW_CONN_") and "://" not in value:
                assert _SUBST_ONLY.match(value), f"{name}: {key} must come from ${{{key}:-}}"
            for m in _URI_USERINFO.finditer(value):
                password = m.group("password") or ""
                if password:
                    subst = _SUBST_ONLY.match(password)
                    assert subst, f"{name}: {key} embeds a literal password"
                    assert subst.group("default") in PLACEHOLDER_PASSWORDS, f"{name}: {key}"
                    uri_passwords += 1
    assert checked >= 8, "expected the password/secret/API-key settings to be checked"
    assert uri_passwords >= 3, "expected the database URIs' passwords to be checked"


def test_no_secret_looking_literals(compose_text: str) -> None:
    patterns = {
        "OpenAI-style key": r"\bsk-[A-Za-z0-9_-]{16,}",
        "GitHub token": r"\bgh[pousr]_[A-Za-z0-9]{20,}",
        "AWS key id": r"\bAKIA[0-9A-Z]{16}\b",
        "private key": r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
        "bearer token": r"(?i)bearer\s+[A-Za-z0-9._-]{16,}",
    }
    for label, pattern in patterns.items():
        assert not re.search(pattern, compose_text), f"docker-compose.yaml contains a {label}"
    for token in re.findall(r"[A-Za-z0-9+/=]{24,}", compose_text):
        looks_random = re.search(r"\d", token) and re.search(r"[a-z]", token) and re.search(r"[A-Z]", token)
        assert not looks_random, f"random-looking literal in docker-compose.yaml: {token[:6]}..."


def test_every_variable_is_documented_and_defaulted(compose_text: str) -> None:
    header = header_comment(compose_text)
    body = compose_text[len(header) :]
    uses = variable_uses(body)
    names = {name for name, _ in uses}
    assert names >= SPEC_ENV_VARS, f"not wired into the compose file: {sorted(SPEC_ENV_VARS - names)}"
    undocumented = sorted(n for n in names if not re.search(rf"^#\s+{re.escape(n)}\b", header, re.M))
    assert not undocumented, f"variables not listed in the header comment block: {undocumented}"
    without_default = sorted({n for n, op in uses if op not in (":-", "-")})
    assert not without_default, f"variables without a default: {without_default}"


def test_init_migrates_airflow_and_task_store(services: dict[str, dict[str, Any]]) -> None:
    init = services["airflow-init"]
    script = command_text(init)
    assert "airflow db migrate" in script
    assert "python -m data_pipeline init-db" in script
    assert "CREATE EXTENSION IF NOT EXISTS vector" in script
    assert 'get_connection("data_pipeline_db"' in script, "the task store is found via data_pipeline_db"
    assert "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" in script
    assert init.get("restart") in (None, "no"), "airflow-init is a one-shot service"
    assert init.get("user") == "0:0", "airflow-init prepares the shared volumes as root"
    env = env_dict(init["environment"])
    assert env["_AIRFLOW_WWW_USER_USERNAME"] and env["_AIRFLOW_WWW_USER_PASSWORD"]
    assert script.index("airflow db migrate") < script.index("python -m data_pipeline init-db")
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                 "airflow-worker", "flower"):
        assert depends_on(services[name]).get("airflow-init") == "service_completed_successfully", name


def test_init_script_parses(services: dict[str, dict[str, Any]]) -> None:
    """The init script (after Compose's interpolation) is valid bash, its Python heredocs valid Python."""
    init = services["airflow-init"]
    assert init["entrypoint"] == "/bin/bash" and init["command"][0] == "-c"
    script = init["command"][1]
    heredocs = re.findall(r"<<'PY'\n(.*?)\nPY\n", script, re.S)
    assert len(heredocs) == 2
    for i, code in enumerate(heredocs):
        compile(code, f"airflow-init-heredoc-{i}", "exec")
    bash = shutil.which("bash")
    assert bash, "bash is needed to check the init script"
    result = subprocess.run([bash, "-n", "-c", script], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def test_init_creates_task_store_database(services: dict[str, dict[str, Any]]) -> None:
    """airflow-init's task-store step, run for real against the embedded PostgreSQL: creates the database
    named by data_pipeline_db with pgvector when missing, and is harmless when run again."""
    from platform_db import embedded

    script = services["airflow-init"]["command"][1]
    create_db = next(code for code in re.findall(r"<<'PY'\n(.*?)\nPY\n", script, re.S) if "CREATE" in code)
    name = f"dp_compose_init_{os.getpid()}_{secrets.token_hex(3)}"
    admin = urlsplit(embedded.server_uri("postgres"))
    uri = urlunsplit(admin._replace(path=f"/{name}"))
    env = {**os.environ, "AIRFLOW_CONN_DATA_PIPELINE_DB": uri}
    env.pop("DATA_PIPELINE_DB_URI", None)
    try:
        for _ in range(2):
            result = subprocess.run(
                [sys.executable, "-c", create_db], env=env, capture_output=True, text=True, timeout=120
            )
            assert result.returncode == 0, result.stderr
            assert f"task-store database ready: {name}" in result.stdout
        with psycopg.connect(embedded.server_uri(name)) as conn:
            row = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone()
        assert row, "the vector extension was not created"
    finally:
        embedded.drop_database(name)


def test_depends_on_references_and_conditions(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        for dep, condition in depends_on(svc).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            assert condition in DEPENDS_ON_CONDITIONS, f"{name} -> {dep}: {condition}"
            if condition == "service_healthy":
                assert services[dep].get("healthcheck"), f"{name} waits for {dep} to be healthy: no healthcheck"
            if condition == "service_completed_successfully":
                assert dep in ONE_SHOT_SERVICES, f"{name} waits for long-running {dep} to exit"
            assert not services[dep].get("profiles"), f"{name} depends on {dep}, which sits behind a profile"
    # No cycles.
    state: dict[str, int] = {}

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert state.get(node) != 1, f"depends_on cycle: {' -> '.join((*path, node))}"
        if state.get(node) == 2:
            return
        state[node] = 1
        for dep in depends_on(services[node]):
            visit(dep, (*path, node))
        state[node] = 2

    for name in services:
        visit(name, ())


def test_healthchecks_like_the_official_file(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        if name in ONE_SHOT_SERVICES:
            continue
        check = svc.get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"
        assert svc.get("restart") == "always", f"{name} should restart"
    api_check = " ".join(services["airflow-apiserver"]["healthcheck"]["test"])
    assert "localhost:8080/api/v2/version" in api_check
    assert "8974/health" in " ".join(services["airflow-scheduler"]["healthcheck"]["test"])


def test_no_keys_compose_v1_rejects(compose: dict[str, Any]) -> None:
    """The file must also load with docker-compose 1.29 (what Debian ships)."""
    assert not {"include", "name", "version"} & compose.keys()
    for name, svc in compose["services"].items():
        assert "develop" not in svc, name
        assert "start_interval" not in (svc.get("healthcheck") or {}), name
    assert "configs" not in compose


def test_valid_compose_specification(compose: dict[str, Any]) -> None:
    """Validate the interpolated file against the Compose Specification (compose-spec, a strict parser)."""
    try:
        from compose_spec import PyCompose
    except ImportError as exc:  # pragma: no cover - the dependency is pinned in requirements-dev.txt
        raise AssertionError("compose-spec is missing: pip install -r requirements-dev.txt") from exc
    parsed = PyCompose.from_json(json.dumps(compose))
    parsed.validate()
    assert set(parsed.service_names()) == set(compose["services"])


def test_compose_spec_validator_is_strict(compose: dict[str, Any]) -> None:
    """The validator above really rejects a broken file (so its pass means something)."""
    from compose_spec import PyCompose

    broken = json.loads(json.dumps(compose))
    broken["services"]["airflow-worker"]["not_a_compose_key"] = True
    with pytest.raises(ValueError):
        PyCompose.from_json(json.dumps(broken)).validate()
    broken = json.loads(json.dumps(compose))
    broken["services"]["airflow-apiserver"]["depends_on"]["airflow-init"]["condition"] = "done"
    with pytest.raises(ValueError):
        PyCompose.from_json(json.dumps(broken)).validate()


def test_interpolation_honours_the_environment(raw: dict[str, Any]) -> None:
    env = {"POSTGRES_PASSWORD": "s3cret", "DATA_PIPELINE_LLM_API_KEY": "k", "AIRFLOW_API_PORT": "9090"}
    compose = interpolate(raw, env)
    common_env = env_dict(compose["x-airflow-common"]["environment"])
    assert urlsplit(common_env["AIRFLOW_CONN_DATA_PIPELINE_DB"]).password == "s3cret"
    assert urlsplit(common_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).password == "s3cret"
    assert env_dict(compose["services"]["postgres"]["environment"])["POSTGRES_PASSWORD"] == "s3cret"
    assert common_env["DATA_PIPELINE_LLM_API_KEY"] == "k"
    assert ("9090", 8080) in published_ports(compose["services"]["airflow-apiserver"])
    # `$${HOSTNAME}` stays a container-side variable.
    check = compose["services"]["airflow-triggerer"]["healthcheck"]["test"][1]
    assert '"${HOSTNAME}"' in check


# --------------------------------------------------------------------------------------------- Dockerfile


def test_dockerfile_from_official_airflow_image() -> None:
    froms = [args for instr, args in dockerfile_instructions() if instr == "FROM"]
    assert froms, "Dockerfile has no FROM"
    image = froms[-1].split()[0]
    assert re.fullmatch(rf"apache/airflow:{re.escape(AIRFLOW_VERSION)}(-python3\.11)?", image), image
    pins = (ROOT / "requirements.txt").read_text().splitlines()
    assert f"apache-airflow=={AIRFLOW_VERSION}" in pins, "image tag and pinned Airflow must agree"


def test_dockerfile_installs_requirements_and_project(data_dir: str) -> None:
    instructions = dockerfile_instructions()
    user = "root"
    copied: dict[str, str] = {}  # source -> destination
    pip_runs: list[tuple[str, str]] = []  # (user, command)
    env: dict[str, str] = {}
    for instr, args in instructions:
        if instr == "USER":
            user = args.split(":")[0]
        elif instr == "COPY":
            sources, dest = copy_sources_and_dest(args)
            for src in sources:
                copied[src.rstrip("/")] = dest
        elif instr == "ENV":
            key, _, value = args.partition("=")
            env[key.strip()] = value.strip().strip('"')
        elif instr == "RUN" and "pip install" in args:
            pip_runs.append((user, args))
    for src in ("requirements.txt", "pyproject.toml", "README.md", "include"):
        assert src in copied, f"Dockerfile does not copy {src}"
    req_dest = copied["requirements.txt"]
    req_path = req_dest if req_dest.endswith("requirements.txt") else req_dest.rstrip("/") + "/requirements.txt"
    req_runs = [cmd for _, cmd in pip_runs if f"-r {req_path}" in cmd]
    assert req_runs and "--no-cache-dir" in req_runs[0], "requirements.txt must be installed with pip"
    project_dir = copied["pyproject.toml"].rstrip("/")
    assert copied["README.md"].rstrip("/") == project_dir
    assert copied["include"].rstrip("/") == project_dir + "/include"
    project_runs = [cmd for _, cmd in pip_runs if "--no-deps" in cmd and project_dir in cmd.split()]
    assert project_runs, "the project must be installed with pip install --no-deps"
    assert all(u == "airflow" for u, _ in pip_runs), "the official image expects pip as the airflow user"
    assert copied["dags"].rstrip("/") == "/opt/airflow/dags"
    assert copied["plugins"].rstrip("/") == "/opt/airflow/plugins"
    assert env.get("DATA_PIPELINE_DATA_DIR") == data_dir, "Dockerfile and compose disagree on the data dir"


def test_dockerignore_keeps_sources_and_drops_local_state() -> None:
    patterns = [
        line.strip() for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for needed in ("requirements.txt", "pyproject.toml", "README.md", "include", "dags", "plugins"):
        assert needed not in patterns, f".dockerignore drops {needed}, which the image needs"
        assert f"{needed}/" not in patterns
    for dropped in (".git", ".venv", ".local", ".env", "**/__pycache__", "**/*.egg-info"):
        assert dropped in patterns, f".dockerignore should exclude {dropped}"
