"""The mode banner: always on screen, so an agent always knows whether the
terminal is online, degraded, isolated or recovering — in colour and words."""

from __future__ import annotations

import datetime as dt

from textual.widgets import Static

from hub.mode import Mode

from .. import i18n
from ..i18n import N_, _

MODE_WORDS = {
    "online": N_("ONLINE"),
    "degraded": N_("DEGRADED — upstream unreachable, work is queued"),
    "isolated": N_("ISOLATED — incident declared, offline numbering"),
    "recovery": N_("RECOVERY — reconciling offline work"),
}


class ModeBanner(Static):
    """Shows the app's mode (``app.mode``, fed by the hub); the time shown is
    since the mode began (its mode event), or since this app first saw it."""

    def __init__(self, who: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.who = who

    def on_mount(self) -> None:
        self.watch(self.app, "mode", self.show, init=True)

    def show(self, mode: Mode) -> None:
        for name in MODE_WORDS:
            self.set_class(mode.name == name, f"-{name}")
        seen = self.app.mode_seen   # shared by every screen's banner
        if mode.name not in seen:
            seen.clear()
            seen[mode.name] = self.app.now()
        since = dt.datetime.fromtimestamp(mode.since, dt.UTC) if mode.since is not None else seen[mode.name]
        elapsed = (self.app.now() - since).total_seconds()
        parts = [f"● {_(MODE_WORDS[mode.name])}"]
        # a range running out comes before the rest, where a narrow screen still shows it
        if mode.register_low:
            parts.append(_("register numbers left: {n}, ask IT for a new range").format(n=mode.register_left))
        if mode.tickets_low:
            parts.append(_("ticket numbers left: {n}").format(n=mode.tickets_left))
        parts += [_("for {duration}").format(duration=i18n.duration(elapsed)), self.app.terminal.name]
        if self.who:
            parts.append(self.who)
        self.update("  ·  ".join(parts))
