"""The ops console doing IT staff's real work, through Pilot, against a real
SoR on loopback and real terminal homes: who may sign in, approve, revoke,
rotate, declare and end an incident while terminals go isolated and come
back, retry an outbox item against a real back-office simulator, read the
footprint. Every result is read back from the SoR's index or the hub."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from continuity.backoffice.simulator import Faults
from continuity.connectors import Connectors
from continuity.incident import apply, now_at
from continuity.outbox import Outbox, Policy
from hub.terminal import Terminal
from replication.client import SoRRefused
from replication.index import Index
from replication.sync import Replicator
from tests.continuity.conftest import running
from tests.waiting import settle
from tui.ops.app import OpsApp
from tui.ops.screens.confirm import Confirm
from tui.ops.screens.incident import IncidentScreen
from tui.ops.screens.keys import KeysScreen
from tui.ops.screens.login import OpsLoginScreen
from tui.ops.screens.outbox import OutboxScreen
from tui.ops.screens.terminals import TerminalsScreen

from .conftest import SIZE, frozen_clock

BEFFROI = str(Path(sys.executable).with_name("beffroi"))


def order_file(issued: dict) -> bytes:
    """The order as written for the USB stick."""
    return Path(issued["file"]).read_bytes()


def ops_app(kit, frozen, lang: str = "fr") -> OpsApp:
    return OpsApp(kit.home, lang, sor_home=kit.sor_home, clock=frozen_clock, blink=False, **frozen.app)


async def sign_in(pilot, who: str = "ops", pin: str = "135790") -> None:
    await settle(pilot, lambda: isinstance(pilot.app.screen, OpsLoginScreen), what="the login")
    await pilot.press(*who, "enter", *pin, "enter")


async def signed_in(pilot) -> None:
    await sign_in(pilot)
    await settle(pilot, lambda: isinstance(pilot.app.screen, TerminalsScreen), what="the terminals")


async def panel(pilot, key: str, kind) -> None:
    await pilot.press(key)
    await settle(pilot, lambda: isinstance(pilot.app.screen, kind) and pilot.app.screen.is_mounted, what=kind.__name__)


def table_rows(screen, selector: str) -> list[list[str]]:
    table = screen.query_one(selector)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def choose(pilot, selector: str, first_cell: str) -> None:
    table = pilot.app.screen.query_one(selector)
    table.focus()
    table.move_cursor(row=[r[0] for r in table_rows(pilot.app.screen, selector)].index(first_cell))
    await pilot.pause()


async def confirm(pilot, yes: bool = True) -> None:
    await settle(pilot, lambda: isinstance(pilot.app.screen, Confirm), what="the confirmation")
    await pilot.click("#confirm" if yes else "#cancel")
    await settle(pilot, lambda: not isinstance(pilot.app.screen, Confirm), what="the panel again")


async def declare(pilot, reason: str = "rançongiciel au centre de données") -> dict:
    """Declare an incident from the Incident panel, confirmed: the order issued."""
    await panel(pilot, "f3", IncidentScreen)
    pilot.app.screen.query_one("#reason").value = reason
    await pilot.click("#declare")
    await confirm(pilot)
    return pilot.app.screen.last_issued


async def test_an_agent_is_refused_and_an_ops_agent_signs_in(ops_city, frozen):
    app = ops_app(ops_city, frozen)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "agent", "246810")
        error = await settle(pilot, lambda: str(app.screen.query_one("#login-error").render()).strip("⚠ "),
                             what="the refusal")
        assert isinstance(app.screen, OpsLoginScreen) and app.session is None
        assert "réservée aux agents d'exploitation" in error
        await pilot.press("ctrl+a", "backspace")
        app.screen.query_one("#agent").value = ""
        app.screen.query_one("#agent").focus()
        await signed_in(pilot)
        names = [r[0] for r in table_rows(app.screen, "#terminals")]
        assert names == ["⚠ ANNEXE-03", "BIBLIO-04", "MAIRIE-01"]   # the annexe has been silent 20 minutes


async def test_the_terminals_view_filters_and_sorts(ops_city, frozen):
    app = ops_app(ops_city, frozen)
    async with app.run_test(size=SIZE) as pilot:
        await signed_in(pilot)
        app.screen.query_one("#filter").value = "approbation"          # the French status word
        await settle(pilot, lambda: len(table_rows(app.screen, "#terminals")) == 1, what="the filter")
        assert table_rows(app.screen, "#terminals")[0][0] == "BIBLIO-04"
        app.screen.query_one("#filter").value = ""
        await settle(pilot, lambda: len(table_rows(app.screen, "#terminals")) == 3, what="every terminal")
        app.screen.query_one("#terminals").focus()
        await pilot.press("s")                                        # by lag, longest first
        await settle(pilot, lambda: table_rows(app.screen, "#terminals")[0][0] == "BIBLIO-04", what="the sort")
        assert [r[0] for r in table_rows(app.screen, "#terminals")][1:] == ["⚠ ANNEXE-03", "MAIRIE-01"]


async def test_the_office_comes_with_the_enrolment_and_filters_the_view(ops_city, frozen):
    from replication import keys
    from replication.index import load_city
    app = ops_app(ops_city, frozen)
    async with app.run_test(size=SIZE) as pilot:
        await signed_in(pilot)
        offices = {r[0].strip("⚠ "): r[1] for r in table_rows(app.screen, "#terminals")}
        assert offices == {"ANNEXE-03": "ANNEXE-NORD", "BIBLIO-04": "BIBLIOTHEQUE", "MAIRIE-01": "HOTEL-DE-VILLE"}
        app.screen.query_one("#filter").value = "nord"
        await settle(pilot, lambda: [r[0] for r in table_rows(app.screen, "#terminals")] == ["⚠ ANNEXE-03"],
                     what="the office filter")
        app.screen.query_one("#filter").value = ""
        await settle(pilot, lambda: len(table_rows(app.screen, "#terminals")) == 3, what="every terminal")
        app.screen.query_one("#terminals").focus()
        await pilot.press("s", "s", "s")                              # name → lag → mode → office
        await settle(pilot, lambda: [r[1] for r in table_rows(app.screen, "#terminals")] ==
                     ["ANNEXE-NORD", "BIBLIOTHEQUE", "HOTEL-DE-VILLE"], what="the sort by office")
    # The admin signed the office into the approved terminal's certificate.
    index = Index(ops_city.sor_home)
    try:
        annexe = index.find_device("ANNEXE-03")
    finally:
        index.close()
    admin = keys.sign_public(load_city(ops_city.sor_home).admin_sign)
    assert keys.verify_doc(admin, json.loads(annexe["certificate"]), "certificate")["office"] == "ANNEXE-NORD"


async def test_approve_then_revoke_a_terminal_against_the_real_sor(ops_city, frozen):
    app = ops_app(ops_city, frozen)
    async with app.run_test(size=SIZE) as pilot:
        await signed_in(pilot)
        await panel(pilot, "f4", KeysScreen)
        await choose(pilot, "#devices", "BIBLIO-04")
        await pilot.press("a")
        await settle(pilot, lambda: isinstance(app.screen, Confirm))
        shown = str(app.screen.query_one("#consequence").render())
        fingerprint = [r[2] for r in table_rows(app.screen_stack[-2], "#devices") if r[0] == "BIBLIO-04"][0]
        assert fingerprint in shown                                  # the fingerprint to compare
        await confirm(pilot)
        assert ops_city.status("BIBLIO-04") == "active"

        await choose(pilot, "#devices", "ANNEXE-03")
        await pilot.press("v")
        await confirm(pilot, yes=False)                              # cancelled: nothing changes
        assert ops_city.status("ANNEXE-03") == "active"
        await pilot.press("v")
        await settle(pilot, lambda: isinstance(app.screen, Confirm))
        assert "irréversible" in str(app.screen.query_one("#consequence").render())
        await confirm(pilot)
        assert ops_city.status("ANNEXE-03") == "revoked"
        index = Index(ops_city.sor_home)
        try:
            epoch, stored = index.current_epoch(), index.counts()["segments"]
        finally:
            index.close()
        assert epoch == 2
        # The revoked terminal is refused by the real SoR, and nothing of it is stored.
        annexe = Terminal.open(ops_city.terminals["ANNEXE-03"])
        replicator = Replicator(annexe)
        try:
            try:
                await replicator.sync(ops_city.url)
                raise AssertionError("a revoked terminal was served")
            except SoRRefused as refusal:
                assert refusal.status == 403
        finally:
            replicator.close()
            annexe.close()
        index = Index(ops_city.sor_home)
        try:
            assert index.counts()["segments"] == stored
        finally:
            index.close()


async def test_rotate_the_epoch_needs_a_reason(ops_city, frozen):
    app = ops_app(ops_city, frozen)
    async with app.run_test(size=SIZE) as pilot:
        await signed_in(pilot)
        await panel(pilot, "f4", KeysScreen)
        await pilot.click("#rotate")
        await confirm(pilot)
        assert Index(ops_city.sor_home).current_epoch() == 1         # refused: no reason, nothing made
        app.screen.query_one("#rotate-reason").value = "clé d'un portable perdu"
        await pilot.click("#rotate")
        await confirm(pilot)
        assert Index(ops_city.sor_home).current_epoch() == 2
        await settle(pilot, lambda: "2" in str(app.screen.query_one("#keys-note").render()), what="the new epoch")


async def test_declare_watch_the_terminals_go_isolated_then_end(ops_city, frozen):
    app = ops_app(ops_city, frozen)
    async with app.run_test(size=SIZE) as pilot:
        await signed_in(pilot)
        issued = await declare(pilot)
        assert issued is not None
        assert str(app.screen.query_one("#fingerprint").render()) == issued["fingerprint"]
        raw = order_file(issued)
        assert raw == issued["raw"]
        # The office terminal takes the order from the USB stick, then syncs; the
        # console's terminal takes it too and pulls the office's mode change.
        with Terminal.open(ops_city.terminals["ANNEXE-03"], **frozen.terminal) as annexe:
            apply(annexe, raw, now_at(annexe))
            replicator = Replicator(annexe)
            try:
                await replicator.sync(ops_city.url)
            finally:
                replicator.close()
        apply(app.terminal, raw, now_at(app.terminal))
        replicator = Replicator(app.terminal)
        try:
            await replicator.sync(ops_city.url)
        finally:
            replicator.close()
        await panel(pilot, "f2", TerminalsScreen)
        modes = {r[0].strip("⚠ "): r[3] for r in table_rows(app.screen, "#terminals")}
        assert modes["ANNEXE-03"] == modes["MAIRIE-01"] == "isolé"
        await panel(pilot, "f3", IncidentScreen)
        assert "rançongiciel" in str(app.screen.query_one("#order-note").render())   # the live incident
        timeline = table_rows(app.screen, "#timeline")
        assert {r[1] for r in timeline if r[2] == "isolé"} == {"ANNEXE-03", "MAIRIE-01"}

        app.screen.query_one("#reason").value = "systèmes rétablis"
        await pilot.click("#end")
        await confirm(pilot)
        ended = app.screen.last_issued
        assert ended["kind"] == "end"
        apply(app.terminal, order_file(ended), now_at(app.terminal))
        assert app.terminal.mode().name == "recovery"
        await panel(pilot, "f2", TerminalsScreen)
        await panel(pilot, "f3", IncidentScreen)
        assert "Aucun incident" in str(app.screen.query_one("#order-note").render())
        assert [r[2] for r in table_rows(app.screen, "#timeline")][-1] == "reprise"


async def refused_by_the_works_department(app, tmp_path) -> tuple[Outbox, Any]:
    """The outbox's first item (for the works department) sent once to a
    back office that refuses it for good: the item is dead, with the error."""
    outbox = Outbox(app.terminal, policy=Policy(max_tries=1))
    works = outbox.items()[0]
    async with running(tmp_path, "travaux", Faults(poison_keys=[works.key])) as site, \
            Connectors({"travaux": site.url}) as connectors:
        await outbox.drain(connectors)
    return outbox, works


async def test_retry_a_dead_item_then_it_is_delivered(ops_city, frozen, tmp_path):
    app = ops_app(ops_city, frozen)
    async with app.run_test(size=SIZE) as pilot:
        await signed_in(pilot)
        outbox, works = await refused_by_the_works_department(app, tmp_path)
        assert works.connector == "travaux"
        assert outbox.get(works.id).state == "dead"
        await panel(pilot, "f5", OutboxScreen)
        rows = table_rows(app.screen, "#items")
        dead = [r for r in rows if r[0] == str(works.id)][0]
        assert dead[3] == "mort" and dead[5]                          # the back office's error is shown
        await choose(pilot, "#items", str(works.id))
        await pilot.press("t")
        await settle(pilot, lambda: outbox.get(works.id).state == "queued", what="the retry")
        (tmp_path / "again").mkdir()
        async with running(tmp_path / "again", "travaux") as site, Connectors({"travaux": site.url}) as connectors:
            await outbox.drain(connectors)
            assert [r["key"] for r in site.records()] == [works.key]
        assert outbox.get(works.id).state == "sent"
        await pilot.press("r")
        await settle(pilot, lambda: str(works.id) not in [r[0] for r in table_rows(app.screen, "#items")])


def test_ops_command_refuses_a_folder_that_is_no_sor_home(tmp_path):
    home = tmp_path / "t"
    Terminal.init(home, "MAIRIE-01").close()
    result = subprocess.run([BEFFROI, "ops", "--home", str(home), "--sor-home", str(tmp_path / "nothing")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("beffroi: error:") and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "nothing").exists()


def test_footprint_command_matches_the_work_done(ops_city):
    out = subprocess.run([BEFFROI, "footprint", "--home", str(ops_city.home), "--json"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    data = json.loads(out)
    assert {s["name"] for s in data["services"]} >= {"acte-naissance", "facture-municipale", "signalement"}
    assert data["total"]["events"] == Terminal.open(ops_city.home).journal.count()
    assert data["total"]["g_co2e"] > 0


class TenMsCPU:
    """The console's CPU counter here: 10 ms more at each read (a write reads it
    at its start and its end: 10 ms)."""

    def __init__(self) -> None:
        self.ns = 0

    def __call__(self) -> int:
        self.ns += 10_000_000
        return self.ns


async def test_footprint_panel_counts_the_consoles_own_work_not_yet_written(city, frozen):
    """IT staff give a conflict to an agent (a write of the console's own
    terminal), then read the footprint: that write's CPU is in the table shown,
    though it is still waiting in memory; after it is written, not twice."""
    from hub import footprint
    from tui.ops.screens.conflicts import ConflictsScreen
    from tui.ops.screens.footprint import FootprintScreen
    home, _data = city
    with Terminal.open(home) as before:
        written = {s["name"]: s["cpu_seconds"] for s in footprint.report(before.conn, footprint.Factors())["services"]}
    app = OpsApp(home, "en", clock=frozen_clock, blink=False, cpu_ns=TenMsCPU(), **frozen.app)
    async with app.run_test(size=SIZE) as pilot:
        await signed_in(pilot)
        await panel(pilot, "f8", ConflictsScreen)
        pilot.app.screen.query_one("#assignee").value = "agent"
        pilot.app.screen.query_one("#conflicts").focus()
        await pilot.press("g")
        await settle(pilot, lambda: "agent" in [r[4] for r in table_rows(pilot.app.screen, "#conflicts")],
                     what="the assignment")
        assert app.terminal.pending.counts              # the write's CPU waits in memory
        await panel(pilot, "f6", FootprintScreen)
        birth = "Copy of a birth certificate"
        expected = f"{written['acte-naissance'] + 0.010:.3f}"
        await settle(pilot, lambda: [r[5] for r in table_rows(pilot.app.screen, "#footprint") if r[0] == birth[:26]]
                     == [expected], what="the pending CPU in the table")
        with app.terminal.journal.transaction():
            app.terminal.pending.flush(app.terminal.conn)
        pilot.app.screen.query_one("#footprint").clear()     # so the refresh below shows itself
        await pilot.press("r")
        await settle(pilot, lambda: [r[5] for r in table_rows(pilot.app.screen, "#footprint") if r[0] == birth[:26]]
                     == [expected], what="the same CPU once written")
