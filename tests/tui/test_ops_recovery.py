"""The ops console's recovery work, through Pilot, against a real SoR on
loopback, real terminal homes and real back-office simulators: rebuild a
wiped terminal with k of n shares (and the refusals: too few, another
city's), set an outbox item aside and take it back, read the conflicts and
the recovery report — and the whole incident story on one console: declare,
watch the terminals go isolated, watch the outbox drain in recovery, read
the report."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from continuity.incident import apply, now_at
from continuity.outbox import Outbox
from hub.roles import Principal
from hub.terminal import Terminal
from replication.index import init_city
from replication.sync import Replicator
from tests.continuity.conftest import running
from tests.waiting import settle
from tui.ops.screens.conflicts import ConflictsScreen
from tui.ops.screens.incident import IncidentScreen
from tui.ops.screens.outbox import OutboxScreen
from tui.ops.screens.restore import RestoreScreen
from tui.ops.screens.terminals import TerminalsScreen

from .conftest import SIZE
from .test_ops import (
    choose,
    confirm,
    declare,
    ops_app,
    order_file,
    panel,
    refused_by_the_works_department,
    signed_in,
    table_rows,
)

BEFFROI = str(Path(sys.executable).with_name("beffroi"))


def share(kit, n: int) -> Path:
    return kit.sor_home / "shares" / f"share-{n}-of-3.txt"


async def synced(terminal, url: str) -> None:
    replicator = Replicator(terminal)
    try:
        await replicator.sync(url)
    finally:
        replicator.close()


def refusals(app) -> str:
    return " ".join(str(n.message) for n in app._notifications)


def note(screen, selector: str) -> str:
    return str(screen.query_one(selector).render())


async def restore_screen(pilot, kit, home: Path, shares: str) -> RestoreScreen:
    await signed_in(pilot)
    await panel(pilot, "f7", RestoreScreen)
    screen = pilot.app.screen
    await choose(pilot, "#choose", "ANNEXE-03")
    screen.query_one("#home").value = str(home)
    screen.query_one("#shares").text = shares
    await pilot.click("#check")
    return screen


async def test_restore_a_wiped_terminal_with_two_of_three_shares(ops_city, frozen, tmp_path):
    original = Terminal.open(ops_city.terminals["ANNEXE-03"])
    try:
        expected = original.state_hash()
    finally:
        original.close()
    target = tmp_path / "annexe-rebuilt"
    target.mkdir()
    (target / "journal.db").write_bytes(b"what the attack left")      # a wiped machine's leftovers
    app = ops_app(ops_city, frozen)
    async with app.run_test(size=SIZE) as pilot:
        # One share pasted as words, the other given as its file's path.
        pasted = share(ops_city, 1).read_text("utf-8") + "\n" + str(share(ops_city, 3))
        screen = await restore_screen(pilot, ops_city, target, pasted)
        assert screen.query_one("#url").value == ops_city.url       # the SoR this console syncs with
        await settle(pilot, lambda: "✓" in note(screen, "#restore-note"), what="the shares checked")
        assert "2 nécessaire" in note(screen, "#restore-note")
        await pilot.click("#restore")
        await settle(pilot, lambda: "mis de côté" in note(app.screen, "#consequence") or
                     "moved aside" in note(app.screen, "#consequence"), what="the overwrite question")
        await confirm(pilot)
        await settle(pilot, lambda: screen.outcome is not None, within=60, what="the restore")
        bar = screen.query_one("#progress")
        assert bar.total == bar.progress == screen.outcome["segments"] >= 2   # fed by the real loop
        assert screen.outcome["state_hash"] == expected
        assert expected in note(screen, "#result")
        assert "tête du SoR pour les 2 terminal" in note(screen, "#result")
    rebuilt = Terminal.open(target)
    try:
        assert rebuilt.state_hash() == expected and rebuilt.name == "ANNEXE-03"
    finally:
        rebuilt.close()
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("annexe-rebuilt.before-restore-")]
    assert len(kept) == 1 and (kept[0] / "journal.db").read_bytes() == b"what the attack left"


async def test_restore_refuses_too_few_shares_and_another_citys(ops_city, frozen, tmp_path):
    other = init_city(tmp_path / "other-sor", "Ville de Tours", shares=3, threshold=2)
    target = tmp_path / "annexe-rebuilt"
    app = ops_app(ops_city, frozen)
    async with app.run_test(size=SIZE) as pilot:
        screen = await restore_screen(pilot, ops_city, target, share(ops_city, 1).read_text("utf-8"))
        await settle(pilot, lambda: "ne se combinent pas" in refusals(app), what="too few shares refused")
        assert screen.query_one("#restore").disabled
        screen.query_one("#shares").text = "\n".join(map(str, other["shares"][:2]))
        await settle(pilot, lambda: not screen.query_one("#check").has_class("-active"), what="the button")
        await pilot.click("#check")
        await settle(pilot, lambda: "autre ville" in refusals(app), what="another city's shares refused")
        assert screen.query_one("#restore").disabled
    assert not target.exists()                                           # nothing fetched, nothing written


async def test_set_an_item_aside_then_take_it_back(ops_city, frozen, tmp_path):
    app = ops_app(ops_city, frozen)
    async with app.run_test(size=SIZE) as pilot:
        await signed_in(pilot)
        outbox, works = await refused_by_the_works_department(app, tmp_path)
        error = outbox.get(works.id).reason
        await panel(pilot, "f5", OutboxScreen)
        await choose(pilot, "#items", str(works.id))
        await pilot.press("a")                                           # no reason: refused, nothing changes
        await settle(pilot, lambda: "motif" in refusals(app), what="the reason asked")
        assert outbox.get(works.id).state == "dead"
        app.screen.query_one("#aside-why").value = "signalement refait sur papier"
        await choose(pilot, "#items", str(works.id))
        await pilot.press("a")
        await settle(pilot, lambda: outbox.get(works.id).state == "aside", what="the item set aside")
        row = [r for r in table_rows(app.screen, "#items") if r[0] == str(works.id)][0]
        assert row[3] == "mis de côté" and row[5] == error and row[6] == "ops: signalement refait sur papier"
        assert outbox.counts()["aside"] == 1 and outbox.counts()["dead"] == 0
        listed = await asyncio.to_thread(
            lambda: __import__("subprocess").run([BEFFROI, "outbox", "--home", str(ops_city.home), "--json",
                                                  "--state", "aside"], capture_output=True, text=True,
                                                 timeout=60, check=True).stdout)
        [item] = json.loads(listed)["items"]
        assert (item["id"], item["aside_by"], item["aside_why"]) == (works.id, "ops", "signalement refait sur papier")
        await pilot.press("t")                                           # reversible: a retry takes it back
        await settle(pilot, lambda: outbox.get(works.id).state == "queued", what="the retry")
        assert "signalement refait sur papier" in outbox.get(works.id).reason


async def test_the_conflicts_panel_lists_both_kinds_and_assigns_them(ops_city, frozen):
    from continuity import conflicts
    # The same person registered again on the annexe (another address), while the city had her already.
    with Terminal.open(ops_city.terminals["ANNEXE-03"], **frozen.terminal) as annexe:
        desk = annexe.session(Principal.system())
        desk.citizens.register(first_name="Hélène", last_name="DUPONT", birth_date="1985-03-12", postcode="49100",
                               address="5 rue Lenepveu")
        await synced(annexe, ops_city.url)
    app = ops_app(ops_city, frozen)
    async with app.run_test(size=SIZE) as pilot:
        await signed_in(pilot)
        await synced(app.terminal, ops_city.url)
        await panel(pilot, "f8", ConflictsScreen)
        rows = {r[0]: r for r in table_rows(app.screen, "#conflicts")}
        assert set(rows) == {"dossier", "fusion"}                     # the disputed case, Hélène registered twice
        assert rows["fusion"][1].startswith("Hélène Dupont") and rows["fusion"][3] == "sans personne"
        assert "Pas encore de rapport de reprise" in note(app.screen, "#report")
        merge = [c for c in conflicts.listing(app.terminal.conn) if c.kind == "merge"][0]
        await choose(pilot, "#conflicts", "fusion")
        app.screen.query_one("#assignee").value = "quelqu'un"        # nobody by that name: refused, nothing written
        await pilot.press("g")
        await settle(pilot, lambda: "ni un agent inscrit" in refusals(app), what="the refusal")
        assert conflicts.get(app.terminal.conn, merge.id).state == "open"
        app.screen.query_one("#assignee").value = "office:ANNEXE-NORD"
        await choose(pilot, "#conflicts", "fusion")
        await pilot.press("g")
        await settle(pilot, lambda: conflicts.get(app.terminal.conn, merge.id).state == "assigned", what="assigned")
        assert conflicts.get(app.terminal.conn, merge.id).assigned_to == "office:ANNEXE-NORD"
        row = [r for r in table_rows(app.screen, "#conflicts") if r[0] == "fusion"][0]
        assert row[3:] == ["confié", "office:ANNEXE-NORD"]
        # An event like any other: the annexe learns whom it was given to.
        await synced(app.terminal, ops_city.url)
    with Terminal.open(ops_city.terminals["ANNEXE-03"], **frozen.terminal) as annexe:
        await synced(annexe, ops_city.url)
        assert conflicts.get(annexe.conn, merge.id).assigned_to == "office:ANNEXE-NORD"


async def test_an_ops_agent_follows_a_whole_incident_from_the_console(ops_city, frozen, tmp_path):
    """Declare; watch the terminals go isolated; acts done offline queue in the
    outbox while its drain waits; end; watch the outbox drain in recovery
    (``beffroi recovery`` against real back-office simulators) until the
    console's counts reach zero; read the recovery report."""
    from continuity.connectors import configure
    app = ops_app(ops_city, frozen)
    async with app.run_test(size=SIZE) as pilot:
        await signed_in(pilot)
        declared = order_file(await declare(pilot))
        await panel(pilot, "f2", TerminalsScreen)                      # watching while the order spreads
        table = app.screen.query_one("#terminals")
        assert {r[3] for r in table_rows(app.screen, "#terminals")} == {"en ligne"}
        with Terminal.open(ops_city.terminals["ANNEXE-03"], **frozen.terminal) as annexe:
            apply(annexe, declared, now_at(annexe))
            await synced(annexe, ops_city.url)
        apply(app.terminal, declared, now_at(app.terminal))
        await synced(app.terminal, ops_city.url)
        table.focus()
        await pilot.press("r")                                         # the same rows, updated in place

        def modes() -> dict[str, str]:
            return {r[0].strip("⚠ "): r[3] for r in table_rows(app.screen, "#terminals")}
        await settle(pilot, lambda: modes()["ANNEXE-03"] == modes()["MAIRIE-01"] == "isolé", what="isolated")
        assert app.screen.query_one("#terminals") is table and table.row_count == 3

        # The counter keeps serving: two reports taken while isolated, for the works department.
        desk = app.terminal.session(Principal.agent("agent"))
        helene = app.terminal.conn.execute("SELECT id FROM citizens WHERE first_name='Hélène'").fetchone()[0]
        for place in ("place du Ralliement", "rue Lenepveu"):
            desk.cases.open("signalement", helene, {"category": "chaussee", "location": place,
                                                    "description": "Nid-de-poule"})
        outbox = Outbox(app.terminal)
        owed = outbox.pending()
        assert owed >= 2
        await panel(pilot, "f5", OutboxScreen)
        await settle(pilot, lambda: "suspendu" in note(app.screen, "#drain-note"), what="the paused drain")
        assert app.screen.query_one("#drain").total == owed

        await panel(pilot, "f3", IncidentScreen)
        app.screen.query_one("#reason").value = "systèmes rétablis"
        await pilot.click("#end")
        await confirm(pilot)
        apply(app.terminal, order_file(app.screen.last_issued), now_at(app.terminal))
        assert app.terminal.mode().name == "recovery"
        await panel(pilot, "f5", OutboxScreen)
        async with running(tmp_path, "travaux") as works, running(tmp_path, "etat-civil") as civil, \
                running(tmp_path, "tresor") as treasury, running(tmp_path, "urbanisme") as planning:
            for name, site in (("travaux", works), ("etat-civil", civil), ("tresor", treasury),
                               ("urbanisme", planning)):
                configure(ops_city.home, name, site.url)
            recovery = await asyncio.create_subprocess_exec(
                BEFFROI, "recovery", "--home", str(ops_city.home), "--timeout", "5",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=os.environ.copy())
            await settle(pilot, lambda: "plus rien à livrer" in note(app.screen, "#drain-note"), within=90,
                         what="the outbox drained, watched from the console")
            out, err = await recovery.communicate()
            assert recovery.returncode == 0, err.decode()
            delivered = sum(len(s.records()) for s in (works, civil, treasury, planning))
        bar = app.screen.query_one("#drain")
        assert bar.progress == bar.total == owed
        counts = {r[0]: r[1:] for r in table_rows(app.screen, "#connectors")}
        assert all(row[0] == row[1] == row[3] == "0" for row in counts.values())   # queued, sending, failed
        assert delivered == owed == outbox.counts()["sent"]

        await panel(pilot, "f8", ConflictsScreen)
        await settle(pilot, lambda: "MAIRIE-01" in note(app.screen, "#report"), what="the report")
        report = json.loads((ops_city.home / "recovery" / "recovery-report.json").read_text("utf-8"))[0]
        shown = note(app.screen, "#report")
        assert f"envois : {report['outbox']['delivered']} livré(s)" in shown and "0 à livrer" in shown
        assert report["offline_acts"] > 0 and f"{report['offline_acts']} acte(s)" in shown
        assert f"conflits : {report['conflicts']['open']} sans personne" in shown
        # Recovery waits for a person on the disputed birth certificate: IT gives it to the agent.
        await choose(pilot, "#conflicts", "dossier")
        app.screen.query_one("#assignee").value = "agent"
        await pilot.press("g")
        await settle(pilot, lambda: [r[3:] for r in table_rows(app.screen, "#conflicts")] == [["confié", "agent"]],
                     what="the conflict given to the agent")


async def test_a_damaged_report_and_a_file_for_a_home_are_said_not_crashed_on(ops_city, frozen, tmp_path):
    (ops_city.home / "recovery").mkdir()
    (ops_city.home / "recovery" / "recovery-report.json").write_text('[{"terminal": "MAIRIE-01"}]')
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("not a home")
    app = ops_app(ops_city, frozen)
    async with app.run_test(size=SIZE) as pilot:
        await signed_in(pilot)
        await panel(pilot, "f8", ConflictsScreen)
        assert "est illisible : relancez `beffroi recovery`" in note(app.screen, "#report")
        await panel(pilot, "f7", RestoreScreen)
        screen = app.screen
        await choose(pilot, "#choose", "ANNEXE-03")
        screen.query_one("#home").value = str(not_a_folder)
        screen.query_one("#shares").text = f"{share(ops_city, 1)}\n{share(ops_city, 2)}"
        await pilot.click("#check")
        await settle(pilot, lambda: "✓" in note(screen, "#restore-note"), what="the shares checked")
        await pilot.click("#restore")
        await settle(pilot, lambda: "est un fichier" in refusals(app), what="the refusal")
        assert screen.outcome is None and not_a_folder.read_text() == "not a home"
