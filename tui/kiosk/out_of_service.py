"""The fixed screen a kiosk shows once it kept crashing.

The supervisor gives up restarting the kiosk after repeated crashes and runs
this instead: one sentence in the kiosk's language, no key doing anything, and
nothing read from the terminal home (a broken home may be why the kiosk
crashed). It never ends by itself; IT staff restart the service.
"""

from __future__ import annotations

from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical
from textual.widgets import Static

from .. import i18n
from ..i18n import _
from .app import CONTRAST
from .appliance import ignore_stop_signals
from .lockdown import LockedDown


class OutOfServiceApp(LockedDown, App, inherit_bindings=False):
    TITLE = "Beffroi"
    BINDINGS: list[Binding] = []
    ENABLE_COMMAND_PALETTE = False
    ALLOW_SELECT = False
    CSS = """
    Screen { background: #000000; align: center middle; }
    #out-of-service { width: 72; height: auto; border: heavy #ffd400; padding: 2 4; }
    #out-of-service Static { width: 100%; text-align: center; }
    #oos-title { text-style: bold; color: #ffd400; margin-bottom: 1; }
    """

    def __init__(self, lang: str = "fr", own_process: bool = False) -> None:
        i18n.set_lang(lang)
        super().__init__()
        self.own_process = own_process   # as KioskApp: signals are ignored only in its own process

    def compose(self) -> ComposeResult:
        with Center(), Vertical(id="out-of-service"):
            yield Static(_("This kiosk is out of service"), id="oos-title")
            yield Static(_("Please ask at the reception desk: an agent will help you."), id="oos-help")

    def on_mount(self) -> None:
        if self.own_process:
            ignore_stop_signals()
        self.register_theme(CONTRAST)
        self.theme = "beffroi-contrast"

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            event.stop()
            event.prevent_default()
            return
        await super().on_event(event)
