"""`beffroi printer …` and `beffroi print …` through the real console script,
against the private cupsd."""

from __future__ import annotations

import json
import sqlite3

from tests.conftest import run_cli


def _ok(*args, home):
    result = run_cli(*args, "--json", home=home)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _refused(*args, home, message):
    events = _events(home)
    printers = (home / "printers.json").read_bytes() if (home / "printers.json").exists() else None
    result = run_cli(*args, home=home)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("beffroi: error:") and message in lines[0], result.stderr
    assert _events(home) == events
    assert ((home / "printers.json").read_bytes() if (home / "printers.json").exists() else None) == printers


def _events(home):
    with sqlite3.connect(home / "journal.db") as db:
        return db.execute("SELECT count(*) FROM events").fetchone()[0]


def test_set_list_print_and_follow_jobs(counter, pdf_queue, second_queue):
    terminal, desk, payment = counter
    home, socket = terminal.home, pdf_queue.server.socket
    assert _ok("printer", "set", "receipts", pdf_queue.name, "--server", socket, home=home) == {
        "role": "receipts", "queue": pdf_queue.name, "server": socket}
    _ok("printer", "set", "tickets", second_queue.name, "--server", socket, home=home)
    listed = _ok("printer", "list", home=home)
    assert listed["roles"]["receipts"]["queue"] == pdf_queue.name
    mine = {p["queue"]: p for p in listed["printers"] if p.get("queue") in (pdf_queue.name, second_queue.name)}
    assert mine[pdf_queue.name]["roles"] == ["receipts"] and mine[second_queue.name]["roles"] == ["tickets"]
    assert mine[pdf_queue.name]["trouble"] == []

    job = _ok("print", "receipt", payment["receipt_number"], home=home)
    assert job["kind"] == "duplicate" and job["copy"] == 1 and job["state"] in ("printing", "done")
    [paper] = pdf_queue.wait_printed()
    assert "DUPLICATA" in pdf_queue.text(paper) and payment["receipt_number"] in pdf_queue.text(paper)
    ticket = desk.queue.issue("V")
    _ok("print", "ticket", ticket["label"], "--day", ticket["day"], home=home)
    [slip] = second_queue.wait_printed()
    assert ticket["label"] in second_queue.text(slip)

    jobs = _ok("print", "jobs", home=home)
    assert {j["kind"] for j in jobs} == {"duplicate", "ticket"}
    assert run_cli("print", "jobs", home=home).stdout.count("\n") == 2

    # A failed job, then retried by hand.
    pdf_queue.reject()
    _ok("printer", "set", "receipts", "GONE", "--server", socket, "--no-check", home=home)
    failed = run_cli("print", "receipt", payment["receipt_number"], "--json", home=home)
    assert failed.returncode == 1 and json.loads(failed.stdout)["state"] == "failed"
    job_id = json.loads(failed.stdout)["id"]
    _refused("print", "retry", jobs[0]["id"], home=home, message="only a failed job is retried")
    _ok("printer", "set", "receipts", pdf_queue.name, "--server", socket, home=home)
    pdf_queue.accept()
    assert _ok("print", "retry", job_id, home=home)["queue"] == pdf_queue.name
    assert len(pdf_queue.wait_printed(2)) == 2


def test_refusals(counter, pdf_queue, tmp_path):
    terminal, desk, payment = counter
    home, socket = terminal.home, pdf_queue.server.socket
    _refused("print", "receipt", payment["receipt_number"], home=home, message="beffroi printer set receipts")
    _refused("printer", "set", "receipts", "NOPE", "--server", socket, home=home, message="CUPS has no queue NOPE")
    _refused("printer", "set", "receipts", "X", "--server", str(tmp_path / "none.sock"), home=home,
             message="no CUPS answers")
    _refused("printer", "set", "receipts", "bad name", home=home, message="not a CUPS queue name")
    _refused("printer", "set", "receipts", "X", "--server", "bad host!", home=home, message="not a CUPS server")
    _ok("printer", "set", "receipts", pdf_queue.name, "--server", socket, home=home)
    _refused("print", "receipt", "MAIRIE-01-999999", home=home, message="no receipt MAIRIE-01-999999")
    _refused("print", "ticket", "Z999", home=home, message="no ticket Z999")
    _refused("print", "retry", "01NOPE", home=home, message="no print job")
    result = run_cli("printer", "set", "labels", "X", home=home)
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_the_incident_register_goes_to_the_register_printer(counter, pdf_queue):
    """`register print --to-printer`: the numbered register on paper, through
    CUPS, as well as in its file."""
    terminal, desk, _ = counter
    home = terminal.home
    from hub.roles import Principal
    terminal.session(Principal.system()).modes.change("isolated", "réseau coupé")
    helene = desk.citizens.search("helene dupont")[0]
    case = desk.cases.open("facture-municipale", helene["id"], {
        "bill_kind": "cantine", "bill_reference": "FAC-2026-00077", "amount_cents": "1200"})
    desk.payments.take(case["id"], 1200, "card")
    refused = run_cli("register", "print", "--to-printer", home=home)
    assert refused.returncode == 2 and "register" in refused.stderr      # no register printer set yet
    _ok("printer", "set", "register", pdf_queue.name, "--server", pdf_queue.server.socket, home=home)
    printed = _ok("register", "print", "--to-printer", "--out", str(home / "register.pdf"), home=home)
    assert printed["acts"] == 2 and printed["print_job"]["queue"] == pdf_queue.name
    [paper] = pdf_queue.wait_printed()
    text = pdf_queue.text(paper)
    assert case["tracking_code"][:4] in text and printed["head"][:16] in text.replace("\n", "")
