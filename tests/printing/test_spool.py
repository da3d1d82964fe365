"""The local print queue against a real cupsd and cups-pdf queues: what is
printed is read back from the PDF the printer wrote."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from hub.errors import Invalid
from printing import printers, submit
from printing.spool import Spool
from tests.waiting import wait_until
from tui import i18n
from tui.receipt import payer_of, render_receipt

from .qr import qr_matches


@pytest.fixture(autouse=True)
def french():
    i18n.set_lang("fr")


def receipt_pdf(desk, terminal, payment, copy=None) -> bytes:
    case = desk.cases.get(payment["case_id"])
    return render_receipt(terminal, payment, case, payer_of(desk, case), copy)


def until(spool: Spool, job_id: str, state: str) -> dict:
    def reached():
        spool.pump()
        job = spool.get(job_id)
        return job if job["state"] == state else None
    return wait_until(reached, what=f"job {job_id} {state}")


def test_a_receipt_prints_on_cups_and_reads_back(counter, pdf_queue):
    terminal, desk, payment = counter
    printers.set_printer(terminal.home, "receipts", pdf_queue.name, pdf_queue.server.socket)
    job = submit(terminal, "receipts", receipt_pdf(desk, terminal, payment), f"Reçu {payment['receipt_number']}",
                 kind="receipt", ref=payment["receipt_number"])
    assert job["state"] == "queued" and job["queue"] == pdf_queue.name
    spool = Spool(terminal.home)
    done = until(spool, job["id"], "done")
    assert done["cups_job"] and done["attempts"] == 1
    [paper] = pdf_queue.wait_printed()
    text = pdf_queue.text(paper)
    case = desk.cases.get(payment["case_id"])
    assert payment["receipt_number"] in text and "Ville d'Angers" in text and "Hélène Dupont" in text
    assert "quarante-cinq euros et cinquante centimes" in text
    assert "Régie de recettes" in text and "DUPLICATA" not in text
    assert f"QR : {case['tracking_code']}" in text
    assert qr_matches(paper, case["tracking_code"]), "the printed QR code carries the tracking code"


def test_a_reprint_is_a_numbered_duplicata_recorded_in_the_journal(counter, pdf_queue):
    terminal, desk, payment = counter
    printers.set_printer(terminal.home, "receipts", pdf_queue.name, pdf_queue.server.socket)
    spool = Spool(terminal.home)
    for expected in (1, 2):
        copy = desk.payments.duplicate(payment["id"])
        assert copy == {"payment_id": payment["id"], "receipt_number": payment["receipt_number"], "copy": expected}
        job = spool.submit("receipts", receipt_pdf(desk, terminal, payment, copy), "dup", kind="duplicate",
                           ref=payment["receipt_number"])
        until(spool, job["id"], "done")
    papers = pdf_queue.wait_printed(2)
    texts = sorted(pdf_queue.text(p) for p in papers)
    assert all("DUPLICATA" in t and payment["receipt_number"] in t for t in texts)
    assert any("Copie n° 1" in t for t in texts) and any("Copie n° 2" in t for t in texts)
    timeline = desk.cases.get(payment["case_id"])["timeline"]
    recorded = [e for e in timeline if e["type"] == "receipt.duplicated"]
    assert [(e["actor"], e["data"]["copy"]) for e in recorded] == [("agent:agent", 1), ("agent:agent", 2)]


def test_a_stopped_printer_keeps_the_job_then_prints_it_once(counter, pdf_queue):
    terminal, desk, payment = counter
    printers.set_printer(terminal.home, "receipts", pdf_queue.name, pdf_queue.server.socket)
    spool = Spool(terminal.home)
    pdf_queue.disable()
    job = spool.submit("receipts", receipt_pdf(desk, terminal, payment), "r", kind="receipt")
    waiting = wait_until(lambda: spool.pump() is not None and "paused" in spool.get(job["id"])["reason"]
                         and spool.get(job["id"]), what="the job waiting on the stopped printer")
    assert waiting["state"] == "printing" and waiting["cups_job"]
    assert spool.printer_states()["receipts"].trouble == ["paused"]
    # The desk goes on: another payment, another receipt queued behind it.
    second = desk.payments.take(payment["case_id"], 100, "card")
    other = spool.submit("receipts", receipt_pdf(desk, terminal, second), "r2", kind="receipt")
    spool.pump()
    assert pdf_queue.printed() == []
    pdf_queue.enable()
    until(spool, job["id"], "done")
    until(spool, other["id"], "done")
    papers = pdf_queue.wait_printed(2)
    spool.pump()
    assert len(pdf_queue.printed()) == 2 and len(papers) == 2, "each receipt printed once"
    assert spool.get(job["id"])["attempts"] == 1
    assert spool.printer_states()["receipts"].trouble == []


def test_a_queue_rejecting_jobs_keeps_them_here_until_it_accepts(counter, pdf_queue):
    terminal, desk, payment = counter
    printers.set_printer(terminal.home, "receipts", pdf_queue.name, pdf_queue.server.socket)
    spool = Spool(terminal.home)
    pdf_queue.reject()
    job = spool.submit("receipts", receipt_pdf(desk, terminal, payment), "r")
    spool.pump()
    held = spool.get(job["id"])
    assert held["state"] == "queued" and "rejecting jobs" in held["reason"] and held["cups_job"] is None
    assert "not-accepting-jobs" in spool.printer_states()["receipts"].trouble
    pdf_queue.accept()
    until(spool, job["id"], "done")
    assert len(pdf_queue.wait_printed()) == 1


def test_an_unknown_queue_fails_with_the_reason_and_is_retried(counter, pdf_queue):
    terminal, desk, payment = counter
    printers.set_printer(terminal.home, "receipts", "NO-SUCH-QUEUE", pdf_queue.server.socket)
    spool = Spool(terminal.home)
    job = spool.submit("receipts", receipt_pdf(desk, terminal, payment), "r")
    failed = until(spool, job["id"], "failed")
    assert "no queue NO-SUCH-QUEUE" in failed["reason"]
    with pytest.raises(Invalid):
        spool.retry(spool.submit("receipts", b"%PDF-1.4 x", "other")["id"])   # only a failed job is retried
    # The agent fixes the printer's name, then retries the same job.
    printers.set_printer(terminal.home, "receipts", pdf_queue.name, pdf_queue.server.socket)
    assert spool.retry(job["id"])["state"] == "queued"
    until(spool, job["id"], "done")
    assert payment["receipt_number"] in pdf_queue.text(pdf_queue.wait_printed()[0])


def test_cups_unreachable_keeps_the_job_queued(counter, tmp_path):
    terminal, desk, payment = counter
    printers.set_printer(terminal.home, "receipts", "RECUS", str(tmp_path / "no-cupsd.sock"))
    spool = Spool(terminal.home)
    job = spool.submit("receipts", receipt_pdf(desk, terminal, payment), "r")
    spool.pump()
    kept = spool.get(job["id"])
    assert kept["state"] == "queued" and kept["reason"].startswith("CUPS unreachable")
    assert spool.printer_states()["receipts"].trouble == ["cups-unreachable"]
    assert spool.pdf_path(job["id"]).read_bytes().startswith(b"%PDF-")


def test_refusals_say_what_to_do_and_store_nothing(counter):
    terminal, desk, payment = counter
    spool = Spool(terminal.home)
    with pytest.raises(Invalid, match="beffroi printer set receipts") as refused:
        spool.submit("receipts", b"%PDF-1.4", "r")
    assert "aucune imprimante" in refused.value.fr
    printers.set_printer(terminal.home, "receipts", "RECUS")
    for bad in (b"not a pdf", "text", b"%PDF-" + b"x" * (32 * 1024 * 1024)):
        with pytest.raises(Invalid):
            spool.submit("receipts", bad, "r")
    with pytest.raises(Invalid):
        spool.submit("labels", b"%PDF-1.4", "r")
    for queue in ("", "bad name", "a/b", "x" * 200):
        with pytest.raises(Invalid):
            printers.set_printer(terminal.home, "receipts", queue)
    assert spool.jobs() == [] and not list((terminal.home / "print").glob("*"))
    assert printers.read(terminal.home) == {"receipts": {"queue": "RECUS", "server": None}}


CHILD = textwrap.dedent("""
    import os, sys
    from printing.spool import Spool
    from printing import cups as cupsio
    spool = Spool(sys.argv[1])
    job = spool.submit("receipts", open(sys.argv[2], "rb").read(), "crash", kind="receipt")
    if sys.argv[3] == "handed":
        # Claimed and handed to CUPS, killed before CUPS's job id is written down.
        spool._set(job["id"], "queued", state="printing", claimed_by=f"{os.uname().nodename}:{os.getpid()}")
        cupsio.print_file(*[spool.get(job["id"])[k] for k in ("server", "queue")], spool.pdf_path(job["id"]), "crash")
    elif sys.argv[3] == "claimed":
        spool._set(job["id"], "queued", state="printing", claimed_by=f"{os.uname().nodename}:{os.getpid()}")
    else:
        spool.pump()
    print(job["id"], flush=True)
    os.kill(os.getpid(), 9)
""")


@pytest.mark.parametrize("moment", ["pumped", "handed", "claimed"])
def test_a_job_survives_the_app_being_killed_and_prints_once(counter, pdf_queue, tmp_path, moment):
    terminal, desk, payment = counter
    printers.set_printer(terminal.home, "receipts", pdf_queue.name, pdf_queue.server.socket)
    pdf = tmp_path / "receipt.pdf"
    pdf.write_bytes(receipt_pdf(desk, terminal, payment))
    pdf_queue.disable()   # whatever CUPS got waits, so the kill lands mid-job
    child = subprocess.run([sys.executable, "-c", CHILD, str(terminal.home), str(pdf), moment],
                           capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert child.returncode == -signal.SIGKILL, child.stderr
    job_id = child.stdout.strip()
    spool = Spool(terminal.home)   # the restarted app
    assert spool.get(job_id)["state"] in ("queued", "printing")
    pdf_queue.enable()
    until(spool, job_id, "done")
    assert len(pdf_queue.wait_printed()) == 1
    spool.pump()
    assert len(pdf_queue.printed()) == 1, "printed once, not twice"


def test_out_of_paper_as_cups_reports_it_then_printed_once(counter, pdf_queue):
    terminal, desk, payment = counter
    printers.set_printer(terminal.home, "receipts", pdf_queue.name, pdf_queue.server.socket)
    spool = Spool(terminal.home)
    pdf_queue.out_of_paper()
    job = spool.submit("receipts", receipt_pdf(desk, terminal, payment), "r", kind="receipt")

    def stuck():
        spool.pump()
        reason = spool.get(job["id"])["reason"]
        # Out of paper, and the queue stopped by CUPS once the backend gave up.
        return "media-empty-error" in reason and "paused" in reason and spool.get(job["id"])
    waiting = wait_until(stuck, what="CUPS reporting the printer out of paper")
    assert waiting["state"] == "printing" and waiting["cups_job"]
    assert "media-empty-error" in spool.printer_states()["receipts"].trouble
    assert pdf_queue.printed() == []
    pdf_queue.paper_loaded()
    until(spool, job["id"], "done")
    assert len(pdf_queue.wait_printed()) == 1
    spool.pump()
    assert len(pdf_queue.printed()) == 1
    assert "media-empty-error" not in spool.printer_states()["receipts"].trouble
