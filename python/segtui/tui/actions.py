"""The one registry of named actions.

Every key the TUI answers to is an entry here: an id (``table.sort``), its default keys, the
Textual action it runs, a short label for the footer and a sentence for the help screen. The
footer, the ``?`` help screen and the command palette are all generated from this list, and users
rebind keys by id in ``segtui.toml`` beside the store::

    [keys]
    "table.sort" = "S"
    "app.migration" = "M,ctrl+m"

Scopes: ``app`` (everywhere), ``table`` (any table with the cursor in it) and one per screen.
This module does not import Textual at import time beyond ``Binding``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from textual.binding import Binding

from segtui.errors import ConfigError


@dataclass(frozen=True)
class NamedAction:
    id: str
    keys: str
    action: str
    label: str
    help: str
    scope: str
    footer: bool = True
    palette: bool = True


REGISTRY: tuple[NamedAction, ...] = (
    # everywhere
    NamedAction("app.help", "question_mark", "help", "Help", "Explain this screen and list its keys.", "app"),
    NamedAction("app.palette", "ctrl+p", "command_palette", "Commands", "Open the command palette: every action by name.", "app", footer=False, palette=False),
    NamedAction("app.back", "escape", "back", "Back", "Cancel the running action (scoring included); otherwise go back one screen.", "app", footer=False),
    NamedAction("app.quit_or_back", "q", "quit_or_back", "Back", "Go back one screen; quit on the first screen.", "app"),
    NamedAction("app.quit", "ctrl+q", "quit", "Quit", "Quit segtui at once.", "app", footer=False),
    NamedAction("app.overview", "o", "go('overview')", "Overview", "Go to the overview of the current snapshot.", "app", footer=False),
    NamedAction("app.migration", "m", "go('migration')", "Migration", "Who moved between segments from one snapshot to another.", "app"),
    NamedAction("app.profitability", "p", "go('profitability')", "Profit", "Profitability quadrants, money-losing accounts, cost by category and pool.", "app"),
    NamedAction("app.cohorts", "c", "go('cohorts')", "Cohorts", "Logo and revenue retention by first-purchase month.", "app"),
    NamedAction("app.snapshot", "d", "pick_snapshot", "Snapshot", "Pick the snapshot (as-of date) the screens show.", "app"),
    NamedAction("app.reload", "ctrl+r", "reload", "Reload", "Read this screen's data again (after a cancel, or new snapshots).", "app", footer=False),
    NamedAction("app.score", "r", "score", "Score", "Run scoring on the store now (writes a new snapshot), with progress; esc cancels it.", "app", footer=False),
    # tables
    NamedAction("table.open", "enter", "open_row", "Open", "Open what the cursor is on (a segment, an account, a cell).", "table"),
    NamedAction("table.sort", "s", "sort_column", "Sort", "Sort by the cursor's column; again to reverse.", "table"),
    NamedAction("table.filter", "slash", "filter", "Filter", "Filter rows: text, or column<op>value terms like margin<0 (empty clears).", "table"),
    NamedAction("table.export", "e", "export", "Export", "Write the table as shown (filtered, sorted) to CSV, Parquet or JSON.", "table"),
    NamedAction("table.copy", "y", "copy_cell", "Copy", "Copy the cell under the cursor to the clipboard.", "table", footer=False),
    NamedAction("table.down", "j", "cursor_down", "Down", "Move down (also ↓).", "table", footer=False, palette=False),
    NamedAction("table.up", "k", "cursor_up", "Up", "Move up (also ↑).", "table", footer=False, palette=False),
    NamedAction("table.left", "h", "cursor_left", "Left", "Move left (also ←).", "table", footer=False, palette=False),
    NamedAction("table.right", "l", "cursor_right", "Right", "Move right (also →).", "table", footer=False, palette=False),
    NamedAction("table.top", "g", "scroll_home", "Top", "Go to the first row (also Home).", "table", footer=False),
    NamedAction("table.bottom", "G", "scroll_end", "Bottom", "Go to the last row (also End).", "table", footer=False),
    NamedAction("table.page_down", "ctrl+f", "page_down", "Page down", "One page down (also PgDn).", "table", footer=False, palette=False),
    NamedAction("table.page_up", "ctrl+b", "page_up", "Page up", "One page up (also PgUp).", "table", footer=False, palette=False),
    # screens
    NamedAction("overview.group", "v", "next_grouping", "Group by", "Group the table by the next dimension: rfm11, rfm5, primary segment, quadrant, risk band, stage, health, tier, size.", "overview"),
    NamedAction("account.next_page", "right_square_bracket", "page(1)", "Next page", "Next page of line items.", "account"),
    NamedAction("account.prev_page", "left_square_bracket", "page(-1)", "Prev page", "Previous page of line items.", "account"),
    NamedAction("migration.pick_a", "a", "pick('a')", "From", "Pick snapshot A (from).", "migration"),
    NamedAction("migration.pick_b", "b", "pick('b')", "To", "Pick snapshot B (to).", "migration"),
    NamedAction("migration.map", "v", "next_map", "Map", "Switch the dimension: rfm11, rfm5, primary segment, quadrant, risk band, stage.", "migration"),
    NamedAction("migration.values", "t", "next_values", "Values", "Show accounts, revenue in A, or revenue in B.", "migration"),
    NamedAction("cohorts.basis", "t", "toggle_basis", "Logo/revenue", "Switch between logo and revenue retention.", "cohorts"),
)

BY_ID = {a.id: a for a in REGISTRY}


def in_scope(scope: str) -> list[NamedAction]:
    return [a for a in REGISTRY if a.scope == scope]


def bindings(scope: str) -> list[Binding]:
    """Textual bindings for one scope; each carries the action's id, so a keymap can rebind it."""
    out = []
    for a in in_scope(scope):
        out.append(Binding(a.keys, a.action, a.label, show=a.footer, id=a.id))
    return out


def load_keymap(config: Path) -> dict[str, str]:
    """The ``[keys]`` table of ``segtui.toml`` (empty when there is no file); refuses unknown ids."""
    if not config.exists():
        return {}
    try:
        with open(config, "rb") as f:
            doc = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{config}: {e}") from None
    keys = doc.get("keys", {})
    if not isinstance(keys, dict):
        raise ConfigError(f"{config}: [keys] must be a table of action = \"keys\"")
    out: dict[str, str] = {}
    for action_id, value in keys.items():
        if action_id not in BY_ID:
            known = ", ".join(sorted(BY_ID))
            raise ConfigError(f"{config}: [keys] {action_id!r} is not an action (actions: {known})")
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{config}: [keys] {action_id!r} must be a non-empty string such as \"s\" or \"ctrl+s,S\"")
        out[action_id] = ",".join(k.strip() for k in value.split(",") if k.strip())
    return out


def effective_keys(action: NamedAction, keymap: dict[str, str]) -> list[str]:
    return keymap.get(action.id, action.keys).split(",")
