"""The citizen's document vault at a kiosk, opened with their citizen card and
its PIN. The card's certificate says whose vault it is; the hub's kiosk role
then reaches that citizen's documents and nobody else's. Removing the card,
going home or the idle timer closes it and forgets everything shown."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Button, DataTable, Footer, Label, Static

from hub.errors import HubError

from ... import i18n
from ...i18n import N_, _
from ...login import CardLogin
from ...widgets.banner import ModeBanner
from ...widgets.document import open_document
from ...widgets.entry import Entry
from ...widgets.page import Page

KINDS = {"identite": N_("Identity document"), "domicile": N_("Proof of address"), "impots": N_("Tax notice"),
         "famille": N_("Family record book"), "autre": N_("Other")}


class CardLeft(Message):
    pass


class VaultScreen(Page):
    BINDINGS = [Binding("escape", "app.home", N_("Home"))]

    def __init__(self) -> None:
        super().__init__()
        self.card = CardLogin()

    def compose(self) -> ComposeResult:
        yield ModeBanner()
        with Vertical(id="kiosk-body"):
            yield Static(_("My document vault"), classes="question")
            yield Label(_("Insert your citizen card, then type its PIN."))
            yield Entry(id="pin", password=True, placeholder=_("6 to 8 digits"))
            yield Button(_("Open my vault"), id="open", variant="primary", classes="choice")
            yield Static("", id="vault-error", classes="error answer")
            yield Static("", id="vault-owner", classes="answer")
            yield DataTable(id="documents", cursor_type="row", zebra_stripes=True)
            yield Static("", id="document-opened", classes="answer")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#documents", DataTable).display = False
        self.query_one("#pin").focus()

    def on_input_submitted(self) -> None:
        self.open_vault()

    def on_button_pressed(self) -> None:
        self.open_vault()

    def open_vault(self) -> None:
        from card.login import open_session
        error = self.query_one("#vault-error", Static)
        error.update("")
        pin = self.query_one("#pin", Entry)
        try:
            self.card.close()
            self.card.session = open_session(self.app.terminal, pin.value, reader=self.card.reader,
                                             audience="citizen", on_lock=lambda _reason: self.post_message(CardLeft()))
            citizen_id = self.card.session.principal.scope_citizen
            self.app.session.narrow(citizen_id=citizen_id)
            documents = self.app.session.vault.for_citizen(citizen_id)
        except HubError as refusal:
            error.update("⚠ " + refusal.message(i18n.lang()))
            pin.value = ""
            return
        pin.value = ""
        self.query_one("#vault-owner", Static).update(
            _("Documents of {name}").format(name=self.card.session.login.identity.name))
        table = self.query_one("#documents", DataTable)
        table.clear(columns=True)
        table.add_columns(_("Document"), _("Kind"), _("Size"), _("Deposited"))
        for doc in documents:
            table.add_row(doc["name"], _(KINDS.get(doc["kind"], doc["kind"])),
                          _("{n} KiB").format(n=max(1, round(doc["size"] / 1024))), i18n.hlc_time(doc["hlc"]),
                          key=doc["id"])
        table.display = True
        if not documents:
            self.query_one("#vault-owner", Static).update(_("Your vault is empty."))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        # the hub fetches it from the SoR if this kiosk does not hold it, and checks it
        self.query_one("#document-opened", Static).update(open_document(self.app.session, event.row_key.value))

    def on_card_left(self) -> None:
        self.app.action_home()  # the card left: close the vault and forget what was shown

    def on_unmount(self) -> None:
        self.card.close()
