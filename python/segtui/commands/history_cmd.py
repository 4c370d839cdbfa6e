"""``segtui migration`` and ``segtui cohorts``: how segments move, and how cohorts retain."""

from __future__ import annotations

import click
import polars as pl

from segtui import history
from segtui.output import FORMATS, emit

_LAYOUTS = ("auto", "matrix", "long")


def _diag(msg: str) -> None:
    ctx = click.get_current_context()
    if not getattr(ctx.obj, "quiet", False):
        click.echo(msg, err=True)


def _layout(layout: str, fmt: str) -> str:
    if layout == "auto":
        return "matrix" if fmt == "table" else "long"
    return layout


def _list_snapshots(db) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    from segtui.store import open_store

    conn = open_store(db)
    try:
        snaps = history.list_snapshots(conn)
    finally:
        conn.close()
    chains: dict[tuple[str, str], int] = {}
    for s in snaps:
        chains.setdefault(s.chain_key, len(chains) + 1)
    return pl.DataFrame(
        {
            "snapshot": [s.id for s in snaps],
            "as_of": [s.as_of for s in snaps],
            "mode": [s.mode for s in snaps],
            "config": [chains[s.chain_key] for s in snaps],
            "config_fp": [s.config_fp for s in snaps],
            "series": [s.series for s in snaps],
            "accounts": [s.accounts for s in snaps],
            "net_revenue": [s.net_revenue for s in snaps],
            "created_at": [s.created_at for s in snaps],
        },
        schema={
            "snapshot": pl.Int64, "as_of": pl.Date, "mode": pl.String, "config": pl.Int64, "config_fp": pl.String,
            "series": pl.String, "accounts": pl.Int64, "net_revenue": pl.Int64, "created_at": pl.String,
        },
    )


@click.command("migration")
@click.option("--from", "from_", metavar="SNAPSHOT", help="Snapshot A: id or as-of date (default: the one before B).")
@click.option("--to", "to", metavar="SNAPSHOT", help="Snapshot B: id or as-of date (default: the latest).")
@click.option(
    "--map", "map_", type=click.Choice(list(history.MAPS)), default="rfm11", show_default=True,
    help="Segment map to compare.",
)
@click.option("--cell", metavar='"FROM->TO"', help='List the accounts of one cell, e.g. "Loyal->At Risk" or "(new)->Champions".')
@click.option("--velocity", is_flag=True, help="Per-segment inflow, outflow and net for every period from A to B.")
@click.option(
    "--layout", type=click.Choice(_LAYOUTS), default="auto", show_default=True,
    help="matrix (from × to) or long (one row per cell); auto = matrix for table output, long otherwise.",
)
@click.option(
    "--value", type=click.Choice(history.MATRIX_VALUES), default="accounts", show_default=True,
    help="What the matrix layout shows in each cell.",
)
@click.option("--raw", is_flag=True, help="Raw segments even when hysteresis is configured.")
@click.option("--list", "list_", is_flag=True, help="List the snapshots (ids, dates, configurations) and exit.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write to PATH instead of stdout.")
@click.pass_context
def migration_cmd(
    ctx: click.Context,
    from_: str | None,
    to: str | None,
    map_: str,
    cell: str | None,
    velocity: bool,
    layout: str,
    value: str,
    raw: bool,
    list_: bool,
    fmt: str,
    output: str | None,
) -> None:
    """Who moved between two snapshots, where, and with how much revenue.

    \b
    A and B default to the two latest comparable snapshots (same mode and configuration).
    Rows are A's segments plus "(new)" (accounts not in A); columns are B's segments plus
    "(gone)" (accounts in A but not in B). Each cell: accounts, revenue in A, revenue in B,
    change. Money is in the store's currency.

    \b
    Examples:
      segtui migration                                    the two latest snapshots, rfm11
      segtui migration --from 2025-03-31 --to 2025-06-30 --map rfm5
      segtui migration --value change                     revenue change per cell
      segtui migration --cell "Loyal->At Risk" --format csv -o drifting.csv
      segtui migration --velocity --from 2025-01-31       inflow/outflow per month since
      segtui migration --format json                      the long table, for scripts
    """
    db = ctx.obj.db
    if list_:
        emit(_list_snapshots(db), fmt, output, money=["net_revenue"])
        return
    if cell and velocity:
        raise click.UsageError("--cell and --velocity do not combine: ask for one at a time")
    if cell:
        res = history.migration_accounts(db, cell, from_, to, map=map_, raw=raw)
        seg = f", effective segments (hysteresis {res.hysteresis})" if res.hysteresis else ""
        _diag(
            f"{res.from_label} -> {res.to_label}: {res.accounts.height} accounts, "
            f"{res.a.describe()} -> {res.b.describe()}, map {res.map}{seg}"
        )
        emit(res.accounts, fmt, output, money=history.MONEY)
        return
    if velocity:
        df = history.velocity(db, from_, to, map=map_, raw=raw)
        emit(df, fmt, output, money=history.VELOCITY_MONEY)
        return
    mig = history.migration(db, from_, to, map=map_, raw=raw)
    _diag(mig.describe())
    if _layout(layout, fmt) == "matrix":
        m = mig.matrix(value)
        money = [c for c in m.columns if c != "from"] if value != "accounts" else []
        emit(m, fmt, output, money=money)
    else:
        emit(mig.cells, fmt, output, money=history.MONEY)


@click.command("cohorts")
@click.option("--by", type=click.Choice(history.COHORT_BY), default="month", show_default=True, help="Cohort period.")
@click.option(
    "--metric", type=click.Choice(history.COHORT_METRICS), default="logo", show_default=True,
    help="logo: share of the cohort with a purchase in the period; revenue: period revenue / first-period revenue.",
)
@click.option("--as-of", "as_of", metavar="DATE", help="Only data on or before DATE (default: the latest line item).")
@click.option(
    "--layout", type=click.Choice(_LAYOUTS), default="auto", show_default=True,
    help="matrix (cohort × periods since, in percent) or long (one row per cohort and period).",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write to PATH instead of stdout.")
@click.pass_context
def cohorts_cmd(ctx: click.Context, by: str, metric: str, as_of: str | None, layout: str, fmt: str, output: str | None) -> None:
    """First-purchase cohorts and their retention, period by period.

    \b
    The matrix shows, per cohort (accounts whose first purchase fell in that month or
    quarter), the retention in each period since: 0 is the cohort's own period. Values are
    percentages; the last column of each row may be a period still in progress (the long
    layout marks it with complete = false).

    \b
    Examples:
      segtui cohorts                          monthly cohorts, logo retention
      segtui cohorts --by quarter --metric revenue
      segtui cohorts --format csv -o cohorts.csv     the long table
    """
    df, summary = history.cohorts(ctx.obj.db, by=by, as_of=as_of)
    _diag(
        f"cohorts by {by} as of {summary['as_of'].isoformat()}: {df['cohort'].n_unique()} cohorts; "
        f"{summary['no_purchase_accounts']} accounts without a purchase are in none"
    )
    if _layout(layout, fmt) == "matrix":
        emit(history.cohort_matrix(df, metric), fmt, output)
    else:
        emit(df, fmt, output, money=["revenue"])


COMMANDS = [migration_cmd, cohorts_cmd]
