"""Reader slots of the vpcd driver, shared by everything on this machine that
runs virtual cards (tests, benchmarks, ``beffroi card serve``): one pcscd
serves the whole machine, so a slot is owned through a lock file, and pcscd is
started when nobody runs it yet.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import CardError, PcscUnavailable
from .reader import Pcsc
from .virtual import VPCD_PORTS

LOCKS = Path(tempfile.gettempdir())


def vpcd_readers(pcsc: Pcsc) -> list[str]:
    return sorted(r for r in pcsc.readers() if r.startswith("Virtual PCD"))


def ensure_pcscd(timeout: float = 15.0) -> None:
    """Make sure pcscd answers and offers the vpcd readers; start it (as a daemon
    that outlives the caller, since others share it) if it is not running."""
    with open(LOCKS / "beffroi-pcscd.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if _ready():
            return
        pcscd = shutil.which("pcscd") or "/usr/sbin/pcscd"
        if not os.path.exists(pcscd):
            raise PcscUnavailable("pcscd is not installed: run `bash scripts/bootstrap` as root")
        if _running() and os.geteuid() == 0:
            # A pcscd started before the vpcd driver was installed (apt starts it
            # as soon as its own package is in) never offers the vpcd readers:
            # it reads its reader configuration only when it starts.
            _stop_pcscd(timeout)
        subprocess.run([pcscd], check=False, timeout=10, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _ready():
                return
            time.sleep(0.05)
        raise PcscUnavailable("pcscd did not come up with the vpcd readers")


def _running() -> bool:
    return subprocess.run(["pgrep", "-x", "pcscd"], stdout=subprocess.DEVNULL, check=False).returncode == 0


def _stop_pcscd(timeout: float) -> None:
    subprocess.run(["pkill", "-x", "pcscd"], check=False)
    deadline = time.monotonic() + timeout
    while _running() and time.monotonic() < deadline:
        time.sleep(0.05)


def _ready() -> bool:
    try:
        with Pcsc() as pcsc:
            return len(vpcd_readers(pcsc)) >= len(VPCD_PORTS)
    except CardError:
        return False


@dataclass
class Slot:
    index: int
    port: int
    reader: str
    _lock: object = None

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file drops the flock
            self._lock = None


def claim(timeout: float = 180.0, index: int | None = None) -> Slot:
    """Own a free vpcd reader slot (or slot ``index``), waiting for it, empty of any card."""
    deadline = time.monotonic() + timeout
    wanted = list(enumerate(VPCD_PORTS)) if index is None else [(index, VPCD_PORTS[index])]
    while True:
        for index, port in wanted:
            handle = open(LOCKS / f"beffroi-vpcd-slot-{index}.lock", "w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            with Pcsc() as pcsc:
                reader = vpcd_readers(pcsc)[index]
                # The previous owner's card may not be seen gone yet (400 ms polling).
                pcsc.wait(reader, present=False, timeout=5)
            return Slot(index, port, reader, handle)
        if time.monotonic() > deadline:
            raise CardError("every virtual reader slot stayed busy", "tous les lecteurs virtuels sont restés occupés",
                            "slots_busy")
        time.sleep(0.05)
