"""What a locked kiosk does with the App actions that leave or reconfigure it:
nothing.

The kiosk and the out-of-service screen a supervisor falls back to are both
appliances a citizen stands in front of. Neither binds these actions, but a
binding a future Textual adds, or a widget's own action, could still reach
them; one mixin keeps the two apps locked the same way.
"""

from __future__ import annotations


class LockedDown:
    """Put it first among an App's bases, so these win over Textual's own."""

    async def action_quit(self) -> None:
        return None

    def action_help_quit(self) -> None:
        return None

    def action_suspend_process(self) -> None:
        return None

    def action_command_palette(self) -> None:
        return None

    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        return None

    def action_change_theme(self) -> None:
        return None
