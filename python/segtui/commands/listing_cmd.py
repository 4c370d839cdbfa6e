"""Listings of a snapshot: ``segtui segments``, ``segtui accounts``, ``segtui account ID`` and
``segtui export accounts|segments|line-items FILE``. Every one goes through
``segtui.output`` (``--format table|csv|json|ndjson|parquet``, ``--output PATH``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import click
import polars as pl

from segtui import queries
from segtui.commands.score_cmd import parse_date
from segtui.errors import ConfigError
from segtui.output import FORMATS, emit, format_from_path, money_text, render, write_file
from segtui.rules import accounts_frame_with_rule, rule_option

TABLE_DEFAULT_LIMIT = 100


def diag(msg: str) -> None:
    """One plain diagnostic line on stderr (as ``segtui.cli.diag``; not imported from there so
    this module can be imported on its own)."""
    click.echo(msg, err=True)

F = Callable[..., Any]


def output_options(f: F) -> F:
    f = click.option(
        "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write here instead of stdout."
    )(f)
    return click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)(f)


def snapshot_option(f: F) -> F:
    return click.option(
        "--snapshot",
        "snapshot",
        metavar="ID|DATE",
        default=None,
        help="Snapshot id, or as-of date YYYY-MM-DD (default: the latest).",
    )(f)


def map_option(f: F) -> F:
    return click.option(
        "--map",
        "map_name",
        type=click.Choice(list(queries.MAPS)),
        default="rfm11",
        show_default=True,
        help="Group by this map.",
    )(f)


def filter_options(f: F) -> F:
    opts = [
        click.option("--segment", multiple=True, metavar="NAME", help="rfm11 segment (repeat for several)."),
        click.option("--rfm5", multiple=True, metavar="NAME", help="rfm5 segment (repeat for several)."),
        click.option("--quadrant", multiple=True, metavar="NAME", help="Profitability quadrant, e.g. 'low revenue, high cost'."),
        click.option("--risk", multiple=True, metavar="BAND", help="Churn band: low, medium or high."),
        click.option("--stage", multiple=True, metavar="STAGE", help="Lifecycle stage, e.g. at-risk."),
        click.option(
            "--where",
            "where",
            multiple=True,
            metavar="EXPR",
            help="Numeric condition COLUMN OP NUMBER, e.g. 'margin<0' (repeat or join with 'and').",
        ),
        click.option("--sort", metavar="COL[:desc]", default=None, help="Sort by a column (default: account)."),
        click.option("--limit", type=click.IntRange(min=0), default=None, help="At most this many rows."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _snapshot(settings: Any, spec: str | None) -> queries.Snapshot:
    return queries.resolve_snapshot(settings.db, spec)


def _filter(**kw: Any) -> queries.AccountFilter:
    return queries.AccountFilter(
        segment=kw["segment"],
        rfm5=kw["rfm5"],
        quadrant=kw["quadrant"],
        risk=kw["risk"],
        stage=kw["stage"],
        where=kw["where"],
        sort=kw["sort"],
        limit=kw["limit"],
    )


SEGMENT_MONEY = ("revenue", "margin")
ACCOUNT_MONEY = ("monetary", "revenue", "direct_cost", "allocated_cost", "margin")


# ------------------------------------------------------------------------------------------


@click.command("segments")
@map_option
@snapshot_option
@output_options
@click.pass_obj
def segments(settings: Any, map_name: str, snapshot: str | None, fmt: str, output: Path | None) -> None:
    """Per segment: accounts, share, net revenue, share, margin, mean R/F/M, high-risk count.

    \b
    Examples:
      segtui segments
      segtui segments --map quadrant --format csv -o quadrants.csv
      segtui segments --snapshot 2025-06-30 --format json
    """
    snap = _snapshot(settings, snapshot)
    df = queries.segment_summary(settings.db, snap.id, map_name)
    emit(df, fmt, output, money=SEGMENT_MONEY)


@click.command("accounts")
@filter_options
@rule_option
@snapshot_option
@output_options
@click.pass_obj
def accounts(settings: Any, snapshot: str | None, fmt: str, output: Path | None, rule: str | None, **kw: Any) -> None:
    """Accounts of a snapshot, filtered and sorted (the stable export column set).

    The table format shows the first 100 rows unless --limit is given; the other formats
    write every matching row.

    \b
    Examples:
      segtui accounts --segment "At Risk" --sort revenue:desc --limit 20
      segtui accounts --where 'margin<0' --format csv -o losing.csv
      segtui accounts --quadrant 'low revenue, high cost' --risk high --format json
      segtui accounts --rule 'did "invite_team" >= 3 times in 30d and not did "create_task" in 14d'
    """
    snap = _snapshot(settings, snapshot)
    flt = _filter(**kw)
    truncated = False
    if fmt == "table" and flt.limit is None:
        flt.limit = TABLE_DEFAULT_LIMIT + 1
        df = accounts_frame_with_rule(settings.db, snap, flt, rule, warn=diag)
        if df.height > TABLE_DEFAULT_LIMIT:
            df = df.head(TABLE_DEFAULT_LIMIT)
            truncated = True
    else:
        df = accounts_frame_with_rule(settings.db, snap, flt, rule, warn=diag)
    emit(df, fmt, output, money=ACCOUNT_MONEY)
    if truncated:
        diag(f"showing the first {TABLE_DEFAULT_LIMIT} accounts: use --limit N, or --format csv|json|ndjson|parquet for all")


# ------------------------------------------------------------------------------------------

SECTIONS = ("summary", "history", "costs", "pools", "line-items")


def _summary_kv(summary: pl.DataFrame) -> pl.DataFrame:
    """The summary row as field / value lines (money as decimal text)."""
    money = [c for c in queries.MONEY_COLUMNS if c in summary.columns]
    shown = summary.with_columns(money_text(pl.col(c)).alias(c) for c in money)
    row = shown.row(0, named=True) if shown.height else {}
    return pl.DataFrame({"field": list(row), "value": ["" if v is None else str(v) for v in row.values()]})


def _sections(detail: queries.AccountDetail) -> dict[str, tuple[pl.DataFrame, tuple[str, ...]]]:
    money = queries.MONEY_COLUMNS
    costs = detail.direct_costs
    return {
        "summary": (detail.summary, money),
        "history": (detail.history, money),
        "costs": (costs, ("cost",)),
        "pools": (detail.pools, ("pooled", "allocated", "unallocated", "account_allocated")),
        "line-items": (detail.line_items, money),
    }


@click.command("account")
@click.argument("account_id")
@snapshot_option
@click.option(
    "--section",
    type=click.Choice(["all", *SECTIONS]),
    default="all",
    show_default=True,
    help="What to show (csv, ndjson and parquet take one section; default there: summary).",
)
@click.option("--lines", type=click.IntRange(min=0), default=20, show_default=True, help="Recent line items to show.")
@click.option("--history", "history_", is_flag=True, help="Segment, scores, revenue, cost and risk at every snapshot (docs/history.md).")
@output_options
@click.pass_obj
def account(
    settings: Any, account_id: str, snapshot: str | None, section: str, lines: int, history_: bool, fmt: str, output: Path | None
) -> None:
    """Everything about one account: firmographics, scores and segments, churn risk with its
    reasons, health and stage, revenue, direct cost by category, pooled allocation, margin,
    segment history across snapshots and recent line items.

    ACCOUNT_ID is the account's id as it appears in your exports.

    \b
    Examples:
      segtui account C-1042
      segtui account C-1042 --format json
      segtui account C-1042 --section line-items --lines 100 --format csv
      segtui account C-1042 --history
    """
    if history_:
        from segtui import history

        emit(history.account_history(settings.db, account_id), fmt, output, money=history.HISTORY_MONEY)
        return
    snap = _snapshot(settings, snapshot)
    detail = queries.account_detail(settings.db, account_id, snap.id, line_limit=lines)
    parts = _sections(detail)
    if fmt in ("csv", "ndjson", "parquet"):
        name = "summary" if section == "all" else section
        df, money = parts[name]
        emit(df, fmt, output, money=money)
        return
    names = SECTIONS if section == "all" else (section,)
    if fmt == "json":
        doc: dict[str, Any] = {}
        for name in names:
            df, money = parts[name]
            rows = json.loads(render(df, "json", money=money))
            doc[name.replace("-", "_")] = rows[0] if name == "summary" and rows else rows
        data = (json.dumps(doc, ensure_ascii=False, indent=None) + "\n").encode()
    else:
        chunks: list[bytes] = []
        for name in names:
            df, money = parts[name]
            if name == "summary":
                body = render(_summary_kv(df), "table")
            elif df.height == 0:
                body = b"(none)\n"
            else:
                body = render(df, "table", money=money)
            chunks.append(f"== {name} ==\n".encode() + body)
        data = b"\n".join(chunks)
    if output is None or str(output) == "-":
        click.get_binary_stream("stdout").write(data)
    else:
        write_file(Path(output), data)


# ------------------------------------------------------------------------------------------


def _export_format(file: Path) -> str:
    try:
        return format_from_path(file)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="FILE") from None


@click.group("export")
def export() -> None:
    """Write a listing to a file, the format taken from its extension
    (.csv .json .ndjson/.jsonl .parquet .txt) — for nightly jobs."""


@export.command("accounts")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@filter_options
@snapshot_option
@click.pass_obj
def export_accounts(settings: Any, file: Path, snapshot: str | None, **kw: Any) -> None:
    """Every account of a snapshot (optionally filtered) with the stable export column set.

    \b
    Example:
      segtui export accounts accounts.parquet
    """
    fmt = _export_format(file)
    snap = _snapshot(settings, snapshot)
    df = queries.accounts_frame(settings.db, snap.id, _filter(**kw))
    emit(df, fmt, file, money=ACCOUNT_MONEY)
    if not settings.quiet:
        diag(f"wrote {df.height} accounts of snapshot {snap.id} (as of {snap.as_of.isoformat()}) to {file}")


@export.command("segments")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@map_option
@snapshot_option
@click.pass_obj
def export_segments(settings: Any, file: Path, map_name: str, snapshot: str | None) -> None:
    """The segment summary of a snapshot (as `segtui segments`).

    \b
    Example:
      segtui export segments segments.csv --map rfm5
    """
    fmt = _export_format(file)
    snap = _snapshot(settings, snapshot)
    df = queries.segment_summary(settings.db, snap.id, map_name)
    emit(df, fmt, file, money=SEGMENT_MONEY)
    if not settings.quiet:
        diag(f"wrote {df.height} segments of snapshot {snap.id} to {file}")


@export.command("line-items")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--since", callback=parse_date, metavar="DATE", help="First day (inclusive).")
@click.option("--until", callback=parse_date, metavar="DATE", help="Last day (inclusive).")
@click.option("--account", "account_id", metavar="ID", default=None, help="Only this account.")
@click.pass_obj
def export_line_items(
    settings: Any, file: Path, since: date | None, until: date | None, account_id: str | None
) -> None:
    """Line items as stored (account id, day, invoice, sku, description, quantity, unit price,
    amount, cancellation flag), ordered by day.

    \b
    Example:
      segtui export line-items june.csv --since 2025-06-01 --until 2025-06-30
    """
    fmt = _export_format(file)
    if since and until and since > until:
        raise ConfigError(f"--since {since.isoformat()} is after --until {until.isoformat()}")
    df = queries.line_items_frame(settings.db, account_key=account_id, since=since, until=until)
    emit(df, fmt, file, money=("unit_price", "amount"))
    if not settings.quiet:
        diag(f"wrote {df.height} line items to {file}")


COMMANDS = [segments, accounts, account, export]
