"""The bucket is the truth: a shared SoR whose database is lost (dropped here,
as an attack would encrypt it) is rebuilt from SeaweedFS alone, with the same
heads, feed, terminals, grants and revocations; what a stranger wrote into
the bucket is refused."""

from __future__ import annotations

import json
import secrets

from replication.blobs import S3Store
from replication.cities import add_city, city_url
from replication.keys import KeyPair, sign_doc
from tests.conftest import run_cli

from .conftest import City, start_process_sor, stop_process
from .test_faults import register

NAME = "Ville de Test"


def snapshot(city: City) -> dict:
    index = city.index()
    try:
        feed = [(r["origin"], r["first"], r["hash"]) for r in index.feed(0, 10_000)]
        return {"heads": index.heads(), "feed": sorted(feed),
                "order": {o: [f for f in feed if f[0] == o] for o in {f[0] for f in feed}},
                "devices": {d["id"]: (d["status"], d["certificate"]) for d in index.devices()},
                "keys": {d["id"]: index.keys_for(d["id"]) for d in index.devices()},
                "admin_keys": index.keys_for("admin"), "recovery_keys": index.keys_for("recovery"),
                "revocations": index.revocations_signed(), "epoch": index.current_epoch()}
    finally:
        index.close()


def test_dropping_the_database_then_reindexing_from_s3_gives_the_same_index(tmp_path, pg_url, postgres, seaweed):
    s3 = f"{seaweed}/rebuild-{secrets.token_hex(4)}"
    made = add_city(pg_url, NAME, 3, 2, tmp_path / "sor", s3)
    proc, url = start_process_sor(tmp_path / "node", "--no-litestream", "--db", pg_url, "--s3", s3)
    city = City(tmp_path, city_url(url, NAME), tmp_path / "sor", pg_url, NAME)
    try:
        ts = [city.terminal(f"T{n}") for n in range(3)]
        for round_ in range(2):
            for n, t in enumerate(ts):
                register(t, 3 + n, f"R{round_}T{n}x")
                city.sync(t)
        city.revoke("T2")                     # epoch 2, a signed revocation list
        for t in ts[:2]:
            register(t, 2, "After")
            city.sync(t)
        before = snapshot(city)
        assert len(before["feed"]) >= 8 and before["epoch"] == 2 and before["revocations"]
    finally:
        stop_process(proc)

    # a stranger with write access to the bucket adds a terminal certificate and an epoch of its own
    bucket = S3Store.from_url(f"{s3}/cities/{made['id']}")
    forger = KeyPair.generate()
    forged = sign_doc(forger.sign, {"kind": "enrolment", "terminal": "01M89DAZJ036CG28QM9KM7MZ71", "name": "EVIL",
                                    "sign_pub": forger.sign_pub, "kx_pub": forger.kx_pub, "approved_at": 1})
    bucket.put("index/devices/01M89DAZJ036CG28QM9KM7MZ71.json", json.dumps(forged).encode())
    bucket.put("index/epochs/000099.json", json.dumps(sign_doc(forger.sign, {"kind": "epoch", "epoch": 99})).encode())

    postgres.recreate(pg_url)                 # the index is gone
    assert run_cli("sor", "city", "list", "--db", pg_url, "--json").stdout.strip() == "[]"
    result = run_cli("sor", "reindex", "--db", pg_url, "--s3", s3, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [c["city"] for c in report["rebuilt"]] == [NAME]
    assert report["rebuilt"][0]["segments"] == len(before["feed"]) and report["rebuilt"][0]["refused"] == 2
    after = snapshot(city)
    assert after == before
    again = json.loads(run_cli("sor", "reindex", "--db", pg_url, "--s3", s3, "--json").stdout)
    assert again["rebuilt"] == [] and len(again["kept"]) == 1

    # the rebuilt SoR serves: old terminals carry on (their feed cursor starts again), a new one catches up
    proc, url = start_process_sor(tmp_path / "node", "--no-litestream", "--db", pg_url, "--s3", s3)
    try:
        city.url = city_url(url, NAME)
        register(ts[0], 2, "Rebuilt")
        assert city.sync(ts[0]).pushed == 1
        assert city.sync(ts[1]).pulled_segments == 1
        t9 = city.terminal("T9")
        city.sync(t9)
        assert t9.state_hash() == ts[0].state_hash() == ts[1].state_hash()
    finally:
        city.close()
        stop_process(proc)
    assert "--db" in run_cli("sor", "reindex", "--s3", s3).stderr
