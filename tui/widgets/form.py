"""Forms generated from the service catalog, with inline errors.

Each field is checked by the hub's own ``Field.clean`` when the agent leaves
it, and the whole form by ``Service.clean``: the screen never decides what is
valid, it only shows the hub's per-field French or English message.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Checkbox, Label, Select, Static

from hub.catalog import Service
from hub.errors import FieldError, FormErrors

from .. import i18n
from ..i18n import _
from .entry import Entry

HINTS = {
    "date": "JJ/MM/AAAA",
    "slot": "AAAA-MM-JJ matin|apres-midi",
    "location": "3 rue Pasteur / 47.47,-0.55",
    "parcel": "AB 0123",
}


def field_message(error: FieldError) -> str:
    return error.field_fr if i18n.lang() == "fr" else error.field_en


class FieldErrors(Vertical):
    """Shared by generated and fixed forms: show the hub's FormErrors inline."""

    def clear_errors(self) -> None:
        for line in self.query(".field-error"):
            line.update("")
            line.display = False

    def show_error(self, key: str, message: str) -> None:
        for line in self.query(f"#error-{key}"):
            line.update(f"⚠ {message}")
            line.display = True

    def show_errors(self, errors: FormErrors) -> list[str]:
        """Show each field's error under it; return the messages no field took."""
        self.clear_errors()
        loose = []
        for error in errors.errors:
            if self.query(f"#error-{error.field}"):
                self.show_error(error.field, field_message(error))
            else:
                loose.append(i18n.labelled(error.field, field_message(error)))
        return loose


class ServiceForm(FieldErrors):
    """The fields of one service, in catalog order."""

    def __init__(self, service: Service, compact: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.service = service
        self.compact = compact   # dense at the counter, large boxes at the kiosk

    def compose(self) -> ComposeResult:
        for field in self.service.fields:
            mark = " *" if field.required else ""
            yield Label(i18n.pick(field.label) + mark, classes="field-label")
            if field.type == "choice":
                options = [(i18n.pick(names), code) for code, names in field.spec["choices"].items()]
                yield Select(options, id=f"field-{field.key}", prompt=_("Choose…"), compact=self.compact)
            elif field.type == "boolean":
                yield Checkbox(_("Yes"), id=f"field-{field.key}")
            else:
                yield Entry(id=f"field-{field.key}", placeholder=HINTS.get(field.type, ""), compact=self.compact)
            error = Static("", id=f"error-{field.key}", classes="field-error")
            error.display = False
            yield error

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field in self.service.fields:
            widget = self.query_one(f"#field-{field.key}")
            if isinstance(widget, Select):
                value = widget.value
                out[field.key] = "" if value is Select.NULL else value
            elif isinstance(widget, Checkbox):
                out[field.key] = widget.value
            else:
                out[field.key] = widget.value
        return out

    def check_field(self, key: str) -> None:
        """The hub's verdict on one field, shown as soon as the agent leaves it."""
        field = next(f for f in self.service.fields if f.key == key)
        try:
            field.clean(self.values()[key], self.app.terminal.today())
        except FieldError as error:
            self.show_error(key, field_message(error))
        else:
            self.query_one(f"#error-{key}").display = False

    def on_input_blurred(self, event: Entry.Blurred) -> None:
        if event.input.id and event.input.id.startswith("field-") and event.value:
            self.check_field(event.input.id.removeprefix("field-"))

    def fee_cents(self) -> int | None:
        """The fee for what is typed so far, or None while it cannot be known."""
        try:
            return self.service.fee_cents(self.values())
        except (ValueError, TypeError):
            return None


class DocumentChecklist(Vertical):
    """The service's required documents, ticked by the agent as they are shown."""

    def __init__(self, service: Service, **kwargs) -> None:
        super().__init__(**kwargs)
        self.service = service

    def compose(self) -> ComposeResult:
        if not self.service.documents:
            yield Label(_("No document required."), classes="muted")
        for doc in self.service.documents:
            yield Checkbox(i18n.pick(doc["label"]), id=f"doc-{doc['code']}")

    def missing(self) -> list[str]:
        return [i18n.pick(d["label"]) for d in self.service.documents
                if not self.query_one(f"#doc-{d['code']}", Checkbox).value]
