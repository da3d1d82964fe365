"""``/metrics`` of ``beffroi serve`` and ``beffroi sor serve``, parsed with
prometheus_client's own parser and checked against the work actually done:
cases opened through the real HTTP API, segments pushed to a real SoR."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

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
