"""The demo world: deterministic, realistic, well-formed; and the demo store and command built on it."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import polars as pl
import pytest

from segtui.demo import EVENTS, World, generate_world, write_world

N = 2000


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(N, seed=7)


@pytest.fixture(scope="module")
def rich() -> World:
    """The demo store's density: more lines and events per account."""
    return generate_world(3000, seed=11, lines_per_account=24, events_per_account=60, cost_rows_per_account=3)


def cents(df: pl.DataFrame, col: str = "amount") -> pl.Expr:
    return (pl.col(col) * 100).cast(pl.Int64)


def net_revenue(w: World) -> pl.DataFrame:
    return w.line_items.group_by("account_id").agg(revenue=cents(w.line_items).sum())


# -- determinism ---------------------------------------------------------------------------------


def test_same_seed_gives_identical_frames(world: World) -> None:
    again = generate_world(N, seed=7)
    for name in ("accounts", "line_items", "costs", "events", "profiles"):
        assert getattr(world, name).equals(getattr(again, name)), name


def test_different_seed_gives_a_different_world(world: World) -> None:
    other = generate_world(N, seed=8)
    assert not world.line_items.equals(other.line_items)
    assert not world.events.equals(other.events)
    assert not world.accounts["employees"].equals(other.accounts["employees"])


def test_many_chunks_are_deterministic_too() -> None:
    # more accounts than one generation chunk: chunks are seeded by their index, not by memory
    from segtui import demo

    a = generate_world(demo.ACCOUNT_CHUNK + 500, seed=3, lines_per_account=1, events_per_account=1, cost_rows_per_account=0.5)
    b = generate_world(demo.ACCOUNT_CHUNK + 500, seed=3, lines_per_account=1, events_per_account=1, cost_rows_per_account=0.5)
    assert a.line_items.equals(b.line_items) and a.events.equals(b.events) and a.costs.equals(b.costs)
    assert a.line_items["account_id"].str.slice(2).cast(pl.Int64).max() > demo.ACCOUNT_CHUNK


# -- shape and sizes -----------------------------------------------------------------------------


def test_columns_follow_the_generic_presets(world: World) -> None:
    assert world.accounts.columns == [
        "account_id", "name", "industry", "employees", "region", "plan", "signup_at", "renewal_at", "mrr", "seats", "seat_limit",
    ]
    assert world.line_items.columns == [
        "account_id", "occurred_at", "invoice_id", "sku", "description", "quantity", "unit_price", "amount", "currency",
    ]
    assert world.costs.columns == ["occurred_at", "category", "amount", "account_id", "driver_units"]
    assert world.events.columns == ["account_id", "occurred_at", "event", "value"]


def test_sizes_match_the_requested_densities(world: World) -> None:
    assert world.accounts.height == N
    assert world.accounts["account_id"].n_unique() == N
    assert world.accounts["account_id"].str.contains(r"^AC\d{6}$").all()
    assert abs(world.line_items.height / (10 * N) - 1) < 0.05
    assert abs(world.events.height / (20 * N) - 1) < 0.03
    assert abs(world.costs.height / (2 * N) - 1) < 0.10


def test_every_referenced_account_exists(world: World) -> None:
    ids = set(world.accounts["account_id"])
    for df in (world.line_items, world.events, world.costs.drop_nulls("account_id")):
        assert set(df["account_id"].unique()) <= ids


def test_dates_stay_inside_the_two_years(world: World) -> None:
    start, end = dt.datetime(2024, 1, 1), dt.datetime(2026, 1, 1)
    assert world.start == dt.date(2024, 1, 1) and world.end == dt.date(2025, 12, 31)
    for df in (world.line_items, world.events):
        assert df["occurred_at"].min() >= start and df["occurred_at"].max() < end
    assert world.costs["occurred_at"].min() >= start.date()
    assert world.costs["occurred_at"].max() <= end.date() - dt.timedelta(days=1)
    assert world.accounts["signup_at"].max() <= dt.date(2025, 12, 31)
    # each account's activity starts no earlier than its signup
    first = world.line_items.group_by("account_id").agg(pl.col("occurred_at").min().dt.date().alias("first"))
    joined = first.join(world.accounts.select("account_id", "signup_at"), on="account_id")
    assert (joined["first"] >= joined["signup_at"]).all()


def test_another_end_date_moves_the_window() -> None:
    w = generate_world(200, seed=1, end=dt.date(2024, 6, 30))
    assert w.start == dt.date(2022, 7, 1)
    for df in (w.line_items, w.events):
        assert df["occurred_at"].min() >= dt.datetime(2022, 7, 1)
        assert df["occurred_at"].max() < dt.datetime(2024, 7, 1)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="n_accounts"):
        generate_world(0)
    with pytest.raises(ValueError, match="seed"):
        generate_world(10, seed=-1)
    with pytest.raises(ValueError, match="lines_per_account"):
        generate_world(10, lines_per_account=float("nan"))


# -- money ---------------------------------------------------------------------------------------


def test_amount_is_quantity_times_unit_price_exactly(world: World) -> None:
    li = world.line_items
    assert li.filter(cents(li, "amount") != pl.col("quantity") * cents(li, "unit_price")).height == 0
    assert (li["unit_price"] > 0).all()
    assert li["currency"].unique().to_list() == ["USD"]


def test_written_money_has_exactly_two_decimals(world: World, tmp_path: Path) -> None:
    paths = write_world(world, tmp_path)
    two = r"^-?\d+\.\d{2}$"
    for kind, cols in {"line-items": ["unit_price", "amount"], "costs": ["amount"], "accounts": ["mrr"]}.items():
        df = pl.read_csv(paths[kind], infer_schema=False)
        for col in cols:
            assert df[col].str.contains(two).all(), (kind, col)
    li = pl.read_csv(paths["line-items"], infer_schema=False)
    assert li["occurred_at"].str.contains(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$").all()
    acc = pl.read_csv(paths["accounts"], infer_schema=False)
    assert acc["signup_at"].str.contains(r"^\d{4}-\d{2}-\d{2}$").all()
    assert acc["account_id"].to_list() == world.accounts["account_id"].to_list()  # leading zeros kept


def test_written_totals_reconcile_to_the_cent(world: World, tmp_path: Path) -> None:
    paths = write_world(world, tmp_path)
    text = pl.read_csv(paths["line-items"], infer_schema=False)["amount"]
    # sum the decimal text as integers, without any float
    parts = text.str.split_exact(".", 1).struct.unnest()
    sign = pl.Series(text.str.starts_with("-")).cast(pl.Int64) * -2 + 1
    total = (parts["field_0"].str.replace("-", "").cast(pl.Int64) * 100 + parts["field_1"].cast(pl.Int64)) * sign
    assert total.sum() == world.line_items.select(cents(world.line_items).sum()).item()


def test_parquet_round_trips(world: World, tmp_path: Path) -> None:
    paths = write_world(world, tmp_path, "parquet")
    assert pl.read_parquet(paths["line-items"]).equals(world.line_items)
    assert pl.read_parquet(paths["costs"]).equals(world.costs)
    with pytest.raises(ValueError, match="unknown format"):
        write_world(world, tmp_path, "xlsx")


# -- realism -------------------------------------------------------------------------------------


def test_revenue_is_pareto_skewed(world: World) -> None:
    rev = net_revenue(world).sort("revenue", descending=True)["revenue"]
    top = rev.head(N // 5).sum() / rev.sum()
    assert top > 0.6, top


def test_refunds_are_credit_notes_with_negative_amounts(world: World) -> None:
    li = world.line_items
    credits = li.filter(pl.col("invoice_id").str.starts_with("CN-"))
    assert credits.height > 0.01 * li.height
    assert (credits["amount"] < 0).all() and (credits["quantity"] < 0).all()
    assert (li.filter(pl.col("invoice_id").str.starts_with("INV-"))["amount"] > 0).all()
    assert credits["description"].str.starts_with("Credit: ").all()
    # several line items per invoice
    per_invoice = li.filter(pl.col("invoice_id").str.starts_with("INV-")).group_by("invoice_id").len()["len"]
    assert 2.0 < per_invoice.mean() < 3.5 and per_invoice.max() >= 5


def test_some_accounts_cost_more_than_they_pay(world: World) -> None:
    direct = (
        world.costs.drop_nulls("account_id").group_by("account_id").agg(cost=cents(world.costs).sum())
    )
    j = net_revenue(world).join(direct, on="account_id")
    losing = j.filter((pl.col("revenue") > 0) & (pl.col("cost") > pl.col("revenue")))
    assert losing.height > 0.01 * N


def test_costs_are_direct_and_pooled(world: World) -> None:
    c = world.costs
    pooled = c.filter(pl.col("account_id").is_null())
    assert set(pooled["category"].unique()) == {"compute", "storage", "support"}
    assert set(c.drop_nulls("account_id")["category"].unique()) == {"onboarding", "support"}
    assert (c["amount"] >= 0).all() and (c["driver_units"] >= 0).all()
    # pooled costs are a modest share of revenue
    share = pooled.select(cents(pooled).sum()).item() / world.line_items.select(cents(world.line_items).sum()).item()
    assert 0.05 < share < 0.3


def test_events_use_the_known_vocabulary(world: World) -> None:
    kinds = set(world.events["event"].unique())
    assert kinds == set(EVENTS)
    logins = world.events.filter(pl.col("event") == "login")
    assert logins["value"].null_count() == 0 and (logins["value"] > 0).all()
    assert world.events.filter(pl.col("event") == "create_task")["value"].null_count() > 0


def test_weekdays_are_busier_than_weekends(world: World) -> None:
    dow = world.line_items.group_by(pl.col("occurred_at").dt.weekday().alias("d")).len()
    count = dict(zip(dow["d"], dow["len"], strict=True))
    assert min(count[d] for d in range(1, 6)) > 2 * max(count[6], count[7])


def test_year_end_is_busier_than_august(world: World) -> None:
    month = world.line_items.group_by(pl.col("occurred_at").dt.month().alias("m")).len()
    count = dict(zip(month["m"], month["len"], strict=True))
    assert count[12] > 1.3 * count[8]


def test_churners_stop_buying_and_their_use_declines_first(rich: World) -> None:
    """On the way out (generator version 3): product use falls first and furthest, purchases
    fall too but less (the base subscription goes on), and support tickets and failed payments
    rise in absolute numbers, so the signals a customer-success team watches lead the churn."""
    w = rich
    gone = w.profiles.filter(
        (pl.col("trajectory") == "churn") & (pl.col("churn_at") <= w.end) & (pl.col("churn_at") >= w.start + dt.timedelta(days=200))
    ).select("account_id", "churn_at")
    assert gone.height > 100

    def per_day(df: pl.DataFrame, lo: int, hi: int) -> float:
        d = df.with_columns(day=pl.col("occurred_at").dt.date()).join(gone, on="account_id")
        rows = d.filter(
            (pl.col("day") >= pl.col("churn_at") - dt.timedelta(days=lo)) & (pl.col("day") < pl.col("churn_at") - dt.timedelta(days=hi))
        )
        return rows.height / (lo - hi)

    purchases = w.line_items.filter(pl.col("amount") > 0)
    assert per_day(purchases, 0, -400) == 0  # nothing bought on or after the churn day
    use = w.events.filter(~pl.col("event").is_in(["support_ticket", "payment_failed"]))
    use_drop = per_day(use, 30, 0) / per_day(use, 150, 60)
    buy_drop = per_day(purchases, 30, 0) / per_day(purchases, 150, 60)
    assert use_drop < 0.35, use_drop  # use declines first and furthest...
    assert use_drop < 0.7 * buy_drop and 0.25 < buy_drop < 0.7, (use_drop, buy_drop)  # ...purchases less
    for kind, rise in (("support_ticket", 2.5), ("payment_failed", 4.0)):
        k = w.events.filter(pl.col("event") == kind)
        assert per_day(k, 30, 0) > rise * per_day(k, 150, 60), kind  # distress rises before the churn
    # after a churn: a few logins (exporting data) for two weeks, then nothing
    assert per_day(w.events, -22, -400) == 0
    assert per_day(w.events, 0, -14) < 0.1 * per_day(w.events, 150, 60)
    # and the ones about to churn at a renewal just after the end show it in their last 30 days
    soon = w.profiles.filter((pl.col("trajectory") == "churn") & (pl.col("churn_at") > w.end))
    assert soon.height > 0
    renew = w.accounts.join(soon, on="account_id").filter(pl.col("signup_at") < w.start)
    assert renew.height > 0 and (renew["renewal_at"] == renew["churn_at"]).all()  # they leave at renewal
    assert (renew["renewal_at"] <= w.end + dt.timedelta(days=45)).all()
    ev = use.join(renew.select("account_id"), on="account_id").with_columns(
        age=(pl.lit(w.end) - pl.col("occurred_at").dt.date()).dt.total_days()
    )
    recent = ev.filter(pl.col("age") < 30).height / 30
    prior = ev.filter((pl.col("age") >= 30) & (pl.col("age") < 120)).height / 90
    assert recent < 0.6 * prior, (recent, prior)  # product use visibly declining by the end


def test_failed_payments_are_rare_in_normal_use(rich: World) -> None:
    # a billing matter, not a usage one: accounts that are not leaving hardly ever fail to pay
    ev = rich.events.join(rich.profiles.select("account_id", "trajectory"), on="account_id")
    steady = ev.filter(pl.col("trajectory").is_in(["steady", "grow"]))
    share = steady.filter(pl.col("event") == "payment_failed").height / steady.height
    assert share < 0.005, share


def test_returners_pause_then_come_back(rich: World) -> None:
    w = rich
    ret = w.profiles.filter(pl.col("trajectory") == "return").select("account_id", "pause_from", "pause_to")
    assert ret.height > 50
    li = w.line_items.filter(pl.col("amount") > 0).with_columns(day=pl.col("occurred_at").dt.date()).join(ret, on="account_id")
    assert li.filter((pl.col("day") >= pl.col("pause_from")) & (pl.col("day") < pl.col("pause_to"))).height == 0
    back = li.filter(pl.col("day") >= pl.col("pause_to"))["account_id"].n_unique()
    assert back > 0.7 * ret.height


def test_growers_grow_and_shrinkers_shrink(rich: World) -> None:
    w = rich
    mid = dt.datetime(2025, 1, 1)
    li = w.line_items.join(w.profiles.select("account_id", "trajectory"), on="account_id")
    by = li.group_by("trajectory").agg(
        first=cents(li).filter(pl.col("occurred_at") < mid).sum(), second=cents(li).filter(pl.col("occurred_at") >= mid).sum()
    )
    ratio = {r["trajectory"]: r["second"] / r["first"] for r in by.iter_rows(named=True)}
    # second year over first, against steady accounts (which gain from the year's new signups)
    assert ratio["grow"] > 1.3 * ratio["steady"] and ratio["shrink"] < 0.7 * ratio["steady"]
    assert "never" not in ratio  # signed up, never bought
    # growers end near their seat limit more often than others
    acc = w.accounts.join(w.profiles.select("account_id", "trajectory"), on="account_id")
    near = acc.group_by(pl.col("trajectory") == "grow").agg((pl.col("seats") >= 0.9 * pl.col("seat_limit")).mean())
    frac = dict(zip(near[:, 0], near[:, 1], strict=True))
    assert frac[True] > 1.5 * frac[False]


def test_firmographics_have_a_heavy_tail(world: World) -> None:
    acc = world.accounts
    emp = acc["employees"]
    assert (emp < 100).mean() > 0.6 and (emp >= 1000).sum() > 0.02 * N and emp.max() > 20 * emp.median()
    assert set(acc["plan"].unique()) == {"starter", "team", "business", "enterprise"}
    assert (acc["seats"] <= acc["seat_limit"]).all()
    churned = acc.join(world.profiles, on="account_id").filter(
        (pl.col("trajectory") == "churn") & (pl.col("churn_at") <= world.end)
    )
    assert (churned["mrr"] == 0).all() and (churned["seats"] == 0).all()


# -- the demo store: which stores it reuses, replaces or refuses -----------------------------------


def test_a_store_with_user_data_is_never_overwritten(tmp_path: Path) -> None:
    from segtui.demo import ensure_demo_store
    from segtui.errors import StoreError
    from segtui.store import open_store

    db = tmp_path / "mine.db"
    open_store(db, create=True).close()
    before = db.read_bytes()
    with pytest.raises(StoreError, match="not a demo store; refusing to overwrite"):
        ensure_demo_store(db, accounts=50)
    assert db.read_bytes() == before

    junk = tmp_path / "notes.db"
    junk.write_text("not a database\n")
    with pytest.raises(StoreError, match="not a demo store"):
        ensure_demo_store(junk, accounts=50)
    assert junk.read_text() == "not a database\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.db", "notes.db"]  # nothing left behind


def test_demo_cli_refuses_a_foreign_store_with_exit_1(tmp_path: Path) -> None:
    import subprocess
    import sys

    db = tmp_path / "mine.db"
    db.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    r = subprocess.run(
        [sys.executable, "-m", "segtui.cli", "demo", "--db", str(db), "--no-open"], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 1, r.stderr
    assert "not a demo store" in r.stderr and "Traceback" not in r.stderr


def test_demo_params_name_everything_that_shapes_the_data() -> None:
    from segtui.demo import GENERATOR_VERSION, demo_params

    p = demo_params(300, 7)
    assert p == {
        "generator": GENERATOR_VERSION, "accounts": 300, "seed": 7, "lines_per_account": 24.0,
        "events_per_account": 100.0, "cost_rows_per_account": 3.0, "end": "2025-12-31",
        "snapshots": "month-ends x13",
    }
    assert demo_params(300, 8) != p


# -- the bundled data set -------------------------------------------------------------------------

REPO = Path(__file__).resolve().parent.parent


def test_bundled_data_is_what_the_script_makes(tmp_path: Path) -> None:
    import subprocess
    import sys

    bundled = REPO / "data" / "demo"
    files = sorted(p.name for p in bundled.iterdir())
    assert files == ["accounts.csv", "costs.csv", "events.csv", "line_items.csv"]
    assert sum((bundled / f).stat().st_size for f in files) <= 3_000_000
    r = subprocess.run(
        [sys.executable, str(REPO / "data" / "generate_demo.py"), "--out", str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    for f in files:
        assert (tmp_path / f).read_bytes() == (bundled / f).read_bytes(), f"data/demo/{f} is stale: rerun data/generate_demo.py"


def test_demo_snapshot_dates_are_month_ends_ending_on_the_last_day() -> None:
    import datetime as dt

    from segtui.demo import END, demo_snapshot_dates

    dates = demo_snapshot_dates()
    assert dates[-1] == END and len(dates) == 13
    assert dates[0] == dt.date(2024, 12, 31)
    assert all((d + dt.timedelta(days=1)).day == 1 for d in dates)
    assert demo_snapshot_dates(dt.date(2025, 3, 15), 3) == [dt.date(2025, 1, 31), dt.date(2025, 2, 28), dt.date(2025, 3, 15)]


def test_demo_store_is_scored_monthly(tmp_path) -> None:
    import sqlite3

    from segtui.demo import build_demo_store

    db = build_demo_store(tmp_path / "d.db", accounts=120, seed=3)
    conn = sqlite3.connect(db)
    days = [r[0] for r in conn.execute("SELECT as_of_day FROM snapshots ORDER BY as_of_day")]
    assert len(days) == 13
    n_latest = conn.execute(
        "SELECT count(*) FROM snapshot_accounts WHERE snapshot = (SELECT id FROM snapshots ORDER BY as_of_day DESC LIMIT 1)"
    ).fetchone()[0]
    assert 0 < n_latest <= 120


# -- the demo store, end to end (generate, write, import with the real importer) -------------------


def test_demo_store_holds_exactly_the_generated_world(tmp_path: Path) -> None:
    import sqlite3
    import stat

    from segtui.demo import DEMO_DENSITY, demo_params, demo_store_params, ensure_demo_store

    db = tmp_path / "demo.db"
    built = ensure_demo_store(db, accounts=300, seed=7)
    assert not built.reused and built.db_path == db
    w = generate_world(300, seed=7, **DEMO_DENSITY)
    assert built.counts == {
        "accounts": 300, "line-items": w.line_items.height, "costs": w.costs.height, "events": w.events.height, "snapshots": 13,
    }
    assert built.net_revenue_cents == w.line_items.select(cents(w.line_items).sum()).item()
    assert demo_store_params(db) == demo_params(300, 7)
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT count(*) FROM rejects").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM costs WHERE account IS NULL").fetchone()[0] == w.costs["account_id"].null_count()
        direct = conn.execute("SELECT coalesce(sum(amount), 0) FROM costs").fetchone()[0]
        assert direct == w.costs.select(cents(w.costs).sum()).item()
        keys = [r[0] for r in conn.execute("SELECT account_key FROM accounts ORDER BY id")]
        assert keys == w.accounts["account_id"].to_list()
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    # no temporary files left; the scoring cache moved in with the store
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.db", "demo.db.cols"]


def test_demo_store_is_reused_or_replaced_by_its_settings(tmp_path: Path) -> None:
    from segtui.demo import demo_params, demo_store_params, ensure_demo_store

    db = tmp_path / "demo.db"
    first = ensure_demo_store(db, accounts=120, seed=1)
    stamp = db.stat().st_mtime_ns, db.read_bytes()
    again = ensure_demo_store(db, accounts=120, seed=1)
    assert again.reused and again.counts == first.counts and again.seconds == 0.0
    assert (db.stat().st_mtime_ns, db.read_bytes()) == stamp
    other = ensure_demo_store(db, accounts=150, seed=1)
    assert not other.reused and other.counts["accounts"] == 150
    assert demo_store_params(db) == demo_params(150, 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.db", "demo.db.cols"]


def test_a_failed_build_leaves_the_previous_store_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from segtui import demo

    db = tmp_path / "demo.db"
    demo.ensure_demo_store(db, accounts=80, seed=2)
    before = db.read_bytes(), (tmp_path / "demo.db.cols").read_bytes()

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "mark_demo_store", interrupted)
    with pytest.raises(KeyboardInterrupt):
        demo.ensure_demo_store(db, accounts=90, seed=2)
    assert (db.read_bytes(), (tmp_path / "demo.db.cols").read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.db", "demo.db.cols"]


def test_files_of_a_killed_build_are_swept_up(tmp_path: Path) -> None:
    import os

    from segtui.demo import ensure_demo_store

    db = tmp_path / "demo.db"
    dead = 2**31 - 5  # no such process
    left = [f".demo.db.building-{dead}", f".demo.db.building-{dead}-wal", f"..demo.db.building-{dead}.cols.tmp-{dead}"]
    for name in left:
        (tmp_path / name).write_bytes(b"x")
    running = f".demo.db.building-{os.getppid()}"  # a build by a live process is left alone
    (tmp_path / running).write_bytes(b"x")
    ensure_demo_store(db, accounts=40, seed=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [running, "demo.db", "demo.db.cols"]


def test_demo_command_builds_reports_and_reuses(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "SEGTUI_DB": str(tmp_path / "from-env.db")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "segtui.cli", *args], capture_output=True, text=True, timeout=300, env=env)

    r = run("demo", "--accounts", "200", "--no-open")
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""  # diagnostics only, on stderr
    assert "built in" in r.stderr and "200 accounts" in r.stderr and "Traceback" not in r.stderr
    assert (tmp_path / "from-env.db").exists()
    r = run("demo", "--accounts", "200", "--no-open")
    assert r.returncode == 0 and "reusing it" in r.stderr
    # --db of the group and of the command both choose the store
    r = run("--db", str(tmp_path / "group.db"), "demo", "--accounts", "50", "--no-open")
    assert r.returncode == 0 and (tmp_path / "group.db").exists()
    r = run("demo", "--db", str(tmp_path / "cmd.db"), "--accounts", "50", "--no-open")
    assert r.returncode == 0 and (tmp_path / "cmd.db").exists()
    r = run("demo", "--accounts", "0", "--no-open")
    assert r.returncode == 2


def test_demo_with_no_open_never_imports_textual(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from segtui.cli import main\n"
        "try:\n"
        f"    main(['--db', {str(tmp_path / 'd.db')!r}, 'demo', '--accounts', '40', '--no-open'])\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def test_bundled_files_import_cleanly_with_the_generic_preset(tmp_path: Path) -> None:
    import sqlite3

    from segtui.demo import FILES
    from segtui.importer import import_files

    db = tmp_path / "try.db"
    for kind, stem in FILES.items():
        import_files(db, kind, [REPO / "data" / "demo" / f"{stem}.csv"], preset="generic")
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT count(*) FROM rejects").fetchone()[0] == 0
        for kind, stem in FILES.items():
            rows = pl.read_csv(REPO / "data" / "demo" / f"{stem}.csv", infer_schema=False).height
            assert conn.execute(f"SELECT count(*) FROM {stem}").fetchone()[0] == rows, kind
    finally:
        conn.close()
