"""Keys and devices: approve an enrolment after comparing its fingerprint,
revoke a terminal, rotate the epoch key — each confirmed, with its consequence
spelled out, each a call to ``continuity.ops.CityAdmin``."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Footer, Label, Static

from hub.errors import HubError

from ...i18n import N_, _
from ...widgets.banner import ModeBanner
from ...widgets.entry import Entry
from ...widgets.page import Page
from ...widgets.table import cursor_key
from .confirm import Confirm
from .terminals import STATUS


class KeysScreen(Page):
    BINDINGS = [Binding("a", "approve", N_("Approve")), Binding("v", "revoke", N_("Revoke"))]

    def compose(self) -> ComposeResult:
        yield ModeBanner(self.app.agent_name)
        yield Label(_("Keys and devices"), classes="title")
        yield DataTable(id="devices", cursor_type="row", zebra_stripes=True, classes="panel-table")
        yield Static(id="keys-note", classes="note")
        with Horizontal(classes="tools"):
            yield Button(_("Approve"), id="approve", variant="primary")
            yield Button(_("Revoke"), id="revoke", variant="error")
            yield Entry(id="rotate-reason", placeholder=_("Why rotate the epoch key?"))
            yield Button(_("Rotate epoch"), id="rotate", variant="warning")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(_("Terminal"), _("Status"), _("Device key fingerprint"), _("Last segment"))
        self.reload()

    def reload(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        admin = self.app.admin
        note = self.query_one("#keys-note", Static)
        if admin is None:
            note.update(_("No SoR home given: start the console with --sor-home DIR."))
            return
        for r in admin.terminals(self.app.now().timestamp()):
            table.add_row(r["name"], _(STATUS[r["status"]]), r["fingerprint"], f"#{r['last_seq']}", key=r["terminal"])
        counts = admin.counts()
        note.update(_("Key epoch {epoch}; {active} active, {pending} awaiting approval. Compare a fingerprint with "
                      "the one the terminal printed before approving it.").format(
            epoch=counts["epoch"], active=counts["devices"], pending=counts["pending"]))

    def selected(self) -> dict | None:
        key = cursor_key(self.query_one(DataTable))
        if self.app.admin is None or key is None:
            return None
        return next(r for r in self.app.admin.terminals(self.app.now().timestamp()) if r["terminal"] == key)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        {"approve": self.action_approve, "revoke": self.action_revoke, "rotate": self.action_rotate}[event.button.id]()

    def run(self, call) -> None:
        try:
            text = call()
        except HubError as error:
            self.app.show_refusal(error)
            return
        self.reload()
        self.app.notify(text, timeout=8)

    def action_approve(self) -> None:
        row = self.selected()
        if row is None:
            return
        def done(yes: bool | None) -> None:
            if yes:
                self.run(lambda: (self.app.admin.approve(row["terminal"], row["fingerprint"]),
                                  _("Terminal {name} approved.").format(name=row["name"]))[1])
        self.app.push_screen(Confirm(
            _("Approve {name}?").format(name=row["name"]),
            _("Fingerprint of its device key:\n\n  {fp}\n\nApprove only if the terminal showed exactly this. "
              "It will receive every epoch key and read the city's journal.").format(fp=row["fingerprint"]),
            _("Approve")), done)

    def action_revoke(self) -> None:
        row = self.selected()
        if row is None:
            return
        def revoke() -> str:
            info = self.app.admin.revoke(row["terminal"])
            return _("Terminal {name} revoked after #{last}; key epoch is now {epoch}.").format(
                name=info["name"], last=info["last_seq"], epoch=info["epoch"])

        def done(yes: bool | None) -> None:
            if yes:
                self.run(revoke)
        self.app.push_screen(Confirm(
            _("Revoke {name}?").format(name=row["name"]),
            _("This cannot be undone. The SoR refuses every request from {name} from now on; its segments after "
              "#{last} are refused; a new key epoch starts, which it never receives. To use the machine again, "
              "reinstall it (new home) and enrol it again.").format(name=row["name"], last=row["last_seq"]),
            _("Revoke")), done)

    def action_rotate(self) -> None:
        if self.app.admin is None:
            return
        reason = self.query_one("#rotate-reason", Entry).value
        def done(yes: bool | None) -> None:
            if yes:
                self.run(lambda: _("Key epoch is now {epoch}.").format(epoch=self.app.admin.rotate(reason)))
        self.app.push_screen(Confirm(
            _("Rotate the epoch key?"),
            _("A new data key is made and given to every active terminal; what they seal from now on uses it. "
              "Earlier segments stay readable with the earlier keys."), _("Rotate epoch")), done)
