"""The importer: presets, exact money, rejects, idempotency, formats, the JSON summary."""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

from segtui import importer as imp_mod
from segtui.cli import cli
from segtui.errors import ConfigError, DataError
from segtui.importer import ImportSummary, import_files, summary_document

DATA = Path(__file__).parent / "data" / "import"


def q(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def one(db: Path, sql: str, *args: Any) -> Any:
    return q(db, sql, *args)[0][0]


def counts(db: Path) -> dict[str, int]:
    tables = ("accounts", "line_items", "costs", "events", "imports", "rejects", "cost_categories", "event_kinds")
    return {t: one(db, f"SELECT count(*) FROM {t}") for t in tables}


def data_version(db: Path) -> int:
    return int(one(db, "SELECT value FROM meta WHERE key = 'data_version'"))


# --- presets ---------------------------------------------------------------------------------


def test_online_retail_preset(db_path: Path) -> None:
    [s] = import_files(db_path, "line-items", [DATA / "online_retail.csv"], preset="online-retail")
    assert s.status == "imported"
    assert (s.rows_read, s.rows_imported, s.rows_rejected, s.rows_duplicate) == (13, 11, 2, 0)
    assert s.missing_account_ids == 2 and s.rejected_by_reason == {"missing_account": 2}
    # amounts are Quantity x UnitPrice, exactly; the C-invoice is a cancellation (a credit)
    rows = q(db_path, "SELECT invoice, sku, quantity, unit_price, amount, is_cancel FROM line_items ORDER BY id")
    assert rows[0] == ("536365", "85123A", "6", 255, 1530, 0)
    assert rows[3] == ("536367", "84879", "32", 169, 5408, 0)
    cancel = [r for r in rows if r[0] == "C536379"]
    assert cancel == [("C536379", "D", "-1", 2750, -2750, 1)]
    # 1 x 0.001 = 0.001 -> 0.00 (half to even at the minor unit), and the genuine duplicate line is kept
    pads = [r for r in rows if r[1] == "PADS"]
    assert pads == [("540516", "PADS", "1", 0, 0, 0)] * 2
    assert s.amount_total_minor == sum(r[4] for r in rows) == 24717
    assert s.refunds_total_minor == -2750 and s.cancellations == 1
    # 12/1/2010 8:26 is month/day/year: the 1st of December
    first = q(db_path, "SELECT day, ts FROM line_items ORDER BY id LIMIT 1")[0]
    assert first == (14944, 14944 * 86400 + 8 * 3600 + 26 * 60)
    assert (s.date_min, s.date_max) == ("2010-12-01", "2011-12-09")
    assert s.accounts_new == 7 == one(db_path, "SELECT count(*) FROM accounts")
    # accounts get dense ids 1..n (the engine's index is id - 1); keys keep their text
    assert q(db_path, "SELECT min(id), max(id) FROM accounts")[0] == (1, 7)
    # the trailing space of a description is data, kept as given
    assert one(db_path, "SELECT description FROM line_items WHERE sku = '22138'") == "BAKING SET 9 PIECE RETROSPOT "
    assert data_version(db_path) == 1
    # invoice keys: stable 64-bit hashes, one per invoice text
    keys = q(db_path, "SELECT invoice, count(DISTINCT invoice_key) FROM line_items GROUP BY invoice")
    assert all(n == 1 for _, n in keys)
    assert one(db_path, "SELECT count(DISTINCT invoice_key) FROM line_items") == len(keys)


def test_online_retail_ii_preset(db_path: Path) -> None:
    [s] = import_files(db_path, "line-items", [DATA / "online_retail_ii.csv"], preset="online-retail-ii")
    assert (s.rows_imported, s.rows_rejected, s.missing_account_ids) == (3, 1, 1)
    assert s.amount_total_minor == 12 * 695 + 12 * 675 - 12 * 295
    assert one(db_path, "SELECT count(*) FROM line_items WHERE is_cancel = 1") == 1
    assert one(db_path, "SELECT account_key FROM accounts WHERE id = 1") == "13085"


def test_generic_preset_with_amount_and_currency(db_path: Path) -> None:
    [s] = import_files(db_path, "line-items", [DATA / "generic_orders.csv"])
    assert (s.rows_imported, s.rows_rejected) == (5, 0)
    assert s.currency == "USD" and s.money_scale == 2
    assert one(db_path, "SELECT value FROM meta WHERE key = 'currency'") == "USD"
    assert s.amount_total_minor == 3998 + 500 + 1999 - 500 + 2130
    # ids keep leading zeros; quoted fields with commas and quotes survive
    assert [r[0] for r in q(db_path, "SELECT account_key FROM accounts ORDER BY id")] == ["0042", "0107", "0999"]
    assert one(db_path, "SELECT description FROM line_items WHERE sku = 'SKU-2'") == 'Cable "USB-C"'
    # an offset-less timestamp is read as written; Z is UTC; epoch seconds work
    ts = [r[0] for r in q(db_path, "SELECT ts FROM line_items ORDER BY id")]
    assert ts[0] == 1709284500 and ts[4] == 1709900000
    # a refund line without sku/quantity is fine: amount is what counts
    assert q(db_path, "SELECT quantity, unit_price, amount FROM line_items WHERE invoice = 'INV-1003'") == [(None, None, -500)]


def test_subscription_invoices_preset(db_path: Path) -> None:
    [s] = import_files(db_path, "line-items", [DATA / "subscription_invoices.csv"], preset="subscription-invoices")
    assert s.rows_read == 7
    assert (s.rows_imported, s.rows_skipped, s.rows_rejected) == (5, 2, 0)
    assert s.skipped_by_rule == {"status=void": 1, "status=draft": 1}
    # revenue = subtotal, tax excluded; the credit note is negative
    assert s.amount_total_minor == 49000 + 8700 + 58800 + 247500 - 2900
    assert s.currency == "EUR"
    assert q(db_path, "SELECT sku, quantity FROM line_items WHERE invoice = 'in_0001'") == [("Team", "10")]


def test_costs_events_accounts(db_path: Path) -> None:
    [c] = import_files(db_path, "costs", [DATA / "costs.csv"])
    assert (c.rows_imported, c.rows_rejected) == (5, 0)
    assert c.amount_total_minor == 12050 + 8025 + 150000 + 31010 + 40000
    assert one(db_path, "SELECT count(*) FROM costs WHERE account IS NULL") == 2  # pooled costs
    assert one(db_path, "SELECT driver_units FROM costs WHERE amount = 31010") == 1200
    assert sorted(r[0] for r in q(db_path, "SELECT name FROM cost_categories")) == ["compute", "onboarding", "storage", "support"]

    [e] = import_files(db_path, "events", [DATA / "events.jsonl"])
    assert e.format == "ndjson"
    assert e.rows_read == 8 and e.blank_rows == 1
    # two identical login lines in one export are both kept (genuine duplicates)
    assert (e.rows_imported, e.rows_duplicate) == (5, 0)
    assert e.rejected_by_reason == {"bad_date": 1, "bad_json": 1}
    assert q(db_path, "SELECT row, reason FROM rejects WHERE reason = 'bad_json'") == [(8, "bad_json")]
    assert one(db_path, "SELECT count(*) FROM events WHERE kind = (SELECT id FROM event_kinds WHERE name = 'login')") == 3
    assert one(db_path, "SELECT value FROM events WHERE kind = (SELECT id FROM event_kinds WHERE name = 'create_report')") == 3.0
    # the offset: 10:00+01:00 is 09:00 UTC, on the day as written
    assert one(db_path, "SELECT min(ts) FROM events WHERE account = (SELECT id FROM accounts WHERE account_key = '0107')") == 1709370000

    [a] = import_files(db_path, "accounts", [DATA / "accounts.csv"])
    assert (a.accounts_new, a.accounts_seen, a.accounts_updated) == (1, 2, 2)
    row = q(db_path, "SELECT name, industry, employees, region, plan, signup_day, renewal_day, mrr, seats, seat_limit "
                     "FROM accounts WHERE account_key = '0042'")[0]
    assert row == ("Acme Ltd", "Manufacturing", 250, "EMEA", "Team", 19372, 20103, 49000, 10, 10)
    dv = data_version(db_path)
    [u] = import_files(db_path, "accounts", [DATA / "accounts_update.csv"])
    # 0042 changes, 0107's empty cells leave its values alone (unchanged), 0777 is new
    assert (u.accounts_new, u.accounts_updated, u.rows_duplicate) == (1, 1, 1)
    assert q(db_path, "SELECT plan, mrr, seats FROM accounts WHERE account_key = '0042'") == [("Business", 99000, 20)]
    assert q(db_path, "SELECT industry, mrr FROM accounts WHERE account_key = '0107'") == [("Software", 8700)]
    assert data_version(db_path) == dv + 1
    # the same rows again (another file, same content) change nothing, not even the data version
    again = db_path.parent / "accounts_copy.csv"
    again.write_text((DATA / "accounts_update.csv").read_text().replace("\n", "\r\n"))
    [r] = import_files(db_path, "accounts", [again])
    assert (r.rows_imported, r.rows_duplicate) == (0, 3)
    assert data_version(db_path) == dv + 1


def test_parquet_and_ndjson_read_like_csv(tmp_path: Path) -> None:
    src = pl.read_csv(DATA / "generic_orders.csv", infer_schema=False)
    pq, nd = tmp_path / "o.parquet", tmp_path / "o.jsonl"
    src.with_columns(pl.col("quantity").cast(pl.Int64)).write_parquet(pq)
    src.write_ndjson(nd)
    out = {}
    for f in (DATA / "generic_orders.csv", pq, nd):
        db = tmp_path / f"{f.suffix[1:]}.db"
        [s] = import_files(db, "line-items", [f])
        out[f.suffix] = (s.rows_imported, s.amount_total_minor, q(db, "SELECT account, day, ts, invoice, quantity, amount FROM line_items ORDER BY id"))
    assert out[".csv"] == out[".parquet"] == out[".jsonl"]


# --- exact money -----------------------------------------------------------------------------


def test_100k_random_amounts_sum_to_the_cent(tmp_path: Path) -> None:
    rng = random.Random(20240601)
    path = tmp_path / "amounts.csv"
    total = Decimal(0)
    lines = ["account_id,occurred_at,amount,invoice_id"]
    for i in range(100_000):
        cents = rng.randint(-50_000, 5_000_000)
        amount = Decimal(cents).scaleb(-2)
        if rng.random() < 0.1:
            text = f"{amount:.3f}"  # trailing zero: still exact
        else:
            text = f"{amount:.2f}"
        total += Decimal(text)
        lines.append(f"{rng.randint(1, 5000):05d},2024-{1 + i % 12:02d}-{1 + i % 28:02d},{text},I{i}")
    path.write_text("\n".join(lines) + "\n")
    db = tmp_path / "m.db"
    [s] = import_files(db, "line-items", [path])
    assert s.rows_imported == 100_000 and s.rows_rejected == 0
    expected = int(total * 100)
    assert Decimal(expected) == total * 100
    assert s.amount_total_minor == expected
    assert one(db, "SELECT sum(amount) FROM line_items") == expected
    assert one(db, "SELECT typeof(amount) FROM line_items LIMIT 1") == "integer"


# --- rejects ---------------------------------------------------------------------------------


EXPECTED_REJECTS = [
    (2, "occurred_at", "ambiguous_date"),
    (3, "amount", "bad_amount"),
    (4, "account_id", "missing_account"),
    (6, "occurred_at", "bad_date"),
    (7, "amount", "bad_amount"),
    (8, None, "wrong_field_count"),
    (9, None, "wrong_field_count"),
    (10, "amount", "bad_quoting"),  # a quote inside the unquoted amount field
    (11, "account_id", "bad_encoding"),  # latin1 bytes in the account id
    (12, "occurred_at", "missing_date"),
]


def test_rejects_keep_row_column_reason_and_raw_values(db_path: Path) -> None:
    [s] = import_files(db_path, "line-items", [DATA / "bad_rows.csv"])
    assert s.rows_read == 13
    assert (s.rows_imported, s.rows_rejected, s.blank_rows) == (2, 10, 1)
    assert s.rows_read == s.rows_imported + s.rows_duplicate + s.rows_rejected + s.rows_skipped + s.blank_rows
    assert s.missing_account_ids == 1
    got = q(db_path, "SELECT row, col, reason FROM rejects ORDER BY row")
    assert got == EXPECTED_REJECTS
    assert s.rejected_by_reason == {
        "ambiguous_date": 1, "bad_amount": 2, "bad_date": 1, "bad_encoding": 1, "bad_quoting": 1,
        "missing_account": 1, "missing_date": 1, "wrong_field_count": 2,
    }
    # raw values: every column of the row, in file order, as JSON
    raw = one(db_path, "SELECT raw FROM rejects WHERE row = 3")
    assert list(json.loads(raw).items()) == [("invoice_id", "A3"), ("account_id", "3"), ("occurred_at", "2024-01-05"), ("amount", "12,50")]
    # rows the CSV reader cannot split keep their text
    assert json.loads(one(db_path, "SELECT raw FROM rejects WHERE row = 9")) == {"_record": "A8,8,2024-01-05,17.00,extra"}
    assert "caf\ufffd" in json.loads(one(db_path, "SELECT raw FROM rejects WHERE row = 11"))["_record"]
    msg = one(db_path, "SELECT message FROM rejects WHERE row = 7")
    assert "3 decimals" in msg
    assert q(db_path, "SELECT file FROM rejects GROUP BY file") == [(str((DATA / "bad_rows.csv").resolve()),)]
    assert s.reject_examples["ambiguous_date"]["row"] == 2
    assert s.reject_examples["ambiguous_date"]["column"] == "occurred_at"


def test_cli_exit_code_1_with_counts_when_rows_are_rejected(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    res = CliRunner().invoke(cli, ["--db", str(db), "import", "line-items", str(DATA / "bad_rows.csv"), "-q"])
    assert res.exit_code == 1
    assert "rejected" in res.output and "ambiguous_date" in res.output
    assert isinstance(res.exception, DataError)
    assert "10 rows rejected" in str(res.exception)
    ok = CliRunner().invoke(cli, ["--db", str(db), "import", "line-items", str(DATA / "generic_orders.csv"), "-q"])
    assert ok.exit_code == 0, ok.output
    assert "net revenue" in ok.output


def test_a_wrong_date_format_refuses_the_file_instead_of_rejecting_every_row(tmp_path: Path) -> None:
    path = tmp_path / "dmy.csv"
    path.write_text("account_id,occurred_at,amount\n" + "".join(f"{i},{1 + i % 28:02d}/03/2024,1.00\n" for i in range(300)))
    db = tmp_path / "d.db"
    with pytest.raises(DataError, match="ambiguous_date.*--date-format"):
        import_files(db, "line-items", [path])
    assert counts(db)["line_items"] == 0 and counts(db)["imports"] == 0 and counts(db)["rejects"] == 0
    [s] = import_files(db, "line-items", [path], date_format="dd/mm/yyyy")
    assert s.rows_imported == 300
    assert one(db, "SELECT min(day) FROM line_items") == 19783  # 2024-03-01


def test_mixed_currencies_are_rejected(db_path: Path, tmp_path: Path) -> None:
    import_files(db_path, "line-items", [DATA / "generic_orders.csv"])
    eur = tmp_path / "eur.csv"
    eur.write_text("account_id,occurred_at,amount,currency\n1,2024-01-01,5.00,USD\n2,2024-01-01,6.00,EUR\n3,2024-01-01,7.00,€\n")
    [s] = import_files(db_path, "line-items", [eur])
    assert s.rows_imported == 1
    assert s.rejected_by_reason == {"currency_mismatch": 1, "bad_currency": 1}
    jpy = tmp_path / "jpy.csv"
    jpy.write_text("account_id,occurred_at,amount,currency\n1,2024-01-01,500,JPY\n")
    other = tmp_path / "other.db"
    import_files(other, "line-items", [DATA / "online_retail.csv"], preset="online-retail")  # 2 decimals, no currency
    with pytest.raises(DataError, match="one currency per store"):
        import_files(other, "line-items", [jpy])


def test_encoding_option(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("account_id,occurred_at,amount,description\n1,2024-01-01,5.00,café crème\n".encode("latin1"))
    db = tmp_path / "e.db"
    [bad] = import_files(db, "line-items", [path])
    assert bad.rejected_by_reason == {"bad_encoding": 1}
    [good] = import_files(db, "line-items", [path], encoding="latin1")
    assert good.rows_imported == 1
    assert one(db, "SELECT description FROM line_items") == "café crème"
    with pytest.raises(ConfigError, match="unknown encoding"):
        import_files(db, "line-items", [path], encoding="klingon")


def test_delimiter_and_mapping(tmp_path: Path) -> None:
    path = tmp_path / "semi.csv"
    path.write_text("Kunde;Datum;Betrag\n7;2024-05-01;12.30\n")
    db = tmp_path / "m.db"
    with pytest.raises(ConfigError, match="no column for account_id"):
        import_files(db, "line-items", [path], delimiter=";")
    [s] = import_files(db, "line-items", [path], delimiter=";", mapping={"account_id": "Kunde", "occurred_at": "Datum", "amount": "betrag"})
    assert s.rows_imported == 1 and s.mapping == {"account_id": "Kunde", "occurred_at": "Datum", "amount": "Betrag"}
    with pytest.raises(ConfigError, match="no column 'Nope'"):
        import_files(db, "line-items", [path], delimiter=";", mapping={"account_id": "Nope"})
    with pytest.raises(ConfigError, match="no preset"):
        import_files(db, "line-items", [path], preset="nope")


# --- idempotency -----------------------------------------------------------------------------


def test_same_file_twice_changes_nothing(db_path: Path, tmp_path: Path) -> None:
    [a] = import_files(db_path, "line-items", [DATA / "online_retail.csv"], preset="online-retail")
    before, dv = counts(db_path), data_version(db_path)
    [b] = import_files(db_path, "line-items", [DATA / "online_retail.csv"], preset="online-retail")
    assert b.status == "already_imported" and b.previous_import_id == a.import_id
    # the same bytes under another name are the same file
    copy = tmp_path / "renamed.csv"
    shutil.copy(DATA / "online_retail.csv", copy)
    [c] = import_files(db_path, "line-items", [copy], preset="online-retail")
    assert c.status == "already_imported"
    assert counts(db_path) == before and data_version(db_path) == dv


def test_overlapping_export_does_not_double_and_genuine_duplicates_are_kept(db_path: Path, tmp_path: Path) -> None:
    header = "account_id,occurred_at,amount,invoice_id\n"
    rows = [f"{i % 7},2024-01-{1 + i:02d},{i}.50,I{i}\n" for i in range(20)]
    dup = "3,2024-02-01,9.99,X1\n"
    jan = tmp_path / "jan.csv"
    jan.write_text(header + "".join(rows[:12]) + dup + dup)
    newer = tmp_path / "jan_feb.csv"
    newer.write_text(header + "".join(rows[6:]) + dup + dup + dup)
    [a] = import_files(db_path, "line-items", [jan])
    assert (a.rows_imported, a.rows_duplicate) == (14, 0)  # both copies of the duplicate line are kept
    dv = data_version(db_path)
    [b] = import_files(db_path, "line-items", [newer])
    # rows 6..11 and the two known copies are recognised; rows 12..19 and the third copy are new
    assert (b.rows_imported, b.rows_duplicate) == (9, 8)
    assert one(db_path, "SELECT count(*) FROM line_items") == 23
    assert one(db_path, "SELECT count(*) FROM line_items WHERE invoice = 'X1'") == 3
    assert data_version(db_path) == dv + 1
    # importing the older file again under other options (a mapping spelled out) adds nothing
    [c] = import_files(db_path, "line-items", [jan], mapping={"account_id": "account_id", "invoice_id": "invoice_id"}, delimiter=",", date_format="%Y-%m-%d")
    assert c.status == "imported" and (c.rows_imported, c.rows_duplicate) == (0, 14)
    assert data_version(db_path) == dv + 1


def test_big_import_defers_and_rebuilds_indexes(tmp_path: Path) -> None:
    n = 25_000
    path = tmp_path / "big.csv"
    pl.DataFrame(
        {
            "account_id": [str(i % 997) for i in range(n)],
            "occurred_at": [f"2023-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(n)],
            "amount": [f"{i % 1000}.{i % 100:02d}" for i in range(n)],
        }
    ).write_csv(path)
    db = tmp_path / "big.db"
    [s] = import_files(db, "line-items", [path])
    assert s.rows_imported == n
    idx = {r[0] for r in q(db, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'line_items'")}
    assert {"line_items_account_day", "line_items_day"} <= idx
    assert one(db, "PRAGMA integrity_check") == "ok"
    plan = " ".join(r[3] for r in q(db, "EXPLAIN QUERY PLAN SELECT * FROM line_items WHERE account = 5 AND day > 19000"))
    assert "line_items_account_day" in plan


def test_an_empty_file_and_a_header_only_file(tmp_path: Path) -> None:
    empty, header = tmp_path / "empty.csv", tmp_path / "header.csv"
    empty.write_text("")
    header.write_text("account_id,occurred_at,amount\n")
    db = tmp_path / "x.db"
    [e] = import_files(db, "line-items", [empty])
    assert e.status == "empty" and e.rows_read == 0 and e.import_id is None
    res = CliRunner().invoke(cli, ["--db", str(db), "import", "line-items", str(empty)])
    assert res.exit_code == 0 and "empty file, nothing imported" in res.output
    [s] = import_files(db, "line-items", [header])
    assert s.rows_read == 0 and s.status == "imported"
    assert data_version(db) == 0


def test_a_json_lines_file_with_only_broken_lines_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"account_id": 1,\n[1, 2]\n')
    db = tmp_path / "b.db"
    with pytest.raises(DataError, match="no readable rows; 2 rows are broken"):
        import_files(db, "events", [path])
    assert counts(db)["imports"] == 0


def test_stale_work_folders_of_killed_imports_are_removed(tmp_path: Path) -> None:
    stale = tmp_path / ".segtui-import-999999999-abc"
    stale.mkdir()
    (stale / "clean.csv").write_text("x")
    import_files(tmp_path / "s.db", "line-items", [DATA / "generic_orders.csv"])
    assert not stale.exists()
    assert not list(tmp_path.glob(".segtui-import-*"))


# --- the summary -----------------------------------------------------------------------------

#: the documented JSON schema (docs/import.md): key -> allowed types
SUMMARY_KEYS: dict[str, tuple[type, ...]] = {
    "file": (str,), "kind": (str,), "format": (str,), "status": (str,), "fingerprint": (str,), "preset": (str,),
    "mapping": (dict,), "import_id": (int, type(None)), "previous_import_id": (int, type(None)),
    "rows_read": (int,), "rows_imported": (int,), "rows_duplicate": (int,), "rows_rejected": (int,),
    "rows_skipped": (int,), "blank_rows": (int,), "rejected_by_reason": (dict,), "reject_examples": (dict,),
    "skipped_by_rule": (dict,), "missing_account_ids": (int,), "accounts_new": (int,), "accounts_seen": (int,),
    "accounts_updated": (int,), "cancellations": (int,), "currency": (str, type(None)), "money_scale": (int,),
    "amount_total": (int, float), "amount_total_minor": (int,), "refunds_total": (int, float),
    "refunds_total_minor": (int,), "date_min": (str, type(None)), "date_max": (str, type(None)),
    "seconds": (int, float), "rows_per_second": (int, float), "seconds_scan": (int, float),
    "seconds_read": (int, float), "seconds_parse": (int, float), "seconds_sqlite": (int, float),
    "data_version": (int,),
}
TOTALS_KEYS = {
    "rows_read", "rows_imported", "rows_duplicate", "rows_rejected", "rows_skipped", "blank_rows", "missing_account_ids",
    "accounts_new", "amount_total_minor", "refunds_total_minor", "rejected_by_reason", "files", "files_already_imported",
}


def test_json_summary_schema(tmp_path: Path) -> None:
    db = tmp_path / "j.db"
    args = ["--db", str(db), "import", "line-items", str(DATA / "online_retail.csv"), str(DATA / "online_retail.csv"),
            "--preset", "online-retail", "--format", "json"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1  # two rows without CustomerID were rejected
    doc = json.loads(res.stdout)
    assert doc["schema"] == "segtui.import/1"
    assert set(doc) == {"schema", "imports", "totals"}
    first, second = doc["imports"]
    for s in (first, second):
        assert set(s) == set(SUMMARY_KEYS), set(s) ^ set(SUMMARY_KEYS)
        for k, types in SUMMARY_KEYS.items():
            assert isinstance(s[k], types), (k, s[k])
    assert first["status"] == "imported" and second["status"] == "already_imported"
    assert first["amount_total"] == 247.17 and first["amount_total_minor"] == 24717
    assert first["reject_examples"]["missing_account"] == {"row": 8, "column": "CustomerID", "message": "no account id"}
    assert first["data_version"] == 1
    assert set(doc["totals"]) == TOTALS_KEYS
    assert doc["totals"]["files"] == 2 and doc["totals"]["files_already_imported"] == 1
    # the stored summary is the same document
    stored = json.loads(one(db, "SELECT summary FROM imports WHERE id = ?", first["import_id"]))
    assert stored["rows_imported"] == first["rows_imported"] and stored["data_version"] == 1
    assert summary_document([ImportSummary(**first)])["imports"][0] == first


def test_progress_lines(capsys: pytest.CaptureFixture[str]) -> None:
    import io

    buf = io.StringIO()
    p = imp_mod._Progress("f.csv", 1000, quiet=False, stream=buf)
    p.last -= 10  # pretend time passed
    p.update(400)
    p.update(1000, final=True)
    lines = buf.getvalue().splitlines()
    assert lines[0].startswith("f.csv: 400 rows of 1,000 (40%)") and "rows/s" in lines[0] and "ETA" in lines[0]
    assert lines[1].startswith("f.csv: 1,000 rows of 1,000 (100%)")
    quiet = io.StringIO()
    q_ = imp_mod._Progress("f.csv", 10, quiet=True, stream=quiet)
    q_.last -= 10
    q_.update(5)
    assert quiet.getvalue() == ""


# --- malformed input never crashes and never loses a row ----------------------------------------

FRAGMENTS = [b"a", b"1", b",", b'"', b"\n", b"\r\n", b" ", b"\xff", b"\xc3\xa9", b"2024-01-01", b"12.50", b"-", b".",
             b"\x00", b"{", b"}", b":", b"\t", b";", b"05/03/2024", b"C1", b"1e3"]


@pytest.mark.parametrize("seed", range(3))
def test_garbage_never_crashes_and_counts_reconcile(tmp_path: Path, seed: int) -> None:
    from segtui.errors import SegtuiError

    rng = random.Random(seed)
    tables = {"line-items": "line_items", "costs": "costs", "events": "events", "accounts": None}
    for it in range(25):
        header = rng.choice([b"account_id,occurred_at,amount\n", b"account_id,occurred_at,amount,invoice_id,event,category\n", b""])
        body = b"".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 300)))
        path = tmp_path / f"g{seed}_{it}{rng.choice(['.csv', '.jsonl'])}"
        path.write_bytes(header + body)
        db = tmp_path / f"g{seed}.db"
        kind = rng.choice(list(tables))
        try:
            [s] = import_files(db, kind, [path])
        except SegtuiError:
            continue  # refused as a whole, with a message: fine (nothing imported)
        if s.status != "imported":
            continue
        assert s.rows_read == s.rows_imported + s.rows_duplicate + s.rows_rejected + s.rows_skipped + s.blank_rows
        assert one(db, "SELECT count(*) FROM rejects WHERE import_id = ?", s.import_id) == s.rows_rejected
        if tables[kind]:
            assert one(db, f"SELECT count(*) FROM {tables[kind]} WHERE import_id = ?", s.import_id) == s.rows_imported
    db = tmp_path / f"g{seed}.db"
    if db.exists():
        assert one(db, "PRAGMA integrity_check") == "ok"


def test_core_importer_reads_sliced_columns_with_nulls(db_path: Path) -> None:
    """The core reads arrow slices (offset > 0) and validity bitmaps correctly; batches must come in order."""
    from segtui import _core
    from segtui.store import open_store

    open_store(db_path, create=True).close()
    import pyarrow as pa

    full = {
        "acct": ["x", None, "a", "b", None, "c", "d", "e"],
        "when": ["2024-01-01"] * 8,
        "amt": ["1.00", "2.00", "3.00", None, "5.00", "6.00", "7.00", "8.00"],
    }
    opts = json.dumps({"mapping": {"account_id": "acct", "occurred_at": "when", "amount": "amt"}})
    imp = _core.Importer(db_path, "line-items", "mem", "fp-sliced", opts)
    # rows a, b, None, c, d: arrow slices whose offset is 2, with validity bitmaps
    cols = {k: imp_mod._text_spec(pa.array(v, pa.large_string()).slice(2, 5)) for k, v in full.items()}
    assert {spec[3] for spec in cols.values()} == {2}
    imp.add_batch(cols, 0)
    with pytest.raises(_core.ImportUsageError, match="out of order"):
        imp.add_batch(cols, 0)
    st = json.loads(imp.stats_json())
    assert (st["rows_read"], st["rows_imported"], st["rows_rejected"]) == (5, 3, 2)
    assert st["rejected_by_reason"] == {"missing_account": 1, "missing_amount": 1}
    imp.commit("{}")
    assert q(db_path, "SELECT a.account_key, l.amount FROM line_items l JOIN accounts a ON a.id = l.account ORDER BY l.id") == [
        ("a", 300), ("c", 600), ("d", 700)
    ]
    assert q(db_path, "SELECT row, reason FROM rejects ORDER BY row") == [(2, "missing_amount"), (3, "missing_account")]
