"""The ``segtui`` command line.

``segtui`` with no subcommand opens the TUI on the store (``--db``, ``SEGTUI_DB`` or
``./segtui.db``). Every subcommand is scriptable: data on stdout, plain diagnostics on stderr,
exit codes 0 ok / 1 data error / 2 usage error / 130 interrupted.

Headless commands never import Textual: the TUI is imported only when it is opened.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from segtui.errors import SegtuiError
from segtui.store import resolve_db_path

# Each module defines click commands in a module-level ``COMMANDS`` list.
# Command name -> the module that defines it. Modules are imported when their command runs (or
# for --help), so `segtui score` starts its work before polars, pyarrow and the rules engine
# are imported, and the TUI does not import the command modules at all.
LAZY_COMMANDS: dict[str, str] = {
    "demo": "segtui.commands.demo_cmd",
    "import": "segtui.commands.import_cmd",
    "score": "segtui.commands.score_cmd",
    "segments": "segtui.commands.listing_cmd",
    "accounts": "segtui.commands.listing_cmd",
    "account": "segtui.commands.listing_cmd",
    "export": "segtui.commands.listing_cmd",
    "migration": "segtui.commands.history_cmd",
    "cohorts": "segtui.commands.history_cmd",
    "playbook": "segtui.commands.rules_cmd",
    "primary": "segtui.commands.rules_cmd",
    "validate": "segtui.commands.rules_cmd",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported from :data:`LAZY_COMMANDS` on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            module = importlib.import_module(LAZY_COMMANDS[cmd_name])
            for command in module.COMMANDS:
                self.add_command(command)
        return self.commands.get(cmd_name)


@dataclass
class Settings:
    db: Path
    quiet: bool = False


def diag(msg: str) -> None:
    """One plain diagnostic line on stderr (no colour, no boxes)."""
    click.echo(msg, err=True)


@click.group(
    cls=LazyGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--db",
    "db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The store (default: $SEGTUI_DB, else ./segtui.db).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@click.version_option(package_name="segtui")
@click.pass_context
def cli(ctx: click.Context, db: Path | None, quiet: bool) -> None:
    """segtui: customer segments that are computed, dated and explained.

    \b
    Examples:
      segtui demo                      build the demo store and open it
      segtui import line-items orders.csv --preset online-retail
      segtui score --as-of 2025-06-30
      segtui accounts --segment "At Risk" --format csv -o at_risk.csv
      segtui                           open the TUI on ./segtui.db
    """
    ctx.obj = Settings(db=resolve_db_path(db), quiet=quiet)
    if ctx.invoked_subcommand is None:
        open_tui(ctx.obj.db)


def open_tui(db: Path) -> None:
    """Open the TUI on ``db``; with no store there, offer the bundled demo."""
    if not db.exists():
        diag(f"no store at {db}. Build the demo store with `segtui demo`, or import your data with `segtui import`.")
        raise SystemExit(1)
    try:
        tui = importlib.import_module("segtui.tui.app")
    except ModuleNotFoundError:
        diag("the TUI is not available in this build yet; the command line works: see `segtui --help`")
        raise SystemExit(1) from None
    tui.run(db)


def all_commands() -> dict[str, click.Command]:
    """Every subcommand, by name (imports every command module)."""
    for name in LAZY_COMMANDS:
        cli.get_command(click.Context(cli), name)
    return dict(cli.commands)


def main(argv: list[str] | None = None) -> None:
    """Entry point: maps errors to exit codes and one-line messages."""
    try:
        cli.main(args=argv, prog_name="segtui", standalone_mode=False)
    except click.exceptions.Abort:
        diag("interrupted")
        sys.exit(130)
    except KeyboardInterrupt:
        diag("interrupted")
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except SegtuiError as e:
        diag(f"error: {e}")
        sys.exit(e.exit_code)
    except BrokenPipeError:
        # `segtui accounts | head`: the reader left; that is not an error.
        sys.stderr.close()
        sys.exit(0)
    sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()
