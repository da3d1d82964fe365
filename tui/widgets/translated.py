"""Footer bindings in the UI language.

Binding descriptions are class data written in English; each screen (and the
app) keeps its own translated copy, rebuilt when the kiosk switches language.
"""

from __future__ import annotations

from dataclasses import replace

from ..i18n import _


class Translated:
    def translate_bindings(self) -> None:
        # The English originals, kept from the first call: the node's own
        # bindings, which include any bound at run time (the command palette's).
        if not hasattr(self, "_source_bindings"):
            self._source_bindings = self._bindings.copy()
        bindings = self._source_bindings.copy()
        for key, items in bindings.key_to_bindings.items():
            bindings.key_to_bindings[key] = [replace(b, description=_(b.description)) if b.description else b
                                             for b in items]
        self._bindings = bindings
