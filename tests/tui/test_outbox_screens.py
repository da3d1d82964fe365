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
from .test_counter import palette, sign_in


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
        await palette(pilot, "Fusions", MergesScreen)
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


async def test_an_agent_settles_the_conflicts_assigned_to_them(city, tmp_path):
    """IT assigns; the agent sees only what is theirs, writes what was decided,
    settles the request moved twice and accepts Hélène's merge; her page then
    shows the requests filed under her second record too."""
    from continuity import conflicts
    from tui.counter.screens.assigned import AssignedScreen
    from tui.counter.screens.citizen import CitizenScreen
    home, data = city
    with Terminal.init(tmp_path / "annex-helene", "ANNEXE-07") as annex, Terminal.open(home) as here:
        twin = annex.session(Principal.agent("agent")).citizens.register(
            first_name="HÉLÈNE", last_name="DUPONT", birth_date="1985-03-12", postcode="49100",
            address="2 place du Ralliement")
        extra = annex.session(Principal.agent("agent")).cases.open("signalement", twin["id"], {
            "category": "chaussee", "location": "2 place du Ralliement", "description": "Nid-de-poule"})
        here.accept(list(annex.journal.events(annex.id)))
        _registered_twice(home, tmp_path, "Paul")               # someone else's
        it = here.session(Principal.ops("dsi"))
        for c in conflicts.listing(here.conn):
            is_paul = c.kind == "merge" and "Paul" in c.subject
            conflicts.assign(it, c.id, "office:etat-civil" if is_paul else "agent")
        helene_before = {c["id"] for c in here.session(Principal.agent("agent")).cases.for_citizen(
            data["citizens"][0]["id"])}
    app = CounterApp(home, blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await palette(pilot, "Mes conflits", AssignedScreen)
        table = app.screen.query_one("#assigned")
        kinds = [table.get_row_at(i)[0] for i in range(table.row_count)]
        assert sorted(kinds) == ["Demande modifiée deux fois", "Inscrit deux fois"]   # not Paul's
        case_row = kinds.index("Demande modifiée deux fois")
        app.screen.query_one("#assigned-note").focus()
        await pilot.press(*"rendez-vous garde")
        table.focus()
        table.move_cursor(row=case_row)
        await pilot.press("f2")
        await settle(pilot, lambda: table.row_count == 1, what="the request settled")
        assert table.get_row_at(0)[0] == "Inscrit deux fois"
        app.screen.query_one("#assigned-note").focus()
        await pilot.press(*"piece d'identite vue")
        await pilot.press("f3")                                  # the same person
        await settle(pilot, lambda: table.row_count == 0, what="the merge accepted")
        # Hélène, searched at the counter: one person, with the requests of both records.
        await pilot.press("escape")
        await settle(pilot, lambda: not isinstance(app.screen, AssignedScreen))
        app.screen.query_one("#search").value = "helene dupont"
        await settle(pilot, lambda: app.screen.query_one("#results").row_count == 1, what="one Hélène")
        await pilot.press("enter", "enter")
        await settle(pilot, lambda: isinstance(app.screen, CitizenScreen) and app.screen.query("#cases"),
                     what="Hélène's page")
        shown = {str(k.value) for k in app.screen.query_one("#cases").rows}
        assert shown == helene_before | {extra["id"]}
    with Terminal.open(home) as t:
        states = {c.subject: (c.state, c.resolution) for c in conflicts.listing(t.conn)}
        assert ("resolved", "rendez-vous garde") in states.values()
        assert ("resolved", "accepted") in states.values()
        assert sum(1 for s, _ in states.values() if s == "assigned") == 1     # Paul's, for the office
        assert t.conn.execute("SELECT count(*) FROM citizens WHERE last_name IN ('Dupont', 'DUPONT')"
                              " AND birth_date='1985-03-12'").fetchone()[0] == 2
