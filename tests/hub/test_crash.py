"""kill -9 while cases are being created: what was acknowledged survives."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap

from hub.roles import Principal
from hub.terminal import Terminal

WRITER = textwrap.dedent("""
    import sys
    from hub.roles import Principal
    from hub.terminal import Terminal
    t = Terminal.open(sys.argv[1])
    s = t.session(Principal.agent("claire"))
    person = sys.argv[2]
    fields = {"category": "eclairage", "location": "47.47,-0.55", "description": "Lampadaire éteint"}
    print("ready", flush=True)
    while True:
        case = s.cases.open("signalement", person, fields)
        print(case["id"], flush=True)   # acknowledged: the call returned
""")


def test_sigkill_loses_no_acknowledged_case(tmp_path):
    home = tmp_path / "home"
    with Terminal.init(home, "T1") as t:
        person = t.session(Principal.agent("claire")).citizens.register(
            first_name="Jean", last_name="Martin", birth_date="1970-01-01")["id"]
    rng = random.Random(20)
    acknowledged: list[str] = []
    for kill in range(1, 23):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(home), person], stdout=subprocess.PIPE, text=True,
                                cwd=os.getcwd())
        assert proc.stdout.readline().strip() == "ready"
        # Kill after a random number of acknowledged cases: the writer is then
        # inside the next case's transaction (or between two), never idle.
        acknowledged += [proc.stdout.readline().strip() for _ in range(rng.randint(1, 40))]
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate()
        assert proc.returncode == -signal.SIGKILL, "the kill landed on a writer still writing"
        acknowledged += [x for x in rest.split() if x]  # printed before the kill landed
        with Terminal.open(home) as t:
            assert t.verify() is None
            stored = {r[0] for r in t.conn.execute("SELECT id FROM cases")}
            missing = [c for c in acknowledged if c not in stored]
            assert not missing, f"lost {len(missing)} acknowledged cases after kill #{kill}"
    with Terminal.open(home) as t:
        before = t.state_hash()
        t.rebuild()
        assert t.state_hash() == before
