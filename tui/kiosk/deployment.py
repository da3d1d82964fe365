"""A kiosk machine, written as files: ``beffroi kiosk install --user kiosk``.

The machine boots straight into the supervised kiosk on one virtual console,
as an unprivileged user, with nothing else to log into:

- ``beffroi-kiosk.service`` owns the console (``TTYPath``) and opens a login
  session for the kiosk user itself (``PAMName=login``, ``User=``): that is the
  autologin, with no getty and no shell in between. The sandbox makes the
  whole file system read-only but the kiosk's own home, hides other homes and
  /tmp, and forbids gaining privileges (sudo is setuid: ``NoNewPrivileges``).
  A clean stop (the ops maintenance exit) hands the console to a normal login
  prompt for IT staff's own account; a failure restarts the kiosk.
- logind spawns no login prompt on the other consoles, ctrl+alt+del is masked
  and the kernel's SysRq keys are off, so no key reaches another program.

Everything is checked before anything is written, and written under ``root``
(``/`` on the kiosk machine, a directory in tests or when preparing an image).
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from hub.errors import Invalid
from hub.terminal import TERMINAL_NAME, Terminal

UNIT = "beffroi-kiosk.service"
DISPLAYS = ("console", "cage")
# Groups that are a way to root or to other people's data: a kiosk user in one
# of them is refused.
PRIVILEGED_GROUPS = frozenset({"root", "sudo", "wheel", "admin", "adm", "disk", "shadow", "docker", "lxd",
                               "libvirt", "systemd-journal", "kmem"})
_TTY = re.compile(r"^tty[1-9][0-9]?$")
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class KioskUser:
    name: str
    uid: int
    gid: int
    home: Path
    groups: frozenset[str]


def _table(path: Path) -> list[list[str]]:
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return []
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def find_user(root: Path, name: str) -> KioskUser:
    """The user as the target system knows it (its own /etc/passwd and /etc/group)."""
    if not _USER.match(name or ""):
        raise Invalid(f"kiosk user {name!r}: a login name (lower-case letters, digits, _ or -)",
                      f"utilisateur de borne {name!r} : un nom de connexion (minuscules, chiffres, _ ou -)")
    for row in _table(root / "etc/passwd"):
        if len(row) >= 7 and row[0] == name:
            uid, gid, home = int(row[2]), int(row[3]), Path(row[5])
            groups = {g[0] for g in _table(root / "etc/group")
                      if len(g) >= 4 and (name in g[3].split(",") or g[2] == str(gid))}
            return KioskUser(name, uid, gid, home, frozenset(groups))
    raise Invalid(f"no user {name} on {root}: create it first (adduser --disabled-password --gecos '' {name})",
                  f"aucun utilisateur {name} sur {root} : créez-le d'abord "
                  f"(adduser --disabled-password --gecos '' {name})")


def check_user(user: KioskUser) -> None:
    if user.uid == 0 or user.gid == 0:
        raise Invalid(f"the kiosk user {user.name} is root: use an ordinary user",
                      f"l'utilisateur de borne {user.name} est root : utilisez un utilisateur ordinaire")
    privileged = sorted(user.groups & PRIVILEGED_GROUPS)
    if privileged:
        raise Invalid(f"the kiosk user {user.name} is in {', '.join(privileged)}: remove it "
                      f"(deluser {user.name} GROUP), a kiosk user must not reach root or the logs",
                      f"l'utilisateur de borne {user.name} est dans {', '.join(privileged)} : retirez-le "
                      f"(deluser {user.name} GROUPE), une borne ne doit pas atteindre root ni les journaux")


def writable_by(path: Path, uid: int, gid: int) -> bool:
    """Whether uid/gid could change ``path`` by its mode bits (root's view of a
    target root: the kiosk user cannot run there to be asked)."""
    st = path.lstat()
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        return False   # a link's own mode means nothing: its folder decides
    return bool((st.st_uid == uid and mode & stat.S_IWUSR) or (st.st_gid == gid and mode & stat.S_IWGRP)
                or mode & stat.S_IWOTH)


def check_program(program: Path, user: KioskUser) -> None:
    if not (program.is_file() and os.access(program, os.X_OK)):
        raise Invalid(f"{program} is not the beffroi program: give its path with --program",
                      f"{program} n'est pas le programme beffroi : donnez son chemin avec --program")
    for place in (program, program.parent):
        if writable_by(place, user.uid, user.gid):
            raise Invalid(f"{place} is writable by {user.name}: the kiosk could change the program it runs; "
                          f"install beffroi where only root writes (e.g. /opt/beffroi)",
                          f"{place} est modifiable par {user.name} : la borne pourrait changer le programme "
                          f"qu'elle exécute ; installez beffroi là où seul root écrit (ex. /opt/beffroi)")


def unit(user: KioskUser, home: Path, program: Path, tty: str, display: str, lang: str, kiosk_id: str) -> str:
    kiosk = shlex.join([str(program), "kiosk", "--supervised", "--home", str(home), "--lang", lang,
                        "--kiosk-id", kiosk_id])
    if display == "cage":
        # A Wayland kiosk compositor (no VT switching without -s) running one
        # full-screen terminal emulator.
        command = f"/usr/bin/cage -- /usr/bin/foot --font=monospace:size=16 -- {kiosk}"
        session_type = "wayland"
    else:
        command, session_type = kiosk, "tty"
    return f"""\
# Written by `beffroi kiosk install`: the supervised Beffroi kiosk on {tty},
# as the unprivileged user {user.name}. See the README, "The kiosk machine".
[Unit]
Description=Beffroi kiosk (supervised) on {tty}
After=systemd-user-sessions.service plymouth-quit-wait.service getty@{tty}.service
Conflicts=getty@{tty}.service
# After an ops maintenance exit (a clean stop), a login prompt for IT staff.
OnSuccess=getty@{tty}.service
ConditionPathExists=/dev/{tty}

[Service]
Type=simple
User={user.name}
Group={user.gid}
PAMName=login
TTYPath=/dev/{tty}
TTYReset=yes
TTYVHangup=yes
TTYVTDisallocate=yes
StandardInput=tty-fail
StandardOutput=tty
StandardError=journal
UtmpIdentifier={tty}
UtmpMode=user
WorkingDirectory={user.home}
Environment=TERM=linux LANG=C.UTF-8 BEFFROI_HOME={home} XDG_SESSION_TYPE={session_type}
ExecStart={command}
Restart=on-failure
RestartSec=1
# What the kiosk user may do: write its own home, nothing else.
NoNewPrivileges=yes
RestrictSUIDSGID=yes
CapabilityBoundingSet=
AmbientCapabilities=
ProtectSystem=strict
ProtectHome=tmpfs
BindPaths={user.home}
PrivateTmp=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
UMask=0077

[Install]
WantedBy=multi-user.target
"""


LOGIND = """\
# Written by `beffroi kiosk install`: no login prompt on the other consoles.
[Login]
NAutoVTs=0
ReserveVT=0
"""
SYSCTL = """\
# Written by `beffroi kiosk install`: the kernel's SysRq keys could kill or
# reboot the kiosk from its keyboard.
kernel.sysrq = 0
"""


@dataclass(frozen=True)
class Install:
    root: Path
    user: str
    home: Path | None = None          # the terminal home, as seen on the kiosk machine
    program: Path | None = None
    tty: str = "tty1"
    display: str = "console"
    lang: str = "fr"
    kiosk_id: str | None = None
    terminal: str | None = None       # create the terminal home with this name if it is missing
    city: str = "Ville de Beffroi"

    def on_root(self, path: Path) -> Path:
        return self.root / path.relative_to("/")

    def apply(self) -> list[str]:
        """Check everything, then write the files; the paths written, as on the machine."""
        root = self.root
        if not root.is_dir():
            raise Invalid(f"--root {root} is not a directory", f"--root {root} n'est pas un dossier")
        user = find_user(root, self.user)
        check_user(user)
        if not _TTY.match(self.tty):
            raise Invalid("--tty: a virtual console such as tty1", "--tty : une console virtuelle comme tty1")
        if self.display not in DISPLAYS:
            raise Invalid("--display must be console or cage", "--display doit être console ou cage")
        home = self.home or user.home / "beffroi"
        if not home.is_absolute() or os.path.normpath(home) != str(home) or not home.is_relative_to(user.home) \
                or home == user.home:
            raise Invalid(f"--home {home}: an absolute folder inside {user.home}, the only place the kiosk writes",
                          f"--home {home} : un dossier absolu dans {user.home}, le seul endroit où la borne écrit")
        if not self.on_root(user.home).is_dir():
            raise Invalid(f"{user.name}'s home {user.home} does not exist: create the user with its home",
                          f"le dossier {user.home} de {user.name} n'existe pas : créez l'utilisateur avec son dossier")
        program = (self.program or Path(sys.executable).with_name("beffroi")).absolute()
        check_program(program, user)
        target_home = self.on_root(home)
        existing = (target_home / "terminal.json").is_file()
        if not existing and not self.terminal:
            raise Invalid(f"no terminal home at {home}: add --terminal NAME (e.g. BORNE-HALL) to create it",
                          f"aucun terminal dans {home} : ajoutez --terminal NOM (ex. BORNE-HALL) pour le créer")
        if self.terminal and not TERMINAL_NAME.match(self.terminal):
            raise Invalid("--terminal: 1 to 32 letters, digits, - or _", "--terminal : 1 à 32 lettres, chiffres, - ou _")
        if self.kiosk_id and not TERMINAL_NAME.match(self.kiosk_id):
            raise Invalid("--kiosk-id: 1 to 32 letters, digits, - or _", "--kiosk-id : 1 à 32 lettres, chiffres, - ou _")
        if os.geteuid() != 0 and os.geteuid() != user.uid:
            raise Invalid("run the install as root: it gives the kiosk's home to the kiosk user",
                          "lancez l'installation en root : elle donne le dossier de la borne à l'utilisateur")

        if existing:
            with Terminal.open(target_home) as terminal:
                kiosk_id = self.kiosk_id or terminal.name
        else:
            Terminal.init(target_home, self.terminal, self.city).close()
            kiosk_id = self.kiosk_id or self.terminal
        self._give(target_home, user)

        system = Path("/etc/systemd/system")
        written = {
            system / UNIT: unit(user, home, program, self.tty, self.display, self.lang, kiosk_id),
            Path("/etc/systemd/logind.conf.d/beffroi-kiosk.conf"): LOGIND,
            Path("/etc/sysctl.d/90-beffroi-kiosk.conf"): SYSCTL,
        }
        for path, text in written.items():
            self._write(path, text)
        links = {system / "multi-user.target.wants" / UNIT: Path("..") / UNIT,     # systemctl enable
                 system / "ctrl-alt-del.target": Path("/dev/null")}               # systemctl mask
        for path, target in links.items():
            self._link(path, target)
        return [str(p) for p in [*written, *links, home]]

    def _write(self, path: Path, text: str) -> None:
        target = self.on_root(path)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        temporary = target.with_name(target.name + ".tmp")
        temporary.write_text(text, "utf-8")
        temporary.chmod(0o644)
        os.replace(temporary, target)

    def _link(self, path: Path, target: Path) -> None:
        link = self.on_root(path)
        link.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)

    @staticmethod
    def _give(home: Path, user: KioskUser) -> None:
        """The terminal home to the kiosk user alone (0700), every file in it too."""
        for path in [home, *home.rglob("*")]:
            os.lchown(path, user.uid, user.gid)
            if not path.is_symlink():
                path.chmod(0o700 if path.is_dir() else 0o600)
