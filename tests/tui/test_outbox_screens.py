"""The counter shows where a case stands with the back offices, and lets an
agent settle merge proposals — through Pilot, on real homes, with a real
back-office simulator; every result is read back from the hub."""

from __future__ import annotations

from hub.roles import Principal
from hub.terminal import Terminal
from tests.continuity.conftest import running
from tests.waiting import settle
from tui.counter.app import CounterApp
from tui.counter.screens.case import CaseScreen
from tui.counter.screens.merges import MergesScreen

from .conftest import SIZE
from .test_counter import sign_in


def outbox_text(app) -> str:
    return str(app.screen.query_one("#outbox").render())


async def open_birth_case(pilot, data) -> None:
    app = pilot.app
    app.screen.query_one("#search").value = "helene dupont"
    await settle(pilot, lambda: app.screen.query_one("#results").row_count == 1, what="the search result")
    await pilot.press("enter", "enter")
    await choose_birth_case(pilot, data)


async def choose_birth_case(pilot, data) -> None:
    app = pilot.app
    await settle(pilot, lambda: app.screen.query("#cases"), what="the citizen page")
    table = app.screen.query_one("#cases")
    table.focus()
    table.move_cursor(row=[str(k.value) for k in table.rows].index(data["birth"]["id"]))
    await pilot.press("enter")
    await settle(pilot, lambda: isinstance(app.screen, CaseScreen), what="the case")


async def test_the_case_shows_its_back_office_state_as_it_is_delivered(city, tmp_path):
    from continuity.connectors import Connectors
    from continuity.outbox import Outbox
    home, data = city
    app = CounterApp(home, blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await open_birth_case(pilot, data)
        assert outbox_text(app).count("en attente d'envoi") == 2
        async with running(tmp_path, "etat-civil") as registry, \
                Connectors({"etat-civil": registry.url}) as connectors:
            await Outbox(app.terminal).drain(connectors)
            at_registry = {r["key"]: r["reference"] for r in registry.records()}
        held = [at_registry[i.key] for i in Outbox(app.terminal).items(case_id=data["birth"]["id"])]
        assert len(held) == 2
        await pilot.press("escape")            # back to Hélène, and into the case again
        await settle(pilot, lambda: not isinstance(app.screen, CaseScreen))
        await choose_birth_case(pilot, data)
        text = outbox_text(app)
        assert "en attente" not in text and all(f"reçu ({ref})" in text for ref in held)


def _registered_twice(home, tmp_path, first_name: str) -> None:
    """The same person registered at an annex while both were cut off; the
    annex's events then reach this terminal (as replication brings them)."""
    with Terminal.init(tmp_path / f"annex-{first_name}", "ANNEXE-09") as annex, Terminal.open(home) as here:
        here.session(Principal.agent("agent")).citizens.register(
            first_name=first_name, last_name="Moreau", birth_date="1979-09-09", postcode="49000")
        annex.session(Principal.agent("agent")).citizens.register(
            first_name=first_name.upper(), last_name="Moreau", birth_date="1979-09-09", postcode="49100")
        here.accept(list(annex.journal.events(annex.id)))


async def test_an_agent_settles_merge_proposals(city, tmp_path):
    home, _ = city
    _registered_twice(home, tmp_path, "Paul")
    _registered_twice(home, tmp_path, "Anne")
    app = CounterApp(home, blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Fusions")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, MergesScreen), what="the merge proposals")
        table = app.screen.query_one("#merges")
        assert sorted(table.get_row_at(i)[0] for i in range(table.row_count)) == ["Anne Moreau", "Paul Moreau"]
        table.focus()
        first = table.get_row_at(0)[0]
        await pilot.press("a")                  # the same person
        await settle(pilot, lambda: table.row_count == 1, what="the first decision")
        second = table.get_row_at(0)[0]
        await pilot.press("r")                  # two different people
        await settle(pilot, lambda: table.row_count == 0, what="the second decision")
        assert "Aucune fusion proposée" in str(app.screen.query_one("#merges-note").render())
    with Terminal.open(home) as t:
        from continuity.recovery import proposals
        decided = {f"{p.keep['first_name']} {p.keep['last_name']}": p.decision
                   for p in proposals(t.conn, include_decided=True)}
        assert decided == {first: "accepted", second: "rejected"}
        assert t.conn.execute("SELECT count(*) FROM citizens WHERE last_name='Moreau'").fetchone()[0] == 4
        actors = [a for (a,) in t.conn.execute("SELECT actor FROM events WHERE type='citizen.merge_decided'")]
        assert actors == ["agent:agent", "agent:agent"]
