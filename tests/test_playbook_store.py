"""Primary segments, playbooks and `accounts --rule` on a real (small demo) store, through
the command line, checked against independent SQL and polars computations."""

from __future__ import annotations

import io
import shutil
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from segtui.cli import cli, main
from segtui.demo import build_demo_store
from segtui.scoring import score_store

EPOCH = date(1970, 1, 1)
TOML = """
[segments.Whales]
rule = 'revenue >= 20000 and margin > 0'
action = "account review with the CEO"
owner = "ana"
due_days = 5

[segments."Login drop"]
rule = 'did "login" >= 3 times in 60d and not did "login" in 14d'
owner = "bo"
action = "check in"

[playbooks]
default_owner = "cs"

[primary]
order = ["Whales", "risk:high", "Login drop", "rfm"]
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pb")
    db = build_demo_store(d / "demo.db", accounts=300, seed=11)
    (d / "segtui.toml").write_text(TOML, encoding="utf-8")
    score_store(db, as_of=date(2025, 11, 30))
    score_store(db, as_of=date(2025, 12, 31))
    return db


def run(db: Path, *args: str) -> str:
    res = CliRunner().invoke(cli, ["--db", str(db), *args], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.stdout


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The real entry point (errors mapped to exit codes and messages)."""
    with pytest.raises(SystemExit) as e:
        main(list(args))
    out = capsys.readouterr()
    return int(e.value.code or 0), out.out, out.err


def snap_ids(db: Path) -> dict[date, int]:
    with sqlite3.connect(db) as c:
        return {EPOCH + timedelta(days=d): i for i, d in c.execute("SELECT id, as_of_day FROM snapshots")}


def logins(db: Path, as_of: date, window: int) -> pl.DataFrame:
    """Login counts per account in the window, straight from SQL."""
    d = (as_of - EPOCH).days
    with sqlite3.connect(db) as c:
        rows = c.execute(
            "SELECT e.account, count(*) FROM events e JOIN event_kinds k ON k.id = e.kind "
            "WHERE k.name = 'login' AND e.day <= ? AND e.day > ? GROUP BY e.account",
            (d, d - window),
        ).fetchall()
    return pl.DataFrame(rows, schema={"account": pl.Int64, f"l{window}": pl.Int64}, orient="row")


def reference_primary(db: Path, as_of: date, sid: int) -> pl.DataFrame:
    """The primary segment of every account computed independently (SQL + polars)."""
    with sqlite3.connect(db) as c:
        rows = c.execute(
            "SELECT account, revenue, margin, churn_band, rfm_segment FROM snapshot_accounts WHERE snapshot = ?", (sid,)
        ).fetchall()
    f = pl.DataFrame(rows, schema=["account", "revenue", "margin", "churn_band", "rfm_segment"], orient="row")
    f = f.join(logins(db, as_of, 60), on="account", how="left").join(logins(db, as_of, 14), on="account", how="left")
    f = f.with_columns(pl.col("l60").fill_null(0), pl.col("l14").fill_null(0))
    return f.select(
        "account",
        pl.when((pl.col("revenue") >= 2_000_000) & (pl.col("margin") > 0)).then(pl.lit("Whales"))
        .when(pl.col("churn_band") == "high").then(pl.lit("risk:high"))
        .when((pl.col("l60") >= 3) & (pl.col("l14") == 0)).then(pl.lit("Login drop"))
        .otherwise(pl.col("rfm_segment")).alias("want"),
    )


def stored_primary(db: Path, sid: int) -> pl.DataFrame:
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT account, primary_segment FROM snapshot_accounts WHERE snapshot = ?", (sid,)).fetchall()
    return pl.DataFrame(rows, schema=["account", "primary_segment"], orient="row")


def test_primary_is_stored_and_matches_an_independent_computation(store: Path) -> None:
    ids = snap_ids(store)
    out = run(store, "primary", "--snapshot", "2025-11-30", "--format", "csv")
    summary = pl.read_csv(io.StringIO(out))
    assert summary.columns == ["primary_segment", "accounts", "share", "revenue", "owner", "due_days", "action"]
    got = stored_primary(store, ids[date(2025, 11, 30)]).join(
        reference_primary(store, date(2025, 11, 30), ids[date(2025, 11, 30)]), on="account"
    )
    assert got.height > 250
    bad = got.filter(pl.col("primary_segment") != pl.col("want"))
    assert bad.height == 0, bad.head(5)
    # every segment of the order shows up in this world
    present = set(got.get_column("want").to_list())
    assert {"Whales", "risk:high", "Login drop"} <= present
    assert summary.get_column("accounts").sum() == got.height
    whales = summary.filter(pl.col("primary_segment") == "Whales").row(0, named=True)
    assert (whales["owner"], whales["due_days"], whales["action"]) == ("ana", 5, "account review with the CEO")


def test_playbook_lists_exactly_the_accounts_that_changed_segment(store: Path) -> None:
    ids = snap_ids(store)
    out = run(store, "playbook", "--format", "csv", "--all")
    todo = pl.read_csv(io.StringIO(out), schema_overrides={"due": pl.Date, "as_of": pl.Date})
    a = stored_primary(store, ids[date(2025, 11, 30)]).rename({"primary_segment": "before"})
    b = stored_primary(store, ids[date(2025, 12, 31)]).rename({"primary_segment": "after"})
    with sqlite3.connect(store) as c:
        keys = dict(c.execute("SELECT id, account_key FROM accounts").fetchall())
    moved = b.join(a, on="account", how="left").filter(pl.col("before").is_null() | (pl.col("before") != pl.col("after")))
    assert sorted(todo.get_column("account_id").to_list()) == sorted(keys[i] for i in moved.get_column("account").to_list())
    # due dates and owners come from the playbooks
    for row in todo.iter_rows(named=True):
        seg = row["segment"]
        if seg == "Whales":
            assert (row["owner"], row["due"]) == ("ana", date(2025, 12, 31) + timedelta(days=5))
        elif seg == "Login drop":
            assert (row["owner"], row["due"], row["action"]) == ("bo", None, "check in")
        elif seg == "At Risk":
            assert (row["owner"], row["due"]) == ("cs", date(2026, 1, 3))
        elif seg == "No Purchase":
            assert row["action"] is None
    assert todo.get_column("owner").to_list() == sorted(todo.get_column("owner").to_list())
    # without --all, segments without a playbook are left out; --owner filters
    plain = pl.read_csv(io.StringIO(run(store, "playbook", "--format", "csv")))
    assert "No Purchase" not in plain.get_column("segment").to_list()
    bo = pl.read_csv(io.StringIO(run(store, "playbook", "--format", "csv", "--owner", "bo")))
    assert set(bo.get_column("owner").to_list()) <= {"bo"}


def test_playbook_json_and_comparing_with_an_explicit_snapshot(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(store, "playbook", "--snapshot", "2025-12-31", "--since", "2025-11-30", "--format", "json")
    rows = pl.read_json(io.StringIO(out))
    assert rows.height > 0 and "due" in rows.columns
    code, _, err = run_main(capsys, "--db", str(store), "playbook", "--snapshot", "2025-11-30", "--since", "2025-12-31")
    assert code == 2 and "--since 2025-12-31 is after the snapshot (2025-11-30)" in err


def test_accounts_rule_matches_sql(store: Path) -> None:
    ids = snap_ids(store)
    rule = 'did "login" >= 3 times in 60d and not did "login" in 14d and margin > 0'
    out = run(store, "accounts", "--rule", rule, "--format", "csv", "--sort", "revenue:desc")
    got = pl.read_csv(io.StringIO(out))
    with sqlite3.connect(store) as c:
        snap = pl.DataFrame(
            c.execute("SELECT s.account, a.account_key, s.margin, s.revenue FROM snapshot_accounts s JOIN accounts a ON a.id = s.account "
                      "WHERE snapshot = ?", (ids[date(2025, 12, 31)],)).fetchall(),
            schema=["account", "key", "margin", "revenue"], orient="row",
        )
    want = (
        snap.join(logins(store, date(2025, 12, 31), 60), on="account", how="left")
        .join(logins(store, date(2025, 12, 31), 14), on="account", how="left")
        .filter((pl.col("l60").fill_null(0) >= 3) & pl.col("l14").is_null() & (pl.col("margin") > 0))
        .sort(["revenue", "account"], descending=[True, False])
    )
    assert want.height > 0
    assert got.get_column("account_id").to_list() == want.get_column("key").to_list()
    # the listing's own filters and limit still apply, after the rule
    two = pl.read_csv(io.StringIO(run(store, "accounts", "--rule", rule, "--format", "csv", "--sort", "revenue:desc", "--limit", "2")))
    assert two.get_column("account_id").to_list() == want.get_column("key").to_list()[:2]


def test_accounts_rule_errors_are_usage_errors_with_a_caret(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "--db", str(store), "accounts", "--rule", "margin < 0 and did login in 7d")
    assert code == 2 and out == ""
    assert err == (
        "error: rule, column 20: expected an event name in quotes after `did`, found `login`: write \"login\"\n"
        "    margin < 0 and did login in 7d\n"
        "                       ^^^^^\n"
    )
    code, _, err = run_main(capsys, "--db", str(store), "accounts", "--rule", "margn < 0")
    assert code == 2 and "unknown metric `margn` (did you mean `margin`?)" in err


def test_primary_follows_an_edited_configuration(store: Path, tmp_path: Path) -> None:
    db = tmp_path / "copy.db"
    shutil.copy(store, db)
    (tmp_path / "segtui.toml").write_text('[primary]\norder = ["risk"]\n', encoding="utf-8")
    run(db, "primary", "--snapshot", "2025-12-31")
    ids = snap_ids(db)
    got = stored_primary(db, ids[date(2025, 12, 31)]).get_column("primary_segment").unique().to_list()
    assert set(got) <= {"risk:low", "risk:medium", "risk:high"}
