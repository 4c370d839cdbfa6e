"""Import benchmark: segtui vs `sqlite-utils insert --csv` on the same line-item CSV.

    python bench/import.py                 # 1,000,000 rows
    python bench/import.py --rows 10000000 # the 10 M-row memory check
    python bench/import.py --smoke         # a few thousand rows, seconds

The CSV is generated deterministically (seeded) and cached under bench/.cache/. Each tool loads
it into a fresh store, in a child process, so peak memory (max RSS) is measured per tool:

- segtui: `segtui import line-items FILE` (the CLI, as users run it): structural pass and
  fingerprint, polars batches, exact parsing of money and dates, natural keys, accounts, and
  inserts into the indexed schema (unique nkey, account/day and day indexes), in one transaction;
- sqlite-utils: `sqlite-utils insert DB line_items FILE --csv`: every value stored as text, no
  validation, no index.

It prints rows/s for both, the ratio (the target is segtui >= 3x), peak RSS, where segtui's time
goes (structural pass, polars reading, parsing, SQLite), and the marginal cost of the unique nkey
index measured on the imported rows.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache"

ADJECTIVES = ["RED", "BLUE", "VINTAGE", "LARGE", "SMALL", "GLASS", "WOODEN", "PINK", "RETRO", "FELT", "SILVER"]
NOUNS = ["MUG", "LANTERN", "CLOCK", "BAG", "CANDLE", "FRAME", "BOTTLE", "CUSHION", "TIN", "BASKET", "LAMP", "BOWL"]


GEN_CHUNK = 1_000_000
START_TS = 1_640_995_200  # 2022-01-01T00:00:00Z
SPAN = 2 * 365 * 86400


def _money(c: np.ndarray) -> pl.Series:
    s = pl.Series(c)
    a = s.abs()
    return pl.select(
        pl.when(s < 0).then(pl.lit("-")).otherwise(pl.lit(""))
        + (a // 100).cast(pl.String)
        + "."
        + (a % 100).cast(pl.String).str.zfill(2)
    ).to_series()


def _chunk(k: int, lo: int, hi: int, total: int, seed: int, weights: np.ndarray, inv0: int) -> tuple[pl.DataFrame, int]:
    """Rows lo..hi of the export (time order across chunks); returns the frame and the next invoice number."""
    rng = np.random.default_rng([seed, k])
    rows = hi - lo
    n_products = 4000
    sizes = rng.geometric(0.25, size=rows // 2 + 10).clip(1, 12)  # ~4 lines per invoice
    cum = np.cumsum(sizes)
    n_inv = int(np.searchsorted(cum, rows)) + 1
    sizes = sizes[:n_inv]
    sizes[-1] -= int(cum[n_inv - 1] - rows)
    inv_of_row = np.repeat(np.arange(n_inv), sizes)
    inv_account = rng.choice(len(weights), size=n_inv, p=weights)
    t_lo = START_TS + SPAN * lo // total
    t_hi = START_TS + SPAN * hi // total
    inv_ts = t_lo + np.sort(rng.integers(0, max(1, t_hi - t_lo), size=n_inv))
    is_refund = rng.random(n_inv) < 0.02
    inv_no = np.char.add(np.where(is_refund, "C", ""), (inv0 + np.arange(n_inv)).astype(str))
    product = rng.zipf(1.3, size=rows) % n_products
    prices = np.random.default_rng([seed, 10**6]).lognormal(5.5, 1.0, size=n_products).astype(np.int64) + 35
    price_cents = prices[product]
    qty = rng.integers(1, 25, size=rows)
    qty = np.where(is_refund[inv_of_row], -qty, qty)
    desc_names = np.array(
        [f"{ADJECTIVES[i % len(ADJECTIVES)]} {NOUNS[(i // 7) % len(NOUNS)]} {i:04d}" for i in range(n_products)]
    )
    ts = inv_ts[inv_of_row] + (np.arange(rows) % 3)
    df = pl.DataFrame(
        {
            "invoice_id": inv_no[inv_of_row],
            "account_id": pl.Series(inv_account[inv_of_row]).cast(pl.String).str.zfill(7),
            "occurred_at": pl.Series(ts * 1_000_000).cast(pl.Datetime("us")).dt.strftime("%Y-%m-%dT%H:%M:%S"),
            "sku": pl.Series(product + 10000).cast(pl.String),
            "description": desc_names[product],
            "quantity": qty,
            "unit_price": _money(price_cents),
            "amount": _money(qty * price_cents),
            "currency": "GBP",
        }
    )
    return df, inv0 + n_inv


def generate(rows: int, seed: int, path: Path) -> None:
    """A realistic line-item export in time order, written in chunks (memory stays small for 10 M rows):
    ~4 lines per invoice, Pareto-skewed accounts (one per 10 rows), 2 % refund invoices (C-prefixed,
    negative quantities), 4,000 products with Zipf popularity, two years of timestamps."""
    n_accounts = max(100, rows // 10)
    weights = np.random.default_rng([seed, 0]).pareto(1.2, n_accounts) + 1e-3
    weights /= weights.sum()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    inv = 500_000
    with open(tmp, "wb") as f:
        for k, lo in enumerate(range(0, rows, GEN_CHUNK)):
            hi = min(rows, lo + GEN_CHUNK)
            df, inv = _chunk(k, lo, hi, rows, seed, weights, inv)
            df.write_csv(f, include_header=(k == 0))
    os.replace(tmp, path)


def dataset(rows: int, seed: int) -> Path:
    path = CACHE / f"line_items_{rows}_s{seed}.csv"
    if not path.exists():
        t = time.perf_counter()
        generate(rows, seed, path)
        print(f"generated {path.relative_to(ROOT)} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")
    return path


def _hwm(pid: int) -> int:
    """Peak resident memory of a live process (VmHWM), bytes; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_child(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str, int, float]:
    """(seconds, peak RSS bytes, stdout, exit code, CPU seconds) of a child process.

    Peak RSS is the child's own high-water mark (VmHWM), sampled until it exits: getrusage would
    also count the memory of this (parent) process, which the child inherits at fork.
    """
    import resource
    import threading

    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], _hwm(p.pid))

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out_b, err_b = p.communicate()
    secs = time.perf_counter() - t
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    done.set()
    th.join()
    if p.returncode not in (0, 1):
        sys.stderr.write(err_b.decode(errors="replace"))
        raise SystemExit(f"{cmd[0]} failed with exit code {p.returncode}")
    return secs, peak[0], out_b.decode(), p.returncode, cpu


def nkey_index_cost(db: Path, limit: int) -> tuple[float, float]:
    """Seconds to insert the imported rows into copies of line_items with and without the unique nkey index."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA cache_size = -262144")
    schema = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'line_items'").fetchone()[0]
    plain = schema.replace("CREATE TABLE line_items", "CREATE TEMP TABLE li_plain").replace("nkey        BLOB NOT NULL UNIQUE", "nkey BLOB NOT NULL")
    keyed = schema.replace("CREATE TABLE line_items", "CREATE TEMP TABLE li_keyed")
    conn.execute(plain)
    conn.execute(keyed)
    out = []
    for table in ("li_plain", "li_keyed"):
        t = time.perf_counter()
        conn.execute(f"INSERT INTO {table} SELECT * FROM line_items ORDER BY id LIMIT {limit}")
        out.append(time.perf_counter() - t)
    conn.close()
    return out[0], out[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--smoke", action="store_true", help="tiny run (seconds), for CI")
    ap.add_argument("--no-sqlite-utils", action="store_true", help="only run segtui (e.g. for the 10 M memory check)")
    args = ap.parse_args()
    rows = 5_000 if args.smoke else args.rows
    csv = dataset(rows, args.seed)
    size_mb = csv.stat().st_size / 1e6
    print(f"file: {csv.relative_to(ROOT)}  {rows:,} rows, {size_mb:.0f} MB")

    env = dict(os.environ)
    # the child imports the same segtui as this process (the installed one in CI)
    import segtui as segtui_pkg

    env["PYTHONPATH"] = str(Path(segtui_pkg.__file__).resolve().parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory(prefix="segtui-bench-") as tmp:
        tmpd = Path(tmp)
        db = tmpd / "segtui.db"
        secs, rss, out, code, cpu = run_child(
            [sys.executable, "-m", "segtui.cli", "--db", str(db), "import", "line-items", str(csv), "--quiet", "--format", "json"],
            env,
        )
        doc = json.loads(out)
        s = doc["imports"][0]
        conn = sqlite3.connect(db)
        stored = conn.execute("SELECT count(*) FROM line_items").fetchone()[0]
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        conn.close()
        if stored != rows or s["rows_imported"] != rows or code != 0 or check != "ok":
            raise SystemExit(f"segtui import incomplete: stored {stored} of {rows}, exit {code}, quick_check {check}: {s['rejected_by_reason']}")
        seg_rate = rows / secs
        print(
            f"segtui import        {secs:7.2f} s  {seg_rate:>10,.0f} rows/s  peak RSS {rss / 2**20:,.0f} MiB  "
            f"CPU {cpu:.2f} s  (process wall time, startup included)"
        )
        print(
            "  where the time goes: "
            f"structural pass + sha256 {s['seconds_scan']:.2f} s, polars read {s['seconds_read']:.2f} s, "
            f"parse + keys {s['seconds_parse']:.2f} s, SQLite inserts {s['seconds_sqlite']:.2f} s "
            f"(import total {s['seconds']:.2f} s)"
        )
        n = min(rows, 1_000_000)
        plain, keyed = nkey_index_cost(db, n)
        print(
            f"  unique nkey index: inserting {n:,} imported rows takes {keyed:.2f} s with it, {plain:.2f} s without "
            f"({keyed - plain:+.2f} s)"
        )
        if args.no_sqlite_utils:
            return
        su = shutil.which("sqlite-utils") or "sqlite-utils"
        db2 = tmpd / "sqlite_utils.db"
        secs2, rss2, _, code2, cpu2 = run_child([su, "insert", str(db2), "line_items", str(csv), "--csv"])
        conn = sqlite3.connect(db2)
        stored2 = conn.execute("SELECT count(*) FROM line_items").fetchone()[0]
        conn.close()
        if stored2 != rows or code2 != 0:
            raise SystemExit(f"sqlite-utils stored {stored2} of {rows} rows (exit {code2})")
        su_rate = rows / secs2
        print(f"sqlite-utils insert  {secs2:7.2f} s  {su_rate:>10,.0f} rows/s  peak RSS {rss2 / 2**20:,.0f} MiB  CPU {cpu2:.2f} s")
        ratio = seg_rate / su_rate
        if args.smoke:
            print(f"ratio: {ratio:.2f}x (smoke run: too small for the ratio to mean anything; process startup dominates)")
            return
        verdict = "ok" if ratio >= 3 else "BELOW the 3x target"
        print(f"ratio: segtui is {ratio:.2f}x sqlite-utils ({verdict}); by CPU time {cpu2 / cpu:.2f}x")
        load = os.getloadavg()[0]
        if load > (os.cpu_count() or 1):
            print(f"note: load average {load:.1f} on {os.cpu_count()} cores during the run: wall times are inflated")
        if ratio < 3:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
