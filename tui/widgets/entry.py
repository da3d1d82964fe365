"""A text input that can stop blinking, so screenshots are the same every run."""

from __future__ import annotations

from textual.widgets import Input


class Entry(Input):
    def on_mount(self) -> None:
        self.cursor_blink = getattr(self.app, "blink", True)
