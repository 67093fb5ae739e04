"""Benchmark: the LLM client against a bare httpx loop, and step 2 (offline) on a large schema.

1. LLM client (the key figure). ``--calls`` chat completions, ``--concurrency`` at a time, against the
   local fake OpenAI server (real HTTP on 127.0.0.1) answering each call after ``--latency-ms``:
   - ours: ``ChatClient.complete_json`` from a thread pool (request building, concurrency limit,
     retry wrapper, strict JSON parsing, size/duration logging);
   - anchor: the least a hand-rolled client does: ``httpx.Client.post`` + ``json.loads`` of the
     content from a thread pool of the same size.
   Several repetitions, alternating order; medians. Overhead shows as a ratio above 1.
2. qa_generation with the offline generator through the CLI (``run --no-db-tracking --execution-mode
   step``) after ddl_generation, on ``--tables`` synthetic tables (the schema of bench_ddl.py):
   median seconds and pairs written (informational; no outside tool does this step).

    .venv/bin/python bench/bench_qa.py --calls 400 --concurrency 8 --latency-ms 20 --tables 300 --repeat 5

The LAST line is ``ratio ours/anchor`` of part 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from data_pipeline.generation.llm import ChatClient, LLMSettings
from platform_db import embedded, settings

PROJECT = Path(__file__).resolve().parents[1]
sys.path.append(str(PROJECT / "tests"))  # appended: the fake server lives with the tests
sys.path.append(str(PROJECT / "bench"))
from bench_ddl import build, table_name  # noqa: E402
from fake_openai import FakeOpenAI, Reply  # noqa: E402

ANSWER = {"pairs": [{"question": f"问题 {i}", "sql": f"SELECT {i};"} for i in range(10)]}


def run_ours(server: FakeOpenAI, calls: int, concurrency: int) -> float:
    settings = LLMSettings(base_url=server.base_url, model="bench", api_key="sk-bench-key", concurrency=concurrency)
    with ChatClient(settings) as client, ThreadPoolExecutor(concurrency) as pool:
        t0 = time.perf_counter()
        results = list(pool.map(lambda i: client.complete_json("system", f"user {i}", "bench"), range(calls)))
        elapsed = time.perf_counter() - t0
    assert all(r == ANSWER for r in results)
    return elapsed


def run_anchor(server: FakeOpenAI, calls: int, concurrency: int) -> float:
    url = server.base_url + "/chat/completions"
    headers = {"Authorization": "Bearer sk-bench-key"}

    def one(i: int) -> object:
        response = client.post(url, json={"model": "bench", "messages": [
            {"role": "system", "content": "system"}, {"role": "user", "content": f"user {i}"}]}, headers=headers)
        response.raise_for_status()
        return json.loads(response.json()["choices"][0]["message"]["content"])

    with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client, \
            ThreadPoolExecutor(concurrency) as pool:
        t0 = time.perf_counter()
        results = list(pool.map(one, range(calls)))
        elapsed = time.perf_counter() - t0
    assert all(r == ANSWER for r in results)
    return elapsed


def cli_step(uri: str, step: str, out: Path, table_list: Path | None = None) -> float:
    command = [sys.executable, "-m", "data_pipeline", "run", "--no-db-tracking", "--execution-mode", "step",
               "--step-name", step, "--db-connection", uri, "--output-dir", str(out),
               "--business-context", "高速公路服务区"]
    if table_list is not None:
        command += ["--table-list", str(table_list)]
    t0 = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{step} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return elapsed


def bench_step(tables: int, repeat: int) -> None:
    db_name = f"dp_bench_qa_{tables}"
    uri = embedded.ensure_database(db_name, extensions=())
    work = Path(tempfile.mkdtemp(prefix="bench_qa_"))
    try:
        build(uri, tables, 100)
        table_list = work / "tables.txt"
        table_list.write_text("".join(f"{table_name(i)}\n" for i in range(tables)))
        base = work / "step1"
        cli_step(uri, "ddl_generation", base, table_list)
        times: list[float] = []
        pairs = 0
        for rep in range(repeat):
            out = work / f"rep_{rep}"
            shutil.copytree(base, out)
            times.append(cli_step(uri, "qa_generation", out))
            (pair_file,) = out.glob("qs_*_pair.json")
            pairs = len(json.loads(pair_file.read_text(encoding="utf-8")))
            shutil.rmtree(out)
        print(f"qa_generation offline, {tables} tables: median {statistics.median(times):.2f}s over {repeat} "
              f"runs (whole CLI process), {pairs} pairs written")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        embedded.drop_database(db_name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=20.0, help="fake server time per answer")
    parser.add_argument("--tables", type=int, default=300, help="tables for the qa_generation run (0: skip)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    settings.override(allowed_hosts="*")  # the business databases here are the bench's own
    logging.getLogger("data_pipeline").setLevel(logging.WARNING)

    if args.tables:
        bench_step(args.tables, max(1, min(args.repeat, 3)))
    ours: list[float] = []
    anchor: list[float] = []
    with FakeOpenAI(api_key="sk-bench-key") as server:
        server.responder = lambda body: Reply(content=ANSWER, delay=args.latency_ms / 1000)
        for rep in range(args.repeat):
            if rep % 2 == 0:
                ours.append(run_ours(server, args.calls, args.concurrency))
                anchor.append(run_anchor(server, args.calls, args.concurrency))
            else:
                anchor.append(run_anchor(server, args.calls, args.concurrency))
                ours.append(run_ours(server, args.calls, args.concurrency))
            print(f"rep {rep + 1}: ours {ours[-1]:.3f}s  anchor {anchor[-1]:.3f}s", flush=True)
        active = server.max_active
    ours_median, anchor_median = statistics.median(ours), statistics.median(anchor)
    print(f"LLM client: {args.calls} calls, concurrency {args.concurrency}, {args.latency_ms:.0f} ms per answer; "
          f"max simultaneous requests seen by the server: {active}")
    print(f"median ours {ours_median:.3f}s ({args.calls / ours_median:.0f} calls/s), anchor {anchor_median:.3f}s "
          f"({args.calls / anchor_median:.0f} calls/s)")
    print(f"ratio ours/anchor {ours_median / anchor_median:.2f}")


if __name__ == "__main__":
    main()
