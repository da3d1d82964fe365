"""Sign-in to the ops console: the counter's login (card + PIN, or id + PIN),
refusing anyone whose role is not ops with the hub's own message."""

from __future__ import annotations

from hub.errors import HubError

from ... import i18n
from ...counter.screens.login import LoginScreen
from ...i18n import N_


class OpsLoginScreen(LoginScreen):
    HEADING = N_("Ops console — sign in")

    def sign_in(self) -> None:
        method = self.app.login_method
        agent_id = self.query_one("#agent").value if method.asks_agent_id else ""
        secret = self.query_one("#secret")
        try:
            principal = method.login(self.app.terminal, agent_id, secret.value)
            secret.value = ""
            self.app.signed_in(principal)
        except HubError as error:
            secret.value = ""
            self.show_error(error.message(i18n.lang()))
            secret.focus()
