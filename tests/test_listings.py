"""`segtui segments|accounts|account|export`: every format, filters, `--where` parsing and its
safety, the stable export column set."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from test_store_io import add_rows, small_world

from segtui import queries
from segtui.cli import cli
from segtui.errors import ConfigError, DataError
from segtui.output import FORMATS
from segtui.scoring import score_store

EXPORT_COLUMNS = [
    "account_id", "as_of", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score",
    "rfm_segment", "rfm5_segment", "revenue", "direct_cost", "allocated_cost", "margin", "margin_pct",
    "quadrant", "churn_risk", "churn_band", "churn_reasons", "health", "health_band", "lifecycle", "tier",
    "size_band", "industry", "region",
]  # fmt: skip


@pytest.fixture
def scored(db_path: Path) -> Path:
    small_world(db_path)
    score_store(db_path)
    return db_path


def run(db: Path, *args: str) -> tuple[int, bytes, str]:
    r = CliRunner().invoke(cli, ["--db", str(db), "-q", *args])
    if r.exception and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stdout_bytes, r.stderr


def proc(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "segtui.cli", "--db", str(db), "-q", *args], capture_output=True, text=True)


def parse(fmt: str, data: bytes) -> pl.DataFrame:
    if fmt == "csv":
        return pl.read_csv(io.BytesIO(data), infer_schema=False)
    if fmt == "json":
        return pl.DataFrame(json.loads(data))
    if fmt == "ndjson":
        return pl.DataFrame([json.loads(line) for line in data.splitlines() if line])
    if fmt == "parquet":
        return pl.from_arrow(pq.read_table(io.BytesIO(data)))  # type: ignore[return-value]
    raise AssertionError(fmt)


# ------------------------------------------------------------------------------------------
# every listing, every format


@pytest.mark.parametrize("fmt", FORMATS)
def test_segments_in_every_format(scored: Path, fmt: str) -> None:
    code, out, _ = run(scored, "segments", "--format", fmt)
    assert code == 0
    if fmt == "table":
        text = out.decode()
        assert text.splitlines()[0].split()[:3] == ["segment", "accounts", "accounts_pct"]
        assert "Potential Loyalist" in text and "No Purchase" in text
        return
    df = parse(fmt, out)
    assert df.columns == [
        "segment", "accounts", "accounts_pct", "revenue", "revenue_pct", "margin", "margin_pct",
        "mean_r", "mean_f", "mean_m", "high_risk",
    ]  # fmt: skip
    assert df.height == 12
    loyal = df.filter(pl.col("segment") == "Loyal").row(0, named=True)
    if fmt == "csv":
        assert loyal["revenue"] == "950.00"
    elif fmt == "parquet":
        assert str(loyal["revenue"]) == "950.00"
    else:
        assert loyal["revenue"] == 950.0


@pytest.mark.parametrize("fmt", FORMATS)
def test_accounts_in_every_format_with_the_stable_columns(scored: Path, fmt: str) -> None:
    code, out, _ = run(scored, "accounts", "--format", fmt)
    assert code == 0
    if fmt == "table":
        assert out.decode().splitlines()[0].split() == EXPORT_COLUMNS
        return
    df = parse(fmt, out)
    assert df.columns == EXPORT_COLUMNS
    assert df.height == 6
    a1 = df.filter(pl.col("account_id") == "A1").row(0, named=True)
    if fmt == "csv":
        assert (a1["revenue"], a1["direct_cost"], a1["as_of"]) == ("210.50", "40.00", "2025-06-30")
    elif fmt in ("json", "ndjson"):
        assert (a1["revenue"], a1["direct_cost"], a1["as_of"]) == (210.5, 40.0, "2025-06-30")
    else:
        assert str(a1["revenue"]) == "210.50" and a1["as_of"] == date(2025, 6, 30)


def test_output_file_and_stdout_are_the_same_bytes(scored: Path, tmp_path: Path) -> None:
    for fmt in FORMATS:
        out_file = tmp_path / f"a.{fmt}"
        code, out, _ = run(scored, "accounts", "--format", fmt, "--output", str(out_file))
        assert code == 0 and out == b""
        _, direct, _ = run(scored, "accounts", "--format", fmt)
        assert out_file.read_bytes() == direct, fmt


def test_margin_pct_is_percent_and_null_without_revenue(scored: Path) -> None:
    df = queries.accounts_frame(scored, queries.latest_snapshot(scored).id)  # type: ignore[union-attr]
    a1 = df.filter(pl.col("account_id") == "A1").row(0, named=True)
    assert a1["margin_pct"] == round(a1["margin"] * 100 / a1["revenue"], 2)
    e5 = df.filter(pl.col("account_id") == "E5").row(0, named=True)
    assert e5["margin_pct"] is None and e5["recency_days"] is None and e5["rfm_segment"] == "No Purchase"


# ------------------------------------------------------------------------------------------
# filters


def test_filters_match_labels_loosely_and_combine(scored: Path) -> None:
    _, out, _ = run(scored, "accounts", "--segment", "potential loyalist", "--format", "csv")
    assert sorted(parse("csv", out)["account_id"]) == ["D4", "F6"]
    _, out, _ = run(scored, "accounts", "--segment", "Lost", "--segment", "loyal", "--format", "csv")
    assert sorted(parse("csv", out)["account_id"]) == ["B2", "C3"]
    _, out, _ = run(scored, "accounts", "--rfm5", "loyal", "--risk", "LOW", "--format", "csv")
    got = parse("csv", out)
    assert set(got["rfm5_segment"]) == {"Loyal"} and set(got["churn_band"]) == {"low"}
    _, out, _ = run(scored, "accounts", "--quadrant", "high-revenue-high-cost", "--format", "csv")
    assert set(parse("csv", out)["quadrant"]) == {"high revenue, high cost"}
    # a segment of the map with no account: empty, not an error
    code, out, _ = run(scored, "accounts", "--segment", "Champions", "--format", "csv")
    assert code == 0 and parse("csv", out).height == 0


def test_unknown_labels_list_the_known_ones(scored: Path) -> None:
    with pytest.raises(ConfigError, match="no rfm_segment 'Whales'.*known: About to Sleep, At Risk"):
        run(scored, "accounts", "--segment", "Whales")
    p = proc(scored, "accounts", "--stage", "zombie")
    assert p.returncode == 2 and "--stage: no lifecycle 'zombie'" in p.stderr and p.stdout == ""


def test_where_on_numeric_columns(scored: Path) -> None:
    snap = queries.latest_snapshot(scored).id  # type: ignore[union-attr]
    full = queries.snapshot_frame(scored, snap)
    _, out, _ = run(scored, "accounts", "--where", "margin<0", "--format", "csv")
    assert sorted(parse("csv", out)["account_id"]) == sorted(full.filter(pl.col("margin") < 0)["account_id"])
    # money in currency units, exact; several conditions; percent for margin_pct
    got = queries.accounts_frame(scored, snap, queries.AccountFilter(where=["revenue>=210.50 and health > 0", "margin_pct<90"]))
    want = full.filter((pl.col("revenue") >= 21050) & (pl.col("health") > 0) & (pl.col("margin_pct") < 90))
    assert sorted(got["account_id"]) == sorted(want["account_id"]) and got.height > 0
    got = queries.accounts_frame(scored, snap, queries.AccountFilter(where=["recency_days <= 29, frequency == 2"]))
    assert sorted(got["account_id"]) == ["B2", "F6"]
    got = queries.accounts_frame(scored, snap, queries.AccountFilter(where=["cost != 0"]))
    assert sorted(got["account_id"]) == sorted(full.filter(pl.col("direct_cost") + pl.col("allocated_cost") != 0)["account_id"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("margin", "expected COLUMN OP NUMBER"),
        ("margn<0", "unknown column 'margn'; numeric columns: recency_days"),
        ("rfm_segment=1", "unknown column 'rfm_segment'"),
        ("margin<abc", "'abc' is not a number"),
        ("margin<1e3", "'1e3' is not a number"),
        ("revenue>10.005", "revenue is money: at most 2 decimals"),
        ("frequency>1.5", "frequency takes whole numbers"),
        ("margin<0 and", "expected COLUMN OP NUMBER"),
        ("margin=>0", "is not a number"),
        ("margin<0; DROP TABLE accounts", "is not a number"),
        ("margin<0 or 1=1", "is not a number"),
        ("1=1", "expected COLUMN OP NUMBER"),
        ("margin<0) OR (1", "is not a number"),
        ("health>99999999999999999999", "out of range"),
    ],
)
def test_where_errors_are_clear_and_nothing_reaches_sql(scored: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        queries.parse_where(text)
    p = proc(scored, "accounts", "--where", text)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.startswith("error: --where")
    conn = sqlite3.connect(scored)
    assert conn.execute("SELECT count(*) FROM accounts").fetchone()[0] == 6


def test_label_values_are_parameters(scored: Path) -> None:
    with pytest.raises(ConfigError):
        run(scored, "accounts", "--segment", "x' OR '1'='1")
    # even when a label contains SQL, it is only ever compared as a value
    snap = queries.latest_snapshot(scored).id  # type: ignore[union-attr]
    conn = sqlite3.connect(scored)
    conn.execute("UPDATE snapshot_accounts SET lifecycle = ? WHERE account = 1", ("x'); DROP TABLE accounts; --",))
    conn.commit()
    got = queries.accounts_frame(scored, snap, queries.AccountFilter(stage=["x'); DROP TABLE accounts; --"]))
    assert got["account_id"].to_list() == ["A1"]
    assert conn.execute("SELECT count(*) FROM accounts").fetchone()[0] == 6


def test_sort_and_limit(scored: Path) -> None:
    _, out, _ = run(scored, "accounts", "--sort", "revenue:desc", "--limit", "3", "--format", "csv")
    assert parse("csv", out)["account_id"].to_list() == ["B2", "A1", "C3"]
    _, out, _ = run(scored, "accounts", "--sort", "recency_days", "--format", "csv")
    ids = parse("csv", out)["account_id"].to_list()
    assert ids[0] == "F6" and ids[-1] == "E5"  # nulls last
    with pytest.raises(ConfigError, match="--sort 'bogus'"):
        run(scored, "accounts", "--sort", "bogus")
    with pytest.raises(ConfigError, match="asc or desc"):
        run(scored, "accounts", "--sort", "revenue:up")


def test_table_shows_the_first_100_rows_unless_asked(db_path: Path) -> None:
    add_rows(db_path, lines=[(f"K{i:03d}", "2025-01-01", 100 + i, f"I{i}") for i in range(130)])
    score_store(db_path)
    r = CliRunner().invoke(cli, ["--db", str(db_path), "accounts"])
    assert r.exit_code == 0
    assert len(r.stdout.splitlines()) == 2 + 100
    assert "showing the first 100 accounts" in r.stderr
    r = CliRunner().invoke(cli, ["--db", str(db_path), "accounts", "--format", "csv"])
    assert len(r.stdout.splitlines()) == 1 + 130 and r.stderr == ""
    r = CliRunner().invoke(cli, ["--db", str(db_path), "accounts", "--limit", "120"])
    assert len(r.stdout.splitlines()) == 2 + 120 and r.stderr == ""


# ------------------------------------------------------------------------------------------
# snapshots


def test_snapshot_by_id_date_and_latest(scored: Path) -> None:
    early = score_store(scored, as_of=date(2025, 3, 31))
    latest = queries.latest_snapshot(scored)
    assert latest is not None and latest.as_of == date(2025, 6, 30)
    assert queries.resolve_snapshot(scored, None).id == latest.id
    assert queries.resolve_snapshot(scored, "2025-03-31").id == early.id
    assert queries.resolve_snapshot(scored, str(early.id)).as_of == date(2025, 3, 31)
    _, out, _ = run(scored, "accounts", "--snapshot", "2025-03-31", "--format", "csv")
    assert set(parse("csv", out)["as_of"]) == {"2025-03-31"}
    with pytest.raises(DataError, match="no snapshot as of 2024-01-01"):
        queries.resolve_snapshot(scored, "2024-01-01")
    with pytest.raises(DataError, match="no snapshot 999"):
        queries.resolve_snapshot(scored, "999")
    with pytest.raises(ConfigError, match="expected a snapshot id or a date"):
        queries.resolve_snapshot(scored, "last week")
    snaps = queries.list_snapshots(scored)
    assert snaps["as_of"].to_list() == [date(2025, 3, 31), date(2025, 6, 30)]


def test_no_snapshot_yet_is_a_data_error(db_path: Path) -> None:
    small_world(db_path)
    p = proc(db_path, "segments")
    assert p.returncode == 1 and "no snapshot" in p.stderr and "segtui score" in p.stderr


def test_snapshot_frame_has_everything_for_the_tui(scored: Path) -> None:
    snap = queries.latest_snapshot(scored)
    assert snap is not None
    df = queries.snapshot_frame(scored, snap.id)
    assert df.columns[: len(EXPORT_COLUMNS)] == EXPORT_COLUMNS
    assert {"account", "name", "plan", "employees", "mrr", "seats", "seat_limit", "signup_day", "renewal_day", "primary_segment"} <= set(df.columns)
    assert df.height == snap.accounts
    assert df["account"].to_list() == sorted(df["account"].to_list())
    b2 = df.filter(pl.col("account_id") == "B2").row(0, named=True)
    assert (b2["name"], b2["industry"], b2["employees"], b2["mrr"], b2["size_band"]) == ("Bolt", "SaaS", 1500, 99000, "Enterprise")
    assert df.schema["as_of"] == pl.Date and df.schema["signup_day"] == pl.Date


# ------------------------------------------------------------------------------------------
# one account


def test_account_table_json_and_sections(scored: Path) -> None:
    code, out, _ = run(scored, "account", "A1")
    text = out.decode()
    assert code == 0
    for section in ("== summary ==", "== history ==", "== costs ==", "== pools ==", "== line-items =="):
        assert section in text
    assert "churn_reasons" in text and "Acme" in text
    _, out, _ = run(scored, "account", "A1", "--format", "json")
    doc = json.loads(out)
    assert set(doc) == {"summary", "history", "costs", "pools", "line_items"}
    assert doc["summary"]["account_id"] == "A1" and doc["summary"]["revenue"] == 210.5
    assert doc["summary"]["churn_reasons"] == "inactive_beyond_usual_gap" or isinstance(doc["summary"]["churn_reasons"], str)
    assert doc["costs"] == [{"category": "support", "rows": 1, "cost": 40.0}]
    assert doc["pools"][0]["category"] == "hosting" and doc["pools"][0]["account_allocated"] == doc["summary"]["allocated_cost"]
    assert [li["amount"] for li in doc["line_items"]] == [-20.0, 80.0, 30.5, 120.0]
    assert len(doc["history"]) == 1
    _, out, _ = run(scored, "account", "A1", "--section", "line-items", "--lines", "2", "--format", "csv")
    assert parse("csv", out)["amount"].to_list() == ["-20.00", "80.00"]
    _, out, _ = run(scored, "account", "A1", "--format", "parquet")
    assert parse("parquet", out)["account_id"].to_list() == ["A1"]


def test_account_absent_from_the_snapshot_or_unknown(scored: Path) -> None:
    add_rows(scored, accounts=[{"key": "LATE", "name": "Late Co"}], lines=[("LATE", "2025-09-01", 500, "INV-L")])
    code, out, _ = run(scored, "account", "LATE", "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["summary"]["name"] == "Late Co" and doc["summary"]["revenue"] is None
    assert doc["line_items"] == []  # after the as-of date
    p = proc(scored, "account", "NOBODY")
    assert p.returncode == 1 and "no account 'NOBODY'" in p.stderr


# ------------------------------------------------------------------------------------------
# export


def test_export_formats_from_the_extension(scored: Path, tmp_path: Path) -> None:
    for ext in ("csv", "json", "ndjson", "parquet"):
        f = tmp_path / f"accounts.{ext}"
        code, out, _ = run(scored, "export", "accounts", str(f))
        assert code == 0 and out == b""
        df = parse(ext, f.read_bytes())
        assert df.columns == EXPORT_COLUMNS and df.height == 6
        _, direct, _ = run(scored, "accounts", "--format", ext)
        assert f.read_bytes() == direct
    f = tmp_path / "segments.csv"
    run(scored, "export", "segments", str(f), "--map", "rfm5")
    seg = parse("csv", f.read_bytes())
    assert seg["segment"].to_list() == ["Champions", "Loyal", "At Risk", "Dormant", "Lost", "No Purchase"]
    f = tmp_path / "lines.csv"
    run(scored, "export", "line-items", str(f), "--since", "2025-06-01", "--until", "2025-06-30")
    li = parse("csv", f.read_bytes())
    assert li.columns == ["account_id", "day", "invoice", "sku", "description", "quantity", "unit_price", "amount", "is_cancel"]
    assert li["day"].to_list() == ["2025-06-01", "2025-06-15", "2025-06-29", "2025-06-30"]
    assert li["amount"].to_list() == ["450.00", "7.00", "1.00", "1.00"]
    f = tmp_path / "a1.json"
    run(scored, "export", "line-items", str(f), "--account", "A1")
    assert len(json.loads(f.read_bytes())) == 4


def test_export_refuses_an_unknown_extension(scored: Path, tmp_path: Path) -> None:
    p = proc(scored, "export", "accounts", str(tmp_path / "x.xlsx"))
    assert p.returncode == 2 and "cannot tell the format" in p.stderr
    assert not (tmp_path / "x.xlsx").exists()


def test_export_accounts_matches_the_store(scored: Path, tmp_path: Path) -> None:
    f = tmp_path / "a.parquet"
    run(scored, "export", "accounts", str(f))
    df = parse("parquet", f.read_bytes())
    total = sum(int(v * 100) for v in df["revenue"].to_list())
    assert total == queries.store_net_revenue(scored, date(2025, 6, 30))


# ------------------------------------------------------------------------------------------
# the snapshot frame cache


def test_snapshot_frame_is_cached_and_never_stale(scored: Path) -> None:
    snap = queries.latest_snapshot(scored)
    assert snap is not None
    cache_dir = queries.frame_cache_dir(scored)
    uncached = queries.snapshot_frame(scored, snap.id, cache=False)
    assert not cache_dir.exists()
    first = queries.snapshot_frame(scored, snap.id)
    files = list(cache_dir.glob("snapshot-*.arrow"))
    assert len(files) == 1 and (files[0].stat().st_mode & 0o777) == 0o600
    second = queries.snapshot_frame(scored, snap.id)
    assert first.equals(uncached) and second.equals(uncached)
    # an import (firmographics may change) makes it stale
    add_rows(scored, accounts=[{"key": "A1", "name": "Acme Renamed"}])
    third = queries.snapshot_frame(scored, snap.id)
    assert third.filter(pl.col("account_id") == "A1")["name"].item() == "Acme Renamed"
    assert len(list(cache_dir.glob("snapshot-*.arrow"))) == 1
    # a damaged file is rebuilt
    f = next(cache_dir.glob("snapshot-*.arrow"))
    f.write_bytes(b"garbage")
    assert queries.snapshot_frame(scored, snap.id).equals(third)
    # rescoring makes another snapshot id; at most FRAME_CACHE_KEEP frames are kept
    for day in ("2025-04-30", "2025-05-31", "2025-06-15"):
        s = score_store(scored, as_of=date.fromisoformat(day))
        queries.snapshot_frame(scored, s.id)
    assert len(list(cache_dir.glob("snapshot-*.arrow"))) == queries.FRAME_CACHE_KEEP
    queries.invalidate_frames(scored)
    assert not list(cache_dir.glob("snapshot-*.arrow"))


def test_snapshot_frame_with_sparse_account_ids(db_path: Path) -> None:
    small_world(db_path)
    conn = sqlite3.connect(db_path)
    conn.execute("INSERT INTO accounts(id, account_key, name) VALUES (50, 'GAP', 'Gap Ltd')")
    conn.execute(
        "INSERT INTO line_items(account, day, ts, invoice_key, amount, import_id, nkey) VALUES (50, ?, 0, 0, 1234, 1, x'00ff')",
        (queries.date_to_day(date(2025, 6, 1)),),
    )
    conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'data_version'")
    conn.commit()
    info = score_store(db_path)
    df = queries.snapshot_frame(db_path, info.id, cache=False)
    assert df["account_id"].to_list() == ["A1", "B2", "C3", "D4", "E5", "F6", "GAP"]
    gap = df.filter(pl.col("account") == 50).row(0, named=True)
    assert (gap["name"], gap["revenue"]) == ("Gap Ltd", 1234)
    assert df.filter(pl.col("account") == 2)["name"].item() == "Bolt"
