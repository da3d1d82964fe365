"""``/metrics`` of ``beffroi serve`` and ``beffroi sor serve``, parsed with
prometheus_client's own parser and checked against the work actually done:
cases opened through the real HTTP API, segments pushed to a real SoR."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
import requests
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from api.metrics import FootprintCollector, registry
from hub import footprint
from hub.roles import Principal
from hub.terminal import Terminal
from replication.sync import Replicator
from tests.replication.conftest import City, ThreadSoR, sor_home  # noqa: F401  (fixture)

from .test_openapi import start_live


@pytest.fixture
def live(tmp_path):
    running = start_live(tmp_path / "home")
    yield running
    running.stop()


def samples(text: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def journal_bytes(home, service: str) -> int:
    """The same measure, computed here from the rows themselves."""
    with sqlite3.connect(home / "journal.db") as db:
        rows = db.execute("SELECT e.origin, e.type, e.aggregate, e.actor, e.data, e.prev, e.hash FROM events e"
                          " JOIN cases c ON e.aggregate = 'case:' || c.id WHERE c.service = ?", (service,)).fetchall()
    return sum(sum(len(v) for v in row) + 24 for row in rows)


def scraper(home) -> dict[str, str]:
    """What Prometheus sends with ``authorization: credentials_file: <home>/metrics.token``."""
    return {"Authorization": f"Bearer {(home / 'metrics.token').read_text().strip()}"}


def assert_refused(url: str, home, key: str | None = None) -> None:
    """No token, an API key, the token under another scheme, a forged token,
    the token with a byte changed: 401, and nothing of the metrics in the answer."""
    token = (home / "metrics.token").read_text().strip()
    assert (home / "metrics.token").stat().st_mode & 0o777 == 0o600
    forged = ("A" if token[0] != "A" else "B") + token[1:]
    for headers in ({}, {"Authorization": f"Bearer {key}"} if key else {"Authorization": "Bearer "},
                    {"Authorization": f"Basic {token}"}, {"Authorization": f"Bearer {forged}"},
                    {"Authorization": f"Bearer {token}x"}):
        answer = requests.get(f"{url}/metrics", headers=headers, timeout=10)
        assert answer.status_code == 401, headers
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert "beffroi_" not in answer.text and "process_" not in answer.text
        assert "credentials_file" in answer.text and "jeton" in answer.text


def test_serve_metrics_count_the_cases_opened_over_http(live):
    headers = scraper(live.home)
    assert_refused(live.url, live.home, live.key)
    before = samples(requests.get(f"{live.url}/metrics", headers=headers, timeout=10).text)
    opened = 0
    for n in range(3):
        answer = requests.post(f"{live.url}/open311/v2/requests.json", timeout=10, data={
            "api_key": live.key, "service_code": "signalement", "address_string": f"{n} rue Pasteur",
            "attribute[category]": "eclairage", "description": "Lampadaire éteint"})
        assert answer.status_code == 201, answer.text
        opened += 1
    response = requests.get(f"{live.url}/metrics", headers=headers, timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    after = samples(response.text)
    key = ("beffroi_demarche_cases_total", (("service", "signalement"),))
    assert after[key] - before.get(key, 0) == opened
    assert after[("beffroi_demarche_journal_bytes_total", (("service", "signalement"),))] == \
        journal_bytes(live.home, "signalement")
    assert after[("beffroi_demarche_cpu_seconds_total", (("service", "signalement"),))] > 0
    assert ("process_cpu_seconds_total", ()) in after                 # the usual process metrics


class StepCPU:
    STEP = 4_000_000   # ns per read: 4 ms per write

    def __init__(self) -> None:
        self.ns = 0

    def __call__(self) -> int:
        self.ns += self.STEP
        return self.ns


def test_metrics_add_the_writers_pending_counts_and_never_go_down(tmp_path):
    """As in ``beffroi serve``: one terminal writes, another connection reads.
    The writer's CPU counts are on /metrics before they are written; once
    written, not twice; and while a written count waits for its COMMIT (the
    reading connection sees it neither pending nor in the table), the counter
    shows what it showed before, not less."""
    home = tmp_path / "home"
    writer = Terminal.init(home, "MAIRIE-01", cpu_ns=StepCPU())
    reader = Terminal.open(home)
    try:
        writer.pending = footprint.Pending(every_ms=3_600_000, most=1_000)   # nothing due during the test
        reg = registry(FootprintCollector(reader, writer.pending))
        cpu = ("beffroi_demarche_cpu_seconds_total", (("service", "signalement"),))
        desk = writer.session(Principal.agent("agent"))
        citizen = desk.citizens.register(first_name="Hélène", last_name="Dupont", birth_date="1985-03-12",
                                         address="3 rue Pasteur", postcode="49000")
        for _ in range(2):
            desk.cases.open("signalement", citizen["id"], {"category": "eclairage", "location": "3 rue Pasteur",
                                                           "description": "Lampadaire éteint"})
        assert reader.conn.execute("SELECT count(*) FROM footprint").fetchone()[0] == 0
        assert samples(generate_latest(reg).decode())[cpu] == pytest.approx(2 * StepCPU.STEP / 1e9)
        with writer.journal.transaction():
            writer.pending.flush(writer.conn)
            unseen = footprint.report(reader.conn, footprint.Factors(), pending=writer.pending)
            assert unseen["total"]["cpu_seconds"] == 0                       # the window the guard covers
            assert samples(generate_latest(reg).decode())[cpu] == pytest.approx(2 * StepCPU.STEP / 1e9)
        assert samples(generate_latest(reg).decode())[cpu] == pytest.approx(2 * StepCPU.STEP / 1e9)   # not twice
        desk.cases.open("signalement", citizen["id"], {"category": "chaussee", "location": "3 rue Pasteur",
                                                       "description": "Nid-de-poule"})
        assert samples(generate_latest(reg).decode())[cpu] == pytest.approx(3 * StepCPU.STEP / 1e9)
    finally:
        reader.close()
        writer.close()
    with Terminal.open(home) as again:   # the close wrote the last count
        data = footprint.report(again.conn, footprint.Factors())
        assert {s["name"]: s["cpu_seconds"] for s in data["services"]}["signalement"] == \
            pytest.approx(3 * StepCPU.STEP / 1e9)


def test_sor_metrics_count_the_segments_stored(tmp_path, sor_home):  # noqa: F811
    from replication.blobs import FileStore
    server = ThreadSoR(sor_home, FileStore(sor_home / "blobs"))
    kit = City(tmp_path, server.url, sor_home)
    try:
        terminal = kit.terminal("MAIRIE-01")
        terminal.session(Principal.system()).agents.enroll("agent", "Claire Moreau", "246810", "agent")
        replicator = Replicator(terminal)
        try:
            asyncio.run(replicator.sync(server.url))
        finally:
            replicator.close()
        assert_refused(server.url, sor_home)
        text = requests.get(f"{server.url}/metrics", headers=scraper(sor_home), timeout=10).text
        found = samples(text)
        index = kit.index()
        try:
            stored = index.conn.execute("SELECT count(*), sum(size) FROM segments").fetchone()
        finally:
            index.close()
        assert found[("beffroi_sor_segments_total", (("terminal", "MAIRIE-01"),))] == stored[0] >= 1
        assert found[("beffroi_sor_stored_bytes_total", (("terminal", "MAIRIE-01"),))] == stored[1]
        assert found[("beffroi_sor_devices", ())] == 1
        # What the terminal counted as sent is what the SoR stores.
        with Terminal.open(terminal.home) as again:
            from hub import footprint
            sent = footprint.report(again.conn, footprint.Factors())["total"]["sent_bytes"]
        assert sent == stored[1]
    finally:
        kit.close()
        server.stop()
