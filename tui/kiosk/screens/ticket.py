"""Take a queue ticket: pick a family, read the number, take the printed slip."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Button, Footer, Static

from hub.errors import HubError

from ... import i18n
from ...i18n import N_, _
from ...paper import print_ticket
from ...ticket import write_ticket
from ...widgets.banner import ModeBanner
from ...widgets.big import BigCode
from ...widgets.page import Page
from ...widgets.printer import PrinterLine


class TicketScreen(Page):
    BINDINGS = [Binding("escape", "app.home", N_("Home"))]

    def compose(self) -> ComposeResult:
        yield ModeBanner()
        yield PrinterLine()
        with Vertical(id="kiosk-body"):
            yield Static(_("Which service are you here for?"), classes="question")
            for code, names in self.app.terminal.catalog.families.items():
                yield Button(i18n.pick(names), id=f"family-{code}", classes="choice")
        yield Footer()

    def on_mount(self) -> None:
        self.query(Button).first().focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        family = event.button.id.removeprefix("family-")
        try:
            ticket = self.app.session.queue.issue(family)
        except HubError as error:
            self.app.show_refusal(error)
            return
        finally:
            self.app.read_mode()   # a ticket range running low shows on the banner at once
        ahead = self.app.session.queue.ahead(ticket["id"])
        path = write_ticket(self.app.terminal, ticket, ahead)
        job, refusal = print_ticket(self.app, ticket, ahead)
        self.app.switch_screen(TicketIssuedScreen(ticket, path, job, refusal))


class TicketIssuedScreen(Page):
    BINDINGS = [Binding("escape", "app.home", N_("Home")), Binding("enter", "app.home", N_("Home"))]

    def __init__(self, ticket: dict, path, job: dict | None = None, refusal=None) -> None:
        super().__init__()
        self.ticket, self.path, self.job, self.refusal = ticket, path, job, refusal

    def compose(self) -> ComposeResult:
        yield ModeBanner()
        yield PrinterLine()
        with Vertical(id="kiosk-body"):
            yield Static(_("Your ticket number"), classes="question")
            yield BigCode(self.ticket["label"], id="ticket-number")
            family = i18n.pick(self.app.terminal.catalog.families[self.ticket["family"]])
            yield Static(_("{family}: please take your ticket and wait to be called.").format(family=family),
                         classes="answer")
            yield Static(self.paper_line(), id="ticket-file", classes="muted")
            yield Button(_("Done"), id="done", variant="primary", classes="choice")
        yield Footer()

    def paper_line(self) -> str:
        """Take the paper ticket, or — no printer, or it failed — note the number."""
        if self.job is not None and self.job["state"] != "failed":
            return _("Take your printed ticket below.") if self.job["state"] == "done" else _("Your ticket is printing…")
        return _("No paper ticket: please note your number {label}.").format(label=self.ticket["label"])

    def on_mount(self) -> None:
        self.set_interval(0.5, self.follow)

    def follow(self) -> None:
        if self.job is not None:
            self.job = self.app.spool.get(self.job["id"])
        self.query_one("#ticket-file", Static).update(self.paper_line())

    def on_button_pressed(self) -> None:
        self.app.action_home()
