"""What the counter and the kiosk share: the terminal, the language, the clock.

The clocks are injectable so that screenshots are the same every run: the
display clock the screens show, and the terminal's own clock and entropy (which
date events, make ids and codes, and drive the kiosk's idle delay) and its
footprint CPU counter. The terminal is opened once per app and closed when it
exits (which writes its pending footprint counts).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

from textual.app import App
from textual.reactive import reactive

from hub.clock import Clock, Entropy
from hub.errors import HubError
from hub.mode import Mode
from hub.terminal import Terminal
from printing.spool import Spool

from . import i18n
from .widgets.translated import Translated


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


MODE_EVERY = 0.5   # seconds between reads of the mode (it also changes in other processes: sync, orders)


class BeffroiApp(Translated, App):
    # The terminal's mode as the hub folds it: one reactive for the whole app,
    # which every screen's banner (and the screens that depend on it) watch.
    mode: reactive[Mode] = reactive(Mode())

    def __init__(self, home: Path | str, lang: str = "fr", clock: Callable[[], dt.datetime] = utc_now,
                 blink: bool = True, terminal_clock: Clock | None = None, entropy: Entropy | None = None,
                 cpu_ns: Callable[[], int] | None = time.process_time_ns) -> None:
        i18n.set_lang(lang)
        super().__init__()
        self.translate_bindings()
        self.terminal = Terminal.open(home, clock=terminal_clock, entropy=entropy, cpu_ns=cpu_ns)
        self.clock = clock
        self.blink = blink
        self.mode_seen: dict = {}   # when this app first saw the current mode
        self.set_reactive(BeffroiApp.mode, self.terminal.mode())
        self.spool = Spool(self.terminal.home, self.terminal.clock, self.terminal.entropy)
        self.paper = None   # tui.paper.PaperStatus, from the last pump
        self._pumping = self._pump_again = False

    def on_mount(self) -> None:
        self.set_interval(MODE_EVERY, self.read_mode)

    def read_mode(self) -> None:
        """Re-read the mode from the hub (call it too right after this app changed it)."""
        self.mode = self.terminal.mode()

    def start_paper(self, every: float = 1.0) -> None:
        """Pump the print queue off the UI thread, every ``every`` seconds."""
        self.pump_paper()
        self.set_interval(every, self.pump_paper)

    def pump_paper(self) -> None:
        from .paper import pump
        if self._pumping:   # a printer on the LAN may take a while to answer: never pile up pumps
            self._pump_again = True
            return
        self._pumping, self._pump_again = True, False

        def work() -> None:
            try:
                while True:
                    self.paper = pump(self.spool)   # one reference swap: the printer line reads it
                    if not self._pump_again:
                        break
                    self._pump_again = False
            finally:
                self._pumping = False
        self.run_worker(work, thread=True, group="paper", exit_on_error=False)

    def shown_path(self, path: Path) -> str:
        """A file of the home as the screen shows it; tests set ``home_label``
        so screenshots do not carry a temporary directory."""
        label = getattr(self, "home_label", None)
        return str(path) if label is None else str(Path(label) / Path(path).relative_to(self.terminal.home))

    def now(self) -> dt.datetime:
        return self.clock()

    def show_refusal(self, error: HubError) -> None:
        self.notify(error.message(i18n.lang()), severity="error", timeout=8)

    def on_unmount(self) -> None:
        self.terminal.close()
