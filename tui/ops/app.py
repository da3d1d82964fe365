"""The ops console: composes its screens and routes between them; nothing else.

Every screen acts through the hub (this terminal's session) or through
``continuity.ops`` (the SoR and the city admin key); this module only signs
the agent in, refuses anyone but ops, and switches panels.
"""

from __future__ import annotations

import gc
from pathlib import Path

from textual.binding import Binding

from hub.errors import Forbidden, HubError
from hub.roles import Principal

from ..base import BeffroiApp
from ..i18n import N_
from ..login import LoginMethod, PinLogin
from .screens.conflicts import ConflictsScreen
from .screens.footprint import FootprintScreen
from .screens.incident import IncidentScreen
from .screens.keys import KeysScreen
from .screens.login import OpsLoginScreen
from .screens.outbox import OutboxScreen
from .screens.restore import RestoreScreen
from .screens.terminals import TerminalsScreen

HERE = Path(__file__).parent
PANELS = {"terminals": TerminalsScreen, "incident": IncidentScreen, "keys": KeysScreen,
          "outbox": OutboxScreen, "footprint": FootprintScreen, "restore": RestoreScreen,
          "conflicts": ConflictsScreen}


class OpsApp(BeffroiApp):
    TITLE = "Beffroi ops"
    CSS_PATH = [HERE.parent / "widgets" / "widgets.tcss", HERE / "ops.tcss"]
    BINDINGS = [
        Binding("ctrl+q", "quit", N_("Quit"), show=False),
        Binding("f2", "panel('terminals')", N_("Terminals")),
        Binding("f3", "panel('incident')", N_("Incident")),
        Binding("f4", "panel('keys')", N_("Keys")),
        Binding("f5", "panel('outbox')", N_("Outbox")),
        Binding("f6", "panel('footprint')", N_("Footprint")),
        Binding("f7", "panel('restore')", N_("Restore")),
        Binding("f8", "panel('conflicts')", N_("Conflicts")),
    ]

    def __init__(self, home, lang: str = "fr", sor_home: Path | str | None = None,
                 login_method: LoginMethod | None = None, silent_after: float = 900.0, **kwargs) -> None:
        super().__init__(home, lang, **kwargs)
        self.login_method = login_method or PinLogin()
        self.sor_home = Path(sor_home) if sor_home else None
        self.silent_after = silent_after
        self.session = None
        self.agent_name = ""
        self.admin = None

    def on_mount(self) -> None:
        self.push_screen(OpsLoginScreen())

    def on_unmount(self) -> None:
        if self.admin is not None:
            self.admin.close()
        close = getattr(self.login_method, "close", None)
        if close is not None:
            close()

    def signed_in(self, principal: Principal) -> None:
        if principal.role != "ops":   # an agent's card or PIN opens the counter, not this
            raise Forbidden("the ops console is for ops agents (IT staff); agents sign in at the counter",
                            "la console d'exploitation est réservée aux agents d'exploitation (DSI) ; les agents se "
                            "connectent au guichet", "not_ops")
        self.session = self.terminal.session(principal)
        self.agent_name = principal.id
        if self.sor_home is not None:
            from continuity.ops import CityAdmin
            try:
                self.admin = CityAdmin(self.sor_home)
            except HubError as error:
                self.show_refusal(error)
        self.refresh_bindings()
        self.switch_screen(TerminalsScreen())
        # The console stays open for days of an incident. What start-up built
        # (imports, the widget tree, the SoR's keys) lives as long as it does:
        # out of the collector's full passes, which otherwise stall a refresh.
        gc.freeze()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        # The panels' keys are shown and work only once an ops agent signed in.
        return self.session is not None if action == "panel" else True

    def action_panel(self, name: str) -> None:
        if self.session is None or isinstance(self.screen, PANELS[name]):
            return
        while len(self.screen_stack) > 2:
            self.pop_screen()
        self.switch_screen(PANELS[name]())
