"""Segment velocity, account history and hysteresis over stored snapshots."""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from segtui import history
from segtui.cli import cli
from segtui.errors import ConfigError, DataError
from test_history_support import write_snapshot

MONTHS = ["2025-01-31", "2025-02-28", "2025-03-31", "2025-04-30", "2025-05-31", "2025-06-30"]


def series(db: Path, per_account: dict[str, list[str]], revenue: int = 100, config_fp: str = "fp-1") -> None:
    """One snapshot per month; ``per_account[key][i]`` is the raw segment at month i ('' = absent)."""
    n = max(len(v) for v in per_account.values())
    for i in range(n):
        rows = {k: (v[i], revenue + i) for k, v in per_account.items() if i < len(v) and v[i]}
        write_snapshot(db, MONTHS[i], rows, config_fp=config_fp)


def set_k(db: Path, k: int) -> None:
    (db.parent / "segtui.toml").write_text(f"hysteresis = {k}\n")


def effective(db: Path, key: str) -> list[str]:
    return history.account_history(db, key)["segment"].to_list()


# --- velocity --------------------------------------------------------------------------------


def test_velocity_counts_and_revenue_identities(db_path: Path) -> None:
    write_snapshot(db_path, "2025-01-31", {"a": ("Loyal", 100), "b": ("Loyal", 50), "c": ("At Risk", 30), "d": ("Lost", 9)})
    write_snapshot(db_path, "2025-02-28", {"a": ("Loyal", 120), "b": ("At Risk", 40), "c": ("Loyal", 70), "e": ("Loyal", 5)})
    v = history.velocity(db_path)
    loyal = v.filter(pl.col("segment") == "Loyal").to_dicts()[0]
    assert (loyal["start"], loyal["inflow"], loyal["inflow_new"], loyal["outflow"], loyal["end"], loyal["net"]) == (2, 2, 1, 1, 3, 1)
    assert loyal["start_revenue"] == 150 and loyal["end_revenue"] == 195
    assert loyal["inflow_revenue"] == 75  # c and e, measured in B
    assert loyal["outflow_revenue"] == 50  # b, measured in A
    assert loyal["stayed_revenue_change"] == 20  # a: 100 -> 120
    lost = v.filter(pl.col("segment") == "Lost").to_dicts()[0]
    assert (lost["start"], lost["outflow"], lost["outflow_gone"], lost["end"]) == (1, 1, 1, 0)
    for r in v.to_dicts():
        assert r["net"] == r["end"] - r["start"] == r["inflow"] - r["outflow"]
        assert r["end_revenue"] == r["start_revenue"] - r["outflow_revenue"] + r["inflow_revenue"] + r["stayed_revenue_change"]
        assert r["net_revenue"] == r["end_revenue"] - r["start_revenue"]
    assert v["segment"].to_list() == ["Loyal", "At Risk", "Lost"]


def test_velocity_covers_every_period_of_the_chain(db_path: Path) -> None:
    rng = random.Random(4)
    segs = ["Champions", "Loyal", "At Risk", "Lost"]
    series(db_path, {f"k{i}": [rng.choice(segs) for _ in range(4)] for i in range(40)})
    write_snapshot(db_path, "2025-02-15", {"k0": ("Lost", 1)}, config_fp="other")  # not in the chain
    v = history.velocity(db_path, from_="2025-01-31")
    periods = v.select("from_date", "to_date").unique(maintain_order=True).rows()
    assert [(a.isoformat(), b.isoformat()) for a, b in periods] == list(zip(MONTHS[:3], MONTHS[1:4]))
    # segment sizes chain: end of one period is the start of the next
    for seg in segs:
        s = v.filter(pl.col("segment") == seg)
        assert s["end"].to_list()[:-1] == s["start"].to_list()[1:]
    code = CliRunner().invoke(cli, ["--db", str(db_path), "migration", "--velocity", "--from", "1", "--format", "csv"])
    assert code.exit_code == 0, code.output
    assert code.stdout.splitlines()[0].startswith("from_date,to_date,from_snapshot,to_snapshot,segment,start,inflow")


# --- account history -------------------------------------------------------------------------


def test_account_history_previous_segment_and_days(db_path: Path) -> None:
    series(db_path, {"a": ["", "Loyal", "Loyal", "At Risk", "At Risk", "Loyal"], "b": ["Lost"] * 6})
    h = history.account_history(db_path, "a")
    assert [d.isoformat() for d in h["as_of"]] == MONTHS[1:]
    assert h["segment"].to_list() == ["Loyal", "Loyal", "At Risk", "At Risk", "Loyal"]
    assert h["previous_segment"].to_list() == [None, None, "Loyal", "Loyal", "At Risk"]
    d = [dt.date.fromisoformat(m) for m in MONTHS]
    assert h["days_in_segment"].to_list() == [0, (d[2] - d[1]).days, 0, (d[4] - d[3]).days, 0]
    assert h["revenue"].to_list() == [101, 102, 103, 104, 105]
    assert h["cost"].to_list() == [15] * 5
    assert {"r_score", "f_score", "m_score", "churn_risk", "churn_band", "health", "lifecycle", "margin"} <= set(h.columns)


def test_account_history_keeps_to_one_configuration(db_path: Path) -> None:
    series(db_path, {"a": ["Loyal", "Loyal"]})
    write_snapshot(db_path, "2025-03-31", {"a": ("Champions", 1)}, config_fp="other")
    h = history.account_history(db_path, "a")
    assert h["segment"].to_list() == ["Champions"]  # the latest configuration only
    assert history.account_history(db_path, "a", all_configs=True).height == 3
    with pytest.raises(DataError, match="no account 'zz'"):
        history.account_history(db_path, "zz")


# --- hysteresis ------------------------------------------------------------------------------


def test_entering_is_immediate(db_path: Path) -> None:
    set_k(db_path, 3)
    series(db_path, {"new": ["", "", "Champions", "Champions"], "x": ["Lost"] * 4})
    assert effective(db_path, "new") == ["Champions", "Champions"]


def test_leaving_waits_for_k_snapshots_elsewhere(db_path: Path) -> None:
    set_k(db_path, 3)
    series(db_path, {"a": ["Loyal", "At Risk", "At Risk", "At Risk", "At Risk"]})
    h = history.account_history(db_path, "a")
    assert h["segment"].to_list() == ["Loyal", "Loyal", "Loyal", "At Risk", "At Risk"]
    assert h["raw_segment"].to_list() == ["Loyal", "At Risk", "At Risk", "At Risk", "At Risk"]
    # the raw segments are all still there, and the held ones are stored beside them
    conn = sqlite3.connect(db_path)
    held = conn.execute("SELECT snapshot, rfm_segment, rfm5_segment, pending FROM snapshot_effective ORDER BY snapshot").fetchall()
    view = conn.execute("SELECT rfm_segment, effective_segment FROM snapshot_segments ORDER BY snapshot").fetchall()
    conn.close()
    assert held == [(2, "Loyal", "Loyal", 1), (3, "Loyal", "Loyal", 2)]
    assert view[1] == ("At Risk", "Loyal")


def test_flapping_stays_put(db_path: Path) -> None:
    set_k(db_path, 2)
    flap = ["Loyal", "At Risk", "Loyal", "At Risk", "Loyal", "At Risk"]
    series(db_path, {"f": flap})
    assert effective(db_path, "f") == ["Loyal"] * 6
    set_k(db_path, 1)  # no hysteresis: every flap shows
    assert effective(db_path, "f") == flap
    assert history.account_history(db_path, "f", raw=True)["segment"].to_list() == flap


def test_migration_uses_effective_segments_unless_raw(db_path: Path) -> None:
    series(db_path, {"a": ["Loyal", "At Risk"], "b": ["Loyal", "Loyal"]})
    set_k(db_path, 2)
    m = history.migration(db_path)
    assert m.hysteresis == 2
    assert m.cells.select("from", "to", "accounts").rows() == [("Loyal", "Loyal", 2)]
    m5 = history.migration(db_path, map="rfm5")
    assert m5.cells.select("from", "to", "accounts").rows() == [("Loyal", "Loyal", 2)]
    raw = history.migration(db_path, raw=True)
    assert sorted(raw.cells.select("from", "to", "accounts").rows()) == [("Loyal", "At Risk", 1), ("Loyal", "Loyal", 1)]
    cell = history.migration_accounts(db_path, "Loyal->Loyal").accounts
    assert cell["account_id"].to_list() == ["a", "b"]


def test_effective_segments_follow_inserted_snapshots_and_changed_k(db_path: Path) -> None:
    set_k(db_path, 2)
    write_snapshot(db_path, "2025-01-31", {"a": ("Loyal", 1)})
    write_snapshot(db_path, "2025-03-31", {"a": ("At Risk", 1)})
    assert effective(db_path, "a") == ["Loyal", "Loyal"]
    # a back-dated snapshot in between: At Risk twice in a row now, so it leaves at March
    write_snapshot(db_path, "2025-02-28", {"a": ("At Risk", 1)})
    assert effective(db_path, "a") == ["Loyal", "Loyal", "At Risk"]
    set_k(db_path, 3)
    assert effective(db_path, "a") == ["Loyal", "Loyal", "Loyal"]
    # removing a snapshot makes the rest of the chain stale too
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("DELETE FROM snapshots WHERE as_of_day = (SELECT min(as_of_day) FROM snapshots)")
    conn.commit()
    conn.close()
    assert effective(db_path, "a") == ["At Risk", "At Risk"]
    assert history.refresh_effective(db_path)["computed"] == 0  # fresh: nothing to do


def test_random_chains_match_a_plain_reference(db_path: Path) -> None:
    rng = random.Random(7)
    segs = ["Champions", "Loyal", "At Risk", "Lost", "No Purchase"]
    seqs = {f"k{i}": [rng.choice(segs) if rng.random() < 0.9 else "" for _ in range(6)] for i in range(60)}
    series(db_path, seqs)
    for k in (2, 3):
        set_k(db_path, k)
        for key, seq in seqs.items():
            want, eff, pending = [], None, 0
            for raw in seq:
                if not raw:
                    eff, pending = None, 0  # absent: enters afresh next time
                    continue
                if eff is None or raw == eff or "No Purchase" in (raw, eff):
                    eff, pending = raw, 0
                else:
                    pending += 1
                    if pending >= k:
                        eff, pending = raw, 0
                want.append(eff)
            if want:
                assert effective(db_path, key) == want, (key, seq, k)


def test_bad_hysteresis_setting(db_path: Path) -> None:
    series(db_path, {"a": ["Loyal", "Loyal"]})
    (db_path.parent / "segtui.toml").write_text('hysteresis = "two"\n')
    with pytest.raises(ConfigError, match="hysteresis must be a whole number"):
        history.migration(db_path)
    (db_path.parent / "segtui.toml").write_text("hysteresis = [\n")
    with pytest.raises(ConfigError, match="segtui.toml"):
        history.migration(db_path)
