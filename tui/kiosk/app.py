"""The kiosk app: full screen, large type, high contrast, French or English.

Each visit runs on a fresh kiosk session, so whatever a citizen unlocked with
a tracking code is forgotten when they leave: going home, or being idle for
``idle_seconds``, drops every screen and the session with them.

It is a locked appliance: no key a citizen can type quits, suspends or
reconfigures it (see ``keys``), nothing on screen advertises a way out, and the
only exit is the maintenance screen, behind an ops card or ops id and a PIN,
which records the exit in the journal and ends with ``MAINTENANCE_EXIT``.
"""

from __future__ import annotations

from pathlib import Path

from textual import events
from textual.binding import Binding
from textual.theme import Theme

from hub.roles import Principal

from .. import i18n
from ..base import BeffroiApp
from . import keys
from .appliance import MAINTENANCE_EXIT, ignore_stop_signals
from .lockdown import LockedDown
from .screens.check import CheckScreen
from .screens.maintenance import MaintenanceScreen
from .screens.request import KioskServicesScreen
from .screens.ticket import TicketScreen
from .screens.vault import VaultScreen
from .screens.welcome import WelcomeScreen

HERE = Path(__file__).parent

CONTRAST = Theme(
    name="beffroi-contrast", primary="#ffd400", secondary="#00e5ff", accent="#ffd400", warning="#ffb000",
    error="#ff5c5c", success="#4cff7a", foreground="#ffffff", background="#000000", surface="#000000",
    panel="#1a1a1a", dark=True,
)


class KioskApp(LockedDown, BeffroiApp, inherit_bindings=False):
    TITLE = "Beffroi"
    CSS_PATH = [HERE.parent / "widgets" / "widgets.tcss", HERE / "kiosk.tcss"]
    # No App binding at all (Textual's ctrl+q quit and ctrl+c "press ctrl+q to
    # quit" toast are not inherited); screens bind what citizens use.
    BINDINGS: list[Binding] = []
    ENABLE_COMMAND_PALETTE = False   # citizens get big buttons, not a command line
    ALLOW_SELECT = False             # nothing of a citizen's case to select and copy

    def __init__(self, home, lang: str = "fr", idle_seconds: float = 90.0, kiosk_id: str | None = None,
                 maintenance_login: str = "auto", own_process: bool = False, **kwargs) -> None:
        super().__init__(home, lang, **kwargs)
        # Set by `beffroi kiosk`, where the process is the kiosk's alone: stop
        # and suspend signals are then ignored (never in a test's process).
        self.own_process = own_process
        # "card", "pin", or "auto" (the card when a reader holds one, as at the counter).
        self.maintenance_login = maintenance_login
        self.idle_seconds = idle_seconds
        self.kiosk_id = kiosk_id or self.terminal.name
        self.home_lang = lang
        self.session = self.terminal.session(Principal.kiosk(self.kiosk_id))
        self.touched = self.terminal.clock.monotonic()

    def on_mount(self) -> None:
        if self.own_process:
            ignore_stop_signals()   # again: the driver installed its own SIGTSTP handler by now
        self.register_theme(CONTRAST)
        self.theme = "beffroi-contrast"
        self.push_screen(WelcomeScreen())
        self.set_interval(1.0, self.idle_tick)
        self.start_paper()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            if not keys.reaches_kiosk(event, keys.screen_keys(self.screen)):
                event.stop()
                event.prevent_default()
                return
            if event.key == keys.MAINTENANCE:
                event.stop()
                self.touched = self.terminal.clock.monotonic()
                if not isinstance(self.screen, MaintenanceScreen):
                    use_card = None if self.maintenance_login == "auto" else self.maintenance_login == "card"
                    self.push_screen(MaintenanceScreen(use_card))
                return
        if isinstance(event, (events.Key, events.MouseDown, events.MouseScrollDown, events.MouseScrollUp)):
            self.touched = self.terminal.clock.monotonic()
        await super().on_event(event)

    def leave_for_maintenance(self) -> None:
        """The one way out, called by the maintenance screen once the hub
        recorded the exit."""
        self.exit(return_code=MAINTENANCE_EXIT)

    def idle_tick(self) -> None:
        if self.terminal.clock.monotonic() - self.touched >= self.idle_seconds and not self.at_home():
            self.touched = self.terminal.clock.monotonic()
            self.call_later(self.reset, self.home_lang)

    def at_home(self) -> bool:
        return (isinstance(self.screen, WelcomeScreen) and self.session.principal.scope_case is None
                and i18n.lang() == self.home_lang)

    async def reset(self, lang: str | None = None) -> None:
        """Back to a blank welcome screen on a fresh session: nothing typed or
        shown survives, and no case stays unlocked."""
        if lang:
            i18n.set_lang(lang)
            self.translate_bindings()
        self.session = self.terminal.session(Principal.kiosk(self.kiosk_id))
        while len(self.screen_stack) > 2:
            await self.pop_screen()
        await self.switch_screen(WelcomeScreen())
        self.touched = self.terminal.clock.monotonic()

    def action_home(self) -> None:
        # Screens call this from their own handlers: reset once they are done.
        self.call_later(self.reset)

    def action_switch_lang(self) -> None:
        self.call_later(self.reset, "en" if i18n.lang() == "fr" else "fr")

    def action_ticket(self) -> None:
        self.push_screen(TicketScreen())

    def action_check(self) -> None:
        self.push_screen(CheckScreen())

    def action_file(self) -> None:
        self.push_screen(KioskServicesScreen())

    def action_vault(self) -> None:
        self.push_screen(VaultScreen())
