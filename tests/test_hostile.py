"""Hostile input files: every case of the corpus (``tests/hostile/make_corpus.py``) imported
through the real command line, in process. Each test asserts the exit code, the message
(file, row, column, reason), the counts of the summary and the rejects kept in the store;
none may end in a traceback (an exception escaping ``segtui.cli.main`` fails the test).

Exit codes (see docs/reliability.md): 0 when every row was imported (or recognised); 1 when
data was refused — some rows (kept in ``rejects``) or the whole file (nothing imported); 2 when
the options do not fit the file (a wrong delimiter, a column to map).

The 2 GB case is opt-in: ``SEGTUI_TEST_2GB=1 pytest tests/test_hostile.py -k two_gb -s``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import segtui as segtui_pkg
from segtui.cli import main

HOSTILE = Path(__file__).parent / "hostile"
FILES = HOSTILE / "files"
sys.path.insert(0, str(HOSTILE))
import make_corpus  # noqa: E402

sys.path.remove(str(HOSTILE))


@dataclass
class Run:
    code: int
    out: str
    err: str
    db: Path

    @property
    def summary(self) -> dict[str, Any]:
        [s] = json.loads(self.out)["imports"]
        return s

    def counts(self) -> tuple[int, int, int, int]:
        s = self.summary
        return s["rows_read"], s["rows_imported"], s["rows_duplicate"], s["rows_rejected"]

    def rejects(self) -> list[tuple[int, str | None, str]]:
        return [(r, c, reason) for r, c, reason, _, _ in self.reject_rows()]

    def reject_rows(self) -> list[tuple[int, str | None, str, str, dict[str, Any]]]:
        rows = q(self.db, "SELECT row, col, reason, message, raw, file FROM rejects ORDER BY row")
        for *_, file in rows:
            assert Path(file).is_absolute() and Path(file).suffix in (".csv", ".jsonl", ".parquet"), file
        return [(r, c, reason, msg, json.loads(raw)) for r, c, reason, msg, raw, _ in rows]


def q(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def table_count(db: Path, table: str) -> int:
    if not db.exists():
        return 0
    return int(q(db, f"SELECT count(*) FROM {table}")[0][0])


def cli(db: Path, *args: str) -> Run:
    """``segtui --db DB ARGS`` in process: exit code, stdout, stderr."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    err = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        with pytest.raises(SystemExit) as e:
            main(["--db", str(db), *args])
    out.flush()
    code = e.value.code if isinstance(e.value.code, int) else 1
    run = Run(code, out.buffer.getvalue().decode(), err.getvalue(), db)
    assert "Traceback" not in run.err and "Traceback" not in run.out
    return run


def imp(db: Path, kind: str, file: Path | str, *opts: str) -> Run:
    path = file if isinstance(file, Path) else FILES / file
    return cli(db, "import", kind, str(path), "--format", "json", "-q", *opts)


def one_line_error(run: Run) -> str:
    """The error line on stderr: exactly one, starting with 'error: '."""
    lines = [x for x in run.err.splitlines() if x.strip()]
    errors = [x for x in lines if x.startswith("error: ")]
    assert len(errors) == 1, run.err
    return errors[0]


def assert_rows_rejected(run: Run, n: int, reasons: str) -> None:
    """Exit 1 and the one-line summary of rejected rows."""
    assert run.code == 1, run.err
    msg = one_line_error(run)
    assert msg.startswith(f"error: {n:,} rows rejected ({reasons}); the rest was imported"), msg
    assert "rejects table" in msg


def assert_nothing_imported(db: Path) -> None:
    for t in ("line_items", "costs", "events", "imports", "rejects"):
        assert table_count(db, t) == 0, t


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


def test_the_committed_corpus_is_what_the_script_writes() -> None:
    assert make_corpus.check() == [], "run: python tests/hostile/make_corpus.py"


# --- structure -------------------------------------------------------------------------------


def test_wrong_delimiter_is_named_in_the_message(db: Path) -> None:
    run = imp(db, "line-items", "wrong_delimiter.csv")
    assert run.code == 2
    msg = one_line_error(run)
    assert "wrong_delimiter.csv" in msg and "--delimiter ';'" in msg, msg
    assert_nothing_imported(db)
    ok = imp(db, "line-items", "wrong_delimiter.csv", "--delimiter", ";")
    assert ok.code == 0 and ok.counts() == (2, 2, 0, 0)


def test_wrong_delimiter_in_the_rows_refuses_the_file(db: Path) -> None:
    # the header splits on ',', the 150 rows do not: every row has the wrong field count.
    run = imp(db, "line-items", "wrong_delimiter_rows.csv")
    assert run.code == 1
    msg = one_line_error(run)
    assert "wrong_delimiter_rows.csv" in msg and "every one of the first 150 rows was rejected" in msg, msg
    assert "wrong_field_count" in msg and "row 1" in msg and "--delimiter" in msg, msg
    assert "nothing was imported" in msg
    assert_nothing_imported(db)


def test_ragged_rows(db: Path) -> None:
    run = imp(db, "line-items", "ragged_rows.csv")
    assert_rows_rejected(run, 2, "wrong_field_count 2")
    assert run.counts() == (5, 3, 0, 2)
    rows = run.reject_rows()
    assert [(r, c, reason) for r, c, reason, *_ in rows] == [(2, None, "wrong_field_count"), (4, None, "wrong_field_count")]
    assert rows[0][3] == "2 fields where the header has 3" and rows[1][3] == "5 fields where the header has 3"
    # the raw record is kept whole: nothing lost
    assert rows[1][4] == {"_record": "A4,2024-01-08,4.00,extra,more"}
    assert [k for (k,) in q(db, "SELECT account_key FROM accounts ORDER BY id")] == ["A1", "A3", "A5"]


def test_quoted_newlines_are_data_and_rows_are_records(db: Path) -> None:
    run = imp(db, "line-items", "quoted_newlines.csv", "--map", "description=description")
    assert_rows_rejected(run, 1, "bad_date 1")
    assert run.counts() == (4, 3, 0, 1)
    # the bad row is the 3rd record, though it is on the 6th line of the file
    assert run.rejects() == [(3, "occurred_at", "bad_date")]
    desc = dict(q(db, "SELECT a.account_key, l.description FROM line_items l JOIN accounts a ON a.id = l.account"))
    assert desc == {
        "A1": "first line\nsecond line",
        "A2": 'windows\r\nline end, and a "quote"',
        "A4": "three\n\nlines",
    }


def test_byte_order_mark_is_not_part_of_the_first_column(db: Path) -> None:
    run = imp(db, "line-items", "bom.csv")
    assert run.code == 0 and run.counts() == (2, 2, 0, 0)
    assert q(db, "SELECT account_key FROM accounts ORDER BY id") == [("A1",), ("A2",)]


def test_crlf_line_ends(db: Path) -> None:
    run = imp(db, "line-items", "crlf.csv")
    assert run.code == 0 and run.counts() == (2, 2, 0, 0)
    assert q(db, "SELECT a.account_key, l.amount FROM line_items l JOIN accounts a ON a.id = l.account ORDER BY l.id") == [
        ("A1", 1000),
        ("A2", 2000),
    ]


def test_bare_carriage_return_line_ends_are_named(db: Path) -> None:
    run = imp(db, "line-items", "cr_only.csv")
    assert run.code == 1
    msg = one_line_error(run)
    assert "cr_only.csv" in msg and "carriage return" in msg and "nothing was imported" in msg, msg
    assert_nothing_imported(db)


def test_empty_file(db: Path) -> None:
    run = imp(db, "line-items", "empty.csv")
    assert run.code == 0, run.err
    assert run.summary["status"] == "empty" and run.counts() == (0, 0, 0, 0)
    assert_nothing_imported(db)


def test_header_only(db: Path) -> None:
    run = imp(db, "line-items", "header_only.csv")
    assert run.code == 0, run.err
    assert run.summary["status"] == "imported" and run.counts() == (0, 0, 0, 0)
    assert table_count(db, "line_items") == 0


def test_a_blank_first_line_does_not_make_the_file_look_empty(db: Path) -> None:
    # the rows below it must not vanish as an "empty file" with exit 0
    run = imp(db, "line-items", "blank_first_line.csv")
    assert run.code == 1
    msg = one_line_error(run)
    assert "blank_first_line.csv" in msg and "first line is blank" in msg and "nothing was imported" in msg, msg
    assert_nothing_imported(db)


def test_a_file_of_blank_lines_is_empty_and_counts_them(db: Path) -> None:
    run = imp(db, "line-items", "blank_lines_only.csv")
    assert run.code == 0 and run.summary["status"] == "empty"
    assert run.counts() == (2, 0, 0, 0) and run.summary["blank_rows"] == 2


def test_json_lines_of_empty_objects_are_refused_not_dropped(db: Path) -> None:
    run = imp(db, "line-items", "empty_objects.jsonl")
    assert run.code == 1
    msg = one_line_error(run)
    assert "empty_objects.jsonl" in msg and "2 rows" in msg and "nothing was imported" in msg, msg
    assert_nothing_imported(db)


def test_blank_lines_are_counted_not_rejected(db: Path) -> None:
    run = imp(db, "line-items", "blank_lines.csv")
    assert run.code == 0, run.err
    assert run.counts() == (5, 2, 0, 0) and run.summary["blank_rows"] == 3


def test_a_mapped_column_named_twice_in_the_header_refuses_the_file(db: Path) -> None:
    run = imp(db, "line-items", "duplicated_header_column.csv")
    assert run.code == 1
    msg = one_line_error(run)
    assert "duplicated_header_column.csv" in msg and "'amount'" in msg and "2 times" in msg, msg
    assert "columns 3 and 4" in msg and "nothing was imported" in msg, msg
    assert_nothing_imported(db)


def test_an_unmapped_column_named_twice_is_harmless(db: Path) -> None:
    run = imp(db, "line-items", "duplicated_unmapped_column.csv")
    assert run.code == 0 and run.counts() == (1, 1, 0, 0)


def test_a_repeated_header_row_is_rejected_with_its_row(db: Path) -> None:
    run = imp(db, "line-items", "repeated_header_row.csv")
    assert_rows_rejected(run, 1, "bad_date 1")
    assert run.counts() == (3, 2, 0, 1)
    [(row, col, reason, msg, raw)] = run.reject_rows()
    assert (row, col, reason) == (2, "occurred_at", "bad_date") and '"occurred_at"' in msg
    assert raw == {"account_id": "account_id", "occurred_at": "occurred_at", "amount": "amount"}


def test_missing_required_column(db: Path) -> None:
    run = imp(db, "line-items", "missing_required_column.csv")
    assert run.code == 2
    msg = one_line_error(run)
    assert "missing_required_column.csv" in msg and "no column for occurred_at" in msg, msg
    assert "the file has: account_id, amount" in msg and "--map" in msg
    assert_nothing_imported(db)


def test_extra_columns_are_ignored_but_kept_in_rejects(db: Path) -> None:
    run = imp(db, "line-items", "extra_columns.csv")
    assert_rows_rejected(run, 1, "bad_amount 1")
    assert run.counts() == (2, 1, 0, 1)
    [(row, col, reason, msg, raw)] = run.reject_rows()
    assert (row, col, reason) == (2, "amount", "bad_amount") and '"oops"' in msg
    assert raw == {
        "region": "US", "account_id": "A2", "occurred_at": "2024-01-06", "amount": "oops", "notes": "second", "Unnamed: 5": "x",
    }


def test_unclosed_quote(db: Path) -> None:
    run = imp(db, "line-items", "unclosed_quote.csv")
    assert_rows_rejected(run, 1, "bad_quoting 1")
    [(row, col, reason, msg, raw)] = run.reject_rows()
    assert (row, col, reason) == (2, None, "bad_quoting") and "never closed" in msg
    # the rest of the file went into that record: it is kept, not dropped
    assert raw["_record"].startswith('"A2,2024-01-06,20.00') and "A3,2024-01-07,30.00" in raw["_record"]
    assert run.counts() == (2, 1, 0, 1)


def test_stray_quote(db: Path) -> None:
    run = imp(db, "line-items", "stray_quote.csv")
    assert_rows_rejected(run, 1, "bad_quoting 1")
    # a quote inside an unquoted field: the reject names the field it is in
    assert run.rejects() == [(2, "account_id", "bad_quoting")] and run.counts() == (3, 2, 0, 1)


def test_nul_byte_in_an_id_is_kept_exactly_and_exports(db: Path, tmp_path: Path) -> None:
    run = imp(db, "line-items", "nul_byte.csv")
    assert run.code == 0 and run.counts() == (2, 2, 0, 0)
    assert q(db, "SELECT account_key FROM accounts ORDER BY id") == [("A\x001",), ("A2",)]
    out = tmp_path / "li.csv"
    exp = cli(db, "export", "line-items", str(out))
    assert exp.code == 0, exp.err
    assert b"A\x001," in out.read_bytes()


def test_a_multi_megabyte_field_is_kept_whole(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "long_field.csv"
    f.write_bytes(make_corpus.long_field_csv(8 << 20))
    run = imp(db, "line-items", f, "--map", "description=description")
    assert run.code == 0 and run.counts() == (3, 3, 0, 0)
    assert q(db, "SELECT length(description) FROM line_items ORDER BY id") == [(5,), (8 << 20,), (5,)]


# --- encodings -------------------------------------------------------------------------------


def test_latin1_without_encoding_is_rejected_with_a_hint_and_imports_with_it(db: Path) -> None:
    run = imp(db, "line-items", "latin1.csv", "--map", "description=description")
    assert_rows_rejected(run, 1, "bad_encoding 1")
    [(row, col, reason, msg, raw)] = run.reject_rows()
    assert (row, reason) == (1, "bad_encoding") and "--encoding" in msg and "latin1" in msg
    assert "caf" in raw["_record"]  # the undecodable bytes are kept (replaced for display)
    assert run.summary["reject_examples"]["bad_encoding"]["row"] == 1
    db2 = db.with_name("other.db")
    ok = imp(db2, "line-items", "latin1.csv", "--encoding", "latin1", "--map", "description=description")
    assert ok.code == 0 and ok.counts() == (2, 2, 0, 0)
    assert q(db2, "SELECT description FROM line_items ORDER BY id") == [("café crème",), ("plain",)]


def test_invalid_utf8(db: Path) -> None:
    run = imp(db, "line-items", "invalid_utf8.csv")
    assert_rows_rejected(run, 1, "bad_encoding 1")
    # the reject names the field that holds the bytes
    assert run.rejects() == [(2, "account_id", "bad_encoding")] and run.counts() == (3, 2, 0, 1)


def test_utf16_with_bom(db: Path) -> None:
    run = imp(db, "line-items", "utf16.csv")
    assert run.code == 1
    msg = one_line_error(run)
    assert "utf16.csv" in msg and "not UTF-8" in msg and "--encoding" in msg
    assert_nothing_imported(db)
    ok = imp(db, "line-items", "utf16.csv", "--encoding", "utf-16")
    assert ok.code == 0 and ok.counts() == (1, 1, 0, 0)


def test_utf16_without_bom_is_named(db: Path) -> None:
    run = imp(db, "line-items", "utf16le_no_bom.csv")
    assert run.code == 1
    msg = one_line_error(run)
    assert "utf16le_no_bom.csv" in msg and "UTF-16" in msg and "--encoding utf-16" in msg, msg
    assert_nothing_imported(db)
    ok = imp(db, "line-items", "utf16le_no_bom.csv", "--encoding", "utf-16-le")
    assert ok.code == 0 and ok.counts() == (1, 1, 0, 0)


# --- ids -------------------------------------------------------------------------------------


def test_blank_and_whitespace_ids(db: Path) -> None:
    run = imp(db, "line-items", "blank_ids.csv")
    assert_rows_rejected(run, 3, "missing_account 3")
    assert run.rejects() == [(r, "account_id", "missing_account") for r in (2, 3, 4)]
    assert run.summary["missing_account_ids"] == 3 and run.counts() == (5, 2, 0, 3)


def test_ids_with_leading_zeros_stay_text(db: Path) -> None:
    run = imp(db, "line-items", "leading_zero_ids.csv")
    assert run.code == 0 and run.counts() == (5, 5, 0, 0)
    # trimmed, otherwise exactly as written: 007, 7, 0007 and 00 are four accounts
    assert q(db, "SELECT account_key FROM accounts ORDER BY id") == [("007",), ("7",), ("0007",), ("00",)]
    assert q(db, "SELECT count(*) FROM line_items l JOIN accounts a ON a.id = l.account WHERE a.account_key = '007'") == [(2,)]


# --- money -----------------------------------------------------------------------------------


def test_currency_symbols(db: Path) -> None:
    run = imp(db, "line-items", "currency_symbols.csv")
    assert_rows_rejected(run, 4, "bad_amount 4")
    rows = run.reject_rows()
    assert [(r, c, reason) for r, c, reason, *_ in rows] == [(r, "amount", "bad_amount") for r in (1, 2, 3, 4)]
    assert "'$'" in rows[0][3] and "'€'" in rows[1][3] and "'£'" in rows[3][3]
    assert run.summary["amount_total_minor"] == 725


def test_thousands_separators(db: Path) -> None:
    run = imp(db, "line-items", "thousands_separators.csv")
    assert_rows_rejected(run, 3, "bad_amount 3")
    rows = run.reject_rows()
    assert [r for r, *_ in rows] == [1, 2, 3] and "thousands separators" in rows[0][3]
    assert run.summary["amount_total_minor"] == 123450


def test_comma_decimals_only_when_declared(db: Path) -> None:
    plain = imp(db, "line-items", "decimal_comma.csv", "--delimiter", ";")
    assert_rows_rejected(plain, 3, "bad_amount 3")
    assert [r for r, *_ in plain.rejects()] == [1, 2, 4]
    assert plain.summary["amount_total_minor"] == 700 + 1250

    db2 = db.with_name("comma.db")
    run = imp(db2, "line-items", "decimal_comma.csv", "--delimiter", ";", "--decimal-comma")
    assert_rows_rejected(run, 2, "bad_amount 2")
    rows = run.reject_rows()
    assert [(r, c, reason) for r, c, reason, *_ in rows] == [(4, "amount", "bad_amount"), (5, "amount", "bad_amount")]
    assert "thousands" in rows[0][3] and "'.'" in rows[1][3] and "--decimal-comma" in rows[1][3]
    amounts = q(db2, "SELECT a.account_key, l.amount FROM line_items l JOIN accounts a ON a.id = l.account ORDER BY l.id")
    assert amounts == [("A1", 1250), ("A2", -305), ("A3", 700)]
    assert run.summary["amount_total_minor"] == 1645


def test_exponent_notation(db: Path) -> None:
    run = imp(db, "line-items", "exponent.csv")
    assert_rows_rejected(run, 3, "bad_amount 3")
    assert all("exponent" in m for _, _, _, m, _ in run.reject_rows())
    assert run.summary["amount_total_minor"] == 10000


def test_nan_and_infinity(db: Path) -> None:
    run = imp(db, "line-items", "nan_inf.csv")
    assert_rows_rejected(run, 4, "bad_amount 4")
    assert run.rejects() == [(r, "amount", "bad_amount") for r in (1, 2, 3, 4)]


def test_thirty_digit_amounts_and_totals_beyond_64_bits(db: Path) -> None:
    run = imp(db, "line-items", "huge_amounts.csv")
    assert_rows_rejected(run, 5, "bad_amount 5")
    rows = run.reject_rows()
    assert [(r, c, reason) for r, c, reason, *_ in rows] == [(r, "amount", "bad_amount") for r in (1, 2, 3, 6, 7)]
    msgs = [m for _, _, _, m, _ in rows]
    assert "too large" in msgs[0] and "more than 30 digits" in msgs[1] and "30 decimals" in msgs[2]
    assert "too large" in msgs[3] and "3 decimals" in msgs[4]
    top = 9223372036854775807
    assert q(db, "SELECT amount FROM line_items ORDER BY id") == [(top,), (top,)]
    # the summary's total is exact, not wrapped around 64 bits
    assert run.summary["amount_total_minor"] == 2 * top
    # scoring refuses what it cannot add exactly, with a message and exit 1 (no wrap, no crash)
    score = cli(db, "-q", "score")
    assert score.code == 1
    err = one_line_error(score)
    assert "does not fit in 64-bit" in err
    # the account is named as the file names it, not by the engine's internal index
    (aid,) = q(db, "SELECT id FROM accounts WHERE account_key = 'A4'")[0]
    assert f'account "A4" (accounts.id {aid}): net revenue does not fit' in err, err


# --- dates -----------------------------------------------------------------------------------


def test_mixed_date_formats(db: Path) -> None:
    run = imp(db, "line-items", "mixed_dates.csv")
    assert_rows_rejected(run, 3, "ambiguous_date 2, bad_date 1")
    rows = run.reject_rows()
    assert [(r, c, reason) for r, c, reason, *_ in rows] == [
        (2, "occurred_at", "ambiguous_date"), (4, "occurred_at", "bad_date"), (5, "occurred_at", "ambiguous_date"),
    ]
    assert "--date-format" in rows[0][3] and "--date-format" in rows[2][3]
    # ISO, epoch seconds and ISO with a fraction: all the 5th of March 2024
    assert q(db, "SELECT DISTINCT day FROM line_items") == [(19787,)]

    db2 = db.with_name("fmt.db")
    fmt = imp(db2, "line-items", "mixed_dates.csv", "--date-format", "%d/%m/%Y")
    assert_rows_rejected(fmt, 3, "bad_date 3")
    assert [r for r, *_ in fmt.rejects()] == [3, 4, 5]
    assert q(db2, "SELECT DISTINCT day FROM line_items") == [(19787,)]


def test_impossible_dates(db: Path) -> None:
    run = imp(db, "line-items", "impossible_dates.csv")
    assert_rows_rejected(run, 5, "bad_date 5")
    msgs = {r: m for r, _, _, m, _ in run.reject_rows()}
    assert "day 29 does not exist in 2023-02" in msgs[1] and "day 30 does not exist in 2024-02" in msgs[2]
    assert "month 13" in msgs[3] and "day 31 does not exist in 2024-04" in msgs[4] and "24:00" in msgs[5]
    assert q(db, "SELECT day FROM line_items") == [(19782,)]  # 2024-02-29


def test_far_past_and_far_future_dates(db: Path) -> None:
    run = imp(db, "line-items", "far_dates.csv")
    assert_rows_rejected(run, 5, "bad_date 5")
    rows = run.reject_rows()
    assert [r for r, *_ in rows] == [1, 4, 5, 6, 7]
    assert all("outside 1900..2199" in m for _, _, _, m, _ in rows)
    assert "epoch_ms" in rows[-1][3]
    assert (run.summary["date_min"], run.summary["date_max"]) == ("1900-01-01", "2199-12-31")


def test_time_zones(db: Path) -> None:
    run = imp(db, "line-items", "time_zones.csv")
    assert_rows_rejected(run, 2, "bad_date 2")
    assert run.rejects() == [(5, "occurred_at", "bad_date"), (6, "occurred_at", "bad_date")]
    got = dict((k, (d, t)) for k, d, t in q(db, "SELECT a.account_key, l.day, l.ts FROM line_items l JOIN accounts a ON a.id = l.account"))
    day = 19787  # 2024-03-05: the calendar day as written
    assert got["A1"] == (day, day * 86400 + 86400 + 4 * 3600 + 30 * 60)  # 23:30 -05:00 = 04:30 UTC the next day
    assert got["A2"] == (day, day * 86400 + 10 * 3600)
    assert got["A3"] == (day, day * 86400 + 10 * 3600 - 5 * 3600 - 30 * 60)
    assert got["A4"] == (day, day * 86400 + 10 * 3600)


# --- duplicates ------------------------------------------------------------------------------


def test_genuine_duplicate_rows_are_kept_and_recognised_later(db: Path) -> None:
    first = imp(db, "line-items", "duplicate_rows.csv")
    assert first.code == 0 and first.counts() == (3, 3, 0, 0)
    again = imp(db, "line-items", "duplicate_rows.csv")
    assert again.code == 0 and again.summary["status"] == "already_imported"
    nxt = imp(db, "line-items", "duplicate_rows_next.csv")
    # the two identical lines and A2 are already there; the third identical line and A3 are new
    assert nxt.code == 0 and nxt.counts() == (5, 2, 3, 0)
    assert q(db, "SELECT count(*), sum(amount) FROM line_items") == [(5, 5500)]


# --- other formats and kinds -----------------------------------------------------------------


def test_json_lines(db: Path) -> None:
    run = imp(db, "line-items", "hostile.jsonl")
    assert_rows_rejected(run, 4, "bad_json 3, bad_amount 1")
    assert run.rejects() == [(2, None, "bad_json"), (3, None, "bad_json"), (6, "amount", "bad_amount"), (8, None, "bad_json")]
    assert run.counts() == (8, 3, 0, 4) and run.summary["blank_rows"] == 1
    assert q(db, "SELECT a.account_key, l.amount FROM line_items l JOIN accounts a ON a.id = l.account ORDER BY l.id") == [
        ("A1", 1000), ("007", 1250), ("A5", 500),
    ]


def test_parquet_with_float_nan_and_typed_columns(db: Path, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    f = tmp_path / "typed.parquet"
    pq.write_table(
        pa.table(
            {
                "account_id": pa.array([7, 8, 9, None], pa.int64()),
                "occurred_at": pa.array([19787, 19788, 19789, 19790], pa.int32()).cast(pa.date32()),
                "amount": pa.array([0.1, float("nan"), float("inf"), 2.5]),
            }
        ),
        f,
    )
    run = imp(db, "line-items", f)
    assert_rows_rejected(run, 3, "bad_amount 2, missing_account 1")
    assert run.rejects() == [(2, "amount", "bad_amount"), (3, "amount", "bad_amount"), (4, "account_id", "missing_account")]
    assert q(db, "SELECT a.account_key, l.day, l.amount FROM line_items l JOIN accounts a ON a.id = l.account") == [("7", 19787, 10)]


def test_hostile_costs(db: Path) -> None:
    run = imp(db, "costs", "costs_hostile.csv")
    assert_rows_rejected(run, 3, "bad_amount 1, bad_date 1, missing_category 1")
    assert run.rejects() == [(2, "category", "missing_category"), (3, "amount", "bad_amount"), (4, "occurred_at", "bad_date")]
    assert q(db, "SELECT account, amount FROM costs ORDER BY id") == [(None, 10000), (1, 200)]


def test_hostile_events(db: Path) -> None:
    run = imp(db, "events", "events_hostile.csv")
    assert_rows_rejected(run, 3, "bad_value 1, missing_account 1, missing_event 1")
    assert run.rejects() == [(2, "event", "missing_event"), (3, "value", "bad_value"), (4, "account_id", "missing_account")]
    assert table_count(db, "events") == 2


def test_hostile_accounts(db: Path) -> None:
    run = imp(db, "accounts", "accounts_hostile.csv")
    assert_rows_rejected(run, 5, "bad_number 2, bad_amount 1, bad_date 1, missing_account 1")
    assert run.rejects() == [
        (2, "employees", "bad_number"), (3, "employees", "bad_number"), (4, "mrr", "bad_amount"),
        (5, "signup_at", "bad_date"), (6, "account_id", "missing_account"),
    ]
    assert q(db, "SELECT account_key, employees, mrr FROM accounts") == [("A1", 12, 10000)]


# --- a file that changes while being read ----------------------------------------------------


def _orders(n: int, start: int = 0) -> bytes:
    return b"".join(f"C{i % 97:03d},2024-01-{1 + i % 28:02d},{i}.25\n".encode() for i in range(start, start + n))


@pytest.mark.parametrize("change", ["append", "rewrite_same_size", "truncate"])
def test_a_file_changed_between_the_fingerprint_and_the_read_is_refused(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    from segtui import importer

    f = tmp_path / "growing.csv"
    f.write_bytes(make_corpus.H + _orders(500))
    real = importer._core.scan_csv

    def scan_then_change(*a: Any, **k: Any) -> Any:
        out = real(*a, **k)
        if change == "append":
            with open(f, "ab") as fh:
                fh.write(_orders(10, 500))
        elif change == "rewrite_same_size":
            # same size, same row count, other amounts: an export job rewriting the file in place
            time.sleep(0.01)
            f.write_bytes(f.read_bytes().replace(b".25\n", b".75\n"))
        else:
            f.write_bytes(make_corpus.H + _orders(100))
        return out

    monkeypatch.setattr(importer._core, "scan_csv", scan_then_change)
    run = imp(db, "line-items", f)
    assert run.code == 1, run.err
    msg = one_line_error(run)
    assert "growing.csv" in msg and "changed while it was being read" in msg and "nothing was imported" in msg, msg
    assert_nothing_imported(db)
    # once the file is stable it imports in full
    monkeypatch.setattr(importer._core, "scan_csv", real)
    ok = imp(db, "line-items", f)
    assert ok.code == 0 and ok.summary["rows_imported"] == ok.summary["rows_read"] > 0


def test_a_file_appended_to_during_the_import_is_refused(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "live.csv"
    f.write_bytes(make_corpus.H + _orders(20_000))
    stop = threading.Event()

    def writer() -> None:
        i = 20_000
        while not stop.is_set():
            with open(f, "ab") as fh:
                fh.write(_orders(5, i))
            i += 5
            time.sleep(0.002)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    try:
        time.sleep(0.02)
        run = imp(db, "line-items", f)
    finally:
        stop.set()
        t.join()
    assert run.code == 1, run.err
    assert "changed while it was being read" in one_line_error(run)
    assert_nothing_imported(db)


# --- a 2 GB file (opt-in) --------------------------------------------------------------------


@pytest.mark.skipif(not os.environ.get("SEGTUI_TEST_2GB"), reason="opt-in: SEGTUI_TEST_2GB=1 (about 2 GB of disk, minutes)")
def test_two_gb_file_is_streamed_not_loaded(tmp_path: Path) -> None:
    import subprocess

    size = int(float(os.environ.get("SEGTUI_TEST_2GB_BYTES", 2 * 1024**3)))
    f = tmp_path / "big.csv"
    t0 = time.perf_counter()
    rows = make_corpus.write_big_csv(f, size)
    t_gen = time.perf_counter() - t0
    db = tmp_path / "big.db"
    env = dict(os.environ, PYTHONPATH=str(Path(segtui_pkg.__file__).resolve().parents[1]))
    t0 = time.perf_counter()
    with open(tmp_path / "out.json", "wb") as out_f, open(tmp_path / "err.txt", "wb") as err_f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "segtui.cli", "--db", str(db), "import", "line-items", str(f), "--format", "json", "-q"],
            stdout=out_f, stderr=err_f, env=env,
        )
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    out, err = (tmp_path / "out.json").read_bytes(), (tmp_path / "err.txt").read_bytes()
    assert os.waitstatus_to_exitcode(status) == 0, err.decode()[-2000:]
    [s] = json.loads(out)["imports"]
    assert s["rows_read"] == s["rows_imported"] == rows
    expect_total = sum(100 + i % 10_000 for i in range(1, rows + 1))
    assert s["amount_total_minor"] == expect_total
    assert q(db, "SELECT count(*), sum(amount) FROM line_items") == [(rows, expect_total)]
    peak = _peak_rss_mb(usage)
    print(
        f"\n2 GB case: {f.stat().st_size / 1e9:.2f} GB, {rows:,} rows; generated in {t_gen:.0f} s; "
        f"imported in {wall:.0f} s ({rows / wall:,.0f} rows/s); peak RSS {peak} MB"
    )
    assert peak < 1500, f"peak RSS {peak} MB: the file must be streamed, not loaded"


def _peak_rss_mb(usage: Any) -> int:
    return int(usage.ru_maxrss / 1024)  # Linux: kilobytes


# --- a hostile store path --------------------------------------------------------------------


def test_a_store_path_with_uri_characters_works_everywhere(tmp_path: Path) -> None:
    """'#', '?', '%' and spaces in the store's path must not be read as parts of a URI (which
    would open another file, or none)."""
    from segtui.rules import filter_accounts
    from segtui.tui.data import Store as TuiStore

    folder = tmp_path / "client #1 ?x=%41 (50%)"
    folder.mkdir()
    db = folder / "store.db"
    data = Path(__file__).parent / "data" / "import"
    assert imp(db, "line-items", data / "generic_orders.csv").code == 0
    assert imp(db, "events", data / "events.jsonl").counts() == (8, 5, 0, 2)  # the file has 2 bad rows
    assert cli(db, "-q", "score").code == 0
    for args in (
        ["segments", "--format", "csv"],
        ["accounts", "--format", "csv"],
        ["accounts", "--rule", 'did "login" in 3000d', "--format", "csv"],
        ["account", "0042", "--format", "json"],
        ["migration", "--list"],
    ):
        run = cli(db, *args)
        assert run.code == 0, (args, run.err)
    tui = TuiStore(db)
    [snap] = tui.snapshots()
    assert tui.frame(snap).height == snap.accounts > 0
    from segtui import queries

    frame = queries.snapshot_frame(db, snap.id)
    assert filter_accounts(frame, 'did "login" in 3000d', as_of=snap.as_of, db=db).height > 0
    # nothing was created outside the folder the user named
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]


def test_a_truncated_parquet_file_is_refused(db: Path, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"account_id": ["A1"] * 1000, "occurred_at": ["2024-01-05"] * 1000, "amount": ["1.00"] * 1000}), good)
    bad = tmp_path / "cut.parquet"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    run = imp(db, "line-items", bad)
    assert run.code == 1
    msg = one_line_error(run)
    assert "cut.parquet" in msg and "not a readable Parquet file" in msg, msg
    assert_nothing_imported(db)


def test_deeply_nested_json_is_a_rejected_row_not_a_crash(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "deep.jsonl"
    deep = '{"account_id": "A2", "occurred_at": "2024-01-06", "amount": "2.00", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    f.write_text('{"account_id": "A1", "occurred_at": "2024-01-05", "amount": "1.00"}\n' + deep + "\n")
    run = imp(db, "line-items", f)
    assert_rows_rejected(run, 1, "bad_json 1")
    assert run.rejects() == [(2, None, "bad_json")] and run.counts() == (2, 1, 0, 1)
