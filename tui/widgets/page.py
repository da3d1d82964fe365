"""Base screens whose footer bindings speak the UI language."""

from __future__ import annotations

from textual.screen import ModalScreen, Screen

from .translated import Translated


class Page(Translated, Screen):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.translate_bindings()


class Dialog(Translated, ModalScreen):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.translate_bindings()
