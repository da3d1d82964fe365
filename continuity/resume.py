"""Recovery that runs by itself once the incident is ended.

Nobody has to type ``beffroi recovery`` during the worst week of the year:
the moment a terminal applies the order that ends the incident it is in
``recovery``, and the steps (verify the journal, exchange segments, surface
conflicts, drain the outbox, write the report) run

- once right away, where the order was applied (``incident apply``,
  ``bundle import`` of an order file), and
- at every round of ``beffroi sync --watch`` while the terminal stays in
  recovery: the loop that already probes the SoR and relays, with its backoff
  after failures, so a SoR or back office still down is simply tried again at
  the next round and the terminal stays in recovery, visibly.

It returns to ``online`` by itself when its outbox is drained, every conflict
has a person (``continuity.conflicts``) and it has exchanged segments with an
upstream since recovery began (else conflicts from other terminals could
still be on their way). What it still waits for is written with the report
(``<home>/recovery/recovery-report.json``, ``waiting_for``) and shown by
``beffroi mode``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.terminal import Terminal

REPORT = "recovery-report.json"


def incident_start(terminal: "Terminal") -> int:
    """When this terminal last went isolated: its acts after that were done offline."""
    return terminal.conn.execute(
        "SELECT max(hlc) FROM events WHERE origin=? AND type='mode.changed'"
        " AND json_extract(data, '$.mode')='isolated'", (terminal.id,)).fetchone()[0] or 0


def waiting_for(terminal: "Terminal", exchanged: bool) -> list[str]:
    """What keeps this terminal in recovery, in words for `beffroi mode`."""
    from . import conflicts
    from .outbox import Outbox
    left = []
    if not exchanged:
        left.append("an exchange of segments with the SoR or a relay (unreachable so far; retried)")
    pending = Outbox(terminal).pending()
    if pending:
        left.append(f"{pending} outbox item(s) to deliver to the back offices (retried with backoff)")
    nobody = conflicts.pending_people(terminal.conn)
    if nobody:
        left.append(f"{nobody} conflict(s) to assign to an agent or office (`beffroi conflicts`)")
    return left


async def step(terminal: "Terminal", *, exchange: Callable[[], Awaitable[Any]] | None = None,
               exchanged: bool = False, verify: bool = True, timeout_s: float = 5.0,
               drain_s: float | None = None, out: Path | None = None) -> dict[str, Any] | None:
    """One pass of recovery if the terminal is in recovery (None otherwise):
    the report, written to ``out`` (default ``<home>/recovery``) as JSON and
    PDF, with the mode after the pass and ``waiting_for``. ``exchange`` is
    tried once; its failure is recorded, never raised, so the outbox still
    drains. ``drain_s`` None: delivery passes while items go, without waiting
    for a failed item's backoff (the loop comes back for those)."""
    from hub.errors import HubError
    from replication.sync import Unreachable

    from .connectors import Connectors, load
    from .outbox import Outbox, Policy
    from .recovery import Recovery, write_pdf
    mode = terminal.mode()
    if mode.name != "recovery":
        return None
    exchange_error = None

    async def trying() -> None:
        nonlocal exchanged, exchange_error
        try:
            await exchange()
            exchanged = True
        except (Unreachable, HubError, OSError) as exc:
            exchange_error = getattr(exc, "en", None) or str(exc)
    recovery = Recovery(terminal, Outbox(terminal, policy=Policy(timeout_s=timeout_s)), incident_start(terminal),
                        until_hlc=mode.since_hlc)
    async with Connectors(load(terminal.home), timeout_s) as connectors:
        report = await recovery.run(connectors, exchange=trying if exchange is not None else None,
                                    drain_deadline_s=drain_s, once=drain_s is None, verify=verify)
    report["mode"] = recovery.finish() if exchanged else terminal.mode().name
    report["exchanged"] = exchanged
    report["exchange_error"] = exchange_error
    report["waiting_for"] = waiting_for(terminal, exchanged) if report["mode"] == "recovery" else []
    out = Path(out) if out is not None else terminal.home / "recovery"
    out.mkdir(parents=True, exist_ok=True)
    (out / REPORT).write_text(json.dumps([report], indent=2, ensure_ascii=False))
    write_pdf([report], out / "recovery-report.pdf")
    report["files"] = [str(out / REPORT), str(out / "recovery-report.pdf")]
    return report


def last_report(terminal: "Terminal") -> dict[str, Any] | None:
    path = terminal.home / "recovery" / REPORT
    try:
        return json.loads(path.read_text("utf-8"))[0]
    except (OSError, ValueError, IndexError, KeyError):
        return None


def enrolment_exchange(terminal: "Terminal", sor: str | None = None) -> Callable[[], Awaitable[Any]] | None:
    """Segments exchanged with the given SoR, else the enrolment's (None when
    the terminal never enrolled: nothing to exchange with)."""
    if sor is None and not (terminal.home / "replication.db").exists():
        return None

    async def exchange() -> None:
        from replication.sync import Replicator
        replicator = Replicator(terminal)
        try:
            await replicator.sync(sor)
        finally:
            replicator.close()
    return exchange


def after_order(terminal: "Terminal", timeout_s: float = 5.0) -> dict[str, Any] | None:
    """The one pass right after an end order is applied (``incident apply``,
    ``bundle import``); ``sync --watch`` carries on from there."""
    import asyncio
    exchange = enrolment_exchange(terminal)
    return asyncio.run(step(terminal, exchange=exchange, exchanged=exchange is None, timeout_s=timeout_s))
