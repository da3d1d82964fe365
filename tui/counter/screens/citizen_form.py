"""Register or edit a citizen. Before registering, the hub's duplicate check
runs: if someone with the same name and birth date exists, the agent sees them
and must confirm (or open the existing record instead)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Footer, Label, Static

from hub.citizens import clean_identity
from hub.errors import FormErrors, HubError

from ... import i18n
from ...i18n import N_, _
from ...widgets.banner import ModeBanner
from ...widgets.entry import Entry
from ...widgets.form import FieldErrors
from ...widgets.page import Page

FIELDS = [
    ("first_name", N_("First name"), True), ("last_name", N_("Last name"), True),
    ("birth_date", N_("Birth date (DD/MM/YYYY)"), True), ("address", N_("Address"), False),
    ("postcode", N_("Postcode"), False), ("phone", N_("Phone"), False), ("email", N_("E-mail"), False),
]


class CitizenFormScreen(Page):
    BINDINGS = [Binding("escape", "app.pop_screen", N_("Cancel")), Binding("ctrl+s", "save", N_("Save"))]

    def __init__(self, citizen: dict | None = None) -> None:
        super().__init__()
        self.citizen = citizen
        self.confirmed: list[str] | None = None   # duplicate ids the agent has seen

    def compose(self) -> ComposeResult:
        yield ModeBanner(self.app.agent_name)
        with VerticalScroll():
            title = _("Edit citizen") if self.citizen else _("Register a citizen")
            yield Label(title, classes="title")
            with FieldErrors(id="identity-form"):
                for key, label, required in FIELDS:
                    yield Label(_(label) + (" *" if required else ""), classes="field-label")
                    value = (self.citizen or {}).get(key) or ""
                    if key == "birth_date" and value:
                        value = i18n.day_short(value) if i18n.lang() == "fr" else value
                    yield Entry(value, id=f"field-{key}", compact=True)
                    error = Static("", id=f"error-{key}", classes="field-error")
                    error.display = False
                    yield error
            yield Static("", id="duplicates", classes="error")
            with Horizontal(classes="buttons"):
                yield Button(_("Save"), id="save", variant="primary")
                yield Button(_("Cancel"), id="cancel")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#field-first_name").focus()

    def values(self) -> dict[str, str]:
        return {key: self.query_one(f"#field-{key}", Entry).value for key, _l, _r in FIELDS}

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.app.pop_screen()

    def on_input_submitted(self, event: Entry.Submitted) -> None:
        self.focus_next()

    def action_save(self) -> None:
        form = self.query_one(FieldErrors)
        form.clear_errors()
        session = self.app.session
        try:
            if self.citizen:
                saved = session.citizens.edit(self.citizen["id"], **self.values())
            else:
                clean = clean_identity(self.values())
                same = session.citizens.possible_duplicates(clean)
                if same and self.confirmed != [c["id"] for c in same]:
                    self.confirmed = [c["id"] for c in same]
                    self.show_duplicates(same)
                    return
                saved = session.citizens.register(**self.values())
        except FormErrors as errors:
            loose = form.show_errors(errors)
            self.query_one("#duplicates", Static).update("\n".join(loose))
            return
        except HubError as error:
            self.query_one("#duplicates", Static).update(f"⚠ {error.message(i18n.lang())}")
            return
        self.app.citizen_saved(saved["id"], edited=self.citizen is not None)

    def show_duplicates(self, same: list[dict]) -> None:
        lines = [_("⚠ Possible duplicate: already registered with the same name and birth date:")]
        for c in same:
            lines.append(f"  • {c['first_name']} {c['last_name']}, {i18n.day_short(c['birth_date'])}, "
                         f"{c.get('address') or ''} {c.get('postcode') or ''}")
        lines.append(_("Check the existing record (Escape, then search); press Save again to register anyway."))
        self.query_one("#duplicates", Static).update("\n".join(lines))
        self.query_one("#duplicates").scroll_visible()
