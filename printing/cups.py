"""The CUPS side, through pycups (libcups): hand a PDF to a queue, follow the
job, read a printer's state. Each call opens its own connection, so the
spool's pump can run on any thread; an unreachable server is
:class:`Unreachable`, a refusal by CUPS is :class:`Refused` with CUPS's words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cups

# IPP job-state values (RFC 8011 5.3.7).
PENDING, HELD, PROCESSING, STOPPED, CANCELED, ABORTED, COMPLETED = 3, 4, 5, 6, 7, 8, 9
# IPP printer-state values.
IDLE, BUSY, HALTED = 3, 4, 5

PRINTER_ATTRIBUTES = ["printer-state", "printer-state-reasons", "printer-state-message",
                      "printer-is-accepting-jobs", "printer-info", "printer-location", "device-uri"]
JOB_ATTRIBUTES = ["job-state", "job-state-reasons", "job-printer-state-message", "job-printer-state-reasons"]


class Unreachable(Exception):
    """No CUPS answered at that address: the job waits and is tried again."""


class Refused(Exception):
    """CUPS answered no (no such queue, queue rejecting jobs…): the job fails with this reason."""


@dataclass(frozen=True)
class PrinterState:
    queue: str
    state: int = IDLE
    accepting: bool = True
    reasons: tuple[str, ...] = ()
    message: str = ""
    info: str = ""
    device: str = ""
    reachable: bool = True
    exists: bool = True
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def trouble(self) -> list[str]:
        """What keeps paper from coming out, in CUPS's own reason keywords."""
        if not self.reachable:
            return ["cups-unreachable"]
        if not self.exists:
            return ["queue-missing"]
        found = [r for r in self.reasons if r != "none" and (r.endswith(("-error", "-warning")) or r in (
            "paused", "offline-report", "connecting-to-device", "media-empty", "media-needed", "stopped"))]
        if self.state == HALTED and "paused" not in found:
            found.append("paused")
        if not self.accepting:
            found.append("not-accepting-jobs")
        return found


def _connect(server: str | None) -> cups.Connection:
    try:
        return cups.Connection(host=server) if server else cups.Connection()
    except RuntimeError as error:
        raise Unreachable(f"{server or cups.getServer()}: {error}") from None


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except cups.IPPError as error:
        status, text = error.args if len(error.args) == 2 else (0, str(error))
        # libcups reports a dropped connection as an IPP error with HTTP status codes.
        if status in (cups.IPP_SERVICE_UNAVAILABLE, ) or "connect" in str(text).lower():
            raise Unreachable(str(text)) from None
        raise Refused(str(text) or f"IPP status {status:#x}") from None
    except RuntimeError as error:
        raise Unreachable(str(error)) from None


class Link:
    """One pump pass's conversation with one CUPS server: a single connection,
    each queue's state asked once, the unfinished jobs listed in one request."""

    def __init__(self, server: str | None) -> None:
        self.server = server
        self._connection: cups.Connection | None = None
        self._printers: dict[str, PrinterState] = {}
        self._unfinished: dict[int, int] | None = None

    def connection(self) -> cups.Connection:
        if self._connection is None:
            self._connection = _connect(self.server)
        return self._connection

    def printer(self, queue: str) -> PrinterState:
        if queue not in self._printers:
            try:
                attrs = _call(self.connection().getPrinterAttributes, queue, requested_attributes=PRINTER_ATTRIBUTES)
                self._printers[queue] = _state(queue, attrs)
            except Refused:
                self._printers[queue] = PrinterState(queue, exists=False)
            except Unreachable:
                self._printers[queue] = PrinterState(queue, reachable=False)
        return self._printers[queue]

    def print_file(self, queue: str, path: Path, title: str) -> int:
        self._unfinished = None
        return _call(self.connection().printFile, queue, str(path), title, {"document-format": "application/pdf"})

    def job_state(self, job_id: int) -> tuple[int, str]:
        """As :func:`job_state`; a job still among the unfinished ones costs no request."""
        if self._unfinished is None:
            jobs = _call(self.connection().getJobs, which_jobs="not-completed", requested_attributes=["job-id", "job-state"])
            self._unfinished = {j: int(a.get("job-state", PENDING)) for j, a in jobs.items()}
        if job_id in self._unfinished:
            return self._unfinished[job_id], ""
        return _job_state(self.connection(), job_id)

    def find_job(self, document_name: str) -> tuple[int, int] | None:
        return _find_job(self.connection(), document_name)


def print_file(server: str | None, queue: str, path: Path, title: str) -> int:
    """Hand one PDF to ``queue``; CUPS's job id. The document name CUPS keeps
    is the file's name (the spool's job id), so a job handed over just before a
    crash is found again instead of printed twice."""
    connection = _connect(server)
    return _call(connection.printFile, queue, str(path), title, {"document-format": "application/pdf"})


def job_state(server: str | None, job_id: int) -> tuple[int, str]:
    """(IPP job-state, reason in CUPS's words)."""
    return _job_state(_connect(server), job_id)


def _job_state(connection: cups.Connection, job_id: int) -> tuple[int, str]:
    attrs = _call(connection.getJobAttributes, job_id, requested_attributes=JOB_ATTRIBUTES)
    reasons = attrs.get("job-state-reasons", "")
    reasons = ", ".join(reasons) if isinstance(reasons, list) else str(reasons)
    message = attrs.get("job-printer-state-message") or ""
    return int(attrs.get("job-state", PENDING)), "; ".join(x for x in (message, reasons) if x and x != "none")


def find_job(server: str | None, document_name: str) -> tuple[int, int] | None:
    """(CUPS job id, state) of the job whose document is ``document_name``, if CUPS has one."""
    return _find_job(_connect(server), document_name)


def _find_job(connection: cups.Connection, document_name: str) -> tuple[int, int] | None:
    jobs = _call(connection.getJobs, which_jobs="all",
                 requested_attributes=["job-id", "job-state", "document-name-supplied"])
    for job_id, attrs in sorted(jobs.items(), reverse=True):
        if attrs.get("document-name-supplied") == document_name:
            return job_id, int(attrs.get("job-state", PENDING))
    return None


def cancel(server: str | None, job_id: int) -> None:
    _call(_connect(server).cancelJob, job_id)


def _state(queue: str, attrs: dict) -> PrinterState:
    reasons = attrs.get("printer-state-reasons", [])
    reasons = tuple(reasons if isinstance(reasons, list) else [reasons])
    return PrinterState(queue, int(attrs.get("printer-state", IDLE)), bool(attrs.get("printer-is-accepting-jobs", True)),
                        reasons, attrs.get("printer-state-message") or "", attrs.get("printer-info") or "",
                        attrs.get("device-uri") or "")


def printer_state(server: str | None, queue: str) -> PrinterState:
    try:
        connection = _connect(server)
    except Unreachable:
        return PrinterState(queue, reachable=False)
    try:
        return _state(queue, _call(connection.getPrinterAttributes, queue, requested_attributes=PRINTER_ATTRIBUTES))
    except Refused:
        return PrinterState(queue, exists=False)
    except Unreachable:
        return PrinterState(queue, reachable=False)


def printers(server: str | None) -> list[PrinterState]:
    """Every queue of the server, with its state (Unreachable when none answers)."""
    found = _call(_connect(server).getPrinters)
    return [_state(name, attrs) for name, attrs in sorted(found.items())]
