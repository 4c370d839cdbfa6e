"""Fuzzing with hypothesis, bounded for CI (``SEGTUI_FUZZ_EXAMPLES`` raises the count).

- The importer: random CSV and JSON lines files (well-formed-looking rows made of hostile
  values, broken structure, raw random bytes) never raise anything but a clean ``DataError`` /
  ``ConfigError``; when a file is imported, rows in = imported + duplicates + rejected +
  skipped + blank, the store holds exactly those rows and rejects, and the money adds up; when
  it is refused, nothing of it is in the store.
- The rule language: random text never makes the core panic; a rule that does not compile is a
  ``RuleError`` whose line and column point inside the text; a rule that compiles evaluates.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segtui import _core
from segtui.errors import ConfigError, DataError
from segtui.importer import import_files
from segtui.rules import RuleError, filter_accounts, parse_rules

EXAMPLES = int(os.environ.get("SEGTUI_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not os.environ.get("SEGTUI_FUZZ_RANDOM"),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    print_blob=True,
)
#: the rule language is cheap to fuzz: more examples in the same time
RULE_FUZZ = settings(FUZZ, max_examples=EXAMPLES * 10)

# --- the importer ----------------------------------------------------------------------------

COLUMNS = ["account_id", "occurred_at", "amount", "quantity", "unit_price", "invoice_id", "currency", "sku", "note"]

VALUES = {
    "account_id": ["A1", "007", "7", "", "  ", "Ünïcödé", "a,b", 'q"uote', "x\ny", "\t", "A1"],
    "occurred_at": [
        "2024-01-05", "2024-02-30", "05/03/2024", "1709649000", "2024-03-05T23:30:00-05:00", "", "1899-12-31",
        "2024-13-01", "20240305", "2199-12-31T23:59:59Z", "not a date", "2024-01-05 10:00:00 PST",
    ],
    "amount": [
        "10.00", "-3.50", "(2.25)", "0", "1,234.50", "$5", "1e3", "NaN", "inf", "", "12.505",
        "92233720368547758.07", "123456789012345678901234567890", ".5", "5.", "- 1", "+7",
    ],
    "quantity": ["1", "2.5", "-1", "", "x", "1e2", "100000000000000000000"],
    "unit_price": ["0.335", "19.99", "", "-1", "abc", "0.001"],
    "invoice_id": ["INV-1", "C-2", "", "INV-1", "𝔘𝔫𝔦"],
    "currency": ["USD", "usd", "EUR", "XXX", "", "12"],
    "sku": ["S1", "", "é"],
    "note": ["", "x" * 300, "line\r\nbreak"],
}


def _quote(v: str, delim: str) -> str:
    if any(c in v for c in (delim, '"', "\n", "\r")):
        return '"' + v.replace('"', '""') + '"'
    return v


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["rows", "rows", "rows", "broken", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=400))
    delim = draw(st.sampled_from([",", ",", ";", "\t"]))
    cols = draw(st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=7))
    lines = [delim.join(cols)]
    for _ in range(draw(st.integers(0, 25))):
        vals = [draw(st.sampled_from(VALUES[c])) for c in cols]
        if draw(st.integers(0, 9)) == 0:
            vals.append(draw(st.text(max_size=5)))  # a ragged row
        lines.append(delim.join(_quote(v, delim) for v in vals))
    if draw(st.booleans()):
        lines.append("")  # blank line
    text = "\n".join(lines) + draw(st.sampled_from(["\n", "", "\r\n"]))
    data = text.encode()
    if kind == "broken":
        # structural damage at a random place: a stray quote, a NUL, invalid UTF-8, a cut
        pos = draw(st.integers(0, len(data)))
        junk = draw(st.sampled_from([b'"', b"\x00", b"\xff\xfe", b"\r", b"\n\n", b'""",']))
        data = data[:pos] + junk + data[pos:]
        if draw(st.booleans()):
            data = data[: draw(st.integers(0, len(data)))]
    if draw(st.integers(0, 9)) == 0:
        data = b"\xef\xbb\xbf" + data
    return data


@st.composite
def jsonl_files(draw: st.DrawFn) -> bytes:
    import json

    lines = []
    for _ in range(draw(st.integers(0, 15))):
        shape = draw(st.integers(0, 9))
        if shape == 0:
            lines.append(draw(st.text(max_size=20)))
        elif shape == 1:
            lines.append(json.dumps(draw(st.lists(st.integers(), max_size=3))))
        else:
            obj = {c: draw(st.sampled_from(VALUES[c])) for c in draw(st.lists(st.sampled_from(COLUMNS), max_size=6))}
            if draw(st.booleans()) and "amount" in obj:
                obj["amount"] = draw(st.one_of(st.integers(-10**20, 10**20), st.floats(allow_nan=True), st.none()))
            lines.append(json.dumps(obj))
    return ("\n".join(lines) + "\n").encode()


def _one(db: Path, sql: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(sql).fetchone()[0] or 0)
    finally:
        conn.close()


def _check_import(data: bytes, suffix: str, delimiter: str = ",") -> None:
    with tempfile.TemporaryDirectory(prefix="segtui-fuzz-") as d:
        f = Path(d) / f"fuzz{suffix}"
        f.write_bytes(data)
        db = Path(d) / "store.db"
        try:
            [s] = import_files(db, "line-items", [f], delimiter=delimiter)
        except (DataError, ConfigError) as e:
            assert str(e).strip() and "Traceback" not in str(e)
            if db.exists():
                for t in ("line_items", "rejects", "imports", "accounts"):
                    assert _one(db, f"SELECT count(*) FROM {t}") == 0, (t, str(e))
            return
        assert s.rows_read == s.rows_imported + s.rows_duplicate + s.rows_rejected + s.rows_skipped + s.blank_rows
        if s.status == "empty":
            return
        assert s.rows_duplicate == 0  # a fresh store: nothing to be a duplicate of
        assert _one(db, "SELECT count(*) FROM line_items") == s.rows_imported
        assert _one(db, "SELECT count(*) FROM rejects") == s.rows_rejected
        assert sum(s.rejected_by_reason.values()) == s.rows_rejected
        assert _one(db, "SELECT count(*) FROM imports") == 1
        conn = sqlite3.connect(db)
        try:
            amounts = [a for (a,) in conn.execute("SELECT amount FROM line_items")]
            rows = [r for (r,) in conn.execute("SELECT row FROM rejects")]
        finally:
            conn.close()
        assert sum(amounts) == s.amount_total_minor
        assert all(1 <= r <= s.rows_read for r in rows) and len(set(rows)) == len(rows)


@FUZZ
@given(data=csv_files(), delimiter=st.sampled_from([",", ",", ";", "\t"]))
def test_fuzz_csv_import_never_crashes_and_loses_no_row(data: bytes, delimiter: str) -> None:
    _check_import(data, ".csv", delimiter)


@FUZZ
@given(data=st.one_of(jsonl_files(), st.binary(max_size=300)))
def test_fuzz_json_lines_import_never_crashes_and_loses_no_row(data: bytes) -> None:
    _check_import(data, ".jsonl")


# --- the rule language -----------------------------------------------------------------------

TOKENS = [
    "margin", "revenue", "health", "industry", "rfm_segment", "did", '"login"', '"invite_team"', "in", "30d", "7d",
    "next", "times", ">=", "<", "=", "!=", "and", "or", "not", "(", ")", "between", "first", "active_days",
    "0", "-1", "10.5", "1e9", "99999999999999999999999", '"At Risk"', '("a", "b")', ",", "%", "renewal_day",
    '"', "\\", "\n", "é", "∞", "\x00", "  ",
]

FRAME = pl.DataFrame(
    {
        "account": [1, 2, 3],
        "margin": [-500, 0, 12_000],
        "revenue": [1_000, 0, None],
        "health": [10, 50, 90],
        "industry": ["fintech", None, "retail"],
        "rfm_segment": ["At Risk", "Champions", "Lost"],
        "renewal_day": [19_800, None, 20_000],
    },
    schema_overrides={"renewal_day": pl.Int32},
)


@st.composite
def rule_texts(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 4)) == 0:
        return draw(st.text(max_size=60))
    return " ".join(draw(st.lists(st.sampled_from(TOKENS), max_size=14)))


def _assert_points_inside(e: BaseException, text: str) -> None:
    assert isinstance(e, RuleError), repr(e)
    lines = text.split("\n")
    assert 1 <= e.line <= max(1, len(lines)), (e.line, text)
    assert 1 <= e.column <= len(lines[e.line - 1]) + 1, (e.column, text, str(e))
    assert e.message.strip()


@RULE_FUZZ
@given(text=rule_texts())
def test_fuzz_rule_parser_never_panics_and_errors_point_inside(text: str) -> None:
    try:
        parse_rules(text)
    except RuleError as e:
        _assert_points_inside(e, text)
        return
    # it parses: compiling and evaluating against a small frame ends in a result or a RuleError
    try:
        out = filter_accounts(FRAME, text, as_of=20_000, units={"renewal_day": "day"}, warn=lambda w: None)
    except RuleError as e:
        _assert_points_inside(e, text)
        return
    except DataError as e:  # e.g. the rule needs events and none are given
        assert str(e).strip()
        return
    assert set(out["account"].to_list()) <= {1, 2, 3}


@RULE_FUZZ
@given(texts=st.lists(rule_texts(), min_size=1, max_size=4))
def test_fuzz_rule_check_in_the_core_reports_which_rule(texts: list[str]) -> None:
    metrics = [("margin", "money:2"), ("revenue", "money:2"), ("health", "int"), ("industry", "text"),
               ("rfm_segment", "text"), ("renewal_day", "day"), ("active_days", "int")]
    try:
        out = _core.rules_check(texts, metrics, ["login", "invite_team"])
    except _core.RuleError as e:
        message, index, line, column, length = e.args
        assert 0 <= index < len(texts) and message
        lines = texts[index].split("\n")
        assert 1 <= line <= max(1, len(lines)) and 1 <= column <= len(lines[line - 1]) + 1, (texts[index], e.args)
        assert length >= 0
        return
    assert len(out) == len(texts)
