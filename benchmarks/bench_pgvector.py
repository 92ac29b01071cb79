"""pgvector top-5 cosine search on the embedded Postgres: HNSW latency and recall@5 vs exact search.

Loads N random unit 384-dim vectors into `text_embeddings` (binary COPY), builds the migration's
HNSW index, then runs top-5 queries with the SQL of `CampaignDatabaseResource.nearest` at several
`hnsw.ef_search` values. Recall is measured against a brute-force numpy search; the exact Postgres
plan (index scans off) is the alternative the ratio compares against.

    /work/main/.venv/bin/python benchmarks/bench_pgvector.py [--rows 100000] [--queries 200]

Runs in its own temporary SPARKLIO_HOME, which it stops and deletes at the end.
Stored vectors are clustered like text embeddings (a campaign's lines sit near each other: 20 per
cluster around random centres). Queries are stored vectors plus noise, the way a near-duplicate check or a retrieval for a similar line looks; a
uniformly random query has no real neighbours, so its recall@5 would measure nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import re
import shutil
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DIM = 384
MODEL = "bench-random-unit-384"
INDEX = "text_embeddings_hnsw"
COPY_COLUMNS = "(brand, campaign_id, language, kind, content, content_sha256, model, embedding)"
# The SQL shape of CampaignDatabaseResource.nearest (filter on model, order by cosine distance).
NEAREST_SQL = (
    "SELECT content, campaign_id, brand, language, kind, 1 - (embedding <=> %s::vector) AS similarity"
    " FROM text_embeddings WHERE model = %s ORDER BY embedding <=> %s::vector LIMIT %s"
)
K = 5


def machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}"


def random_unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def binary_copy_payload(vectors: np.ndarray, first_id: int) -> io.BytesIO:
    """Postgres binary COPY: text columns as UTF-8, vector as (int16 dim, int16 0, float4[dim]) big-endian."""
    out = io.BytesIO()
    out.write(b"PGCOPY\n\xff\r\n\0" + struct.pack(">ii", 0, 0))
    vec_header = struct.pack(">iHH", 4 + 4 * DIM, DIM, 0)
    fixed = [b"", None, b"en", b"bench", None, None, MODEL.encode()]
    for offset, vec in enumerate(vectors.astype(">f4")):
        content = f"bench-{first_id + offset}".encode()
        fixed[4] = content
        fixed[5] = hashlib.sha256(content).hexdigest().encode()
        out.write(struct.pack(">h", 8))
        for value in fixed:
            out.write(struct.pack(">i", -1) if value is None else struct.pack(">i", len(value)) + value)
        out.write(vec_header + vec.tobytes())
    out.write(struct.pack(">h", -1))
    out.seek(0)
    return out


def load(conn, vectors: np.ndarray, chunk: int = 20_000) -> tuple[float, float]:
    """Bulk-load, then rebuild the migration's own HNSW index. Returns (copy seconds, index seconds)."""
    with conn.cursor() as cur:
        cur.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", (INDEX,))
        (indexdef,) = cur.fetchone()
        # Building the graph once after loading is far faster than growing it row by row.
        cur.execute(f"DROP INDEX {INDEX}")
        t0 = time.perf_counter()
        for start in range(0, len(vectors), chunk):
            cur.copy_expert(
                f"COPY text_embeddings {COPY_COLUMNS} FROM STDIN WITH (FORMAT binary)",
                binary_copy_payload(vectors[start : start + chunk], start),
            )
        conn.commit()
        copy_s = time.perf_counter() - t0
        cur.execute("SET maintenance_work_mem = '1GB'")  # the whole graph in memory: no slow on-disk build
        cur.execute("SET max_parallel_maintenance_workers = 1")
        t0 = time.perf_counter()
        cur.execute(indexdef)
        conn.commit()
        index_s = time.perf_counter() - t0
        cur.execute("ANALYZE text_embeddings")
        conn.commit()
    return copy_s, index_s


def clustered_unit(rng: np.random.Generator, n: int, per_cluster: int = 20, spread: float = 0.6) -> np.ndarray:
    centres = random_unit(rng, max(1, n // per_cluster))
    x = centres[rng.integers(0, len(centres), size=n)]
    x = x + spread * rng.standard_normal(x.shape, dtype=np.float32) / np.sqrt(DIM)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def near_copies(rng: np.random.Generator, data: np.ndarray, n: int, noise: float) -> np.ndarray:
    """Queries near stored rows: a random row plus Gaussian noise of relative size `noise`, re-normalized."""
    picked = data[rng.choice(len(data), size=n, replace=False)]
    noisy = picked + noise * rng.standard_normal(picked.shape, dtype=np.float32) / np.sqrt(DIM)
    return noisy / np.linalg.norm(noisy, axis=1, keepdims=True)


def exact_top_k(data: np.ndarray, queries: np.ndarray) -> list[set[int]]:
    scores = queries @ data.T
    top = np.argpartition(-scores, K, axis=1)[:, :K]
    return [set(map(int, row)) for row in top]


def run_queries(search, queries: np.ndarray, truth: list[set[int]]) -> dict:
    """search(vector_json) -> rows; returns latency percentiles (ms) and recall@K."""
    latencies, hits = [], 0
    for q, expected in zip(queries, truth):
        vector = json.dumps(q.tolist())
        t0 = time.perf_counter()
        rows = search(vector)
        latencies.append((time.perf_counter() - t0) * 1000)
        hits += len({int(row[0].removeprefix("bench-")) for row in rows} & expected)
    lat = np.array(latencies)
    return {
        "p50": float(np.percentile(lat, 50)),
        "p95": float(np.percentile(lat, 95)),
        "recall": hits / (K * len(queries)),
        "n": len(queries),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--exact-queries", type=int, default=50, help="exact Postgres plan is slow; fewer runs")
    parser.add_argument("--ef-search", default="40,100,200,400", help="comma-separated hnsw.ef_search values")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--noise", type=float, default=0.3, help="query = stored row + this much relative noise")
    args = parser.parse_args()
    ef_values = [int(v) for v in args.ef_search.split(",")]

    home = Path(tempfile.mkdtemp(prefix="sparklio-bench-pgvector-"))
    os.environ["SPARKLIO_HOME"] = str(home)  # before anything resolves sparklio_home()
    import psycopg2

    from resources.database import CampaignDatabaseResource
    from resources.embedded_postgres import (
        start_embedded_postgres,
        stop_embedded_postgres,
    )

    try:
        rng = np.random.default_rng(args.seed)
        data = clustered_unit(rng, args.rows)
        queries = near_copies(rng, data, args.queries, args.noise)
        truth = exact_top_k(data, queries)

        uri = start_embedded_postgres()
        db = CampaignDatabaseResource(database_url=uri)
        db.migrate()
        conn = psycopg2.connect(db.dsn)
        copy_s, index_s = load(conn, data)
        with conn.cursor() as cur:
            cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            pgvector_version = cur.fetchone()[0]
            cur.execute("SHOW server_version")
            pg_version = cur.fetchone()[0]
            cur.execute("SELECT pg_size_pretty(pg_relation_size(%s))", (INDEX,))
            index_size = cur.fetchone()[0]

        def sql_search(vector: str):
            with conn.cursor() as cur:
                cur.execute(NEAREST_SQL, (vector, MODEL, vector, K))
                return cur.fetchall()

        def query_plan() -> str:
            with conn.cursor() as cur:
                vector = json.dumps(queries[0].tolist())
                cur.execute("EXPLAIN " + NEAREST_SQL, (vector, MODEL, vector, K))
                return "\n".join(re.sub(r"'\[[^']*\]'", "'[...]'", row[0]) for row in cur.fetchall())

        results: list[tuple[str, dict]] = []
        run_queries(sql_search, queries[: min(50, len(queries))], truth)  # warm the cache
        for ef in ef_values:
            with conn.cursor() as cur:
                cur.execute(f"SET hnsw.ef_search = {int(ef)}")
            plan = query_plan()
            if INDEX not in plan:
                raise SystemExit(f"the planner does not use the HNSW index, so this would time a seq scan:\n{plan}")
            results.append((f"HNSW ef_search={ef}, open connection", run_queries(sql_search, queries, truth)))

        with conn.cursor() as cur:
            cur.execute("SET enable_indexscan = off")
        n_exact = min(args.exact_queries, len(queries))
        exact = run_queries(sql_search, queries[:n_exact], truth[:n_exact])
        with conn.cursor() as cur:
            cur.execute("RESET enable_indexscan")

        # The resource opens a connection per call, so ef_search must be a database default to reach it.
        chosen = next((ef for ef, (_, r) in zip(ef_values, results) if r["recall"] >= 0.95), ef_values[-1])
        with conn.cursor() as cur:
            cur.execute("SELECT current_database()")
            dbname = cur.fetchone()[0]
            cur.execute(f'ALTER DATABASE "{dbname}" SET hnsw.ef_search = {int(chosen)}')
        conn.commit()

        def resource_search(vector: str):
            rows = db.nearest(json.loads(vector), model=MODEL, k=K)
            return [(row["content"],) for row in rows]

        name = f"CampaignDatabaseResource.nearest, ef_search={chosen}"
        results.append((name, run_queries(resource_search, queries, truth)))
        results.append(("exact (enable_indexscan=off), open connection", exact))
        conn.close()

        print(f"machine      : {machine()}")
        print(f"load average : {' '.join(f'{x:.1f}' for x in os.getloadavg())} (shared machine: other jobs run too)")
        print(f"postgres     : {pg_version}, pgvector {pgvector_version}, embedded (unix socket)")
        print(f"data         : {args.rows:,} clustered unit {DIM}-dim vectors, {args.queries} queries (stored row + {args.noise} noise), top-{K}")
        print(f"load         : binary COPY {copy_s:.1f} s ({args.rows / copy_s:,.0f} rows/s),"
              f" HNSW build (m=16, ef_construction=64) {index_s:.1f} s, index {index_size}")
        print()
        header = f"{'search':<52} {'queries':>7} {'p50 ms':>8} {'p95 ms':>8} {'recall@5':>9} {'p50 vs exact':>13}"
        print(header)
        print("-" * len(header))
        for name, r in results:
            ratio = exact["p50"] / r["p50"]
            print(f"{name:<52} {r['n']:>7} {r['p50']:>8.2f} {r['p95']:>8.2f} {r['recall']:>9.3f} {ratio:>12.1f}x")
        print()
        print(f"chosen hnsw.ef_search = {chosen} (smallest tried with recall@5 >= 0.95, else the largest)")
    finally:
        stop_embedded_postgres()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
