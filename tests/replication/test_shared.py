"""A SoR shared by several cities on PostgreSQL + S3 (SeaweedFS), through the
real `beffroi` commands the hosting team scripts: cities added with their keys
written outside the database, terminals of each city enrolled and syncing, and
each city's terminals unable to reach — or learn of — another city."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from hub.terminal import Terminal
from replication.keys import device_keys
from tests.conftest import run_cli
from tests.postgres import binaries

from .conftest import start_process_sor, stop_process
from .test_cli import ok, refused
from .test_sor import call

ULID = "01M89DAZJ036CG28QM9KM7MZ71"
S3_SECRET = "s3cret-" + "9" * 12


def terminal_id(home) -> str:
    with Terminal.open(home) as t:
        return t.id


def shared_sor(tmp_path, db, *extra):
    return start_process_sor(tmp_path / "node", "--no-litestream", "--db", db, *extra)


def enrol(tmp_path, url, db, city, out, name):
    home = tmp_path / name
    ok("init", "--terminal", name, home=home)
    code = ok("sor", "invite", name, "--city", city, "--db", db, home=tmp_path)["code"]
    shown = ok("enroll", "--sor", url, "--city", city, "--invite", code, home=home)
    assert shown["status"] == "pending"
    ok("sor", "approve", name, "--city", city, "--db", db, "--admin", out["admin"],
       "--fingerprint", shown["device_fingerprint"], home=tmp_path)
    return home


@pytest.fixture
def two_cities(tmp_path, pg_url, seaweed):
    bucket = f"shared-{secrets.token_hex(4)}"
    with_secret = seaweed.replace("http://", f"http://beffroi:{S3_SECRET}@")   # as a hosting team's URL carries it
    bdx = ok("sor", "city", "add", "Bordeaux", "--db", pg_url, "--s3", f"{with_secret}/{bucket}",
             "--out", str(tmp_path / "keys-bdx"), home=tmp_path)
    mer = ok("sor", "city", "add", "Mérignac", "--db", pg_url, "--s3", f"{seaweed}/{bucket}", "--shares", "2", "--threshold", "2",
             "--out", str(tmp_path / "keys-mer"), home=tmp_path)
    proc, url = shared_sor(tmp_path, pg_url, "--s3", f"{seaweed}/{bucket}")
    try:
        yield url, bdx, mer, bucket
    finally:
        stop_process(proc)


def test_cities_are_added_with_their_keys_outside_the_database(tmp_path, pg_url, postgres, seaweed, two_cities):
    url, bdx, mer, bucket = two_cities
    assert {bdx["city"], mer["city"], mer["slug"]} == {"Bordeaux", "Mérignac", "merignac"}
    assert (tmp_path / "keys-bdx" / "admin" / "admin-sign.key").is_file() and len(bdx["shares"]) == 3
    assert [c["city"] for c in ok("sor", "city", "list", "--db", pg_url, home=tmp_path)] == ["Bordeaux", "Mérignac"]
    # no private key and no share in the database: a full dump holds none of their bytes
    dump = subprocess.run([str(binaries() / "pg_dump"), pg_url], capture_output=True, check=True).stdout
    from replication.keys import KeyPair, b64, private_bytes
    for keys_dir in ("keys-bdx", "keys-mer"):
        pair = KeyPair.load(tmp_path / keys_dir / "admin", "admin")
        for secret in (private_bytes(pair.sign), private_bytes(pair.kx)):
            assert b64(secret).encode() not in dump and secret.hex().encode() not in dump
        for share in (tmp_path / keys_dir / "shares").glob("*.txt"):
            words = [line for line in share.read_text().splitlines() if line and not line.startswith("#")]
            assert words and all(w.encode() not in dump for w in words)
    # nor the bucket's credentials: the register keeps where the blobs are, not how to open them
    assert S3_SECRET.encode() not in dump and f"{seaweed}/{bucket}".encode() in dump
    assert "--s3 URL" in refused("sor", "city", "add", "Pessac", "--db", pg_url, "--out", str(tmp_path / "p"), home=None)
    # refusals: one line, exit 2, nothing changed
    assert "already" in refused("sor", "city", "add", "bordeaux", "--db", pg_url, "--out", str(tmp_path / "x"),
                                home=tmp_path)
    assert "empty folder" in refused("sor", "city", "add", "Pessac", "--db", pg_url,
                                     "--out", str(tmp_path / "keys-bdx"), home=tmp_path)
    assert "PostgreSQL" in refused("sor", "city", "list", "--db", "sqlite:///x", home=tmp_path)
    assert "--connections" in refused("sor", "serve", "--db", pg_url, "--port", "0", "--connections", "0",
                                      home=tmp_path)
    assert "pw" not in refused("sor", "serve", "--db", "postgresql://beffroi:pw@127.0.0.1:1/sor", "--port", "0",
                               home=tmp_path)   # the password is never printed
    assert "--db" in refused("sor", "invite", "T9", "--city", "Bordeaux", home=tmp_path)
    assert "no city" in refused("sor", "invite", "T9", "--city", "Pessac", "--db", pg_url, home=tmp_path)
    assert len(ok("sor", "city", "list", "--db", pg_url, home=tmp_path)) == 2


def test_each_city_replicates_alone_and_restores_from_its_shares(tmp_path, pg_url, two_cities):
    url, bdx, mer, _ = two_cities
    b1 = enrol(tmp_path, url, pg_url, "Bordeaux", bdx, "BDX-01")
    b2 = enrol(tmp_path, url, pg_url, "Bordeaux", bdx, "BDX-02")
    m1 = enrol(tmp_path, url, pg_url, "Mérignac", mer, "MER-01")
    citizen = ok("citizen", "add", "--first-name", "Hélène", "--last-name", "Dupont", "--birth-date", "1985-03-12",
                 home=b1)
    ok("citizen", "add", "--first-name", "Paul", "--last-name", "Roux", "--birth-date", "1990-01-02", home=m1)
    assert ok("sync", home=b1)["pushed"] == 1 and ok("sync", home=m1)["pushed"] == 1
    assert ok("sync", home=b2)["pulled_events"] >= 1
    assert ok("citizen", "show", citizen["id"], home=b2)["last_name"] == "Dupont"
    assert ok("sync", home=m1)["pulled_segments"] == 0           # Bordeaux's segment never reaches Mérignac
    # a terminal approved with another city's admin key: refused before anything is signed
    assert "not Mérignac's" in refused("sor", "approve", "X", "--city", "Mérignac", "--db", pg_url,
                                       "--admin", bdx["admin"], "--fingerprint", "AAAA", home=tmp_path)
    revoked = ok("revoke", "BDX-02", "--city", "Bordeaux", "--db", pg_url, "--admin", bdx["admin"], home=tmp_path)
    assert revoked["epoch"] == 2 and "revoked" in refused("sync", home=b2)
    restored = ok("restore", "--sor", url, "--city", "Bordeaux", "--share", bdx["shares"][0],
                  "--share", bdx["shares"][2], home=tmp_path / "new")
    assert restored["state_hash"] == run_cli("state-hash", home=b1).stdout.strip()
    # Mérignac's shares open nothing of Bordeaux
    assert "share" in refused("restore", "--sor", url, "--city", "Bordeaux", "--share", mer["shares"][0],
                              "--share", mer["shares"][1], home=tmp_path / "other")


def test_a_city_cannot_reach_or_learn_of_another(tmp_path, pg_url, two_cities):
    url, bdx, mer, _ = two_cities
    b1 = enrol(tmp_path, url, pg_url, "Bordeaux", bdx, "BDX-01")
    m1 = enrol(tmp_path, url, pg_url, "Mérignac", mer, "MER-01")
    ok("citizen", "add", "--first-name", "Paul", "--last-name", "Roux", "--birth-date", "1990-01-02", home=m1)
    ok("citizen", "add", "--first-name", "Jean", "--last-name", "Petit", "--birth-date", "1980-05-06", home=b1)
    assert ok("sync", home=m1)["pushed"] == 1 and ok("sync", home=b1)["pushed"] == 1
    mer_id, bdx_id = terminal_id(m1), terminal_id(b1)
    mer_heads = call(f"{url}/cities/merignac", "GET", "/v1/heads", key_id=mer_id,
                     signer=device_keys(m1).sign)[1]["heads"]
    assert list(mer_heads) == [mer_id]
    bdx_signer = device_keys(b1).sign
    first = mer_heads[mer_id]["last"]
    name = "0" * 32
    # every route of a city, called by Bordeaux's terminal at Mérignac, and at a city that does not exist
    routes = [("GET", "/v1/health"), ("GET", "/v1/devices"), ("POST", "/v1/devices"), ("GET", "/v1/keys"),
              ("GET", "/v1/heads"), ("GET", "/v1/feed"), ("GET", f"/v1/segments/{mer_id}/1"),
              ("PUT", f"/v1/segments/{bdx_id}/{first + 1}"), ("PUT", f"/v1/segments/{mer_id}/{first + 1}"),
              ("GET", f"/v1/vault/{name}"), ("PUT", f"/v1/vault/{name}"), ("DELETE", f"/v1/vault/{name}"),
              ("GET", "/v1/orders"), ("PUT", f"/v1/orders/{ULID}"), ("GET", "/v1/nothing")]
    answers = set()
    for city in ("merignac", "pessac", "MERIGNAC"):
        for method, path in routes:
            status, data, _ = call(f"{url}/cities/{city}", method, path, b"x" if method in ("PUT", "POST") else b"",
                                   key_id=bdx_id, signer=bdx_signer)
            answers.add((status, json.dumps(data, sort_keys=True)))
    for path in ("/", "/cities", "/cities/", "/v1/feed"):
        status, data, _ = call(url, "GET", path, key_id=bdx_id, signer=bdx_signer)
        answers.add((status, json.dumps(data, sort_keys=True)))
    assert answers == {(404, json.dumps({"en": "nothing here", "error": "not_found", "fr": "rien ici"},
                                        sort_keys=True))}
    # /metrics is the hosting team's, for its scrape token only: a terminal's signature is not one
    status, data, _ = call(url, "GET", "/metrics", key_id=bdx_id, signer=bdx_signer)
    assert status == 401 and data["error"] == "unauthorized" and "merignac" not in json.dumps(data)
    # nothing of Bordeaux got into Mérignac, and Mérignac's state is as it was
    assert ok("sync", home=m1)["pulled_segments"] == 0
    after = call(f"{url}/cities/merignac", "GET", "/v1/heads", key_id=mer_id, signer=device_keys(m1).sign)[1]
    assert after["heads"] == mer_heads


def test_a_stranger_cannot_tell_a_city_that_exists_from_one_that_does_not(tmp_path, pg_url, two_cities):
    """The city's public keys and its enrolment answer only who brings an open
    invitation (or signs with one of the city's keys): a stranger guessing
    names gets the same 404 for Mérignac as for a city that does not exist."""
    from .test_hostile import stranger_enrolment
    url, bdx, mer, _ = two_cities
    nothing = (404, json.dumps({"en": "nothing here", "error": "not_found", "fr": "rien ici"}, sort_keys=True))
    answers = set()
    for city in ("merignac", "pessac"):
        for headers in (None, {"X-Beffroi-Invite": "0000-0000-0000"}, {"X-Beffroi-Invite": "x" * 500}):
            status, data, _ = call(f"{url}/cities/{city}", "GET", "/v1/city", headers=headers)
            answers.add((status, json.dumps(data, sort_keys=True)))
        (status, data, _), _, _ = stranger_enrolment(f"{url}/cities/{city}")
        answers.add((status, json.dumps(data, sort_keys=True)))
        (status, data, _), _, _ = stranger_enrolment(f"{url}/cities/{city}", invite="0000-0000-0000")
        answers.add((status, json.dumps(data, sort_keys=True)))
    assert answers == {nothing}
    # With Mérignac's open invitation the city shows itself, and a terminal enrols with it…
    code = ok("sor", "invite", "MER-02", "--city", "Mérignac", "--db", pg_url, home=tmp_path)["code"]
    status, data, _ = call(f"{url}/cities/merignac", "GET", "/v1/city", headers={"X-Beffroi-Invite": code})
    assert status == 200 and data["city"] == "Mérignac"
    # …but not with Bordeaux's, nor at another city's address.
    other = ok("sor", "invite", "BDX-09", "--city", "Bordeaux", "--db", pg_url, home=tmp_path)["code"]
    assert call(f"{url}/cities/merignac", "GET", "/v1/city", headers={"X-Beffroi-Invite": other})[0] == 404
    home = tmp_path / "MER-02"
    ok("init", "--terminal", "MER-02", home=home)
    message = refused("enroll", "--sor", url, "--city", "Pessac", "--invite", code, home=home)
    assert "--city" in message and "invitation" in message
    assert ok("enroll", "--sor", url, "--city", "Mérignac", "--invite", code, home=home)["status"] == "pending"
    # An enrolled terminal still reads its city's keys by signing, as the recovery key does at a restore.
    m1 = enrol(tmp_path, url, pg_url, "Mérignac", mer, "MER-01")
    status, data, _ = call(f"{url}/cities/merignac", "GET", "/v1/city", key_id=terminal_id(m1),
                           signer=device_keys(m1).sign)
    assert status == 200 and data["city"] == "Mérignac"


def test_each_node_exports_every_citys_store_on_metrics(tmp_path, pg_url, two_cities):
    """Parsed with prometheus_client's parser and checked against each city's
    own index: segments and bytes per city and terminal, the devices, forks
    and epoch per city, the process metrics; refused without the node's token."""
    from replication.cities import open_city
    from tests.api.test_metrics import assert_refused, samples, scraper
    url, bdx, mer, _ = two_cities
    b1 = enrol(tmp_path, url, pg_url, "Bordeaux", bdx, "BDX-01")
    m1 = enrol(tmp_path, url, pg_url, "Mérignac", mer, "MER-01")
    for n in range(2):
        ok("citizen", "add", "--first-name", f"Paul{n}", "--last-name", "Roux", "--birth-date", "1990-01-02", home=m1)
        assert ok("sync", home=m1)["pushed"] == 1
    ok("citizen", "add", "--first-name", "Jean", "--last-name", "Petit", "--birth-date", "1980-05-06", home=b1)
    assert ok("sync", home=b1)["pushed"] == 1
    node = tmp_path / "node"
    base = url.rsplit("/cities", 1)[0]
    assert_refused(base, node)
    found = samples(requests.get(f"{base}/metrics", headers=scraper(node), timeout=10).text)
    for name, slug_, terminal in (("Bordeaux", "bordeaux", "BDX-01"), ("Mérignac", "merignac", "MER-01")):
        _, index = open_city(pg_url, name)
        try:
            count, size = index.conn.execute("SELECT count(*), sum(size) FROM segments").fetchone()
            counts = index.counts()
        finally:
            index.close()
        labels = (("city", slug_), ("terminal", terminal))
        assert found[("beffroi_sor_segments_total", labels)] == count >= 1
        assert found[("beffroi_sor_stored_bytes_total", labels)] == size
        for key in ("devices", "pending", "forks", "epoch"):
            assert found[(f"beffroi_sor_{key}", (("city", slug_),))] == counts[key]
    assert found[("beffroi_sor_segments_total", (("city", "merignac"), ("terminal", "MER-01")))] == 2
    assert ("process_cpu_seconds_total", ()) in found


def test_a_city_waiting_on_the_database_does_not_hold_the_node(tmp_path, pg_url, two_cities):
    """Mérignac's upload waits on its feed position, locked by another
    transaction (a slow commit, a vacuum, an operator's query): the node goes
    on serving Bordeaux — its heads, its own upload — from its other pooled
    connections, and Mérignac's upload is stored once the lock goes."""
    import psycopg

    from replication.cities import open_city
    from replication.index_pg import schema_name
    from tests.waiting import wait_until
    url, bdx, mer, _ = two_cities
    b1 = enrol(tmp_path, url, pg_url, "Bordeaux", bdx, "BDX-01")
    m1 = enrol(tmp_path, url, pg_url, "Mérignac", mer, "MER-01")
    for home in (m1, b1):
        ok("citizen", "add", "--first-name", "Paul", "--last-name", "Roux", "--birth-date", "1990-01-02", home=home)
    _, index = open_city(pg_url, "Mérignac")
    schema = schema_name(index.city_id)
    index.close()
    with psycopg.connect(pg_url) as holder:
        holder.execute(f"SELECT pos FROM {schema}.feed_position FOR UPDATE")   # held until the block ends
        beffroi = [str(Path(sys.executable).with_name("beffroi"))]
        waiting = subprocess.Popen(beffroi + ["sync", "--json", "--home", str(m1)], stdout=subprocess.PIPE, text=True)
        try:
            with psycopg.connect(pg_url, autocommit=True) as watch:
                wait_until(lambda: watch.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND query LIKE 'UPDATE feed_position%'").fetchone()[0] >= 1,
                    what="Mérignac's upload waiting on its feed position")
            # a node whose event loop waited on Mérignac's statement would never answer this
            status, data, _ = call(f"{url}/cities/bordeaux", "GET", "/v1/heads", key_id=terminal_id(b1),
                                   signer=device_keys(b1).sign, within=20)
            assert status == 200 and list(data["heads"]) == []
            assert ok("sync", home=b1)["pushed"] == 1
            assert waiting.poll() is None                    # still waiting: nothing of it was acknowledged
        finally:
            holder.commit()
        out, _ = waiting.communicate(timeout=60)
    assert waiting.returncode == 0 and json.loads(out)["pushed"] == 1
    assert ok("sync", home=m1)["pushed"] == 0


def test_connections_lost_by_the_database_cost_a_retry_not_the_node(tmp_path, pg_url, two_cities):
    """Every connection of the node's pool cut by the server (a restart, an
    operator's pg_terminate_backend): a request that meets a dead connection
    is answered 503 in English and French, the pool drops it, and the node
    serves again — a terminal's next sync stores its segment once."""
    import psycopg

    from tests.waiting import wait_until
    url, bdx, _, _ = two_cities
    b1 = enrol(tmp_path, url, pg_url, "Bordeaux", bdx, "BDX-01")
    ok("citizen", "add", "--first-name", "Jean", "--last-name", "Petit", "--birth-date", "1980-05-06", home=b1)
    me, signer = terminal_id(b1), device_keys(b1).sign
    assert call(f"{url}/cities/bordeaux", "GET", "/v1/heads", key_id=me, signer=signer)[0] == 200
    with psycopg.connect(pg_url, autocommit=True) as admin:
        cut = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                            " WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]
    assert cut >= 1
    answers = []

    def served():
        status, data, _ = call(f"{url}/cities/bordeaux", "GET", "/v1/heads", key_id=me, signer=signer)
        answers.append((status, data.get("error") if isinstance(data, dict) else data))
        if status == 503:
            assert data["en"].startswith("the SoR's database did not answer") and "réessayez" in data["fr"]
        return status == 200
    wait_until(served, what="the node serving again")
    assert set(answers) <= {(503, "index_unavailable"), (200, None)}
    assert ok("sync", home=b1)["pushed"] == 1
    assert ok("sync", home=b1)["pushed"] == 0
