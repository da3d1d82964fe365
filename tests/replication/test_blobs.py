"""The same blob-store tests on the filesystem and on a real SeaweedFS (S3)."""

from __future__ import annotations

import os
import uuid

import pytest

from hub.errors import Invalid
from hub.roles import Principal
from replication.blobs import FileStore, S3Store

from .conftest import City, ThreadSoR


@pytest.fixture(params=["file", "s3"])
def store(request, tmp_path):
    if request.param == "file":
        return FileStore(tmp_path / "blobs")
    endpoint = request.getfixturevalue("seaweed")
    return S3Store(endpoint, f"b{uuid.uuid4().hex[:12]}", prefix="city")


def test_put_get_overwrite_and_missing(store):
    data = os.urandom(100_000)
    store.put("segments/A/000000000001-abc", data)
    assert store.get("segments/A/000000000001-abc") == data
    store.put("segments/A/000000000001-abc", b"again")
    assert store.get("segments/A/000000000001-abc") == b"again"
    assert store.get("segments/A/nothing") is None


def test_keys_list_by_prefix_and_delete(store):
    for name in ("segments/A/1", "segments/A/2", "segments/B/1", "other/x"):
        store.put(name, name.encode())
    assert sorted(store.keys("segments/A/")) == ["segments/A/1", "segments/A/2"]
    assert len(list(store.keys())) == 4
    store.delete("segments/A/1")
    assert store.get("segments/A/1") is None
    assert sorted(store.keys("segments/")) == ["segments/A/2", "segments/B/1"]


@pytest.mark.parametrize("key", ["../escape", "/abs", "a/../../b", "", "sp ace"])
def test_bad_keys_are_refused(store, key):
    with pytest.raises(Invalid):
        store.put(key, b"x")


def test_the_sor_works_the_same_on_either_store(store, tmp_path, sor_home):
    server = ThreadSoR(sor_home, store)
    city = City(tmp_path, server.url, sor_home)
    try:
        t1, t2 = city.terminal("T1"), city.terminal("T2")
        t1.session(Principal.system()).citizens.register(
            first_name="Hélène", last_name="Dupont", birth_date="1985-03-12")
        city.sync(t1), city.sync(t2)
        assert t1.state_hash() == t2.state_hash()
        index = city.index()
        try:
            blobs = [row[0] for row in index.conn.execute("SELECT blob FROM segments")]
        finally:
            index.close()
        assert blobs and sorted(store.keys("segments/")) == sorted(blobs)
        assert all(b"Dupont" not in store.get(b) for b in blobs)
    finally:
        city.close()
        server.stop()


def test_s3_url_is_validated():
    for url in ("ftp://host/bucket", "http://host", "not a url"):
        with pytest.raises(Invalid):
            S3Store.from_url(url)


def test_sor_serve_with_s3_keeps_segments_in_the_bucket(tmp_path, sor_home, seaweed):
    from .conftest import start_process_sor, stop_process
    bucket = f"sor{uuid.uuid4().hex[:10]}"
    proc, url = start_process_sor(sor_home, "--no-litestream", "--s3", f"{seaweed}/{bucket}/city")
    city = City(tmp_path, url, sor_home)
    try:
        t1, t2 = city.terminal("T1"), city.terminal("T2")
        t1.session(Principal.system()).citizens.register(first_name="Jean", last_name="Martin",
                                                         birth_date="1970-01-01")
        city.sync(t1), city.sync(t2)
        assert t1.state_hash() == t2.state_hash()
        assert len(list(S3Store(seaweed, bucket, prefix="city").keys("segments/"))) == 1
        assert not (sor_home / "blobs").exists()
    finally:
        city.close()
        stop_process(proc)
