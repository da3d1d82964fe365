"""The supervisor's loop with real child processes standing in for the app
(each run appends a line to a file, then ends as told) and an injected clock:
which ends count as crashes, when it gives up, and that only the maintenance
status or the system ends it."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from tui.kiosk.appliance import MAINTENANCE_EXIT
from tui.kiosk.supervisor import Supervisor, kiosk_environment


def child(log: Path, statuses: list[int]) -> list[str]:
    """A command that logs its run and exits with the next status of the list."""
    script = (f"import pathlib, sys; p = pathlib.Path({str(log)!r}); "
              f"n = len(p.read_text().splitlines()) if p.exists() else 0; "
              f"p.open('a').write('run\\n'); sys.exit({statuses!r}[min(n, {len(statuses) - 1})])")
    return [sys.executable, "-c", script]


class Ticking:
    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def runs(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_crashes_spread_out_are_restarted_and_maintenance_ends_it(tmp_path):
    kiosk, oos = tmp_path / "kiosk.log", tmp_path / "oos.log"
    supervisor = Supervisor(child(kiosk, [1, -9 % 256, 0, 1, MAINTENANCE_EXIT]), child(oos, [0]),
                            max_crashes=2, window=60, clock=Ticking(100.0), tty=-1, spare_after=None)
    assert supervisor.run() == 0
    assert runs(kiosk) == 5 and runs(oos) == 0     # every end but the maintenance one restarted the app


def test_repeated_crashes_give_up_onto_out_of_service_until_the_system_stops_it(tmp_path):
    kiosk, oos = tmp_path / "kiosk.log", tmp_path / "oos.log"
    waits = []

    def sleep(seconds: float) -> None:          # the out-of-service screen itself failed three times
        waits.append(seconds)
        if len(waits) == 3:
            supervisor._stop(signal.SIGTERM, None)

    supervisor = Supervisor(child(kiosk, [1]), child(oos, [1]), max_crashes=3, window=60, clock=Ticking(1.0),
                            sleep=sleep, tty=-1, spare_after=None)
    assert supervisor.run() == 0
    assert runs(kiosk) == 3 and runs(oos) == 3 and waits == [5.0, 5.0, 5.0]


def test_a_hung_up_terminal_ends_the_supervisor_as_a_failure(tmp_path):
    """The terminal closing sends SIGHUP (here the app sends it to its supervisor)."""
    hang_up = [sys.executable, "-c", "import os, signal; os.kill(os.getppid(), signal.SIGHUP); raise SystemExit(1)"]
    supervisor = Supervisor(hang_up, child(tmp_path / "oos.log", [0]), max_crashes=100, clock=Ticking(1.0), tty=-1,
                            spare_after=None)
    assert supervisor.run() == 1 and len(supervisor.crashes) == 0 and runs(tmp_path / "oos.log") == 0


def test_textual_switches_never_reach_the_kiosk():
    env = kiosk_environment({"TEXTUAL_ALLOW_SIGNALS": "1", "TEXTUAL_PRESS": "ctrl+q", "TEXTUAL": "devtools",
                             "LANG": "C.UTF-8", "BEFFROI_HOME": "/home/kiosk/beffroi"})
    assert env == {"LANG": "C.UTF-8", "BEFFROI_HOME": "/home/kiosk/beffroi"}


# Each run of the app ends only once the supervisor has prepared the next
# spare: run n blocks reading the FIFO ``ready-<n+1>`` (the test makes them)
# until spare n+1 has opened and closed it — no polling, and no race with the
# supervisor's ``wait(timeout=spare_after)``. A spare learns its number from
# the ``spare-<k>`` folder it is first to make (mkdir is atomic).
SPARE_APP = """
import os, pathlib, sys
here = pathlib.Path(sys.argv[1])
statuses = [int(s) for s in sys.argv[2].split(",")]
if "--standby" in sys.argv:
    k = 1
    while True:
        try:
            (here / f"spare-{k}").mkdir()
            break
        except FileExistsError:
            k += 1
    with open(here / f"ready-{k}", "w"):
        pass
    go = os.read(int(sys.argv[sys.argv.index("--standby") + 1]), 1)
    if not go:
        (here / "spares-dropped").open("a").write("x")
        sys.exit(0)
    kind = "spare"
else:
    kind = "cold"
log = here / "runs.log"
n = len(log.read_text().splitlines()) if log.exists() else 0
log.open("a").write(kind + "\\n")
(here / f"ready-{n + 1}").read_bytes()   # end only once the supervisor prepared the next spare
sys.exit(statuses[min(n, len(statuses) - 1)])
"""


def test_a_restart_releases_the_spare_app_and_the_last_spare_is_dropped(tmp_path):
    script = tmp_path / "app.py"
    script.write_text(SPARE_APP)
    for n in (1, 2):   # the spare for the restart, then the one prepared during it
        os.mkfifo(tmp_path / f"ready-{n}")
    supervisor = Supervisor([sys.executable, str(script), str(tmp_path), f"1,{MAINTENANCE_EXIT}"],
                            [sys.executable, "-c", "pass"], max_crashes=5, clock=Ticking(1.0), tty=-1,
                            spare_after=0.0)
    assert supervisor.run() == 0
    # The cold start crashed; the restart was the spare, already loaded.
    assert (tmp_path / "runs.log").read_text().splitlines() == ["cold", "spare"]
    # The spare prepared for the next restart was told to go away, and went.
    assert supervisor.spare is None and (tmp_path / "spares-dropped").read_text() == "x"
