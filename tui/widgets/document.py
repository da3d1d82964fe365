"""Opening a vault document from a screen. The hub brings it (from the SoR
when this terminal does not hold it yet), checks it and hands back its
content; the screen says what was opened and that it is intact, or why it
cannot be. The plaintext is never written to disk by the apps."""

from __future__ import annotations

from typing import Any

from hub.errors import HubError

from .. import i18n
from ..i18n import _

MEDIA = {"application/pdf": "PDF", "image/png": "PNG", "image/jpeg": "JPEG"}


def open_document(session: Any, document_id: str) -> str:
    """One line: the opened document, or the refusal in the screen's language."""
    try:
        meta = session.vault.get(document_id)
        content = session.vault.read(document_id)
    except HubError as refusal:
        return "⚠ " + refusal.message(i18n.lang())
    return _("✓ {name} opened: {kind}, {n} KiB, intact").format(
        name=meta["name"], kind=MEDIA.get(meta["media_type"], meta["media_type"]), n=max(1, round(len(content) / 1024)))
