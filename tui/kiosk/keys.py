"""Which keys reach the kiosk: an allow-list, not a list of known dangers.

A kiosk stands alone in a public hall. Textual and the terminal give many keys
a meaning that leaves, suspends or reconfigures an app (ctrl+q quits, ctrl+c
advertises how to quit, ctrl+z suspends, ctrl+p opens the command palette,
ctrl+v pastes whatever the last person copied…), and a future Textual may add
more. So the kiosk lets through only what a citizen needs to fill a form —
printable characters, editing and moving keys, and the keys its own screens
bind — and drops everything else before any binding sees it.
"""

from __future__ import annotations

from textual import events

# Typing, correcting and moving between fields and buttons.
EDITING = frozenset({
    "enter", "escape", "tab", "shift+tab", "backspace", "delete", "space",
    "up", "down", "left", "right", "home", "end", "pageup", "pagedown",
})
# The key IT staff press to take the kiosk out of service: it only opens the
# ops login, so a citizen who finds it learns nothing and leaves nothing.
MAINTENANCE = "ctrl+o"
MODIFIERS = ("ctrl+", "alt+", "meta+", "super+", "hyper+")


def screen_keys(screen) -> frozenset[str]:
    """The keys the screen itself binds (its footer shows them), not those
    Textual adds to every app, screen or input."""
    return frozenset(screen._bindings.key_to_bindings)


def reaches_kiosk(event: events.Key, bound: frozenset[str]) -> bool:
    key = event.key
    if key in EDITING or key in bound or key == MAINTENANCE:
        return True
    return event.is_printable and not key.startswith(MODIFIERS)
