#!/usr/bin/env python3
"""Generate a demo data set: accounts, line items, costs and events of a made-up SaaS company.

The files use the column names of the importer's ``generic`` presets, so they import with no
mapping. The same arguments always produce byte-identical files.

    python data/generate_demo.py --accounts 300 --seed 7 --out data/demo          # the bundled set
    python data/generate_demo.py --accounts 1000000 --seed 7 --out big \\
        --lines-per-account 10 --events-per-account 20 --cost-rows-per-account 2   # benchmark shape

Defaults (``--accounts 300 --seed 7``, the demo densities) regenerate ``data/demo`` exactly.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# In a source checkout, use the checkout's generator (so the files match the code beside them),
# even when another copy of segtui is installed.
_SOURCE = Path(__file__).resolve().parent.parent / "python"
if (_SOURCE / "segtui" / "demo.py").exists():
    sys.path.insert(0, str(_SOURCE))

from segtui import demo  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--accounts", type=int, default=300, help="number of accounts (default 300)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "demo", help="output directory (default: data/demo)")
    p.add_argument("--format", choices=["csv", "parquet"], default="csv", help="file format (default csv)")
    density = demo.DEMO_DENSITY
    p.add_argument("--lines-per-account", type=float, default=density["lines_per_account"],
                   help=f"line items per account, on average (default {density['lines_per_account']:g})")
    p.add_argument("--events-per-account", type=float, default=density["events_per_account"],
                   help=f"product events per account, on average (default {density['events_per_account']:g})")
    p.add_argument("--cost-rows-per-account", type=float, default=density["cost_rows_per_account"],
                   help=f"cost rows per account, on average (default {density['cost_rows_per_account']:g})")
    args = p.parse_args(argv)
    if args.accounts < 1:
        p.error("--accounts must be at least 1")
    if args.seed < 0:
        p.error("--seed must be 0 or more")

    t0 = time.perf_counter()
    world = demo.generate_world(
        args.accounts,
        args.seed,
        lines_per_account=args.lines_per_account,
        events_per_account=args.events_per_account,
        cost_rows_per_account=args.cost_rows_per_account,
    )
    t1 = time.perf_counter()
    paths = demo.write_world(world, args.out, args.format)
    t2 = time.perf_counter()
    rows = {"accounts": world.accounts.height, "line-items": world.line_items.height,
            "costs": world.costs.height, "events": world.events.height}
    for kind, path in paths.items():
        print(f"{path}: {rows[kind]:,} rows, {path.stat().st_size / 1e6:.1f} MB", file=sys.stderr)
    print(f"generated in {t1 - t0:.1f} s, written in {t2 - t1:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
