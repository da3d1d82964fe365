"""The printer line, under the mode banner: empty (and hidden) while paper
comes out; says which printer is stopped, out of paper, unplugged or
unreachable, and how many documents wait, as soon as the print queue's pump
sees it. A separate widget so the mode banner stays the mode's."""

from __future__ import annotations

from textual.widgets import Static


class PrinterLine(Static):
    def on_mount(self) -> None:
        self.refresh_line()
        self.set_interval(0.5, self.refresh_line)

    def refresh_line(self) -> None:
        status = getattr(self.app, "paper", None)
        line = status.trouble() if status is not None else ""
        self.set_class(bool(line), "-trouble")
        self.update(line)
