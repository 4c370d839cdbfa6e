"""Benchmark: snapshot series against separate single-date runs, and migration at 1 M accounts.

1. **Series.** Generates (seeded numpy; cached in bench/.cache/) int-coded columns of a store:
   line items in invoices of ~3 lines over three years (3 % refund lines, 5 % without an
   invoice, half the invoices from a heavy 5 % of accounts) and costs (70 % direct, 30 % pooled
   over 8 categories). Then, in this one process, times the engine on the month-ends of the
   last 12 months: 12 separate single-date runs (``_core.score_columns``) against one series
   (``_core.score_series_columns``), both warmed up first and then timed in ``--repeat``
   alternating rounds (medians compared), and checks that every series snapshot equals its
   single-date run on every column.
2. **Migration.** Builds a store with two snapshots of N accounts (rows written by SQL with the
   shape the snapshot writer gives them) and times ``segtui.history.migration`` between them
   (the full call: open the store, resolve the snapshots, read both, count the cells) read from
   the snapshot rows, then from the packed columns `segtui score` keeps beside its snapshots
   (and what packing costs), plus the account listing of one cell and the velocity table.

    python bench/history.py                 # 10 M lines / 1 M accounts / 2 M costs; 1 M-account migration
    python bench/history.py --smoke         # tiny sizes, in seconds (CI)
    python bench/history.py --lines 2000000 --accounts 200000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

from segtui import _core, history  # noqa: E402
from segtui.store import open_store  # noqa: E402

import synthetic  # noqa: E402 - bench/synthetic.py, beside this script
from synthetic import CACHE, DAY0, N_CATEGORIES, SPAN  # noqa: E402

SEED = 20250131


# ---- series ------------------------------------------------------------------------------------


def load_columns(n_lines: int, n_accounts: int, n_costs: int, smoke: bool) -> dict[str, np.ndarray]:
    return synthetic.load_or_generate(
        "history", n_lines, n_accounts, n_costs, SEED, use_cache=not smoke, cost_amount=(1, 50_000)
    )


def month_ends(last_day: int, months: int) -> list[int]:
    until = last_day
    since = until - 31 * months - 31
    days = _core.series_days("month", since, until)
    return days[-months:]


def bench_series(args: argparse.Namespace) -> dict:
    cols = load_columns(args.lines, args.accounts, args.costs, args.smoke)
    li = {"account": cols["li_account"], "day": cols["li_day"], "amount": cols["li_amount"], "invoice_key": cols["li_invoice_key"]}
    co = {"account": cols["c_account"], "day": cols["c_day"], "category": cols["c_category"], "amount": cols["c_amount"]}
    cats = [f"category {i}" for i in range(N_CATEGORIES)]
    config = _core.default_config_json()
    days = month_ends(DAY0 + SPAN - 1, args.months)
    common = (li, co, {}, {}, args.accounts, cats, [])

    def single(d: int) -> dict:
        return _core.score_columns(*common, d, config)

    def add_phases(into: dict[str, float], r: dict) -> None:
        for phase, sec in r.get("timings", []):
            into[phase] = into.get(phase, 0.0) + sec

    def run_singles() -> tuple[float, float, dict[str, float]]:
        phases: dict[str, float] = {}
        t, c = time.perf_counter(), time.process_time()
        for d in days:
            add_phases(phases, single(d))
        return time.perf_counter() - t, time.process_time() - c, phases

    def run_series() -> tuple[float, float, dict[str, float]]:
        phases: dict[str, float] = {}
        t, c = time.perf_counter(), time.process_time()
        _core.score_series_columns(*common, days, config, lambda r: add_phases(phases, r))
        return time.perf_counter() - t, time.process_time() - c, phases

    # Both ways are warmed up once outside the timings (page in the columns, start the thread
    # pool, let the allocator and the scratch pool reach their steady state: the first runs in
    # a process fault in fresh memory, which would flatter whichever way runs second), then
    # timed in alternating rounds; the medians are compared.
    load_before = os.getloadavg()[0]
    run_singles()
    run_series()
    rounds = [(run_singles(), run_series()) for _ in range(args.repeat)]
    load_after = os.getloadavg()[0]

    def median_round(k: int) -> tuple[float, float, dict[str, float]]:
        return sorted((r[k] for r in rounds), key=lambda x: x[0])[len(rounds) // 2]

    t_single, c_single, single_phases = median_round(0)
    t_series, c_series, series_phases = median_round(1)

    # every series snapshot equals its single-date run (outside the timings)
    mismatches = []
    checked = days if args.smoke else days[:: max(1, len(days) // 3)]
    got = {}
    _core.score_series_columns(*common, days, config, lambda r: got.__setitem__(r["as_of_day"], r) if r["as_of_day"] in checked else None)
    for d in checked:
        want = single(d)
        for name, col in want["columns"].items():
            a = np.frombuffer(col, dtype=col.dtype) if col.dtype != "float64" else np.frombuffer(col, dtype=np.float64)
            b_col = got[d]["columns"][name]
            b = np.frombuffer(b_col, dtype=a.dtype)
            same = np.array_equal(a, b, equal_nan=True) if a.dtype == np.float64 else np.array_equal(a, b)
            if not same:
                mismatches.append(f"{d}:{name}")
        if want["pools"] != got[d]["pools"]:
            mismatches.append(f"{d}:pools")
    return {
        "lines": args.lines,
        "accounts": args.accounts,
        "costs": args.costs,
        "dates": len(days),
        "rounds": len(rounds),
        "single_runs_all_s": [round(r[0][0], 3) for r in rounds],
        "series_all_s": [round(r[1][0], 3) for r in rounds],
        "single_runs_s": round(t_single, 3),
        "series_s": round(t_series, 3),
        "ratio": round(t_series / t_single, 3),
        "single_runs_cpu_s": round(c_single, 3),
        "series_cpu_s": round(c_series, 3),
        "cpu_ratio": round(c_series / c_single, 3),
        "load_average": [round(load_before, 2), round(load_after, 2)],
        "single_phases_s": {k: round(v, 2) for k, v in single_phases.items()},
        "series_phases_s": {k: round(v, 2) for k, v in series_phases.items()},
        "checked_dates": len(checked),
        "mismatches": mismatches,
    }


# ---- migration ----------------------------------------------------------------------------------

SEGMENTS = history.KNOWN_LABELS["rfm11"]


def build_migration_store(path: Path, n: int) -> None:
    """Two snapshots of ``n`` accounts; ~30 % of accounts change segment, 2 % are new in B."""
    tmp = path.with_name(path.name + ".tmp")
    for suffix in ("", "-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    conn = open_store(tmp, create=True)
    conn.execute("PRAGMA cache_size = -400000")
    conn.execute("BEGIN")
    conn.execute(
        f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) "
        "INSERT INTO accounts(id, account_key, name) SELECT i, printf('C%07d', i), 'Customer ' || i FROM s"
    )
    seg_case = "CASE code " + " ".join(
        f"WHEN {i} THEN '{s.replace(chr(39), chr(39) * 2)}'" for i, s in enumerate(SEGMENTS)
    ) + " END"
    five = {"Champions": "Champions", "Loyal": "Loyal", "Potential Loyalist": "Loyal", "New Customers": "Loyal",
            "Promising": "Loyal", "Need Attention": "At Risk", "About to Sleep": "At Risk", "At Risk": "At Risk",
            "Can't Lose Them": "At Risk", "Hibernating": "Dormant", "Lost": "Lost", "No Purchase": "No Purchase"}
    five_case = "CASE code " + " ".join(
        f"WHEN {i} THEN '{five[s]}'" for i, s in enumerate(SEGMENTS)
    ) + " END"
    conn.execute("CREATE TEMP TABLE codes(account INTEGER PRIMARY KEY, a INTEGER, b INTEGER, ra INTEGER, rb INTEGER)")
    conn.execute(
        f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) "
        "INSERT INTO codes SELECT i, abs(random()) % 12, NULL, abs(random()) % 2000000 - 20000, NULL FROM s"
    )
    conn.execute(
        "UPDATE codes SET b = CASE WHEN abs(random()) % 10 < 3 THEN abs(random()) % 12 ELSE a END, "
        "rb = ra + abs(random()) % 50000 - 20000"
    )
    for sid, day, col, rev, keep in ((1, 20_088, "a", "ra", f"account <= {int(n * 0.98)}"), (2, 20_119, "b", "rb", "1")):
        conn.execute(
            "INSERT INTO snapshots(id, as_of_day, mode, config_fp, config, data_version, created_at, accounts, net_revenue) "
            "VALUES (?, ?, 'transactions', 'bench', '{}', 1, '2025-01-01T00:00:00Z', 0, 0)",
            (sid, day),
        )
        conn.execute(
            f"""INSERT INTO snapshot_accounts
            SELECT {sid}, account, 12, 4, {rev}, 3, 2, 4, seg, seg5, {rev}, 1500, 2300, {rev} - 3800,
                   0.25, 'high revenue, low cost', 35, 'medium', 'inactivity,refunds', 61, 'yellow', 'active',
                   NULL, 'SMB', NULL
            FROM (SELECT account, {rev}, {seg_case.replace('code', col)} AS seg, {five_case.replace('code', col)} AS seg5
                  FROM codes WHERE {keep} ORDER BY account)"""
        )
        conn.execute(
            "UPDATE snapshots SET accounts = (SELECT count(*) FROM snapshot_accounts WHERE snapshot = ?1), "
            "net_revenue = (SELECT sum(revenue) FROM snapshot_accounts WHERE snapshot = ?1) WHERE id = ?1",
            (sid,),
        )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    os.replace(tmp, path)


def timed(fn, repeat: int) -> tuple[float, float, object]:  # type: ignore[no-untyped-def]
    times = []
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times), out


def bench_migration(args: argparse.Namespace, workdir: Path) -> dict:
    n = args.migration_accounts
    path = (workdir if args.smoke else CACHE) / f"history-migration-{n}.db"
    t = time.perf_counter()
    if not path.exists():
        CACHE.mkdir(exist_ok=True)
        build_migration_store(path, n)
    t_build = time.perf_counter() - t
    conn = open_store(path)
    conn.execute("DELETE FROM snapshot_columns")  # start unpacked
    conn.close()

    def check(mig) -> None:  # type: ignore[no-untyped-def]
        cells, a, b = mig.cells, mig.a, mig.b
        assert int(cells["accounts"].sum()) == max(a.accounts, b.accounts)
        assert cells["revenue_a"].sum() == a.net_revenue and cells["revenue_b"].sum() == b.net_revenue

    rows_med, rows_best, mig = timed(lambda: history.migration(path), args.repeat)
    check(mig)
    t = time.perf_counter()
    packed = history.pack_snapshots(path, wait_ms=5000)
    t_pack = time.perf_counter() - t
    assert packed == 2
    med, best, mig2 = timed(lambda: history.migration(path), args.repeat)
    check(mig2)
    assert mig2.cells.equals(mig.cells)  # type: ignore[union-attr]
    c_med, _, cell = timed(lambda: history.migration_accounts(path, "Loyal->At Risk"), args.repeat)
    v_med, _, _ = timed(lambda: history.velocity(path), 1)
    return {
        "accounts_a": mig.a.accounts,  # type: ignore[union-attr]
        "accounts_b": mig.b.accounts,  # type: ignore[union-attr]
        "store_build_s": round(t_build, 1),
        "migration_rows_median_s": round(rows_med, 3),
        "migration_rows_best_s": round(rows_best, 3),
        "pack_per_snapshot_s": round(t_pack / 2, 3),
        "migration_packed_median_s": round(med, 3),
        "migration_packed_best_s": round(best, 3),
        "cell_listing_median_s": round(c_med, 3),
        "cell_accounts": cell.accounts.height,  # type: ignore[attr-defined]
        "velocity_s": round(v_med, 3),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    p.add_argument("--lines", type=int, default=10_000_000)
    p.add_argument("--accounts", type=int, default=None, help="default: lines / 10")
    p.add_argument("--costs", type=int, default=None, help="default: lines / 5")
    p.add_argument("--months", type=int, default=12)
    p.add_argument("--migration-accounts", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3, help="timed rounds (series and migration)")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = p.parse_args()
    if args.smoke:
        args.lines, args.migration_accounts, args.repeat = 20_000, 2_000, 1
    args.accounts = args.accounts or max(1, args.lines // 10)
    args.costs = args.costs if args.costs is not None else args.lines // 5

    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        if hasattr(_core, "score_series_columns") and hasattr(_core, "score_columns"):
            s = out["series"] = bench_series(args)
            print(
                f"series: {s['dates']} month-ends over {s['lines']:,} lines / {s['accounts']:,} accounts / "
                f"{s['costs']:,} costs, median of {s['rounds']} warm rounds: {s['dates']} single-date runs {s['single_runs_s']:.2f} s, "
                f"one series {s['series_s']:.2f} s (ratio {s['ratio']:.2f}; target <= 0.33); "
                f"series == single runs on {s['checked_dates']} dates: {'yes' if not s['mismatches'] else 'NO ' + str(s['mismatches'])}"
            )
            print(
                f"  CPU time (all threads): {s['dates']} single-date runs {s['single_runs_cpu_s']:.2f} s, "
                f"series {s['series_cpu_s']:.2f} s (ratio {s['cpu_ratio']:.2f}); "
                f"1-minute load average {s['load_average'][0]:.2f} before, {s['load_average'][1]:.2f} after"
            )
            fmt = lambda ph: ", ".join(f"{k} {v:.2f}" for k, v in ph.items())  # noqa: E731
            print(f"  every round (s): single runs {s['single_runs_all_s']}, series {s['series_all_s']}")
            print(f"  engine phases summed over the dates (s): single runs: {fmt(s['single_phases_s'])}")
            print(f"                                           series:      {fmt(s['series_phases_s'])}")
        else:
            out["series"] = None
            print("series: not measured: this build has no scoring engine (_core.score_columns)")
        m = out["migration"] = bench_migration(args, Path(tmp))
        print(
            f"migration: {m['accounts_a']:,} -> {m['accounts_b']:,} accounts (target <= 1 s): from the snapshot rows "
            f"median {m['migration_rows_median_s']:.3f} s (best {m['migration_rows_best_s']:.3f} s); "
            f"from packed columns median {m['migration_packed_median_s']:.3f} s (best {m['migration_packed_best_s']:.3f} s; "
            f"packing costs {m['pack_per_snapshot_s']:.2f} s per snapshot, once, at scoring); "
            f"one cell listed ({m['cell_accounts']:,} accounts) in {m['cell_listing_median_s']:.3f} s; "
            f"velocity {m['velocity_s']:.3f} s"
        )
    if args.json:
        print(json.dumps(out))
    bad = out["series"] and out["series"]["mismatches"]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
