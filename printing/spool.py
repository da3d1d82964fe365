"""The terminal's local print queue: ``<home>/print.db`` and ``<home>/print/``.

A job is written here first (its PDF fsynced, its row committed) and handed
to CUPS later by a pump, so a printer that is off, out of paper or unplugged
never holds up the desk: the payment is already in the journal, the receipt
file already written, and the job waits. States:

- ``queued``: on this terminal, not yet accepted by CUPS (``reason`` says why
  it waits: CUPS unreachable, queue rejecting jobs);
- ``printing``: CUPS has it (``cups_job``); ``reason`` carries what CUPS says
  when it is stuck (printer stopped, out of paper);
- ``done``: CUPS completed it;
- ``failed``: CUPS aborted or cancelled it, or refused it (``reason``: CUPS's
  words). An agent retries it (the same job again) or reprints.

Jobs survive a restart: a job caught between "handed to CUPS" and "CUPS's job
id recorded" (the process died in between) is looked up in CUPS by its
document name before it is ever sent again, so it prints once.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import sqlite3
import threading
from pathlib import Path
from typing import Any

from hub import ids
from hub.clock import Clock, Entropy, SystemClock, SystemEntropy
from hub.errors import Invalid, NotFound
from hub.terminal import write_private

from . import cups as cupsio
from . import printers

STATES = ("queued", "printing", "done", "failed")
MAX_PDF = 32 * 1024 * 1024

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,            -- ULID: also the PDF's file name, which CUPS keeps
    created REAL NOT NULL,
    updated REAL NOT NULL,
    role TEXT NOT NULL,             -- receipts, tickets, register
    kind TEXT NOT NULL,             -- receipt, duplicate, ticket, register, document
    ref TEXT,                       -- receipt number, ticket label…
    title TEXT NOT NULL,
    queue TEXT NOT NULL,
    server TEXT,
    state TEXT NOT NULL CHECK (state IN ('queued', 'printing', 'done', 'failed')),
    reason TEXT NOT NULL DEFAULT '',
    cups_job INTEGER,
    claimed_by TEXT,                -- host:pid handing it to CUPS right now
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_open ON jobs (state) WHERE state IN ('queued', 'printing');
CREATE INDEX IF NOT EXISTS jobs_ref ON jobs (kind, ref);
"""


def _me() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(claim: str | None) -> bool:
    host, _, pid = (claim or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Spool:
    """The print queue of one home. Every method opens its own connection, so
    the UI thread submits while a worker thread pumps."""

    def __init__(self, home: Path | str, clock: Clock | None = None, entropy: Entropy | None = None) -> None:
        self.home = Path(home)
        self.clock = clock or SystemClock()
        self.entropy = entropy or SystemEntropy()
        self._links: dict[str | None, cupsio.Link] = {}
        self._local = threading.local()
        self._changes = 0
        self.folder = self.home / "print"
        db = self._db()
        db.executescript(SCHEMA)

    def _db(self) -> sqlite3.Connection:
        """This thread's connection (the UI thread submits while a worker pumps);
        autocommit: each statement is its own durable transaction."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.home / "print.db", timeout=10, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")   # a job the desk was told about survives a power cut
            self._local.db = db
        return db

    def pdf_path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.pdf"

    # --- what the desk calls ------------------------------------------------

    def submit(self, role: str, pdf: bytes, title: str, kind: str = "document", ref: str | None = None,
               printer: str | None = None) -> dict[str, Any]:
        """Record a job for ``role``'s printer (or the queue ``printer`` on the
        role's server) and return it, ``queued``. Never talks to CUPS."""
        printers.check_role(role)
        if not isinstance(pdf, bytes | bytearray) or not bytes(pdf[:5]) == b"%PDF-" or len(pdf) > MAX_PDF:
            raise Invalid("only a PDF document (at most 32 MiB) can be printed",
                          "seul un document PDF (32 Mio au plus) peut être imprimé")
        if printer is not None:
            target = {"queue": printers.check_queue(printer),
                      "server": (printers.printer_for(self.home, role) or {}).get("server")}
        else:
            target = printers.require(self.home, role)
        job_id = ids.ulid(int(self.clock.time() * 1000), self.entropy.bytes)
        self.folder.mkdir(exist_ok=True)
        write_private(self.pdf_path(job_id), bytes(pdf))
        now = self.clock.time()
        db = self._db()
        db.execute("INSERT INTO jobs (id, created, updated, role, kind, ref, title, queue, server, state)"
                   " VALUES (?,?,?,?,?,?,?,?,?,'queued')",
                   (job_id, now, now, role, kind, ref, title[:200], target["queue"], target.get("server")))
        return self.get(job_id)

    def get(self, job_id: str) -> dict[str, Any]:
        db = self._db()
        row = db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        if row is None:
            raise NotFound(f"no print job {job_id}; see `beffroi print jobs`",
                           f"aucun travail d'impression {job_id} ; voir `beffroi print jobs`")
        return dict(row)

    def jobs(self, limit: int = 50, kind: str | None = None, ref: str | None = None) -> list[dict[str, Any]]:
        """The newest jobs first."""
        where, args = [], []
        if kind:
            where.append("kind=?")
            args.append(kind)
        if ref:
            where.append("ref=?")
            args.append(ref)
        sql = "SELECT * FROM jobs" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC LIMIT ?"
        db = self._db()
        return [dict(r) for r in db.execute(sql, (*args, limit))]

    def retry(self, job_id: str) -> dict[str, Any]:
        """Send a failed job again (the same document), to the role's printer."""
        job = self.get(job_id)
        if job["state"] != "failed":
            raise Invalid(f"job {job_id} is {job['state']}: only a failed job is retried",
                          f"le travail {job_id} est « {job['state']} » : seul un travail en échec est relancé")
        # To the role's printer as it is set now: the usual fix is setting the right one.
        target = printers.printer_for(self.home, job["role"]) or {"queue": job["queue"], "server": job["server"]}
        db = self._db()
        db.execute("UPDATE jobs SET state='queued', reason='', cups_job=NULL, claimed_by=NULL, updated=?,"
                   " queue=?, server=? WHERE id=? AND state='failed'",
                   (self.clock.time(), target["queue"], target.get("server"), job_id))
        return self.get(job_id)

    def counts(self) -> dict[str, int]:
        db = self._db()
        return dict(db.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall())

    # --- the pump -------------------------------------------------------------

    def _set(self, job_id: str, only_if: str | None = None, **values: Any) -> bool:
        values["updated"] = self.clock.time()
        assignments = ", ".join(f"{k}=?" for k in values)
        sql = f"UPDATE jobs SET {assignments} WHERE id=?" + (" AND state=?" if only_if else "")
        done = self._db().execute(sql, (*values.values(), job_id, *([only_if] if only_if else []))).rowcount == 1
        self._changes += done
        return done

    def pump(self) -> int:
        """One pass: hand queued jobs to CUPS, follow the ones CUPS has. Returns
        how many jobs changed. Blocking I/O: run it off the UI thread."""
        db = self._db()
        open_jobs = [dict(r) for r in db.execute(
            "SELECT * FROM jobs WHERE state IN ('queued', 'printing') ORDER BY state != 'queued', id")]  # new paper first
        self._changes = 0
        links: dict[str | None, cupsio.Link] = {}
        for job in open_jobs:
            link = links.setdefault(job["server"], cupsio.Link(job["server"]))
            try:
                if job["state"] == "queued":
                    self._hand_over(link, job)
                elif job["cups_job"] is None:
                    self._recover(link, job)
                else:
                    self._follow(link, job)
            except cupsio.Unreachable as error:
                if job["reason"] != f"CUPS unreachable: {error}":
                    self._set(job["id"], reason=f"CUPS unreachable: {error}")
        self._links = links   # printer_states() right after a pump asks nothing twice
        return self._changes

    def _hand_over(self, link: cupsio.Link, job: dict[str, Any]) -> None:
        state = link.printer(job["queue"])
        if not state.reachable:
            raise cupsio.Unreachable(job["server"] or "local CUPS")
        if not state.exists:
            self._set(job["id"], "queued", state="failed", reason=f"CUPS has no queue {job['queue']}")
            return
        if not state.accepting:
            reason = f"queue {job['queue']} is rejecting jobs: {state.message}".rstrip(": ")
            if reason != job["reason"]:
                self._set(job["id"], reason=reason)
            return
        # Claim it first (another process may pump the same home), then hand it over.
        if not self._set(job["id"], "queued", state="printing", claimed_by=_me(), reason="",
                         attempts=job["attempts"] + 1):
            return
        try:
            cups_job = link.print_file(job["queue"], self.pdf_path(job["id"]), job["title"])
        except cupsio.Refused as error:
            self._set(job["id"], state="failed", reason=str(error), claimed_by=None)
            return
        except cupsio.Unreachable as error:
            self._set(job["id"], state="queued", reason=f"CUPS unreachable: {error}", claimed_by=None)
            return
        self._set(job["id"], cups_job=cups_job, claimed_by=None)

    def _recover(self, link: cupsio.Link, job: dict[str, Any]) -> None:
        """A job claimed but with no CUPS id: someone is handing it over right
        now, or died doing so; then CUPS may or may not have it."""
        if _alive(job["claimed_by"]):
            return
        found = link.find_job(self.pdf_path(job["id"]).name)
        if found is None:
            self._set(job["id"], "printing", state="queued", claimed_by=None, reason="")
        else:
            self._set(job["id"], "printing", cups_job=found[0], claimed_by=None)

    def _follow(self, link: cupsio.Link, job: dict[str, Any]) -> None:
        try:
            state, reason = link.job_state(job["cups_job"])
        except cupsio.Refused as error:
            self._set(job["id"], "printing", state="failed", reason=f"CUPS lost job {job['cups_job']}: {error}")
            return
        if state == cupsio.COMPLETED:
            self._set(job["id"], "printing", state="done", reason="")
        elif state in (cupsio.CANCELED, cupsio.ABORTED):
            words = "cancelled" if state == cupsio.CANCELED else "aborted"
            self._set(job["id"], "printing", state="failed", reason=f"CUPS {words} the job" + (f": {reason}" if reason else ""))
        else:
            printer = link.printer(job["queue"])
            trouble = printer.trouble
            waiting = ", ".join(trouble) + (f" ({printer.message})" if printer.message else "") if trouble else ""
            reason = waiting or ("held by CUPS" if state == cupsio.HELD else "")
            if reason != job["reason"]:   # a stuck job costs no write per pass
                self._set(job["id"], reason=reason)

    # --- what the banner shows ------------------------------------------------

    def printer_states(self) -> dict[str, cupsio.PrinterState]:
        """The state of each role's printer (roles that have one)."""
        links, self._links = self._links, {}
        found: dict[str, cupsio.PrinterState] = {}
        for role, entry in printers.read(self.home).items():
            link = links.setdefault(entry.get("server"), cupsio.Link(entry.get("server")))
            found[role] = link.printer(entry["queue"])
        return found


def when(job: dict[str, Any]) -> str:
    return dt.datetime.fromtimestamp(job["created"], dt.UTC).isoformat(timespec="seconds")
