"""Benchmark: step 3 (sql_validation, offline, no repair) against ``psql -f`` running the same EXPLAINs.

Builds the demo business database in its own database on the embedded server, generates N
question/SQL pairs (10% invalid: unknown columns and tables, syntax errors, type errors), then per
repetition times

- ours: ``data_pipeline.steps.validation.run`` on a fresh task directory (reads the pair file, EXPLAINs
  every SQL, keeps per-item resumable state, writes the JSON report and the summary log);
- psql: one ``psql -X -q -v ON_ERROR_STOP=0 -f`` process running the same ``EXPLAIN (COSTS OFF) <sql>``
  lines (same read-only/timeout settings through PGOPTIONS), stdout and stderr captured, errors counted
  per statement from the ``psql:<file>:<line>: ERROR:`` lines of stderr.

Both see the same database in the same run, alternating. The verdicts (valid/invalid) are compared
statement by statement; the number of mismatches must be 0. The ratio psql/ours is the LAST line.

    .venv/bin/python bench/bench_validation.py [--size 10000] [--repeat 5] [--strategies]

``--strategies`` also times the validation engine alone in three concurrency designs (one thread
driving N pipelined connections, N threads with one statement in flight each, N threads each
pipelining), which is how the engine's design was chosen.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))

import psycopg  # noqa: E402

from data_pipeline.schema.demo_db import build_demo_database  # noqa: E402
from data_pipeline.schema.explain_protocol import EXPLAIN_PREFIX, ValidatorSettings  # noqa: E402
from data_pipeline.schema.sql_validator import SqlValidator  # noqa: E402
from data_pipeline.steps import validation  # noqa: E402
from data_pipeline.steps.context import StepContext  # noqa: E402
from data_pipeline.tasks.log import TaskLogger  # noqa: E402
from data_pipeline.tasks.parameters import TaskParameters  # noqa: E402
from platform_db import embedded, settings  # noqa: E402

BENCH_DB = "dp_bench_validation"
SERVICE_NAMES = ("南昌服务区", "庐山服务区", "瑞金服务区", "吉安服务区", "永修服务区", "樟树服务区")
CAR_TYPES = ("过境", "危化品", "城际", "其他")
CLASSIFIES = ("餐饮", "便利店", "汽修", "加油站", "其他")


def _day(rng: random.Random) -> str:
    return f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _templates() -> list[Callable[[random.Random], tuple[str, str]]]:
    def revenue_by_area(r: random.Random) -> tuple[str, str]:
        d, k = _day(r), r.randint(3, 30)
        return (f"{d}以来营业额最高的{k}个服务区是哪些？",
                f"SELECT service_name, SUM(pay_sum) AS total FROM bss_business_day_data WHERE oper_date >= DATE '{d}' "
                f"GROUP BY service_name ORDER BY total DESC LIMIT {k};")

    def areas_per_company(r: random.Random) -> tuple[str, str]:
        d = _day(r)
        return (f"{d}之前建成的在营服务区按公司统计各有多少？",
                "SELECT c.company_name, COUNT(*) AS n FROM bss_service_area s JOIN bss_company c "
                f"ON c.id = s.company_id WHERE s.deleted = false AND s.created_at < TIMESTAMP '{d} 00:00:00' "
                "GROUP BY c.company_name ORDER BY n DESC;")

    def cars_by_type(r: random.Random) -> tuple[str, str]:
        d, k = _day(r), r.randint(3, 30)
        return (f"{d}起{k}天内各类车辆的车流量是多少？",
                f"SELECT car_type, SUM(customer_count) AS cars FROM bss_car_day_count WHERE count_date BETWEEN "
                f"DATE '{d}' AND DATE '{d}' + {k} GROUP BY car_type ORDER BY cars DESC;")

    def top_branches(r: random.Random) -> tuple[str, str]:
        d, k, c = _day(r), r.randint(3, 30), r.choice(CLASSIFIES)
        return (f"{d}当天{c}类档口营业额前{k}名是哪些？",
                "SELECT b.branch_name, b.classify, SUM(d.pay_sum) AS total FROM bss_branch b "
                f"JOIN bss_business_day_data d ON d.branch_no = b.branch_no WHERE d.oper_date = DATE '{d}' "
                f"AND b.classify = '{c}' GROUP BY b.branch_name, b.classify ORDER BY total DESC LIMIT {k};")

    def charging(r: random.Random) -> tuple[str, str]:
        d, k = _day(r), r.randint(3, 30)
        return (f"{d}以后平均充电量超过{k * 10}度的服务区有哪些？",
                "SELECT sa.service_area_name, AVG(ch.charge_kwh) AS kwh FROM bss_charging_day_data ch JOIN "
                f"bss_service_area sa ON sa.id = ch.service_area_id WHERE ch.stat_date > DATE '{d}' "
                f"GROUP BY sa.service_area_name HAVING AVG(ch.charge_kwh) > {k * 10};")

    def routes(r: random.Random) -> tuple[str, str]:
        k = r.randint(3, 30)
        return (f"服务区最多的{k}条线路是哪些？",
                "SELECT r.route_name, COUNT(DISTINCT l.service_area_id) AS areas FROM bss_section_route r LEFT JOIN "
                "bss_section_route_area_link l ON l.section_route_id = r.id GROUP BY r.route_name "
                f"ORDER BY areas DESC LIMIT {k};")

    def monthly_pay(r: random.Random) -> tuple[str, str]:
        name = r.choice(SERVICE_NAMES)
        return (f"{name}每月微信和支付宝收入各是多少？",
                "SELECT date_trunc('month', oper_date) AS month, SUM(wx) AS wx, SUM(zfb) AS zfb FROM "
                f"bss_business_day_data WHERE service_name = '{name}' GROUP BY month ORDER BY month;")

    def daily_cars(r: random.Random) -> tuple[str, str]:
        d, k, t = _day(r), r.randint(1, 56), r.choice(CAR_TYPES)
        return (f"编号{k}的服务区{d}以来{t}车辆的日均和最高车流量是多少？",
                f"WITH daily AS (SELECT count_date, SUM(customer_count) AS cars FROM bss_car_day_count WHERE "
                f"service_area_id = {k} AND car_type = '{t}' GROUP BY count_date) SELECT AVG(cars) AS avg_cars, "
                f"MAX(cars) AS max_cars FROM daily WHERE count_date >= DATE '{d}';")

    return [revenue_by_area, areas_per_company, cars_by_type, top_branches, charging, routes, monthly_pay, daily_cars]


def _break(sql: str, kind: int) -> str:
    """Make ``sql`` invalid the way LLM output goes wrong (one line, balanced quotes, so psql splits it the same)."""
    if kind == 0:  # unknown column
        return sql.replace(" FROM ", ", pay_total FROM ", 1)
    if kind == 1:  # unknown table
        return sql.replace(" FROM ", " FROM bss_service_area_daily x, ", 1)
    if kind == 2:  # syntax error
        return sql.replace("SELECT", "SELEC", 1) if sql.startswith("SELECT") else sql.replace("GROUP BY", "GROUP", 1)
    # type error
    return sql.replace(" GROUP BY", " AND 1 = 'abc'::integer GROUP BY", 1) if " WHERE " in sql else \
        sql.replace(" GROUP BY", " WHERE 'x' > 1 GROUP BY", 1)


def generate_pairs(size: int, invalid_ratio: float = 0.1,
                   seed: int = 20250721) -> tuple[list[dict[str, str]], set[int]]:
    rng = random.Random(seed)
    templates = _templates()
    pairs = []
    for i in range(size):
        question, sql = templates[i % len(templates)](rng)
        pairs.append({"question": question, "sql": sql})
    broken = set(rng.sample(range(size), round(size * invalid_ratio)))
    for n, i in enumerate(sorted(broken)):
        pairs[i]["sql"] = _break(pairs[i]["sql"], n % 4)
    return pairs, broken


# -- the two contestants ------------------------------------------------------------------------


def run_ours(uri: str, pairs: list[dict[str, str]], concurrency: int, timeout: float) -> tuple[float, list[bool]]:
    with tempfile.TemporaryDirectory(prefix="bench_validation_") as tmp:
        task_dir = Path(tmp)
        (task_dir / "qs_bench_20250101_000000_pair.json").write_text(json.dumps(pairs, ensure_ascii=False),
                                                                    encoding="utf-8")
        params = TaskParameters(db_connection=uri, enable_llm_repair=False, modify_original_file=False,
                                validation_concurrency=concurrency, sql_timeout_seconds=timeout)
        ctx = StepContext(task_dir=task_dir, params=params,
                          log=TaskLogger(task_dir=task_dir, task_id=None, store=None, step="sql_validation"))
        started = time.perf_counter()
        result = validation.run(ctx)
        elapsed = time.perf_counter() - started
        report = json.loads((task_dir / f"sql_validation_{result.details['stamp']}_report.json").read_text("utf-8"))
    return elapsed, [item["status"] == "valid" for item in report["items"]]


_PSQL_ERROR = re.compile(r"^psql:.*?:(\d+): ERROR:", re.MULTILINE)


def run_psql(uri: str, pairs: list[dict[str, str]], timeout: float) -> tuple[float, list[bool]]:
    psql = embedded.bin_dir() / "psql"
    with tempfile.TemporaryDirectory(prefix="bench_psql_") as tmp:
        script = Path(tmp) / "explain.sql"
        script.write_text("".join(f"{EXPLAIN_PREFIX}{p['sql']}\n" for p in pairs), encoding="utf-8")
        options = (f"-c default_transaction_read_only=on -c statement_timeout={int(timeout * 1000)} "
                   f"-c lock_timeout={int(min(timeout, 5) * 1000)}")
        env = {**os.environ, "PGOPTIONS": options, "PGCLIENTENCODING": "UTF8"}
        started = time.perf_counter()
        proc = subprocess.run([str(psql), "-X", "-q", "-v", "ON_ERROR_STOP=0", "-f", str(script), "-d", uri],
                              capture_output=True, text=True, env=env, check=False)
        elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 3):
        raise SystemExit(f"psql failed ({proc.returncode}): {proc.stderr[-2000:]}")
    failed_lines = {int(m.group(1)) for m in _PSQL_ERROR.finditer(proc.stderr)}
    return elapsed, [(i + 1) not in failed_lines for i in range(len(pairs))]


# -- engine designs (``--strategies``) ------------------------------------------------------------


def _engine(uri: str, sqls: Sequence[str], *, threads: int, connections: int, window: int) -> float:
    """Validate with ``threads`` threads, each driving its own validator of ``connections`` connections."""
    def connect() -> psycopg.Connection:
        return psycopg.connect(uri, autocommit=True)

    shares = [list(sqls[i::threads]) for i in range(threads)]
    started = time.perf_counter()

    def work(share: list[str]) -> None:
        with SqlValidator(connect, ValidatorSettings(concurrency=connections, window=window)) as validator:
            validator.validate(share)

    workers = [threading.Thread(target=work, args=(share,)) for share in shares]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started


def compare_strategies(uri: str, sqls: Sequence[str], concurrency: int, repeat: int) -> None:
    designs = {
        f"1 thread, {concurrency} pipelined connections (ours)": dict(threads=1, connections=concurrency, window=64),
        f"{concurrency} threads, 1 statement in flight each": dict(threads=concurrency, connections=1, window=1),
        f"{concurrency} threads, each pipelining 1 connection": dict(threads=concurrency, connections=1, window=64),
    }
    for name, design in designs.items():
        times = [_engine(uri, sqls, **design) for _ in range(repeat)]
        print(f"engine  {name:<48} median {statistics.median(times):.3f}s  ({', '.join(f'{t:.3f}' for t in times)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=10_000, help="question/SQL pairs (default 10000)")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions of each contestant (default 5)")
    parser.add_argument("--invalid-ratio", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=TaskParameters().validation_concurrency)
    parser.add_argument("--timeout", type=float, default=TaskParameters().sql_timeout_seconds)
    parser.add_argument("--strategies", action="store_true", help="also time the engine's concurrency designs")
    parser.add_argument("--keep-db", action="store_true", help=f"keep the {BENCH_DB} database afterwards")
    args = parser.parse_args()
    settings.override(allowed_hosts="*")  # the business databases here are the bench's own

    uri = embedded.ensure_database(BENCH_DB, extensions=())
    summary = build_demo_database(uri)
    pairs, broken = generate_pairs(args.size, args.invalid_ratio)
    print(f"database {BENCH_DB}: demo schema, {summary.total_rows} rows; {len(pairs)} pairs, {len(broken)} invalid; "
          f"concurrency {args.concurrency}; {os.cpu_count()} CPUs")
    ours_times: list[float] = []
    psql_times: list[float] = []
    mismatches = 0  # over all repetitions
    try:
        run_ours(uri, pairs[:200], args.concurrency, args.timeout)  # warm caches and catalogs for both
        for rep in range(args.repeat):
            order = ("ours", "psql") if rep % 2 == 0 else ("psql", "ours")
            for who in order:
                if who == "ours":
                    elapsed, ours = run_ours(uri, pairs, args.concurrency, args.timeout)
                    ours_times.append(elapsed)
                else:
                    elapsed, theirs = run_psql(uri, pairs, args.timeout)
                    psql_times.append(elapsed)
            differ = sum(1 for a, b in zip(ours, theirs, strict=True) if a != b)
            mismatches += differ
            print(f"rep {rep + 1}: ours {ours_times[-1]:.3f}s ({ours.count(False)} invalid)  "
                  f"psql {psql_times[-1]:.3f}s ({theirs.count(False)} errors)  mismatches {differ}", flush=True)
            expected = sum(1 for i in broken if ours[i])
            if expected:
                print(f"  warning: {expected} deliberately broken SQL judged valid")
        if args.strategies:
            compare_strategies(uri, [p["sql"] for p in pairs], args.concurrency, args.repeat)
    finally:
        if not args.keep_db:
            embedded.drop_database(BENCH_DB)
    ours_median, psql_median = statistics.median(ours_times), statistics.median(psql_times)
    print(f"verdict mismatches ours vs psql, statement by statement, all repetitions: {mismatches}")
    print(f"median ours {ours_median:.3f}s ({len(pairs) / ours_median:,.0f} SQL/s), "
          f"median psql {psql_median:.3f}s ({len(pairs) / psql_median:,.0f} SQL/s)")
    print(f"ratio psql/ours: {psql_median / ours_median:.2f}")


if __name__ == "__main__":
    main()
