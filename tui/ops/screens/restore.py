"""Restore wizard: rebuild a wiped terminal from the SoR with k of n recovery
shares, one step after the other — which terminal and where, the shares
(files or pasted words), the threshold checked before anything is fetched,
the segments pulled and verified with a progress bar fed by the real loop,
then the resulting state-hash set against this console's and the SoR's heads.

The restore is ``beffroi restore`` (``continuity.ops.restore_from``), run in a
worker thread so the console keeps answering. An existing home is never
overwritten in place: after a confirmation it is moved aside, kept as
evidence of the attack."""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Footer, Label, ProgressBar, Static, TextArea

from continuity import ops
from hub.errors import HubError

from ...i18n import N_, _
from ...widgets.banner import ModeBanner
from ...widgets.entry import Entry
from ...widgets.page import Page
from ...widgets.table import cursor_key
from .confirm import Confirm

STEPS = (N_("Terminal"), N_("Shares"), N_("Threshold"), N_("Segments"), N_("State-hash"))


class RestoreScreen(Page):
    def compose(self) -> ComposeResult:
        yield ModeBanner(self.app.agent_name)
        yield Label(_("Restore a wiped terminal"), classes="title")
        yield Static(id="steps", classes="note")
        yield DataTable(id="choose", cursor_type="row", zebra_stripes=True)
        with Horizontal(classes="tools"):
            yield Entry(id="home", placeholder=_("New home folder for the rebuilt terminal"))
            yield Entry(id="url", placeholder=_("SoR address, e.g. http://127.0.0.1:8443"))
        yield TextArea(id="shares", soft_wrap=True, show_line_numbers=False)
        with Horizontal(classes="tools"):
            yield Button(_("Verify the shares"), id="check", variant="primary")
            yield Button(_("Restore"), id="restore", variant="error", disabled=True)
            yield ProgressBar(id="progress", total=1, show_eta=False)
        yield Static(id="restore-note", classes="note")
        yield Static(id="result", classes="note")
        yield Footer()

    def on_mount(self) -> None:
        self.step = 0
        self.texts: list[str] = []
        self.outcome: dict | None = None
        self.query_one("#shares", TextArea).border_title = _("Recovery shares: paste them, or one share file per line")
        table = self.query_one("#choose", DataTable)
        table.add_columns(_("Terminal"), _("Last segment"), _("Segments"))
        admin = self.app.admin
        if admin is not None:
            for r in admin.terminals(self.app.now().timestamp()):
                table.add_row(r["name"], f"#{r['last_seq']}", str(r["segments"]), key=r["terminal"])
        self.query_one("#url", Entry).value = ops.sor_url(self.app.terminal.home) or ""
        self.show_steps()
        self.query_one("#restore-note", Static).update(_(
            "Choose the wiped terminal, give a new home folder, load k of the n recovery shares, verify them, "
            "then restore.") if admin is not None else _(
            "No SoR home given: start the console with --sor-home DIR."))

    def show_steps(self) -> None:
        marks = ["✓" if i < self.step else ("▶" if i == self.step else "·") for i in range(len(STEPS))]
        self.query_one("#steps", Static).update("   ".join(
            f"{m} {i + 1}. {_(name)}" for i, (m, name) in enumerate(zip(marks, STEPS))))

    def chosen(self) -> dict | None:
        key = cursor_key(self.query_one("#choose", DataTable))
        if self.app.admin is None or key is None:
            return None
        return next(r for r in self.app.admin.terminals(self.app.now().timestamp()) if r["terminal"] == key)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.step == 0 and self.app.admin is not None:
            self.step = 1
            self.show_steps()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        # New shares: the threshold must be checked again.
        self.query_one("#restore", Button).disabled = True
        if self.step > 1:
            self.step = 1
            self.show_steps()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        {"check": self.check, "restore": self.confirm_restore}[event.button.id]()

    def check(self) -> None:
        if self.app.admin is None:
            return
        try:
            self.texts = ops.share_texts(self.query_one("#shares", TextArea).text)
            info = self.app.admin.check_shares(self.texts)
        except HubError as error:
            self.app.show_refusal(error)
            return
        self.step = 3
        self.show_steps()
        self.query_one("#restore", Button).disabled = False
        self.query_one("#restore-note", Static).update(_(
            "✓ {n} share(s), {k} needed: they open this city's recovery key {fp}.").format(
            n=info["shares"], k=info["threshold"], fp=info["fingerprint"]))

    def confirm_restore(self) -> None:
        row = self.chosen()
        home = self.query_one("#home", Entry).value.strip()
        url = self.query_one("#url", Entry).value.strip()
        if row is None or not home or not url:
            self.query_one("#restore-note", Static).update(
                _("⚠ Choose the terminal, the new home folder and the SoR address first."))
            return
        target = Path(home).expanduser()
        if target.exists() and not target.is_dir():
            self.app.show_refusal(HubError(f"{target} is a file: give a folder for the new home",
                                           f"{target} est un fichier : donnez un dossier pour le nouveau répertoire"))
            return
        occupied = target.exists() and any(target.iterdir())
        consequence = (_("{home} already holds a home: it is moved aside to {home}.before-restore-… (kept, never "
                         "deleted: it may be evidence), then a new home is built there.") if occupied else
                       _("A new home is built in {home}.")).format(home=target)
        self.app.push_screen(Confirm(
            _("Restore {name}?").format(name=row["name"]),
            consequence + "\n\n" + _("Every segment of the city is pulled from the SoR and verified (signatures, "
                                     "hash chains) before it is merged; a refused segment stops nothing else."),
            _("Restore")), lambda yes: self.start(row, target, url, occupied) if yes else None)

    def start(self, row: dict, home: Path, url: str, occupied: bool) -> None:
        try:
            if occupied:
                moved = ops.set_old_home_aside(home, self.app.now().strftime("%Y%m%dT%H%M%S"))
                self.app.notify(_("The old home was moved to {path}.").format(path=moved), timeout=8)
        except OSError as error:
            self.app.show_refusal(HubError(f"cannot move {home} aside: {error.strerror}",
                                           f"impossible de mettre {home} de côté : {error.strerror}"))
            return
        self.query_one("#restore", Button).disabled = True
        self.query_one("#check", Button).disabled = True
        bar = self.query_one("#progress", ProgressBar)
        bar.update(total=max(1, self.app.admin.counts()["segments"]), progress=0)
        self.query_one("#restore-note", Static).update(_("Pulling and verifying the segments…"))
        self.step = 3
        self.show_steps()
        self.rebuild(url, list(self.texts), home, row["name"])

    def advance(self, size: int) -> None:
        self.query_one("#progress", ProgressBar).advance(1)

    @work(thread=True, exclusive=True, group="restore")
    def rebuild(self, url: str, texts: list[str], home: Path, name: str) -> None:
        try:
            info = ops.restore_from(url, texts, home, name,
                                    on_fetched=lambda size: self.app.call_from_thread(self.advance, size))
        except HubError as error:
            self.app.call_from_thread(self.failed, error)
            return
        except Exception as error:   # the console stays up whatever the network or the disk did
            self.app.call_from_thread(self.failed, HubError(
                f"the restore stopped: {error}; nothing was left half-built, try again",
                f"la restauration s'est arrêtée : {error} ; rien n'est resté à moitié construit, recommencez"))
            return
        self.app.call_from_thread(self.finished, info)

    def failed(self, error: HubError) -> None:
        self.query_one("#check", Button).disabled = False
        self.query_one("#restore-note", Static).update("⚠ " + _("The restore stopped; nothing was left half-built."))
        self.app.show_refusal(error)

    def finished(self, info: dict) -> None:
        self.outcome = info
        bar = self.query_one("#progress", ProgressBar)
        bar.update(total=max(1, info["segments"]), progress=info["segments"])
        self.step = len(STEPS)
        self.show_steps()
        mine = self.app.terminal.state_hash()
        heads = {r["terminal"]: r["last_seq"] for r in self.app.admin.terminals(self.app.now().timestamp())
                 if r["last_seq"]}
        behind = sorted(t for t, seq in heads.items() if info["heads"].get(t, 0) < seq)
        lines = [_("Rebuilt in {home}: {events} events from {segments} segments, {docs} vault document(s).").format(
                     home=info["home"], events=info["events"], segments=info["segments"], docs=info["documents"]),
                 _("State-hash: {hash}").format(hash=info["state_hash"]),
                 _("= this console's state-hash: the rebuilt terminal holds the same city.") if info["state_hash"] == mine
                 else _("≠ this console's state-hash {hash} (sync this console, or one side holds acts the other lacks).")
                 .format(hash=mine),
                 (_("✓ At the SoR's head for all {n} terminal(s).").format(n=len(heads)) if not behind else
                  _("⚠ Behind the SoR's head for: {names}.").format(names=", ".join(behind)))]
        lines += [_("Refused: {why}").format(why=r) for r in info["refused"]]
        self.query_one("#result", Static).update("\n".join(lines))
        self.query_one("#restore-note", Static).update(_("✓ Restore complete. Start the terminal on its new home."))
