"""Errors the hub returns to people: each says what is wrong and what to do,
in French and English, and means nothing was written."""

from __future__ import annotations


class HubError(Exception):
    """A refused request. ``code`` is stable for scripts; ``fr``/``en`` are for people."""

    code = "refused"

    def __init__(self, en: str, fr: str | None = None, code: str | None = None) -> None:
        super().__init__(en)
        self.en = en
        self.fr = fr or en
        if code:
            self.code = code

    def message(self, lang: str = "fr") -> str:
        return self.fr if lang == "fr" else self.en


class NotFound(HubError):
    code = "not_found"


class Forbidden(HubError):
    code = "forbidden"


class Invalid(HubError):
    code = "invalid"


class FieldError(Invalid):
    """One form field is wrong; ``field`` names it so a form can show it inline."""

    def __init__(self, field: str, en: str, fr: str) -> None:
        super().__init__(f"{field}: {en}", f"{field} : {fr}")
        self.field = field
        self.field_en = en
        self.field_fr = fr


class FormErrors(Invalid):
    """Every wrong field of a form at once, so the agent fixes them in one pass."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(e.en for e in errors), "; ".join(e.fr for e in errors))
        self.errors = errors
