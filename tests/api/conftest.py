"""A real server per test: a fresh terminal home on disk, aiohttp listening on
127.0.0.1 on a free port, in a thread of its own, and API keys of each role."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest
import requests

from api import keys
from api.server import serve
from hub.terminal import Terminal

SCHEMAS = Path(__file__).parent / "open311-schema"


class Running:
    def __init__(self, home: Path, mode: str = "realtime", **options) -> None:
        self.options = options
        self.server = None
        self.home = home
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.url = ""
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(mode,), daemon=True)
        self.thread.start()
        if not self.ready.wait(20):
            raise RuntimeError(f"server did not start: {self.failure!r}")
        if self.failure:
            raise self.failure

    def _run(self, mode: str) -> None:
        asyncio.set_event_loop(self.loop)

        def ready(url: str) -> None:
            self.url = url
            self.ready.set()
        def started(server) -> None:
            self.server = server
        self.task = self.loop.create_task(serve(self.home, "127.0.0.1", 0, mode, None, ready, started=started,
                                                **self.options))
        try:
            self.loop.run_until_complete(self.task)
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # noqa: BLE001 — reported to the test
            self.failure = exc
            self.ready.set()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(20)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    Terminal.init(path, "MAIRIE-01").close()
    return path


@pytest.fixture
def api_keys(home: Path) -> dict[str, str]:
    """One key per role, by role name."""
    with Terminal.open(home) as t:
        return {role: keys.create(t.conn, f"test-{role}", role)["api_key"] for role in keys.ROLES}


@pytest.fixture
def server(home: Path, api_keys):
    running = Running(home)
    yield running
    running.stop()


@pytest.fixture
def batch_server(home: Path, api_keys):
    running = Running(home, "batch")
    yield running
    running.stop()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def stored(home: Path) -> tuple[int, str]:
    """What a refused call must leave untouched: journal length and state hash."""
    with Terminal.open(home) as t:
        return t.journal.count(), t.state_hash()


def get_json(url: str, **kw) -> tuple[int, object]:
    r = requests.get(url, timeout=10, **kw)
    return r.status_code, json.loads(r.text)
