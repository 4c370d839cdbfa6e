"""RFM on real, public transaction data: the CDNOW sample (see tests/data/public/README.md).

Three independent sides are compared:
1. the published calibration-period summary of the same customers, computed by the data's
   authors (repeat purchases, weeks to the last purchase, average repeat spend) with the
   reference implementation's values (recency, frequency, monetary);
2. the Rust kernel with the reference, at several as-of dates and windows;
3. the real import path (the importer and `segtui score`) with the reference, once they exist.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from decimal import Decimal
from pathlib import Path

import pytest
from reference import LineItem, World, assert_kernel_matches, config, kernel_or_skip, score

DATA = Path(__file__).parent / "data" / "public"
SAMPLE = DATA / "cdnow_sample.txt"
SUMMARY = DATA / "cdnow_summary_calibration.csv"
EPOCH = dt.date(1970, 1, 1)

#: sha256 of the files exactly as the package ships them (README.md names the package).
SHA256 = {
    SAMPLE: "6fae10155c0b0ba363c2c386e30f77990d22328220efd862a5edd1443420d94a",
    SUMMARY: "7ddd11b55be3227edfc1d58675154e96971b0de3ad37ddd9280d1dba154b8b2f",
}


def yyyymmdd(text: str) -> int:
    return (dt.date(int(text[:4]), int(text[4:6]), int(text[6:8])) - EPOCH).days


def cents(text: str) -> int:
    value = Decimal(text) * 100
    assert value == value.to_integral_value(), text
    return int(value)


def cdnow_rows() -> list[tuple[str, int, int, int]]:
    """(customer id, sample id, day, amount in cents) per transaction row, in file order."""
    rows = []
    for line in SAMPLE.read_text(encoding="ascii").splitlines():
        customer, sample_id, date, _cds, dollars = line.split()
        rows.append((customer, int(sample_id), yyyymmdd(date), cents(dollars)))
    return rows


def cdnow_world() -> World:
    """Accounts by sample id (1..2357 -> dense 0..2356); no invoices, so purchases are account-days."""
    rows = cdnow_rows()
    n = max(r[1] for r in rows)
    return World(n_accounts=n, line_items=[LineItem(sid - 1, day, amount) for _, sid, day, amount in rows])


def test_files_are_the_published_ones() -> None:
    for path, digest in SHA256.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, path.name


CALIBRATION_END = yyyymmdd("19970930")  # week 39 of the 78-week CDNOW panel


def test_reference_reproduces_the_published_calibration_summary() -> None:
    """x = repeat purchases, t_x = weeks from first to last purchase, T = weeks from first purchase
    to the end of the calibration period, zbar = mean repeat spend (all rounded to 2 decimals).

    With D = the calibration end and all history as the window, the design's figures relate as:
    frequency = x + 1, recency_days = 7·(T − t_x), and (monetary − first day's spend) / x = zbar.
    The one difference of definition: a customer whose only spend was $0.00 made a purchase for
    the panel but not for segtui (a purchase needs a positive net amount) — it is `No Purchase`.
    """
    world = cdnow_world()
    res = score(world, as_of=CALIBRATION_END)
    first_day: dict[int, int] = {}
    for li in world.line_items:
        first_day[li.account] = min(first_day.get(li.account, li.day), li.day)
    first_spend: dict[int, int] = {}
    for li in world.line_items:
        if li.day == first_day[li.account]:
            first_spend[li.account] = first_spend.get(li.account, 0) + li.amount
    zero_spenders = []
    checked = 0
    with SUMMARY.open(newline="") as fh:
        for row in csv.DictReader(fh):
            a = int(row["ID"]) - 1
            x, t_x, big_t, zbar = int(row["x"]), Decimal(row["t_x"]), Decimal(row["T"]), Decimal(row["zbar"])
            r = res.accounts[a]
            # T locates the first purchase exactly (0.01 week = 0.07 day, well inside rounding).
            assert round(big_t * 7) == CALIBRATION_END - first_day[a], row
            if r.frequency == 0:
                zero_spenders.append(a)
                assert x == 0 and r.rfm_segment == "No Purchase" and r.monetary == 0
                continue
            assert r.frequency == x + 1, row
            assert r.recency_days == round((big_t - t_x) * 7), row
            if x:
                assert abs(Decimal(r.monetary - first_spend[a]) / 100 / x - zbar) <= Decimal("0.005"), row
            else:
                assert zbar == 0 and r.monetary == first_spend[a]
            checked += 1
    assert checked == 2349
    # the eight customers whose only transaction on or before D was $0.00
    assert len(zero_spenders) == 8
    for a in zero_spenders:
        assert {li.amount for li in world.line_items if li.account == a and li.day <= CALIBRATION_END} == {0}


# --- kernel == reference ----------------------------------------------------------------------

CASES = [
    (CALIBRATION_END, None),
    (yyyymmdd("19980630"), None),  # the panel's last day
    (yyyymmdd("19980630"), 365),
    (yyyymmdd("19971231"), 90),
    (yyyymmdd("19970115"), None),  # early: a few weeks of data, after-D rows ignored
]


@pytest.mark.parametrize(("as_of", "window"), CASES)
def test_kernel_matches_reference_on_cdnow(as_of: int, window: int | None) -> None:
    kernel_or_skip()
    assert_kernel_matches(cdnow_world(), as_of, config({"rfm.window_days": window}))


# --- the real import path: file -> segtui import -> segtui score -> stored snapshot -----------


def _cli_or_skip(*commands: str) -> object:
    from segtui.cli import cli

    missing = [c for c in commands if c not in getattr(cli, "commands", {})]
    if missing:
        pytest.skip(f"`segtui {' / '.join(missing)}` is not in this build yet")
    return cli


def _run(cli: object, *args: str) -> str:
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)  # type: ignore[arg-type]
    assert result.exit_code == 0, f"segtui {' '.join(args)} exited {result.exit_code}:\n{result.output}"
    return result.output


def write_cdnow_csv(path: Path) -> None:
    """The CDNOW rows in the generic orders shape: the customer id as text, the date in ISO form,
    the dollar value exactly as written."""
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["account_id", "occurred_at", "amount"])
        for line in SAMPLE.read_text(encoding="ascii").splitlines():
            customer, _sid, date, _cds, dollars = line.split()
            out.writerow([customer, f"{date[:4]}-{date[4:6]}-{date[6:]}", dollars])


@pytest.mark.parametrize(
    ("as_of", "window", "cache"),
    [("1997-09-30", None, True), ("1998-06-30", 365, True), ("1998-06-30", None, False)],
)
def test_import_and_score_from_the_store_match_the_reference(
    tmp_path: Path, as_of: str, window: int | None, cache: bool
) -> None:
    import sqlite3
    from collections import Counter

    from reference import assert_snapshot_matches_reference, world_from_store

    cli = _cli_or_skip("import", "score")
    db = tmp_path / "cdnow.db"
    src = tmp_path / "cdnow.csv"
    write_cdnow_csv(src)
    _run(cli, "--db", str(db), "-q", "import", "line-items", str(src))
    args = ["--db", str(db), "-q", "score", "--as-of", as_of, "--format", "json"]
    if window is not None:
        toml = tmp_path / "segtui.toml"
        toml.write_text(f"[scoring.rfm]\nwindow_days = {window}\n")
        args += ["--config", str(toml)]
    if not cache:
        args.append("--no-cache")
    _run(cli, *args)

    conn = sqlite3.connect(db)
    # the store holds exactly the file's rows: (customer, day, cents), duplicates included
    stored = Counter(
        conn.execute("SELECT a.account_key, l.day, l.amount FROM line_items l JOIN accounts a ON a.id = l.account")
    )
    assert stored == Counter((c, day, amount) for c, _sid, day, amount in cdnow_rows())
    assert conn.execute("SELECT count(*) FROM line_items WHERE invoice_key != 0").fetchone()[0] == 0
    (snapshot,) = conn.execute("SELECT id FROM snapshots WHERE as_of_day = ?", (yyyymmdd(as_of.replace("-", "")),)).fetchone()
    ref = assert_snapshot_matches_reference(conn, snapshot, world_from_store(conn))
    assert len(ref.accounts) > 0
    conn.close()
