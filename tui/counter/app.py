"""The counter app: composes screens and routes between them; nothing else.

Every screen calls the hub through ``app.session`` (the signed-in agent's
session); this module only decides which screen comes next.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import SystemCommand
from textual.binding import Binding
from textual.message import Message

from hub.errors import NotFound
from hub.roles import Principal

from ..base import BeffroiApp
from ..i18n import N_, _
from ..login import LoginMethod, PinLogin
from .screens.assigned import AssignedScreen
from .screens.case import CaseScreen
from .screens.citizen import CitizenScreen
from .screens.citizen_form import CitizenFormScreen
from .screens.conflicts import ConflictsScreen
from .screens.desk import DeskScreen
from .screens.login import LoginScreen
from .screens.merges import MergesScreen
from .screens.payment import PaymentScreen, ReceiptScreen
from .screens.request import ServiceScreen, TrackingScreen

HERE = Path(__file__).parent
# Textual's own command-palette binding: listed so the catalog translates it.
N_("palette")


class CardLeft(Message):
    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class CounterApp(BeffroiApp):
    TITLE = "Beffroi"
    CSS_PATH = [HERE.parent / "widgets" / "widgets.tcss", HERE / "counter.tcss"]
    BINDINGS = [Binding("ctrl+q", "quit", N_("Quit"), show=False)]

    def __init__(self, home, lang: str = "fr", login_method: LoginMethod | None = None, **kwargs) -> None:
        super().__init__(home, lang, **kwargs)
        self.login_method = login_method or PinLogin()
        self.login_method.on_lock = self._card_left
        self.session = None
        self.agent_name = ""

    def on_mount(self) -> None:
        self.push_screen(LoginScreen())
        self.start_paper()

    def _card_left(self, reason: str) -> None:
        """The agent's card left the reader (called on the card monitor's thread:
        post_message is thread-safe and does not wait, so the monitor is free)."""
        self.post_message(CardLeft(reason))

    def on_card_left(self, message: "CardLeft") -> None:
        if self.session is None:
            return
        self.action_sign_out(_("Card removed: the session is locked. Insert the card and type its PIN."))

    def on_unmount(self) -> None:
        close = getattr(self.login_method, "close", None)
        if close is not None:
            close()

    # --- routes -----------------------------------------------------------

    def signed_in(self, principal: Principal) -> None:
        self.session = self.terminal.session(principal)
        try:
            self.agent_name = self.session.agents.get(principal.id)["name"]
        except NotFound:  # a card agent the hub has not enrolled: the certificate vouches
            self.agent_name = principal.id
        self.switch_screen(DeskScreen())

    def action_sign_out(self, notice: str = "") -> None:
        close = getattr(self.login_method, "close", None)
        if close is not None:  # a card session stops watching the reader
            close()
        self.session, self.agent_name = None, ""
        while len(self.screen_stack) > 2:
            self.pop_screen()
        self.switch_screen(LoginScreen(notice))

    def action_conflicts(self) -> None:
        if self.session is not None and not isinstance(self.screen, ConflictsScreen):
            self.push_screen(ConflictsScreen())

    def action_assigned(self) -> None:
        if self.session is not None and not isinstance(self.screen, AssignedScreen):
            self.push_screen(AssignedScreen())

    def action_merges(self) -> None:
        if self.session is not None and not isinstance(self.screen, MergesScreen):
            self.push_screen(MergesScreen())

    def open_citizen(self, citizen_id: str) -> None:
        self.push_screen(CitizenScreen(citizen_id))

    def register_citizen(self) -> None:
        self.push_screen(CitizenFormScreen())

    def edit_citizen(self, citizen: dict) -> None:
        self.push_screen(CitizenFormScreen(citizen))

    def citizen_saved(self, citizen_id: str, edited: bool) -> None:
        if edited:
            self.pop_screen()
        else:
            self.switch_screen(CitizenScreen(citizen_id))

    def new_request(self, citizen: dict) -> None:
        self.push_screen(ServiceScreen(citizen))

    def case_opened(self, case: dict) -> None:
        """The wizard's steps are done: show the tracking code over the citizen's page."""
        while len(self.screen_stack) > 2 and not isinstance(self.screen, CitizenScreen):
            self.pop_screen()
        self.push_screen(TrackingScreen(case))

    def open_case(self, case_id: str, replace: bool = False) -> None:
        (self.switch_screen if replace else self.push_screen)(CaseScreen(case_id))

    def take_payment(self, case_id: str) -> None:
        def paid(result) -> None:
            if result:
                self.push_screen(ReceiptScreen(*result))
        self.push_screen(PaymentScreen(self.session.cases.get(case_id)), paid)

    def get_system_commands(self, screen):
        yield from super().get_system_commands(screen)
        if self.session is not None:
            yield SystemCommand(_("Conflicts"), _("Open the conflicts inbox"), self.action_conflicts)
            yield SystemCommand(_("Merge proposals"), _("People registered twice, to check"), self.action_merges)
            yield SystemCommand(_("My conflicts"), _("Conflicts IT gave you or your office, to settle"),
                                self.action_assigned)
            yield SystemCommand(_("New citizen"), _("Register a citizen"), self.register_citizen)
            yield SystemCommand(_("Sign out"), _("Back to the login screen"), self.action_sign_out)
