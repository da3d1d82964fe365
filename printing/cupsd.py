"""A private CUPS daemon with PDF "printers", for the demo, the tests and the
benchmark: its own configuration, spool and log under one folder, listening
on a Unix socket there (never on the network), and queues that write the PDF
they are sent into a folder (Debian's cups-pdf backend), so what was printed
can be read back.

cups-pdf reads its settings from ``/etc/cups/cups-pdf-<QUEUE>.conf`` (the
path is compiled into it): :meth:`PrivateCups.add_pdf_queue` writes one per
queue, and :meth:`PrivateCups.stop` removes them. It runs as root (CUPS runs a
backend whose file is 0700 as root), which is also what installing Debian's
packages takes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from . import cups as cupsio

PPD = Path("/usr/share/ppd/cups-pdf/CUPS-PDF_noopt.ppd")
CUPS_PDF_CONF = Path("/etc/cups")


def available() -> str | None:
    """Why a private CUPS cannot run here, or None when it can."""
    if shutil.which("cupsd") is None or shutil.which("lpadmin") is None:
        return "cupsd/lpadmin not installed (Debian packages cups, cups-client)"
    if not PPD.exists() or not Path("/usr/lib/cups/backend/cups-pdf").exists():
        return "the cups-pdf driver is not installed (Debian package printer-driver-cups-pdf)"
    if os.geteuid() != 0:
        return "the cups-pdf backend needs root"
    return None


SERVER_BIN = Path("/usr/lib/cups")


class PrivateCups:
    """``backends`` adds backends of one's own (name → script), beside the
    system's: a test's printer that runs out of paper is one, reporting it to
    CUPS the way a real printer's backend does."""

    def __init__(self, folder: Path | str, backends: dict[str, str] | None = None) -> None:
        self.folder = Path(folder)
        self.socket = str(self.folder / "cups.sock")
        self.process: subprocess.Popen | None = None
        self.queues: list[str] = []
        self.backends = backends or {}

    def _server_bin(self) -> Path:
        """The system's CUPS programs, plus our backends (CUPS runs only what is in ServerBin)."""
        if not self.backends:
            return SERVER_BIN
        bin_ = self.folder / "bin"
        (bin_ / "backend").mkdir(parents=True, exist_ok=True)
        for sub in SERVER_BIN.iterdir():
            if sub.name != "backend" and not (bin_ / sub.name).exists():
                (bin_ / sub.name).symlink_to(sub)
        for backend in (SERVER_BIN / "backend").iterdir():
            if not (bin_ / "backend" / backend.name).exists():
                (bin_ / "backend" / backend.name).symlink_to(backend)
        for name, script in self.backends.items():
            path = bin_ / "backend" / name
            path.write_text(script.replace("@FOLDER@", str(self.folder)))
            path.chmod(0o700)   # CUPS runs a 0700 backend as root, as it does cups-pdf
        return bin_

    def start(self, within: float = 20.0) -> PrivateCups:
        why = available()
        if why:
            raise RuntimeError(why)
        f = self.folder
        for sub in ("spool", "cache", "state", "log", "ppd"):
            (f / sub).mkdir(parents=True, exist_ok=True)
        f.chmod(0o755)   # filters run as lp and read the spool through here
        (f / "cupsd.conf").write_text(
            f"Listen {self.socket}\nLogLevel info\nWebInterface No\nBrowsing No\nMaxJobs 0\n"
            "PreserveJobHistory Yes\n<Location />\n  Order allow,deny\n  Allow all\n</Location>\n")
        (f / "cups-files.conf").write_text("\n".join([
            f"ServerRoot {f}", f"RequestRoot {f}/spool", f"CacheDir {f}/cache", f"StateDir {f}/state",
            f"TempDir {f}/spool", f"AccessLog {f}/log/access_log", f"ErrorLog {f}/log/error_log",
            f"PageLog {f}/log/page_log", f"Printcap {f}/printcap", f"ServerBin {self._server_bin()}",
            "FileDevice Yes", "User lp", "Group lp",
            "SystemGroup root", ""]))
        self.process = subprocess.Popen(["cupsd", "-f", "-c", str(f / "cupsd.conf"), "-s", str(f / "cups-files.conf")],
                                        stdout=subprocess.DEVNULL, stderr=(f / "log" / "stderr").open("ab"),
                                        start_new_session=True)
        deadline = time.monotonic() + within
        while True:   # ready once it answers on its socket
            try:
                cupsio.printers(self.socket)
                return self
            except cupsio.Unreachable:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"private cupsd did not start; see {f}/log") from None
                time.sleep(0.05)

    def lpadmin(self, *args: str) -> None:
        subprocess.run(["lpadmin", "-h", self.socket, *args], check=True, capture_output=True, text=True)

    def add_pdf_queue(self, queue: str, out: Path | str, backend: str = "cups-pdf") -> Path:
        """A queue whose printer writes each job as a PDF into ``out`` (through
        ``backend``, one of ours that hands over to cups-pdf, or cups-pdf itself)."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (CUPS_PDF_CONF / f"cups-pdf-{queue}.conf").write_text(
            f"Out {out}\nAnonDirName {out}\nLabel 2\nTitlePref 1\nGrp root\n")
        self.lpadmin("-p", queue, "-E", "-v", f"{backend}:/{queue}", "-P", str(PPD),
                     "-D", f"PDF printer ({out})", "-o", "printer-error-policy=stop-printer")
        self.queues.append(queue)
        return out

    def run(self, *command: str) -> subprocess.CompletedProcess:
        """A CUPS client command (cupsdisable, cupsenable, cupsreject…) against this daemon."""
        return subprocess.run([command[0], "-h", self.socket, *command[1:]], check=True, capture_output=True, text=True)

    def stop(self) -> None:
        for queue in self.queues:
            (CUPS_PDF_CONF / f"cups-pdf-{queue}.conf").unlink(missing_ok=True)
        self.queues.clear()
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
