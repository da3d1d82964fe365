"""The mode banner: always on screen, so an agent always knows whether the
terminal is online, degraded, isolated or recovering — in colour and words."""

from __future__ import annotations

from textual.reactive import reactive
from textual.widgets import Static

from .. import i18n
from ..i18n import N_, _
from ..mode import Mode, read_mode

MODE_WORDS = {
    "online": N_("ONLINE"),
    "degraded": N_("DEGRADED — upstream unreachable, work is queued"),
    "isolated": N_("ISOLATED — incident declared, offline numbering"),
    "recovery": N_("RECOVERY — reconciling offline work"),
}


class ModeBanner(Static):
    """Reads the mode every couple of seconds; the time shown is since the mode
    began (or since this app first saw it, when the mode carries no date)."""

    mode: reactive[Mode] = reactive(Mode("online"), always_update=True)

    def __init__(self, who: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.who = who

    def on_mount(self) -> None:
        self.poll()
        self.set_interval(2.0, self.poll)

    def poll(self) -> None:
        self.mode = read_mode(self.app.terminal.home)

    def watch_mode(self, mode: Mode) -> None:
        for name in MODE_WORDS:
            self.set_class(mode.name == name, f"-{name}")
        seen = self.app.mode_seen   # shared by every screen's banner
        if mode.name not in seen:
            seen.clear()
            seen[mode.name] = self.app.now()
        since = mode.since or seen[mode.name]
        elapsed = (self.app.now() - since).total_seconds()
        parts = [f"● {_(MODE_WORDS[mode.name])}", _("for {duration}").format(duration=i18n.duration(elapsed)),
                 self.app.terminal.name]
        if self.who:
            parts.append(self.who)
        self.update("  ·  ".join(parts))
