"""Benchmark: the Rust scoring kernel against the same computation in polars and DuckDB.

Generates (or reuses, from bench/.cache/) int-coded columns with a seeded numpy generator:
line items (account, day, amount, invoice_key), costs (account or pooled, day, category,
amount). Then times, median of --repeat runs each:

- kernel:  ``_core.score_columns`` on the in-memory numpy columns (everything it computes:
  RFM, segments, cost attribution, margin, quadrant, churn, health, lifecycle, tier, bands);
- polars:  RFM (purchases = positive invoices / account-days, tie-rule scores, rfm11 segment)
  + pooled-cost allocation by revenue with largest remainders + margin + quadrant, as one lazy
  query collected on all cores;
- duckdb:  the same in SQL (all cores);

checks that all three agree on every account (scores, segment, revenue, costs, margin), prints
the ratios, and times the full ``segtui score`` (a fresh process: store → snapshot written) on a
store of the same data, built once and cached in bench/.cache/: from SQLite, with the column
cache rebuilt, and from the cache; with each run's peak memory.

    python bench/score.py                         # 10 M lines / 1 M accounts / 2 M costs
    python bench/score.py --smoke                 # a tiny size, in seconds (CI)
    python bench/score.py --lines 2000000 --accounts 200000 --costs 400000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent

import synthetic  # noqa: E402 - bench/synthetic.py, beside this script
from segtui import _core  # noqa: E402

from synthetic import CACHE, N_CATEGORIES  # noqa: E402

SEED = 20240601


# ---- data ------------------------------------------------------------------------------------


def load_or_generate(n_lines: int, n_accounts: int, n_costs: int, use_cache: bool) -> dict[str, np.ndarray]:
    return synthetic.load_or_generate("score", n_lines, n_accounts, n_costs, SEED, use_cache=use_cache)


# ---- the three implementations --------------------------------------------------------------

RFM11_GRID = {  # FM -> segment by R = 1..5 (the design's grid)
    5: ["Can't Lose Them", "At Risk", "Loyal", "Champions", "Champions"],
    4: ["Can't Lose Them", "At Risk", "Loyal", "Champions", "Champions"],
    3: ["At Risk", "At Risk", "Need Attention", "Potential Loyalist", "Potential Loyalist"],
    2: ["Lost", "Hibernating", "About to Sleep", "Potential Loyalist", "Potential Loyalist"],
    1: ["Lost", "Hibernating", "About to Sleep", "Promising", "New Customers"],
}


def segment_map() -> pl.DataFrame:
    rows = [
        (r, f, m, RFM11_GRID[(f + m + 1) // 2][r - 1])
        for r in range(1, 6)
        for f in range(1, 6)
        for m in range(1, 6)
    ]
    return pl.DataFrame(rows, schema={"r": pl.Int64, "f": pl.Int64, "m": pl.Int64, "segment": pl.String}, orient="row")


def run_kernel(data: dict[str, np.ndarray], n_accounts: int, as_of: int, config_json: str) -> dict:
    return _core.score_columns(
        {
            "account": data["li_account"],
            "day": data["li_day"],
            "amount": data["li_amount"],
            "invoice_key": data["li_invoice_key"],
        },
        {
            "account": data["c_account"],
            "day": data["c_day"],
            "category": data["c_category"],
            "amount": data["c_amount"],
        },
        {},
        {},
        n_accounts,
        [f"cat{i}" for i in range(N_CATEGORIES)],
        [],
        as_of,
        config_json,
    )


def polars_query(li: pl.DataFrame, costs: pl.DataFrame, seg: pl.DataFrame, as_of: int, n_accounts: int) -> pl.LazyFrame:
    """RFM + allocation by revenue (largest remainders) + margin + quadrant, idiomatic lazy polars."""
    c = pl.col
    lines = li.lazy().filter(c.day <= as_of).with_columns(c.account.cast(pl.Int64))
    cost = costs.lazy().filter(c.day <= as_of)
    # Purchases: invoices (or account-days without invoice) with a positive net.
    purchases = (
        lines.with_columns(uday=pl.when(c.invoice_key == 0).then(c.day).otherwise(-1))
        .group_by("account", "invoice_key", "uday")
        .agg(net=c.amount.sum(), day=c.day.min())
        .filter(c.net > 0)
        .group_by("account")
        .agg(last=c.day.max(), frequency=pl.len())
    )
    revenue = lines.group_by("account").agg(revenue=c.amount.sum())
    direct = cost.filter(c.account >= 0).group_by("account").agg(direct_cost=c.amount.sum())
    members = (
        pl.concat([revenue.select("account"), direct.select("account")])
        .unique()
        .join(revenue, on="account", how="left")
        .join(direct, on="account", how="left")
        .join(purchases, on="account", how="left")
        .with_columns(c.revenue.fill_null(0), c.direct_cost.fill_null(0))
    )
    n = pl.len().cast(pl.Int64)
    scored = (
        members.filter(c.last.is_not_null())
        .with_columns(recency=as_of - c.last, monetary=c.revenue)
        .with_columns(
            r=1 + 5 * (c.recency.rank("min", descending=True).cast(pl.Int64) - 1) // n,
            f=1 + 5 * (c.frequency.rank("min").cast(pl.Int64) - 1) // n,
            m=1 + 5 * (c.monetary.rank("min").cast(pl.Int64) - 1) // n,
        )
        .join(seg.lazy(), on=["r", "f", "m"], how="left")
        .select("account", "r", "f", "m", "segment")
    )
    # Allocation of each pooled category by max(revenue, 0), largest remainders.
    pools = cost.filter(c.account < 0).group_by("category").agg(pool=c.amount.sum())
    weights = members.select("account", w=c.revenue.clip(lower_bound=0))
    alloc = (
        pools.join(weights, how="cross")
        .with_columns(total=c.w.sum().over("category"))
        .filter(c.total > 0)
        .with_columns(share=c.pool * c.w // c.total, rem=c.pool * c.w % c.total)
        .with_columns(left=c.pool - c.share.sum().over("category"))
        # Leftover units to the largest remainders, ties to the smaller account: rank one
        # numeric key (remainder descending, then account); rem < total keeps it in range here.
        .with_columns(order=(c.account - c.rem * (n_accounts + 1)).rank("ordinal").over("category"))
        .with_columns(share=c.share + (c.order <= c.left).cast(pl.Int64))
        .group_by("account")
        .agg(allocated_cost=c.share.sum())
    )
    out = (
        members.join(alloc, on="account", how="left")
        .with_columns(c.allocated_cost.fill_null(0))
        .with_columns(cost=c.direct_cost + c.allocated_cost)
        .with_columns(margin=c.revenue - c.cost)
        .with_columns(
            quadrant=pl.when(c.revenue >= c.revenue.median())
            .then(pl.when(c.cost >= c.cost.median()).then(pl.lit(2)).otherwise(pl.lit(1)))
            .otherwise(pl.when(c.cost >= c.cost.median()).then(pl.lit(4)).otherwise(pl.lit(3)))
        )
        .join(scored, on="account", how="left")
        .with_columns(c.segment.fill_null("No Purchase"))
        .select("account", "r", "f", "m", "segment", "revenue", "direct_cost", "allocated_cost", "margin", "quadrant")
        .sort("account")
    )
    return out


DUCKDB_SQL = """
WITH lines AS (SELECT * FROM li WHERE day <= $as_of),
cost AS (SELECT * FROM costs WHERE day <= $as_of),
units AS (
    SELECT account, sum(amount) AS net, min(day) AS day
    FROM lines
    GROUP BY account, invoice_key, CASE WHEN invoice_key = 0 THEN day ELSE -1 END
),
purchases AS (
    SELECT account, max(day) AS last, count(*) AS frequency FROM units WHERE net > 0 GROUP BY account
),
revenue AS (SELECT account, sum(amount)::BIGINT AS revenue FROM lines GROUP BY account),
direct AS (SELECT account, sum(amount)::BIGINT AS direct_cost FROM cost WHERE account >= 0 GROUP BY account),
members AS (
    SELECT a.account, coalesce(r.revenue, 0) AS revenue, coalesce(d.direct_cost, 0) AS direct_cost,
           p.last, p.frequency
    FROM (SELECT account FROM revenue UNION SELECT account FROM direct) a
    LEFT JOIN revenue r USING (account)
    LEFT JOIN direct d USING (account)
    LEFT JOIN purchases p USING (account)
),
scored AS (
    SELECT account,
        1 + 5 * (rank() OVER (ORDER BY $as_of - last DESC) - 1) // count(*) OVER () AS r,
        1 + 5 * (rank() OVER (ORDER BY frequency) - 1) // count(*) OVER () AS f,
        1 + 5 * (rank() OVER (ORDER BY revenue) - 1) // count(*) OVER () AS m
    FROM members WHERE last IS NOT NULL
),
pools AS (SELECT category, sum(amount)::BIGINT AS pool FROM cost WHERE account < 0 GROUP BY category),
weights AS (SELECT account, greatest(revenue, 0) AS w FROM members),
base AS (
    SELECT p.category, w.account, p.pool, w.w, sum(w.w) OVER (PARTITION BY p.category) AS total
    FROM pools p CROSS JOIN weights w
),
shares AS (
    SELECT category, account, pool, (pool * w) // total AS share, (pool * w) % total AS rem
    FROM base WHERE total > 0
),
ranked AS (
    SELECT account, share,
           pool - sum(share) OVER (PARTITION BY category) AS leftover,
           row_number() OVER (PARTITION BY category ORDER BY rem DESC, account) AS ord
    FROM shares
),
alloc AS (
    SELECT account, sum(share + CASE WHEN ord <= leftover THEN 1 ELSE 0 END)::BIGINT AS allocated_cost
    FROM ranked GROUP BY account
),
full_ AS (
    SELECT m.account, m.revenue, m.direct_cost, coalesce(a.allocated_cost, 0) AS allocated_cost,
           m.direct_cost + coalesce(a.allocated_cost, 0) AS cost
    FROM members m LEFT JOIN alloc a USING (account)
),
med AS (SELECT median(revenue) AS mr, median(cost) AS mc FROM full_)
SELECT f.account, s.r, s.f, s.m, coalesce(g.segment, 'No Purchase') AS segment, f.revenue, f.direct_cost,
       f.allocated_cost, f.revenue - f.cost AS margin,
       CASE WHEN f.revenue >= med.mr THEN (CASE WHEN f.cost >= med.mc THEN 2 ELSE 1 END)
            ELSE (CASE WHEN f.cost >= med.mc THEN 4 ELSE 3 END) END AS quadrant
FROM full_ f CROSS JOIN med
LEFT JOIN scored s USING (account)
LEFT JOIN seg g ON g.r = s.r AND g.f = s.f AND g.m = s.m
ORDER BY f.account
"""


# ---- timing and checks ------------------------------------------------------------------------


CPU: dict[str, float] = {}


def timed(name: str, fn, repeat: int) -> tuple[float, object]:
    """Median wall seconds of `repeat` runs (and the median process CPU seconds, in CPU)."""
    times, cpus = [], []
    result = None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    CPU[name] = statistics.median(cpus)
    return statistics.median(times), result


def kernel_frame(raw: dict) -> pl.DataFrame:
    cols = raw["columns"]
    lab = raw["labels"]["rfm_segment"]
    q = {k: np.frombuffer(cols[k], dtype=cols[k].dtype) for k in cols}
    return pl.DataFrame(
        {
            "account": q["account"].astype(np.int64),
            "r": q["r_score"].astype(np.int64),
            "f": q["f_score"].astype(np.int64),
            "m": q["m_score"].astype(np.int64),
            "segment": np.array(lab, dtype=object)[q["rfm_segment"]],
            "revenue": q["revenue"],
            "direct_cost": q["direct_cost"],
            "allocated_cost": q["allocated_cost"],
            "margin": q["margin"],
            "quadrant": q["quadrant"].astype(np.int64),
        }
    )


def normalise(df: pl.DataFrame) -> pl.DataFrame:
    return df.select(
        pl.col("account").cast(pl.Int64),
        *(pl.col(x).cast(pl.Int64).fill_null(0) for x in ("r", "f", "m")),
        pl.col("segment").cast(pl.String),
        *(pl.col(x).cast(pl.Int64) for x in ("revenue", "direct_cost", "allocated_cost", "margin", "quadrant")),
    ).sort("account")


def compare(name: str, ref: pl.DataFrame, other: pl.DataFrame) -> bool:
    a, b = normalise(ref), normalise(other)
    if a.shape != b.shape:
        print(f"  MISMATCH {name}: {a.shape} vs {b.shape}")
        return False
    bad = []
    for col in a.columns:
        diff = (a[col] != b[col]).sum()
        if diff:
            bad.append(f"{col} ({diff} rows)")
    if bad:
        print(f"  MISMATCH {name}: {', '.join(bad)}")
        return False
    return True


def fmt(s: float) -> str:
    return f"{s * 1000:8.1f} ms" if s < 10 else f"{s:8.2f} s "


def build_store(path: Path, data: dict[str, np.ndarray], n_accounts: int) -> None:
    """A store holding exactly the generated columns (built once, cached beside the columns).

    Secondary indexes are dropped while loading and rebuilt at the end (same SQL as the
    schema); natural keys are the row numbers (unique, ascending: cheap to index)."""
    from segtui.store import open_store

    tmp = path.with_name(path.name + ".building")
    for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        p.unlink(missing_ok=True)
    t0 = time.perf_counter()
    conn = open_store(tmp, create=True)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -400000")
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        "AND tbl_name IN ('line_items', 'costs')"
    ).fetchall()
    for name, _ in indexes:
        conn.execute(f"DROP INDEX {name}")
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO imports(id, kind, file, fingerprint, options, started_at) "
        "VALUES (1, 'line-items', 'bench/score.py', 'bench', '{}', '2025-01-01')"
    )
    conn.executemany(
        "INSERT INTO accounts(id, account_key) VALUES (?, ?)", ((i, f"A{i:07d}") for i in range(1, n_accounts + 1))
    )
    conn.executemany(
        "INSERT INTO cost_categories(id, name) VALUES (?, ?)", ((i + 1, f"cat{i}") for i in range(N_CATEGORIES))
    )
    step = 500_000
    n = len(data["li_account"])
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        day = data["li_day"][lo:hi].astype(np.int64)
        key = data["li_invoice_key"][lo:hi]
        rows = zip(
            range(lo + 1, hi + 1),
            (data["li_account"][lo:hi].astype(np.int64) + 1).tolist(),
            day.tolist(),
            (day * 86400).tolist(),
            [None if k == 0 else f"INV{k:x}" for k in key.tolist()],
            key.tolist(),
            data["li_amount"][lo:hi].tolist(),
            (i.to_bytes(8, "big") for i in range(lo + 1, hi + 1)),
        )
        conn.executemany(
            "INSERT INTO line_items(id, account, day, ts, invoice, invoice_key, amount, import_id, nkey) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)",
            rows,
        )
    n = len(data["c_account"])
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        acct = data["c_account"][lo:hi]
        rows = zip(
            range(lo + 1, hi + 1),
            [None if a < 0 else a + 1 for a in acct.tolist()],
            data["c_day"][lo:hi].tolist(),
            (data["c_category"][lo:hi].astype(np.int64) + 1).tolist(),
            data["c_amount"][lo:hi].tolist(),
            (i.to_bytes(8, "big") for i in range(lo + 1, hi + 1)),
        )
        conn.executemany(
            "INSERT INTO costs(id, account, day, category, amount, import_id, nkey) VALUES (?, ?, ?, ?, ?, 1, ?)",
            rows,
        )
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'data_version'")
    conn.execute("COMMIT")
    for _, sql in indexes:
        conn.execute(sql)
    conn.close()
    os.replace(tmp, path)
    for suffix in ("-wal", "-shm"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)
    print(f"  built the store {path.name} in {time.perf_counter() - t0:.0f} s")


# Runs `segtui score` in a fresh process (as a user would) and reports its wall time, its
# own per-phase timings (JSON output) and its peak resident memory.
_CLI = """
import json, resource, sys, time
t = time.perf_counter()
from segtui.cli import main
try:
    main(sys.argv[1:])
finally:
    # VmHWM: this process's own peak. ru_maxrss would report the benchmark parent's size when it
    # was larger: Linux carries the maximum over fork + exec.
    try:
        peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    except (OSError, StopIteration):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"wall": time.perf_counter() - t, "peak_kb": peak}), file=sys.stderr)
"""


def run_cli(db: Path, as_of: int, extra: list[str]) -> dict:
    import json
    import subprocess

    from segtui.engine import day_to_date

    import segtui as segtui_pkg

    # the child imports the same segtui as this process (the installed one in CI)
    env = dict(os.environ, PYTHONPATH=str(Path(segtui_pkg.__file__).resolve().parents[1]))
    args = ["--db", str(db), "-q", "score", "--as-of", day_to_date(as_of).isoformat(), "--format", "json", *extra]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _CLI, *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"segtui score failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    info = json.loads(proc.stdout)[0]
    tail = json.loads(proc.stderr.strip().splitlines()[-1])
    return {"wall": wall, "peak_mb": tail["peak_kb"] / 1024, **info}


def bench_store(args, data: dict[str, np.ndarray], as_of: int, n_costs: int, repeat: int) -> None:
    try:
        from segtui.scoring import score_store  # noqa: F401
    except ImportError as exc:
        print(f"  full `segtui score` from a store: skipped ({exc}: the store path is not in this build)")
        return
    if args.smoke or args.no_cache:
        import tempfile

        tmpdir = Path(tempfile.mkdtemp(prefix="segtui-bench-"))
        path = tmpdir / "score.db"
    else:
        path = CACHE / f"score-{args.lines}-{args.accounts}-{n_costs}-{SEED}.db"
    if not path.exists():
        build_store(path, data, args.accounts)
    try:
        _bench_store_runs(path, as_of, repeat)
    finally:
        if args.smoke or args.no_cache:
            import shutil

            shutil.rmtree(path.parent, ignore_errors=True)


def _bench_store_runs(path: Path, as_of: int, repeat: int) -> None:
    runs = []
    # 1. SQLite read path (the column cache left alone), 2. first cached run (cache rebuilt),
    # 3. runs from a fresh column cache.
    for label, extra in [("from SQLite (--no-cache)", ["--no-cache"]), ("column cache rebuilt", [])]:
        Path(f"{path}.cols").unlink(missing_ok=True)  # the column cache beside the store
        r = run_cli(path, as_of, extra)
        runs.append((label, r))
    hits = [run_cli(path, as_of, []) for _ in range(repeat)]
    hits.sort(key=lambda r: r["wall"])
    runs.append((f"column cache hit (median of {repeat})", hits[len(hits) // 2]))
    print("  full `segtui score` from the store (a fresh process each: imports, load, score, write, history):")
    for label, r in runs:
        print(
            f"    {label:34s} {fmt(r['wall'])}  peak {r['peak_mb']:6.0f} MB   "
            f"load {r['load_s']:.2f} s, score {r['score_s']:.2f} s, write {r['write_s']:.2f} s, "
            f"run total {r['total_s']:.2f} s (cache: {r['cache']}), {r['accounts']:,} accounts"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny size, one repeat (seconds)")
    ap.add_argument("--lines", type=int, default=10_000_000)
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--costs", type=int, default=None, help="cost rows (default: lines / 5)")
    ap.add_argument("--repeat", type=int, default=None, help="runs per engine (default 3; smoke 1)")
    ap.add_argument("--no-cache", action="store_true", help="do not read or write bench/.cache")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: polars,duckdb,store")
    args = ap.parse_args(argv)
    if args.smoke:
        args.lines, args.accounts = 20_000, 2_000
    n_costs = args.costs if args.costs is not None else args.lines // 5
    repeat = args.repeat or (1 if args.smoke else 3)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    t0 = time.perf_counter()
    data = load_or_generate(args.lines, args.accounts, n_costs, use_cache=not args.smoke and not args.no_cache)
    as_of = int(data["li_day"].max())
    print(
        f"data: {args.lines:,} line items, {args.accounts:,} accounts, {n_costs:,} cost rows "
        f"({time.perf_counter() - t0:.1f} s to load/generate); as-of day {as_of}; "
        f"{os.cpu_count()} CPUs; median of {repeat}"
    )
    config = _core.default_config_json()

    results: dict[str, float] = {}
    # The first call in a process pays for fresh scratch memory; later calls reuse it.
    first, _ = timed("first", lambda: run_kernel(data, args.accounts, as_of, config), 1)
    results["kernel"], raw = timed("kernel", lambda: run_kernel(data, args.accounts, as_of, config), repeat)
    k = kernel_frame(raw)
    ok = True

    li = pl.DataFrame(
        {"account": data["li_account"], "day": data["li_day"], "amount": data["li_amount"], "invoice_key": data["li_invoice_key"]}
    )
    costs = pl.DataFrame(
        {"account": data["c_account"], "day": data["c_day"], "category": data["c_category"], "amount": data["c_amount"]}
    )
    seg = segment_map()
    if "polars" not in skip:
        q = polars_query(li, costs, seg, as_of, args.accounts)
        results["polars"], p = timed("polars", lambda: q.collect(), repeat)
        ok &= compare("polars", k, p)
    if "duckdb" not in skip:
        import duckdb

        con = duckdb.connect()
        con.register("li", li.to_arrow())
        con.register("costs", costs.to_arrow())
        con.register("seg", seg.to_arrow())
        results["duckdb"], d = timed("duckdb", lambda: con.sql(DUCKDB_SQL, params={"as_of": as_of}).pl(), repeat)
        ok &= compare("duckdb", k, d)
        con.close()

    print(f"  {'engine':36s} {'wall':>11s}   {'cpu':>11s}")
    print(f"  {'kernel (Rust, in-memory columns)':36s} {fmt(results['kernel'])}   {fmt(CPU['kernel'])}")
    print(f"  {'kernel, first call in the process':36s} {fmt(first)}   {fmt(CPU['first'])}")
    for name in ("polars", "duckdb"):
        if name in results:
            label = {"polars": "polars (lazy, all cores)", "duckdb": "DuckDB SQL"}[name]
            print(
                f"  {label:36s} {fmt(results[name])}   {fmt(CPU[name])}   kernel is "
                f"{results[name] / results['kernel']:5.1f}x faster (wall), "
                f"{CPU[name] / max(CPU['kernel'], 1e-9):5.1f}x (cpu)"
            )
    phases = ", ".join(f"{name} {sec * 1000:.0f}" for name, sec in raw.get("timings", []))
    if phases:
        print(f"  kernel phases (ms): {phases}")
    print(f"  results agree on every account: {'yes' if ok else 'NO'}")
    if "store" not in skip:
        bench_store(args, data, as_of, n_costs, repeat)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
