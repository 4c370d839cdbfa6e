"""``segtui playbook``, ``segtui primary`` and ``segtui validate``."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import click
import polars as pl

from segtui.commands.listing_cmd import diag, output_options, snapshot_option
from segtui.commands.score_cmd import parse_date
from segtui.output import emit, render, write_file

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Configuration file (default: segtui.toml beside the store).",
)


def _warn(w: Any) -> None:
    diag(str(w))


@click.command("playbook")
@snapshot_option
@click.option("--since", metavar="ID|DATE", default=None, help="Compare with this snapshot (default: the previous one).")
@click.option("--owner", "owners", multiple=True, metavar="NAME", help="Only this owner (repeat for several).")
@click.option("--all", "include_all", is_flag=True, help="Also list accounts entering segments without a playbook.")
@config_option
@output_options
@click.pass_obj
def playbook(
    settings: Any, snapshot: str | None, since: str | None, owners: tuple[str, ...], include_all: bool,
    config_path: Path | None, fmt: str, output: Path | None,
) -> None:
    """The to-do list: accounts that entered a segment since the previous snapshot, per owner.

    For each account whose primary segment changed (or that is new), the segment's playbook:
    owner, due date (as-of date + due days) and action. Playbooks, owners and the primary
    order are configured in segtui.toml (see docs/rules.md).

    \b
    Examples:
      segtui playbook
      segtui playbook --owner ana --format csv -o ana.csv
      segtui playbook --snapshot 2025-06-30 --since 2025-05-31 --format json
    """
    from segtui.playbooks import playbook_listing

    res = playbook_listing(
        settings.db, snapshot=snapshot, since=since, owners=owners, include_without_playbook=include_all,
        config_path=config_path, warn=_warn,
    )
    for sid in res.assigned:
        diag(f"primary segments computed and stored for snapshot {sid}")
    prev = f"snapshot {res.previous.id} ({res.previous.as_of})" if res.previous is not None else "no earlier snapshot"
    if not settings.quiet:
        diag(f"snapshot {res.snapshot.id} ({res.snapshot.as_of}) compared with {prev}: {res.frame.height} accounts to act on")
    emit(res.frame, fmt, output, money=("revenue", "margin"))


@click.command("primary")
@snapshot_option
@config_option
@output_options
@click.pass_obj
def primary(settings: Any, snapshot: str | None, config_path: Path | None, fmt: str, output: Path | None) -> None:
    """Compute and store each account's primary segment in a snapshot; list the result.

    The primary segment is the first entry of [primary] order (segtui.toml) the account belongs
    to: custom segments, risk bands, quadrants, lifecycle stages, RFM segments. Run it again
    after editing segtui.toml to reassign.

    \b
    Examples:
      segtui primary
      segtui primary --snapshot 2025-06-30 --format csv
    """
    from segtui import queries
    from segtui.playbooks import assign_primary

    snap = queries.resolve_snapshot(settings.db, snapshot)
    report = assign_primary(settings.db, snap.id, config_path=config_path, warn=_warn)
    total = int(report.summary.get_column("accounts").sum())
    df = report.summary.with_columns(
        (pl.col("accounts") / max(total, 1) * 100).round(1).alias("share")
    ).select("primary_segment", "accounts", "share", "revenue", "owner", "due_days", "action")
    if not settings.quiet:
        diag(f"snapshot {snap.id} ({snap.as_of}): primary segments stored for {total} accounts")
    emit(df, fmt, output, money=("revenue",))


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


@click.command("validate")
@click.option("--as-of", "as_of", callback=parse_date, metavar="DATE",
              help="The past date to score as of (default: the last line item's day minus the horizon).")
@click.option("--horizon", default="30d", show_default=True, metavar="DAYS", help="What happened after: 30d, 8w, 90 days...")
@click.option("--map", "map_name", type=click.Choice(["rfm11", "rfm5", "quadrant", "risk", "lifecycle", "primary", "custom"]),
              default="rfm11", show_default=True, help="Segments to report on.")
@click.option("--mode", type=click.Choice(["transactions", "saas"]), default=None, help="Override the configured scoring mode.")
@config_option
@output_options
@click.pass_obj
def validate(
    settings: Any, as_of: date | None, horizon: str, map_name: str, mode: str | None, config_path: Path | None,
    fmt: str, output: Path | None,
) -> None:
    """Check that segments predict: score as of a past date, then look at what happened after.

    Churn risk against "no purchase in the horizon" (AUC, and precision / recall of the high
    band), and per segment: share of accounts and revenue, then retention and revenue per
    account over the horizon. Nothing is written to the store.

    The table format prints everything; json prints one object; csv, ndjson and parquet write
    the segment table (the churn figures go to stderr).

    \b
    Examples:
      segtui validate --as-of 2025-06-30 --horizon 30d
      segtui validate --horizon 90d --map lifecycle --format json
    """
    from segtui.validate import MONEY, validate_store

    v = validate_store(settings.db, as_of=as_of, horizon=horizon, map_name=map_name, config_path=config_path,
                       mode=mode, warn=_warn)
    c = v.churn
    ref = c.reference_auc or {}
    lines = [
        f"validation as of {v.as_of}, horizon {v.horizon_days} days ({v.as_of + timedelta(days=1)} .. {v.horizon_end}); "
        f"line items up to {v.last_day}",
        f"churn risk predicting \"no purchase in the horizon\", over {c.accounts} accounts with a purchase by {v.as_of}:",
        f"  went quiet: {c.went_quiet} ({_pct(c.base_rate)}, the base rate)",
        f"  AUC of the churn-risk score: {_num(c.auc)} (0.5 = chance; for reference, recency_days {_num(ref.get('recency_days'))}, "
        f"health {_num(ref.get('health'))})",
        f"  high band: {c.high} accounts, precision {_pct(c.precision)}, recall {_pct(c.recall)}"
        + (f", lift {c.lift:.2f}" if c.lift is not None else ""),
    ]
    if fmt == "json":
        doc = {
            "as_of": v.as_of.isoformat(),
            "horizon_days": v.horizon_days,
            "last_line_item": v.last_day.isoformat(),
            "map": v.map,
            "churn": c.to_dict(),
            "bands": json.loads(render(v.bands, "json")),
            "segments": json.loads(render(v.segments, "json", money=MONEY)),
        }
        data = (json.dumps(doc, indent=2) + "\n").encode()
        if output is None or str(output) == "-":
            click.get_binary_stream("stdout").write(data)
        else:
            write_file(Path(output), data)
        return
    if fmt == "table":
        text = "\n".join(lines) + "\n\n" + render(v.bands, "table").decode() + "\n"
        text += f"segments ({v.map}) as of {v.as_of}, outcomes over the horizon:\n"
        text += render(v.segments, "table", money=MONEY).decode()
        if output is None or str(output) == "-":
            click.get_binary_stream("stdout").write(text.encode())
        else:
            write_file(Path(output), text.encode())
        return
    for line in lines:
        diag(line)
    emit(v.segments, fmt, output, money=MONEY)


COMMANDS = [playbook, primary, validate]
