"""The question asked before anything that cannot be undone."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Label, Static

from ...i18n import N_, _
from ...widgets.page import Dialog


class Confirm(Dialog):
    BINDINGS = [Binding("escape", "dismiss(False)", N_("Cancel"))]

    def __init__(self, title: str, consequence: str, action: str) -> None:
        super().__init__()
        self.title_text, self.consequence, self.action = title, consequence, action

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, classes="title")
            yield Static(self.consequence, id="consequence")
            with Horizontal(classes="buttons"):
                yield Button(self.action, id="confirm", variant="error")
                yield Button(_("Cancel"), id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel").focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")
