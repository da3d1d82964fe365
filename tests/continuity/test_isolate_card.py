"""`beffroi incident isolate-here --card`: an ops agent isolates one terminal
with their card and PIN, through the real pcscd and the project's virtual card;
an agent's card, or a wrong PIN, changes nothing."""

from __future__ import annotations

import json

from hub.roles import Principal
from hub.terminal import Terminal
from tests.card.conftest import Reader, issue, pcscd, reader, slot  # noqa: F401  (fixtures)
from tests.conftest import run_cli


def snapshot(home) -> tuple[str, str, list[str]]:
    """The state and mode, and the events that are not the card's own audit trail
    (a refused sign-in is recorded as such, by design: who tried, never the PIN)."""
    with Terminal.open(home) as t:
        kinds = [e.type for e in t.journal.events() if not e.type.startswith("card.")]
        return t.state_hash(), t.mode().name, kinds


def test_an_ops_card_isolates_this_terminal_and_nothing_else_does(tmp_path, reader, issue):  # noqa: F811
    home = tmp_path / "t"
    Terminal.init(home, "MAIRIE-03").close()
    issue(home, "luc", role="ops", pin="135790", name="Luc Bernard")
    issue(home, "claire", role="agent", pin="246810", name="Claire Moreau")
    before = snapshot(home)
    reader.insert(home, "claire")
    done = run_cli("incident", "isolate-here", "--card", "--pin", "246810", "--reader", reader.name, home=home)
    assert done.returncode == 2 and "only an ops agent's card" in done.stderr and done.stderr.count("\n") == 1
    reader.insert(home, "luc")
    done = run_cli("incident", "isolate-here", "--card", "--pin", "000000", "--reader", reader.name, home=home)
    assert done.returncode == 2 and done.stderr.startswith("beffroi: error: ")
    assert snapshot(home) == before
    done = run_cli("incident", "isolate-here", "--card", "--pin", "135790", "--reader", reader.name,
                   "--reason", "réseau coupé, aucun ordre ne peut arriver", "--json", home=home)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["mode"] == "isolated" and result["kind"] == "local"
    with Terminal.open(home) as t:
        event = t.session(Principal.system()).modes.timeline()[-1]
        assert event["actor"] == "ops:luc" and event["local"] is True
        assert event["reason"] == "réseau coupé, aucun ordre ne peut arriver"
    assert run_cli("incident", "isolate-here", "--home", str(home)).returncode == 2   # no --card: refused
