"""The demo city's back offices: ``beffroi demo`` starts the four simulators
on loopback, points the demo home's connectors at them (``connectors.json``)
and delivers the outbox to them while the counter is open, so a new user sees
a case reach the civil-status registry or the treasury (its back-office state
on the case page) without configuring anything. Everything stops when the
counter closes; the simulators' stores stay in ``<home>/backoffice``.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable
from pathlib import Path

DELIVERY_EVERY_S = 1.0     # the demo's outbox pass; a real city runs `outbox deliver --watch`


def start_demo_backoffices(home: Path, every_s: float = DELIVERY_EVERY_S) -> Callable[[], None] | None:
    """Start the simulators and the delivery loop; the callable stops both
    (None when they cannot run here: said on stderr, the demo goes on)."""
    from .backoffice.city import ThreadBackoffices
    from .connectors import configure
    home = Path(home)
    try:
        offices = ThreadBackoffices(home / "backoffice")
        urls = offices.start()
    except OSError as exc:
        print(f"beffroi: demo back offices not started ({exc}); the outbox keeps its items", file=sys.stderr)
        return None
    for name, url in urls.items():
        configure(home, name, url)
    stopping = threading.Event()
    thread = threading.Thread(target=_deliver, args=(home, urls, stopping, every_s), name="demo-outbox",
                              daemon=True)
    thread.start()

    def stop() -> None:
        stopping.set()
        thread.join(30)
        offices.close()
    return stop


def _deliver(home: Path, urls: dict[str, str], stopping: threading.Event, every_s: float) -> None:
    """Pass after pass on the thread's own connection to the home (the outbox
    stays silent while the demo is switched to isolated)."""
    from hub.terminal import Terminal

    from .connectors import Connectors
    from .outbox import Outbox

    async def loop() -> None:
        with Terminal.open(home) as terminal:
            box = Outbox(terminal)
            async with Connectors(urls, 5.0) as connectors:
                while not stopping.is_set():
                    await box.deliver(connectors)
                    await asyncio.to_thread(stopping.wait, every_s)
    asyncio.run(loop())
