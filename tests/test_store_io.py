"""The core's store reads through Python: scoring inputs (column cache), fixed queries read into
Arrow columns, and the helpers other test files use to build small stores with SQL."""

from __future__ import annotations

import hashlib
import itertools
import sqlite3
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from segtui import _core
from segtui.errors import DataError, StoreError
from segtui.queries import date_to_day, read_frame
from segtui.store import open_store

# ------------------------------------------------------------------------------------------
# Building stores the way an import would: one transaction, an imports row, data_version + 1.

_fp = itertools.count()


def d(text: str) -> int:
    """'2025-01-31' -> day number."""
    return date_to_day(date.fromisoformat(text))


def _account(conn: sqlite3.Connection, key: str) -> int:
    conn.execute("INSERT OR IGNORE INTO accounts(account_key) VALUES (?)", (key,))
    return int(conn.execute("SELECT id FROM accounts WHERE account_key = ?", (key,)).fetchone()[0])


def _invoice_key(inv: str | None) -> int:
    if inv is None:
        return 0
    return int.from_bytes(hashlib.sha256(inv.encode()).digest()[:8], "little", signed=True) | 1


def add_rows(
    db_path: Path,
    *,
    accounts: Iterable[dict] = (),
    lines: Iterable[tuple] = (),
    costs: Iterable[tuple] = (),
    events: Iterable[tuple] = (),
) -> None:
    """One simulated import.

    accounts: dicts with ``key`` and any of the accounts columns; lines: ``(key, 'YYYY-MM-DD',
    amount_minor, invoice or None[, sku, description])``; costs: ``(key or None, date, category,
    amount_minor[, driver_units])``; events: ``(key, date, kind)``.
    """
    conn = open_store(db_path, create=True)
    nk = itertools.count(int(conn.execute("SELECT count(*) FROM line_items").fetchone()[0]) * 7 + 1_000_000)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO imports(kind, file, fingerprint, options, started_at, finished_at) "
            "VALUES ('line-items', 'test.csv', ?, '{}', '2025-01-01T00:00:00Z', '2025-01-01T00:00:01Z')",
            (f"fp-{next(_fp)}-{id(conn)}",),
        )
        imp = conn.execute("SELECT max(id) FROM imports").fetchone()[0]

        def nkey() -> bytes:
            return hashlib.sha256(f"{imp}-{next(nk)}".encode()).digest()[:16]

        for a in accounts:
            aid = _account(conn, a["key"])
            cols = {k: v for k, v in a.items() if k != "key"}
            if cols:
                sets = ", ".join(f"{k} = ?" for k in cols)
                conn.execute(f"UPDATE accounts SET {sets} WHERE id = ?", (*cols.values(), aid))
        for row in lines:
            key, day, amount, inv, *rest = row
            sku = rest[0] if len(rest) > 0 else None
            desc = rest[1] if len(rest) > 1 else None
            conn.execute(
                "INSERT INTO line_items(account, day, ts, invoice, invoice_key, sku, description, quantity, "
                "unit_price, amount, import_id, nkey) VALUES (?, ?, ?, ?, ?, ?, ?, '1', ?, ?, ?, ?)",
                (_account(conn, key), d(day), d(day) * 86400, inv, _invoice_key(inv), sku, desc, amount, amount, imp, nkey()),
            )
        for row in costs:
            key, day, cat, amount, *rest = row
            units = rest[0] if rest else None
            conn.execute("INSERT OR IGNORE INTO cost_categories(name) VALUES (?)", (cat,))
            cid = conn.execute("SELECT id FROM cost_categories WHERE name = ?", (cat,)).fetchone()[0]
            conn.execute(
                "INSERT INTO costs(account, day, category, amount, driver_units, import_id, nkey) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (_account(conn, key) if key else None, d(day), cid, amount, units, imp, nkey()),
            )
        for key, day, kind in events:
            conn.execute("INSERT OR IGNORE INTO event_kinds(name) VALUES (?)", (kind,))
            kid = conn.execute("SELECT id FROM event_kinds WHERE name = ?", (kind,)).fetchone()[0]
            conn.execute(
                "INSERT INTO events(account, day, ts, kind, import_id, nkey) VALUES (?, ?, ?, ?, ?, ?)",
                (_account(conn, key), d(day), d(day) * 86400, kid, imp, nkey()),
            )
        conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'data_version'")
        conn.execute("COMMIT")
    finally:
        conn.close()


def small_world(db_path: Path) -> Path:
    """Six accounts with purchases, refunds, direct and pooled costs and events."""
    add_rows(
        db_path,
        accounts=[
            {"key": "A1", "name": "Acme", "industry": "Retail", "region": "EU", "employees": 40},
            {"key": "B2", "name": "Bolt", "industry": "SaaS", "region": "NA", "employees": 1500, "mrr": 99000},
            {"key": "C3", "industry": "Retail", "region": "EU"},
        ],
        lines=[
            ("A1", "2025-01-05", 12000, "INV-1", "SKU1", "Widget"),
            ("A1", "2025-01-05", 3050, "INV-1", "SKU2", "Gadget"),
            ("A1", "2025-03-01", 8000, "INV-7"),
            ("A1", "2025-05-20", -2000, "CN-1"),
            ("B2", "2025-02-10", 50000, "INV-2"),
            ("B2", "2025-06-01", 45000, "INV-9"),
            ("C3", "2024-11-30", 1999, None),
            ("D4", "2025-06-15", 700, "INV-3"),
            ("E5", "2025-04-01", -500, "CN-2"),
            ("F6", "2025-06-29", 100, "INV-4"),
            ("F6", "2025-06-30", 100, "INV-5"),
        ],
        costs=[
            ("A1", "2025-02-01", "support", 4000),
            ("B2", "2025-03-01", "support", 1500),
            ("C3", "2025-01-01", "shipping", 2500),
            (None, "2025-03-31", "hosting", 10001),
            (None, "2025-04-30", "hosting", 5000),
        ],
        events=[
            ("A1", "2025-06-01", "login"),
            ("B2", "2025-06-20", "invite_team"),
            ("B2", "2025-06-21", "create_task"),
        ],
    )
    return db_path


# ------------------------------------------------------------------------------------------


def test_read_inputs_gives_engine_columns(db_path: Path) -> None:
    small_world(db_path)
    r = _core.read_inputs(str(db_path))
    assert r["n_accounts"] == 6
    assert r["data_version"] == 1
    assert r["report"]["cache"] == "rebuilt"
    li_amount = np.frombuffer(r["li_amount"], dtype=np.int64)
    assert li_amount.sum() == 12000 + 3050 + 8000 - 2000 + 50000 + 45000 + 1999 + 700 - 500 + 200
    assert np.frombuffer(r["li_account"], dtype=np.uint32).max() == 5
    assert r["cost_categories"] == ["support", "shipping", "hosting"]
    cost_account = np.frombuffer(r["cost_account"], dtype=np.int64)
    assert list(cost_account) == [0, 1, 2, -1, -1]
    assert r["event_kinds"] == ["login", "invite_team", "create_task"]
    employees = np.frombuffer(r["acc_employees"], dtype=np.int64)
    assert employees[0] == 40 and employees[1] == 1500 and employees[2] == np.iinfo(np.int64).min
    again = _core.read_inputs(str(db_path))
    assert again["report"]["cache"] == "hit"
    assert np.array_equal(np.frombuffer(again["li_day"], dtype=np.int32), np.frombuffer(r["li_day"], dtype=np.int32))
    assert Path(_core.cache_path(str(db_path))).exists()


def test_stale_cache_is_brought_up_to_date_after_an_import(db_path: Path) -> None:
    small_world(db_path)
    first = _core.read_inputs(str(db_path))
    add_rows(db_path, lines=[("A1", "2025-07-01", 777, "INV-99")])
    second = _core.read_inputs(str(db_path))
    assert second["report"]["cache"] == "appended"
    assert second["report"]["cache_reason"] == "1 rows added since the cache was built"
    assert len(second["li_amount"]) == len(first["li_amount"]) + 1
    assert np.frombuffer(second["li_amount"], dtype=np.int64)[-1] == 777
    assert second["data_version"] == 2
    full = _core.read_inputs(str(db_path), cache=False)
    for k in ("li_account", "li_day", "li_amount", "li_invoice_key", "cost_account", "acc_employees"):
        assert bytes(full[k]) == bytes(second[k]), k
    assert _core.read_inputs(str(db_path))["report"]["cache"] == "hit"


def test_cache_off_never_creates_the_file(db_path: Path) -> None:
    small_world(db_path)
    r = _core.read_inputs(str(db_path), cache=False)
    assert r["report"]["cache"] == "off"
    assert not Path(_core.cache_path(str(db_path))).exists()


def test_read_frame_types_nulls_and_parameters(db_path: Path) -> None:
    small_world(db_path)
    df = read_frame(
        db_path,
        "SELECT account_key, employees, name, CAST(employees AS REAL) / 10 AS tenth FROM accounts "
        "WHERE account_key IN (?, ?) ORDER BY id",
        ["A1", "C3"],
        ["text", "int", "text", "real"],
    )
    assert df.schema == pl.Schema({"account_key": pl.String, "employees": pl.Int64, "name": pl.String, "tenth": pl.Float64})
    assert df.to_dicts() == [
        {"account_key": "A1", "employees": 40, "name": "Acme", "tenth": 4.0},
        {"account_key": "C3", "employees": None, "name": None, "tenth": None},
    ]


def test_read_frame_parameters_are_never_sql(db_path: Path) -> None:
    small_world(db_path)
    df = read_frame(db_path, "SELECT count(*) AS n FROM accounts WHERE account_key = ?", ["x' OR '1'='1"], ["int"])
    assert df.item() == 0
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT count(*) FROM accounts").fetchone()[0] == 6


def test_read_frame_is_read_only(db_path: Path) -> None:
    small_world(db_path)
    with pytest.raises(StoreError, match="readonly|read-only|read only"):
        read_frame(db_path, "DELETE FROM accounts RETURNING id", [], ["int"])


def test_read_frame_type_errors_name_the_column(db_path: Path) -> None:
    small_world(db_path)
    with pytest.raises(DataError, match="column account_key holds text"):
        read_frame(db_path, "SELECT account_key FROM accounts", [], ["int"])


def test_missing_store_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store at"):
        read_frame(tmp_path / "nope.db", "SELECT 1", [], ["int"])
