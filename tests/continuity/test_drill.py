"""`beffroi drill` end to end: a city dies and comes back, every act reaches
its back office once, every terminal ends with the same state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pypdf import PdfReader

from continuity.drill import run

from ..conftest import run_cli


@pytest.mark.parametrize("rate", [0.0, 0.33])
def test_drill_converges_and_delivers_every_act_once(tmp_path: Path, rate: float) -> None:
    out = tmp_path / "city"
    lines: list[str] = []
    r = run(terminals=3, demarches=6, error_rate=rate, seed=7, folder=out, progress=lines.append)
    assert r["converged"] is True
    assert len(set(r["state_hashes"].values())) == 1 and len(r["state_hashes"]) == 3
    o = r["outbox"]
    assert o["dead"] == 0 and o["waiting"] == 0 and o["duplicates_at_backoffice"] == 0
    assert o["delivered"] == o["records_at_backoffice"] > 0
    if rate:
        assert o["redeliveries_deduplicated"] >= 0
    assert r["conflicts"] == 1 and r["merge_proposals"] == 1
    assert r["offline_acts"] >= 3 * 6 * 2 + 4
    assert r["degraded_after_s"] > 0 and r["reconcile_s"] > 0
    assert any("incident declared by a signed order: isolated, isolated, isolated" in line for line in lines)
    assert any("incident ended: recovery, recovery, recovery" in line for line in lines)
    assert r["modes"] == {"MAIRIE-01": "online", "MAIRIE-02": "online", "MAIRIE-03": "online"}

    # The recovery report, read back: JSON and the PDF agree with the run.
    reports = json.loads(Path(r["report"]["json"]).read_text())
    assert [t["terminal"]["name"] for t in reports] == ["MAIRIE-01", "MAIRIE-02", "MAIRIE-03"]
    assert sum(t["outbox"]["delivered"] for t in reports) == o["delivered"]
    assert sum(t["offline_acts"] for t in reports) == r["offline_acts"]
    assert {k: reports[0]["conflicts"][k] for k in ("open", "assigned", "resolved")} == \
        {"open": 0, "assigned": 0, "resolved": 2}     # the case moved twice and the merge proposal
    assert {c["kind"] for c in reports[0]["conflicts"]["items"]} == {"case", "merge"}
    assert reports[0]["merge_proposals"] == {"open": 0, "accepted": 1, "rejected": 0}
    assert set(reports[0]["steps_s"]) == {"verify", "exchange", "conflicts", "drain"}
    for t in reports:   # every act done while isolated took a number from the terminal's own range
        assert t["register"]["count"] > 0 and t["register"]["last"] - t["register"]["first"] + 1 == t["register"]["count"]
    assert len({t["register"]["first"] for t in reports}) == 3
    text = "\n".join(page.extract_text() for page in PdfReader(r["report"]["pdf"]).pages)
    for t in reports:
        assert t["terminal"]["name"] in text and t["state_hash"] in text
    assert "Fusions accept" in text and "Envois livr" in text


def test_drill_command_prints_one_json_object_and_refuses_bad_input(tmp_path: Path) -> None:
    done = run_cli("drill", "--terminals", "2", "--demarches", "2", "--backoffice-errors", "0.33", "--json")
    assert done.returncode == 0, done.stderr
    r = json.loads(done.stdout)
    assert {"converged", "state_hashes", "degraded_after_s", "outbox", "conflicts", "offline_acts",
            "reconcile_s"} <= set(r)
    assert r["converged"] and {"delivered", "duplicates_at_backoffice", "dead"} <= set(r["outbox"])
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("keep me")
    for args, needle in [(("--terminals", "1"), "between 2 and 20"),
                         (("--backoffice-errors", "1.5"), "between 0 and 1"),
                         (("--demarches", "0"), "between 1 and 100000"),
                         (("--out", str(tmp_path / "used")), "is not empty")]:
        refused = run_cli("drill", *args)
        assert refused.returncode == 2, args
        assert refused.stderr.startswith("beffroi: error: ") and needle in refused.stderr
    assert (tmp_path / "used" / "x").read_text() == "keep me"
