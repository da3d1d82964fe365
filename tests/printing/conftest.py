"""A counter terminal with a payment to print, and the private CUPS fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.roles import Principal
from hub.terminal import Terminal
from tests.cupsfixtures import cups_server_fixture, pdf_queue_fixture, second_queue_fixture  # noqa: F401


@pytest.fixture
def counter(tmp_path: Path):
    """A terminal of the Ville d'Angers with an agent, Hélène Dupont, and a
    paid municipal bill of 45,50 €."""
    with Terminal.init(tmp_path / "counter", "MAIRIE-01", "Ville d'Angers") as t:
        t.session(Principal.system()).agents.enroll("agent", "Claire Moreau", "246810", "agent")
        desk = t.session(Principal.agent("agent"))
        helene = desk.citizens.register(first_name="Hélène", last_name="Dupont", birth_date="1985-03-12",
                                        postcode="49000")
        bill = desk.cases.open("facture-municipale", helene["id"], {
            "bill_kind": "cantine", "bill_reference": "FAC-2026-00042", "amount_cents": "4550"})
        payment = desk.payments.take(bill["id"], 4550, "cash")
        yield t, desk, payment
