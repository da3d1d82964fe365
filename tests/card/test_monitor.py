"""The card monitor: removing the card locks the session within a second, and
no other card — even a valid one — takes over an open session."""

from __future__ import annotations

import threading

import pytest

from card.errors import OtherCard, WrongPin
from card.login import open_session
from hub.roles import Principal


class Locks:
    def __init__(self) -> None:
        self.reasons: list[str] = []
        self.event = threading.Event()

    def __call__(self, reason: str) -> None:
        self.reasons.append(reason)
        self.event.set()


def test_removing_the_card_locks_the_session(counter, reader):
    reader.insert(counter.home, "claire")
    locks = Locks()
    session = open_session(counter, "246810", on_lock=locks, reader=reader.name)
    try:
        assert session.principal == Principal.agent("claire") and not session.locked
        assert not locks.event.wait(0.6)  # a card left in the reader keeps the session open
        reader.remove(wait=False)
        assert locks.event.wait(5), "the session was never locked"   # how fast: benchmarks/bench_card.py
        assert session.locked and locks.reasons == ["card_removed"]
    finally:
        session.close()


def test_another_card_cannot_take_over_and_the_same_card_unlocks(counter, reader, issue):
    issue(counter.home, "bruno", pin="555555")
    reader.insert(counter.home, "claire")
    locks = Locks()
    session = open_session(counter, "246810", on_lock=locks, reader=reader.name)
    try:
        reader.insert(counter.home, "bruno")  # a colleague swaps cards
        assert locks.event.wait(2) and session.locked
        with pytest.raises(OtherCard) as refused:
            session.unlock("555555")  # his own valid card and PIN
        assert "reste verrouillée" in refused.value.fr
        assert session.locked and session.principal == Principal.agent("claire")
        reader.insert(counter.home, "claire")
        with pytest.raises(WrongPin):
            session.unlock("000000")
        assert session.locked
        assert session.unlock("246810") == Principal.agent("claire")
        assert not session.locked
    finally:
        session.close()


def test_swap_between_two_polls_still_locks(counter, reader, issue):
    """Out and back in faster than pcscd polls: the insertion counter changed."""
    reader.insert(counter.home, "claire")
    locks = Locks()
    session = open_session(counter, "246810", on_lock=locks, reader=reader.name)
    try:
        reader.remove(wait=False)  # out and straight back in, without waiting for pcscd in between
        reader.insert(counter.home, "claire")
        assert locks.event.wait(2) and session.locked
        assert locks.reasons[0] in ("card_removed", "card_changed"), locks.reasons
    finally:
        session.close()


def test_reader_watch_tells_the_login_screen_about_insertion_and_removal(counter, reader):
    from card.monitor import ReaderWatch
    seen: list[tuple[str, bool]] = []
    changed = threading.Condition()

    def on_change(name: str, present: bool) -> None:
        with changed:
            seen.append((name, present))
            changed.notify_all()

    def wait_for(entry) -> None:
        with changed:
            assert changed.wait_for(lambda: entry in seen, timeout=3), seen

    watch = ReaderWatch(on_change).start()
    try:
        wait_for((reader.name, False))  # the first report is every reader's current state
        reader.insert(counter.home, "claire")
        wait_for((reader.name, True))
        inserted_at = seen.index((reader.name, True))
        reader.remove(wait=False)
        with changed:
            assert changed.wait_for(lambda: (reader.name, False) in seen[inserted_at:], timeout=3), seen
    finally:
        watch.stop()


def test_reader_watch_reports_pcscd_down(monkeypatch, tmp_path):
    """Run in a child process: libpcsclite reads $PCSCLITE_CSOCK_NAME once."""
    import subprocess
    import sys
    code = ("import threading\nfrom card.monitor import ReaderWatch\n"
            "box = []; done = threading.Event()\n"
            "w = ReaderWatch(lambda r, p: None, lambda e: (box.append(e), done.set())).start()\n"
            "assert done.wait(5)\nprint(box[0].code, box[0].fr)\n")
    env = {**__import__("os").environ, "PCSCLITE_CSOCK_NAME": str(tmp_path / "none.comm")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("pcscd_down") and "pcscd" in done.stdout
