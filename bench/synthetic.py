"""The synthetic int-coded store the scoring and history benchmarks share (seeded numpy), cached
in bench/.cache/ as .npz so that repeated runs measure the engine, not the generator.

Line items come in invoices of ~3 lines from skewed accounts (half the invoices from a heavy 5 %),
over three years; 3 % refund lines, 5 % of lines without an invoice. Costs are 70 % direct and
30 % pooled over 8 categories.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

CACHE = Path(__file__).resolve().parent / ".cache"
DAY0 = 19_000  # 2022-01-08
SPAN = 3 * 365
N_CATEGORIES = 8


def generate(
    n_lines: int, n_accounts: int, n_costs: int, seed: int, cost_amount: tuple[int, int] = (10, 5_000)
) -> dict[str, np.ndarray]:
    """The columns; cost amounts uniform in ``cost_amount`` (minor units, upper bound excluded)."""
    rng = np.random.default_rng(seed)
    n_inv = max(1, n_lines // 3)
    heavy = max(1, n_accounts // 20)
    inv_account = np.where(
        rng.random(n_inv) < 0.5, rng.integers(0, heavy, n_inv), rng.integers(0, n_accounts, n_inv)
    ).astype(np.uint32)
    inv_day = (DAY0 + rng.integers(0, SPAN, n_inv)).astype(np.int32)
    inv = rng.integers(0, n_inv, n_lines)
    invoice_key = (inv.astype(np.int64) * 0x9E3779B97F4A7C1 + 1) & 0x7FFF_FFFF_FFFF_FFFF
    invoice_key[invoice_key == 0] = 1
    invoice_key[rng.random(n_lines) < 0.05] = 0
    amount = rng.integers(100, 20_000, n_lines).astype(np.int64)
    refund = rng.random(n_lines) < 0.03
    amount[refund] = -rng.integers(100, 30_000, int(refund.sum()))
    pooled = rng.random(n_costs) < 0.3
    c_account = rng.integers(0, n_accounts, n_costs).astype(np.int64)
    c_account[pooled] = -1
    return {
        "li_account": inv_account[inv],
        "li_day": inv_day[inv],
        "li_amount": amount,
        "li_invoice_key": invoice_key,
        "c_account": c_account,
        "c_day": (DAY0 + rng.integers(0, SPAN, n_costs)).astype(np.int32),
        "c_category": rng.integers(0, N_CATEGORIES, n_costs).astype(np.uint32),
        "c_amount": rng.integers(*cost_amount, n_costs).astype(np.int64),
    }


def load_or_generate(
    name: str, n_lines: int, n_accounts: int, n_costs: int, seed: int, *, use_cache: bool,
    cost_amount: tuple[int, int] = (10, 5_000),
) -> dict[str, np.ndarray]:
    """The columns from ``bench/.cache/<name>-<sizes>-<seed>.npz``, generated (and cached when
    ``use_cache``) when absent."""
    path = CACHE / f"{name}-{n_lines}-{n_accounts}-{n_costs}-{seed}.npz"
    if use_cache and path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    data = generate(n_lines, n_accounts, n_costs, seed, cost_amount)
    if use_cache:
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **data)
        os.replace(tmp, path)
    return data
