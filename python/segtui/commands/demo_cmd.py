"""``segtui demo``: build (or reuse) the demo store, then open it."""

from __future__ import annotations

from pathlib import Path

import click

MAX_ACCOUNTS = 2_000_000


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole:,}.{frac:02d}"


@click.command("demo")
@click.option(
    "--accounts",
    type=click.IntRange(1, MAX_ACCOUNTS),
    default=2000,
    show_default=True,
    help="Accounts in the demo company.",
)
@click.option("--seed", type=click.IntRange(min=0), default=7, show_default=True, help="Random seed; the same seed gives the same data.")
@click.option(
    "--db",
    "db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to build the demo store (default: the store given to segtui, i.e. --db, $SEGTUI_DB or ./segtui.db).",
)
@click.option("--no-open", is_flag=True, help="Build the store but do not open the TUI.")
@click.pass_context
def demo(ctx: click.Context, accounts: int, seed: int, db: Path | None, no_open: bool) -> None:
    """Build the demo store (a made-up B2B SaaS company) and open it in the TUI.

    The demo company has two years of invoices and credit notes (ending 2025-12-31), direct and
    pooled costs, and product events, for customers that grow, shrink, churn and come back. The
    data is generated (the same seed always gives the same data), imported like your own files
    would be, and scored at the month-ends of its last year.

    A store already built with the same settings is reused; a demo store built with other
    settings is replaced. A store holding your own data is never overwritten.

    \b
    Examples:
      segtui demo                          build ./segtui.db with 2,000 accounts and open it
      segtui demo --db demo.db --no-open   build demo.db and stop (for scripts)
      segtui demo --accounts 50000 --seed 3 --db big-demo.db
    """
    from segtui.cli import diag, open_tui
    from segtui.demo import ensure_demo_store

    settings = ctx.obj
    target = db if db is not None else settings.db
    quiet = bool(getattr(settings, "quiet", False))
    result = ensure_demo_store(target, accounts=accounts, seed=seed, quiet=quiet)
    c = result.counts
    contents = (
        f"{c['accounts']:,} accounts, {c['line-items']:,} line items, {c['costs']:,} cost rows, "
        f"{c['events']:,} events, {c['snapshots']:,} snapshots; net revenue {_money(result.net_revenue_cents)}"
    )
    if result.reused:
        diag(f"demo store {target}: already built with these settings (seed {seed}); reusing it: {contents}")
    else:
        diag(
            f"demo store {target}: built in {result.seconds:.1f} s "
            f"(generated in {result.generate_seconds:.1f} s, seed {seed}): {contents}"
        )
    if not no_open:
        open_tui(target)


COMMANDS = [demo]
