"""The commands a person runs: the simulators as a real `beffroi backoffice
serve` process, connectors pointed at them, and `beffroi recovery` after an
incident (report JSON and PDF read back, the terminal back online)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from pypdf import PdfReader

from continuity import transitions
from hub.roles import Principal
from hub.terminal import Terminal
from tests.cupsfixtures import cups_server_fixture, pdf_queue_fixture  # noqa: F401

from ..conftest import run_cli
from .conftest import make_reports

BEFFROI = str(Path(sys.executable).with_name("beffroi"))


def test_recovery_drains_to_the_served_back_offices_and_reports(tmp_path: Path, pdf_queue) -> None:
    home = tmp_path / "t"
    with Terminal.init(home, "MAIRIE-07") as t:
        ops = t.session(Principal.ops("ops"))
        transitions.move(ops, "isolated", "exercice", order={"id": "local-1", "kind": "local"}, local=True)
        make_reports(t, 3)
    early = run_cli("recovery", "--home", str(home))
    assert early.returncode == 2 and "this terminal is isolated" in early.stderr

    proc = subprocess.Popen([BEFFROI, "backoffice", "serve", "--dir", str(tmp_path / "bo"), "--port", "0",
                             "--error-rate", "0.2", "--seed", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(5)]
        assert lines[-1].startswith("URLs written to"), lines
        urls = json.loads((tmp_path / "bo" / "backoffice.json").read_text())
        assert sorted(urls) == ["etat-civil", "travaux", "tresor", "urbanisme"]
        for name, url in urls.items():
            assert run_cli("outbox", "connect", name, url, "--home", str(home)).returncode == 0
        with Terminal.open(home) as t:
            transitions.move(t.session(Principal.ops("ops")), "recovery", "incident over")
        assert run_cli("printer", "set", "register", pdf_queue.name, "--server", pdf_queue.server.socket,
                       "--home", str(home)).returncode == 0
        done = run_cli("recovery", "--home", str(home), "--out", str(tmp_path / "report"), "--timeout", "3",
                       "--to-printer", "--json")
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    assert report["mode"] == "online" and report["outbox"]["delivered"] == 3 and report["outbox"]["pending"] == 0
    assert report["offline_cases_by_service"] == {"signalement": 3}
    assert report["register"]["count"] == 3          # each report took an incident-register number
    stored = json.loads((tmp_path / "report" / "recovery-report.json").read_text())
    assert stored[0]["state_hash"] == report["state_hash"]
    text = PdfReader(tmp_path / "report" / "recovery-report.pdf").pages[0].extract_text()
    assert "MAIRIE-07" in text and "online" in text
    assert report["print_job"]["queue"] == pdf_queue.name         # and on paper, through CUPS
    [paper] = pdf_queue.wait_printed()
    assert "MAIRIE-07" in pdf_queue.text(paper)
    listed = json.loads(run_cli("outbox", "--home", str(home), "--json").stdout)
    assert listed["counts"]["sent"] == 3
    assert all(i["reference"].startswith("TRV-") for i in listed["items"])


def test_backoffice_serve_refuses_bad_options(tmp_path: Path) -> None:
    for args, needle in [(("--error-rate", "2"), "between 0 and 1"), (("--port", "70000"), "--port"),
                         (("--slow", "-1"), "--slow")]:
        refused = run_cli("backoffice", "serve", "--dir", str(tmp_path / "bo"), *args)
        assert refused.returncode == 2 and refused.stderr.startswith("beffroi: error: ") and needle in refused.stderr
    assert not (tmp_path / "bo").exists()


def test_deliver_watch_sends_what_falls_due_until_stopped(tmp_path: Path) -> None:
    from tests.waiting import wait_until
    home = tmp_path / "t"
    with Terminal.init(home, "MAIRIE-08") as t:
        make_reports(t, 2)
    server = subprocess.Popen([BEFFROI, "backoffice", "serve", "--dir", str(tmp_path / "bo"), "--port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watcher = None
    try:
        lines = [server.stdout.readline() for _ in range(5)]
        assert lines[-1].startswith("URLs written to"), lines
        url = json.loads((tmp_path / "bo" / "backoffice.json").read_text())["travaux"]
        assert run_cli("outbox", "connect", "travaux", url, "--home", str(home)).returncode == 0
        watcher = subprocess.Popen([BEFFROI, "outbox", "deliver", "--watch", "--interval", "0.2", "--home", str(home),
                                    "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def sent() -> int:
            return json.loads(run_cli("outbox", "--home", str(home), "--json").stdout)["counts"]["sent"]
        wait_until(lambda: sent() == 2, what="the watcher to deliver the first two")
        with Terminal.open(home) as t:       # a new act while the watcher runs
            make_reports(t, 1, seed=5)
        wait_until(lambda: sent() == 3, what="the watcher to deliver the new one")
        watcher.send_signal(signal.SIGTERM)
        out, err = watcher.communicate(timeout=20)
        assert watcher.returncode == 0, err
        assert json.loads(out)["counts"]["sent"] == 3 and "sent 1" in err
    finally:
        for proc in (watcher, server):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(20)
