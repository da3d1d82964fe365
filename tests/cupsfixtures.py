"""A private cupsd for the printing tests (one per test process, on a Unix
socket in its own folder) and, per test, a cups-pdf queue of its own whose
"paper" is a folder the test reads back. Import the fixtures (``*_fixture``) where needed."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from pypdf import PdfReader

from printing.cupsd import PrivateCups, available
from tests.waiting import wait_until

_names = itertools.count(1)

# A printer that runs out of paper, as far as CUPS can tell: while the flag
# file <queue>.empty exists its backend reports media-empty-error and asks
# CUPS to stop the queue (status 4), as a real printer's backend does; with
# paper it prints through cups-pdf.
PAPEROUT = """#!/bin/sh
if [ $# -eq 0 ]; then echo 'direct paperout "Unknown" "Printer that runs out of paper (tests)"'; exit 0; fi
queue=${DEVICE_URI#paperout:/}
if [ -e "@FOLDER@/$queue.empty" ]; then
    echo "STATE: +media-empty-error" >&2
    echo "ERROR: Out of paper" >&2
    exit 4
fi
echo "STATE: -media-empty-error" >&2
DEVICE_URI="cups-pdf:/$queue" exec /usr/lib/cups/backend/cups-pdf "$@"
"""


@pytest.fixture(scope="session", name="cups_server")
def cups_server_fixture():
    why = available()
    if why:
        pytest.skip(f"no private CUPS: {why}")
    # cupsd's filters run as lp: the folder must be reachable by lp (pytest's tmp dirs are 0700).
    folder = Path(tempfile.mkdtemp(prefix="beffroi-cups-test-"))
    folder.chmod(0o755)
    server = PrivateCups(folder / "cups", backends={"paperout": PAPEROUT}).start()
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


class PdfQueue:
    """A CUPS queue whose printed pages land in ``out`` as PDF files."""

    def __init__(self, server: PrivateCups, name: str, out: Path) -> None:
        self.server, self.name, self.out = server, name, out

    def printed(self) -> list[Path]:
        return sorted(self.out.glob("*.pdf"))

    def wait_printed(self, count: int = 1) -> list[Path]:
        files = wait_until(lambda: len(self.printed()) >= count and self.printed(), what=f"{count} printed PDF(s)")
        # cups-pdf writes the file, then CUPS marks the job done: read it whole.
        return wait_until(lambda: all(_readable(f) for f in files) and files, what="complete PDFs")

    def text(self, path: Path) -> str:
        return "\n".join(page.extract_text() for page in PdfReader(path).pages)

    def disable(self) -> None:
        self.server.run("cupsdisable", self.name)

    def enable(self) -> None:
        self.server.run("cupsenable", self.name)

    def out_of_paper(self) -> None:
        (self.server.folder / f"{self.name}.empty").touch()

    def paper_loaded(self) -> None:
        (self.server.folder / f"{self.name}.empty").unlink(missing_ok=True)
        self.enable()

    def reject(self) -> None:
        self.server.run("cupsreject", self.name)

    def accept(self) -> None:
        self.server.run("cupsaccept", self.name)


def _readable(path: Path) -> bool:
    try:
        PdfReader(path).pages[0]
        return True
    except Exception:
        return False


@pytest.fixture(name="pdf_queue")
def pdf_queue_fixture(cups_server: PrivateCups):
    """A printer (with paper): it can be stopped, made to reject jobs or run out of paper."""
    name = f"T{os.getpid()}-{next(_names)}"
    out = Path(tempfile.mkdtemp(prefix=f"beffroi-printed-{name}-"))
    cups_server.add_pdf_queue(name, out, backend="paperout")
    yield PdfQueue(cups_server, name, out)
    cups_server.lpadmin("-x", name)
    cups_server.queues.remove(name)
    (Path("/etc/cups") / f"cups-pdf-{name}.conf").unlink(missing_ok=True)
    shutil.rmtree(out, ignore_errors=True)


@pytest.fixture(name="second_queue")
def second_queue_fixture(cups_server: PrivateCups):
    name = f"T{os.getpid()}-{next(_names)}"
    out = Path(tempfile.mkdtemp(prefix=f"beffroi-printed-{name}-"))
    cups_server.add_pdf_queue(name, out)
    yield PdfQueue(cups_server, name, out)
    cups_server.lpadmin("-x", name)
    cups_server.queues.remove(name)
    (Path("/etc/cups") / f"cups-pdf-{name}.conf").unlink(missing_ok=True)
    shutil.rmtree(out, ignore_errors=True)
