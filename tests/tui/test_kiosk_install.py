"""`beffroi kiosk install` applied to a temporary root, as it is applied to a
kiosk machine's /: the files it writes, what they say, and what the kiosk user
can change afterwards (its own home, nothing else)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hub.cli import main
from hub.terminal import Terminal
from tui.kiosk.deployment import writable_by

UID = GID = 4242
BEFFROI = Path(sys.executable).with_name("beffroi")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving the home to another user takes root")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A machine with an ordinary kiosk user (as `adduser kiosk` leaves it) and an admin."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n"
                                     f"kiosk:x:{UID}:{GID}::/home/kiosk:/bin/bash\n"
                                     "julien:x:1000:1000::/home/julien:/bin/bash\n")
    (root / "etc/group").write_text(f"root:x:0:\nsudo:x:27:julien\nkiosk:x:{GID}:\njulien:x:1000:\n")
    (root / "home/kiosk").mkdir(parents=True)
    (root / "home/julien").mkdir(parents=True)
    if os.geteuid() == 0:
        os.chown(root / "home/kiosk", UID, GID)
    return root


def install(root: Path, *options: str) -> int:
    return main(["kiosk", "install", "--root", str(root), "--program", str(BEFFROI), *options])


def unit_settings(text: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def tree(root: Path) -> dict[str, bytes | str]:
    """Every file and link under root with its content, to show nothing changed."""
    out: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        out[key] = f"-> {os.readlink(path)}" if path.is_symlink() else path.read_bytes() if path.is_file() else "dir"
    return out


@needs_root
def test_install_writes_a_supervised_sandboxed_kiosk_unit(root, capsys):
    assert install(root, "--user", "kiosk", "--terminal", "BORNE-HALL", "--city", "Ville d'Angers") == 0
    printed = capsys.readouterr().out.splitlines()
    assert "/etc/systemd/system/beffroi-kiosk.service" in printed and "/home/kiosk/beffroi" in printed
    unit = (root / "etc/systemd/system/beffroi-kiosk.service").read_text()
    s = unit_settings(unit)
    assert s["ExecStart"] == [f"{BEFFROI} kiosk --supervised --home /home/kiosk/beffroi --lang fr "
                              "--kiosk-id BORNE-HALL"]
    assert s["User"] == ["kiosk"] and s["Group"] == [str(GID)] and s["PAMName"] == ["login"]
    assert s["TTYPath"] == ["/dev/tty1"] and s["StandardInput"] == ["tty-fail"]
    assert s["Conflicts"] == ["getty@tty1.service"] and s["OnSuccess"] == ["getty@tty1.service"]
    assert s["Restart"] == ["on-failure"] and s["WantedBy"] == ["multi-user.target"]
    # No sudo (setuid) and no writable place outside the kiosk's home.
    for key, value in {"NoNewPrivileges": "yes", "RestrictSUIDSGID": "yes", "ProtectSystem": "strict",
                       "ProtectHome": "tmpfs", "BindPaths": "/home/kiosk", "PrivateTmp": "yes",
                       "CapabilityBoundingSet": "", "UMask": "0077"}.items():
        assert s[key] == [value], key
    assert "BEFFROI_HOME=/home/kiosk/beffroi" in s["Environment"][0]
    # Enabled, and nothing else to log into or reboot with.
    system = root / "etc/systemd/system"
    assert os.readlink(system / "multi-user.target.wants/beffroi-kiosk.service") == "../beffroi-kiosk.service"
    assert os.readlink(system / "ctrl-alt-del.target") == "/dev/null"
    logind = (root / "etc/systemd/logind.conf.d/beffroi-kiosk.conf").read_text()
    assert "NAutoVTs=0" in logind and "ReserveVT=0" in logind
    assert "kernel.sysrq = 0" in (root / "etc/sysctl.d/90-beffroi-kiosk.conf").read_text()
    # The terminal home exists, named as asked, and is the kiosk user's alone.
    with Terminal.open(root / "home/kiosk/beffroi") as terminal:
        assert terminal.name == "BORNE-HALL" and terminal.config["city"] == "Ville d'Angers"
    if shutil.which("systemd-analyze"):
        verified = subprocess.run(["systemd-analyze", "verify", str(system / "beffroi-kiosk.service")],
                                  capture_output=True, text=True, timeout=60)
        assert verified.returncode == 0 and verified.stderr == "", verified.stderr


@needs_root
def test_the_kiosk_user_can_write_its_home_and_nothing_else(root):
    assert install(root, "--user", "kiosk", "--terminal", "BORNE-HALL") == 0
    home = root / "home/kiosk"
    writable = {p for p in [root, *root.rglob("*")] if writable_by(p, UID, GID)}
    assert writable == {home, *home.rglob("*")}
    for path in (home / "beffroi").rglob("*"):
        st = path.lstat()
        assert (st.st_uid, st.st_gid) == (UID, GID)
        assert st.st_mode & 0o077 == 0, f"{path} is open to others"
    assert (home / "beffroi").stat().st_mode & 0o777 == 0o700
    # What the kiosk runs is not the kiosk's to change.
    assert not writable_by(BEFFROI, UID, GID) and not writable_by(BEFFROI.parent, UID, GID)


@needs_root
def test_install_on_an_existing_terminal_home_and_for_cage(root):
    with Terminal.init(root / "home/kiosk/borne", "BORNE-GARE", "Ville d'Angers"):
        pass
    assert install(root, "--user", "kiosk", "--home", "/home/kiosk/borne", "--display", "cage", "--lang", "en",
                   "--tty", "tty7") == 0
    s = unit_settings((root / "etc/systemd/system/beffroi-kiosk.service").read_text())
    assert s["ExecStart"] == ["/usr/bin/cage -- /usr/bin/foot --font=monospace:size=16 -- "
                              f"{BEFFROI} kiosk --supervised --home /home/kiosk/borne --lang en --kiosk-id BORNE-GARE"]
    assert s["TTYPath"] == ["/dev/tty7"] and "XDG_SESSION_TYPE=wayland" in s["Environment"][0]
    assert (root / "home/kiosk/borne").stat().st_uid == UID


@pytest.mark.parametrize("options,message", [
    (["--user", "nobody-here"], "no user nobody-here"),
    (["--user", "root"], "is root"),
    (["--user", "julien"], "is in sudo"),
    (["--user", "kiosk"], "add --terminal NAME"),
    (["--user", "kiosk", "--terminal", "BORNE", "--home", "/srv/beffroi"], "inside /home/kiosk"),
    (["--user", "kiosk", "--terminal", "BORNE", "--home", "/home/kiosk/../julien/x"], "inside /home/kiosk"),
    (["--user", "kiosk", "--terminal", "BORNE", "--tty", "pts/3"], "virtual console"),
    (["--user", "Kiosk;rm"], "a login name"),
])
def test_bad_installs_are_refused_with_one_line_and_nothing_written(root, capsys, options, message):
    before = tree(root)
    assert install(root, *options) == 2
    err = capsys.readouterr().err
    assert err.startswith("beffroi: error: ") and message in err and err.count("\n") == 1
    assert tree(root) == before


@needs_root
def test_a_program_the_kiosk_user_could_change_is_refused(root, tmp_path, capsys):
    program = root / "home/kiosk/bin/beffroi"
    program.parent.mkdir()
    shutil.copy(BEFFROI, program)
    os.chown(program, UID, GID)
    before = tree(root)
    assert main(["kiosk", "install", "--root", str(root), "--program", str(program), "--user", "kiosk",
                 "--terminal", "BORNE"]) == 2
    assert "writable by kiosk" in capsys.readouterr().err
    assert tree(root) == before
