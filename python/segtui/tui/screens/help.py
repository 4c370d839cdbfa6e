"""``?``: what this screen shows and every key it answers to, generated from the action registry."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from segtui.tui import actions

SCOPE_TITLES = {"app": "Everywhere", "table": "In tables"}


def key_text(app, keys: list[str]) -> str:  # noqa: ANN001 - any App
    shown = []
    for k in keys:
        try:
            shown.append(app.get_key_display(Binding(k, "")))
        except Exception:
            shown.append(k)
    return " / ".join(shown)


def help_table(app, scopes: tuple[str, ...], keymap: dict[str, str]) -> Table:  # noqa: ANN001
    table = Table.grid(padding=(0, 2))
    table.add_column(no_wrap=True, style="bold")
    table.add_column(no_wrap=True)
    table.add_column(ratio=1)
    for scope in scopes:
        entries = actions.in_scope(scope)
        if not entries:
            continue
        table.add_row(Text(SCOPE_TITLES.get(scope, "On this screen"), style="underline"), "", "")
        for a in entries:
            table.add_row(key_text(app, actions.effective_keys(a, keymap)), a.label, a.help)
        table.add_row("", "", "")
    return table


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; background: $background 60%; }
    HelpScreen > VerticalScroll { width: 95%; max-width: 110; height: 90%; border: round $accent; background: $surface; padding: 0 1; }
    HelpScreen #help-intro { margin: 0 0 1 0; }
    """
    BINDINGS = [
        Binding("escape,q,question_mark", "close", "Close", show=False),
        Binding("j", "scroll_down", show=False),
        Binding("k", "scroll_up", show=False),
    ]

    def __init__(self, title: str, intro: str, scopes: tuple[str, ...]) -> None:
        super().__init__()
        self.title_text, self.intro, self.scopes = title, intro, scopes

    def compose(self) -> ComposeResult:
        keymap = getattr(self.app, "keymap", {})
        with VerticalScroll(id="help-scroll"):
            yield Static(f"[b]{self.title_text}[/b]", id="help-title")
            yield Static(self.intro, id="help-intro")
            yield Static(help_table(self.app, self.scopes, keymap), id="help-keys")
            yield Static("[dim]Rebind any key by its name in segtui.toml beside the store, e.g. "
                         "[keys] \"table.sort\" = \"S\".  esc closes.[/]", id="help-rebind")

    def action_close(self) -> None:
        self.dismiss(None)

    def action_scroll_down(self) -> None:
        self.query_one("#help-scroll", VerticalScroll).scroll_down()

    def action_scroll_up(self) -> None:
        self.query_one("#help-scroll", VerticalScroll).scroll_up()
