"""Small modal dialogs: a one-line prompt, a picker, a confirmation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

DIALOG_CSS = """
{name} {{ align: center middle; background: $background 60%; }}
{name} > Vertical {{ width: 90%; max-width: 100; height: auto; border: round $accent; background: $surface; padding: 0 1; }}
{name} .dialog-title {{ text-style: bold; margin: 0 0 1 0; }}
{name} .dialog-hint {{ color: $text-muted; margin: 1 0 0 0; }}
"""


class Prompt(ModalScreen[str | None]):
    """One line of text; enter returns it, escape returns None."""

    DEFAULT_CSS = DIALOG_CSS.format(name="Prompt")
    BINDINGS = [Binding("escape", "dismiss_none", "Cancel", show=False)]

    def __init__(self, title: str, value: str = "", hint: str = "") -> None:
        super().__init__()
        self.title_text, self.value, self.hint = title, value, hint

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="dialog-title")
            yield Input(self.value, id="prompt-input", select_on_focus=False)
            yield Label(f"{self.hint}\nenter accepts · esc cancels" if self.hint else "enter accepts · esc cancels",
                        classes="dialog-hint")

    def on_mount(self) -> None:
        inp = self.query_one(Input)
        inp.focus()
        inp.cursor_position = len(self.value)

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class Picker(ModalScreen[Any]):
    """Pick one of several options; enter returns its value, escape returns None."""

    DEFAULT_CSS = DIALOG_CSS.format(name="Picker") + """
    Picker OptionList { height: auto; max-height: 20; }
    """
    BINDINGS = [
        Binding("escape", "dismiss_none", "Cancel", show=False),
        Binding("j", "down", show=False),
        Binding("k", "up", show=False),
    ]

    def __init__(self, title: str, options: Sequence[tuple[str, Any]], selected: int = 0) -> None:
        super().__init__()
        self.title_text = title
        self.options = list(options)
        self.selected = selected

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="dialog-title")
            yield OptionList(*[Option(text, id=str(i)) for i, (text, _v) in enumerate(self.options)], id="picker")
            yield Label("enter picks · esc cancels", classes="dialog-hint")

    def on_mount(self) -> None:
        ol = self.query_one(OptionList)
        ol.focus()
        if self.options:
            ol.highlighted = min(self.selected, len(self.options) - 1)

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.options[int(event.option.id or 0)][1])

    def action_down(self) -> None:
        self.query_one(OptionList).action_cursor_down()

    def action_up(self) -> None:
        self.query_one(OptionList).action_cursor_up()

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class Confirm(ModalScreen[bool]):
    DEFAULT_CSS = DIALOG_CSS.format(name="Confirm")
    BINDINGS = [
        Binding("escape,n", "answer(False)", "No", show=False),
        Binding("enter,y", "answer(True)", "Yes", show=False),
    ]

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title_text, self.text = title, text

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.text)  # wraps (a Label keeps one line and cuts the rest)
            yield Label("enter or y: yes · esc or n: no", classes="dialog-hint")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
