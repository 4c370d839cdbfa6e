"""``segtui score``: compute a dated snapshot of every account."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click

from segtui.output_formats import FORMATS
from segtui.scoring import SnapshotInfo, score_store

if TYPE_CHECKING:
    import polars as pl


def parse_date(ctx: click.Context | None, param: click.Parameter | None, value: str | None) -> date | None:
    """A click callback: ``YYYY-MM-DD`` or nothing."""
    if value is None:
        return None
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected a date YYYY-MM-DD, got {value!r}") from None


def _preload() -> threading.Thread:
    """Import what reporting the run needs (polars, the output module, history) on a second
    thread: the core releases the interpreter while it scores, so these imports (a few tenths
    of a second) overlap the run instead of preceding it."""

    def work() -> None:
        try:
            import segtui.history  # noqa: F401
            import segtui.output  # noqa: F401
        except Exception:  # noqa: BLE001 - imported again (and reported) where they are used
            pass

    t = threading.Thread(target=work, name="segtui-preload", daemon=True)
    t.start()
    return t


def info_frame(infos: list[SnapshotInfo]) -> pl.DataFrame:
    """One row per written snapshot (money in minor units)."""
    import polars as pl

    return pl.DataFrame(
        [
            {
                "snapshot": info.id,
                "as_of": info.as_of,
                "mode": info.mode,
                "accounts": info.accounts,
                "net_revenue": info.net_revenue,
                "pooled_cost": info.pooled_cost,
                "allocated_cost": info.allocated_cost,
                "unallocated_cost": info.unallocated_cost,
                "replaced": ",".join(str(i) for i in info.replaced),
                "data_version": info.data_version,
                "config_fp": info.config_fp[:16],
                "cache": info.cache,
                "load_s": info.timings.get("load", 0.0),
                "score_s": info.timings.get("score", 0.0),
                "write_s": info.timings.get("write", 0.0),
                "total_s": info.timings.get("total", info.seconds),
            }
            for info in infos
        ],
        schema_overrides={"as_of": pl.Date},
    )


MONEY = ("net_revenue", "pooled_cost", "allocated_cost", "unallocated_cost")


@click.command("score")
@click.option("--as-of", "as_of", callback=parse_date, metavar="DATE", help="As-of date YYYY-MM-DD (default: the latest line item's day).")
@click.option("--mode", type=click.Choice(["transactions", "saas"]), default=None, help="Override the configured mode.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Configuration file (default: segtui.toml beside the store).",
)
@click.option(
    "--every",
    type=click.Choice(["week", "month", "quarter"]),
    default=None,
    help="Score a series: the last day of every period from --since to --until.",
)
@click.option("--since", callback=parse_date, metavar="DATE", help="First day of the series (with --every).")
@click.option("--until", callback=parse_date, metavar="DATE", help="Last day of the series (default: the latest line item's day).")
@click.option("--no-cache", is_flag=True, help="Read SQLite directly; leave the column cache alone.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write here instead of stdout.")
@click.pass_obj
def score(
    settings: object,
    as_of: date | None,
    mode: str | None,
    config_path: Path | None,
    every: str | None,
    since: date | None,
    until: date | None,
    no_cache: bool,
    fmt: str,
    output: Path | None,
) -> None:
    """Score every account as of a date and store the result as a snapshot.

    Re-running with the same as-of date, mode and configuration replaces that snapshot
    atomically. Progress goes to stderr (-q silences it).

    \b
    Examples:
      segtui score
      segtui score --as-of 2025-06-30 --format json
      segtui score --mode saas --config other.toml
      segtui score --every month --since 2025-01-01
    """
    db, quiet = settings.db, settings.quiet  # type: ignore[attr-defined]
    _preload()
    if every is None and (since or until):
        raise click.UsageError("--since and --until go with --every")
    if every is not None:
        if as_of is not None:
            raise click.UsageError("--as-of and --every exclude each other")
        if since is None:
            raise click.UsageError("--every needs --since DATE")
        from segtui import history

        infos = history.score_series(
            db, every, since, until, mode=mode, config_path=config_path, quiet=quiet, cache=not no_cache
        )
    else:
        from segtui.history import after_scoring

        infos = [score_store(db, as_of=as_of, mode=mode, config_path=config_path, quiet=quiet, cache=not no_cache)]
        after_scoring(db, [i.id for i in infos], config_path=str(config_path) if config_path else None)
    import polars as pl

    from segtui.output import emit, money_text

    df = info_frame(infos)
    if fmt == "table" and df.height == 1:
        # one record: show it as field / value lines
        shown = df.with_columns(money_text(pl.col(c)).alias(c) for c in MONEY)
        row = shown.row(0, named=True)
        kv = pl.DataFrame({"field": list(row), "value": ["" if v is None else str(v) for v in row.values()]})
        emit(kv, "table", output)
    else:
        emit(df, fmt, output, money=MONEY)


COMMANDS = [score]
