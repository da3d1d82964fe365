"""The counter app opens, at a second terminal, a document deposited at the
first: fetched from the SoR through the hub, checked, kept; a tampered copy at
the SoR is refused on screen and an erased document is gone from the page.
Real SoR on loopback, Pilot on the real app."""

from __future__ import annotations

import asyncio

from textual.widgets import DataTable, Static

from hub import vault
from hub.roles import Principal
from tui.counter.app import CounterApp
from tui.counter.screens.citizen import CitizenScreen

from .test_vault import agent, blob_of, pdf

SIZE = (120, 40)


async def open_citizen(pilot, name: str) -> None:
    await pilot.press(*"agent", "enter", *"246810", "enter")
    await pilot.pause()
    pilot.app.screen.query_one("#search").value = name
    await pilot.pause()
    await pilot.press("enter", "enter")
    await pilot.pause()


def opened_line(app) -> str:
    return str(app.screen.query_one("#vault-opened", Static).render())


def test_counter_at_another_terminal_opens_checks_and_refuses(city):
    t1, t2 = city.terminal("T1"), city.terminal("T2")
    desk1 = agent(t1)
    agent(t2)
    helene = desk1.citizens.register(first_name="Hélène", last_name="Dupont", birth_date="1985-03-12")
    good = desk1.vault.deposit(helene["id"], "justificatif-domicile.pdf", pdf(b"EDF", 3000), "domicile")
    bad = desk1.vault.deposit(helene["id"], "avis-imposition.pdf", pdf(b"DGFiP", 5000), "impots")
    city.sync(t1), city.sync(t2)
    name = blob_of(t1, bad["id"])
    stored = city.sor_home / "blobs" / "vault" / name[:2] / name
    raw = bytearray(stored.read_bytes())
    raw[-10] ^= 1
    stored.write_bytes(bytes(raw))

    async def scenario() -> None:
        app = CounterApp(t2.home, "en", blink=False)
        async with app.run_test(size=SIZE) as pilot:
            await open_citizen(pilot, "helene dupont")
            assert isinstance(app.screen, CitizenScreen)
            table = app.screen.query_one("#vault", DataTable)
            rows = {table.get_row_at(i)[0]: i for i in range(table.row_count)}
            assert set(rows) == {"justificatif-domicile.pdf", "avis-imposition.pdf"}
            table.focus()
            table.move_cursor(row=rows["justificatif-domicile.pdf"])
            await pilot.press("enter")
            await pilot.pause()
            assert opened_line(app).startswith("✓ justificatif-domicile.pdf opened: PDF, 3 KiB, intact")
            table.move_cursor(row=rows["avis-imposition.pdf"])
            await pilot.press("enter")
            await pilot.pause()
            assert opened_line(app).startswith("⚠ the document received is damaged or was tampered with")
    asyncio.run(scenario())
    assert [d["id"] for d in vault.missing(t2)] == [bad["id"]]        # the good one is kept, the bad one is not

    desk1.vault.erase(good["id"], "demande RGPD")
    city.sync(t1), city.sync(t2)
    assert not (t2.home / "vault" / blob_of(t2, good["id"])[:2] / blob_of(t2, good["id"])).exists()

    async def after() -> None:
        app = CounterApp(t2.home, "fr", blink=False)
        async with app.run_test(size=SIZE) as pilot:
            await open_citizen(pilot, "helene dupont")
            table = app.screen.query_one("#vault", DataTable)
            assert [table.get_row_at(i)[0] for i in range(table.row_count)] == ["avis-imposition.pdf"]
    asyncio.run(after())
    assert t2.session(Principal.agent("agent")).vault.for_citizen(helene["id"])[0]["id"] == bad["id"]
