"""Vault documents across the city: deposited at one counter, opened at
another, brought back by a restore, erased everywhere for good; the SoR never
holds a plaintext byte nor a name that links equal documents. The same tests
run on the filesystem store and on a real SeaweedFS (S3)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from hub import vault
from hub.errors import Invalid, NotFound
from hub.roles import Principal
from hub.terminal import Terminal
from replication import auth, keys, litestream
from replication import vault as city_vault
from replication.blobs import FileStore, S3Store
from replication.client import SoRRefused
from replication.enrolment import enroll
from replication.index import Index
from replication.keys import device_keys
from replication.trust import Trust
from tests.conftest import run_cli
from tests.waiting import wait_until

from .conftest import City, ThreadSoR, start_process_sor, stop_process
from .test_sor import call


def pdf(marker: bytes, size: int = 4096) -> bytes:
    return b"%PDF-1.7\n" + marker + os.urandom(size) + b"\n%%EOF\n"


def png(size: int = 4096) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + os.urandom(size)


def agent(t: Terminal):
    t.session(Principal.system()).agents.enroll("agent", "Claire Moreau", "246810", "agent")
    return t.session(Principal.agent("agent"))


def blob_of(t: Terminal, document_id: str) -> str:
    return t.conn.execute("SELECT blob FROM vault_documents WHERE id=?", (document_id,)).fetchone()[0]


class Stored:
    """Every byte a SoR keeps: its home's files and, for S3, the bucket's objects."""

    def __init__(self, city: City, store) -> None:
        self.city, self.store = city, store

    def snapshot(self, into: Path) -> dict[str, bytes]:
        shutil.copytree(self.city.sor_home, into)
        files = {str(p.relative_to(into)): p.read_bytes() for p in into.rglob("*")
                 if p.is_file() and p.parent.name not in ("admin", "shares")}
        if isinstance(self.store, S3Store):
            files.update({f"s3:{k}": self.store.get(k) for k in self.store.keys()})
        return files

    def vault_names(self) -> list[str]:
        return [k.rsplit("/", 1)[1] for k in self.store.keys("vault/")]


@pytest.fixture(params=["file", "s3"])
def vault_city(request, tmp_path, sor_home):
    if request.param == "s3":
        store = S3Store(request.getfixturevalue("seaweed"), f"vault{os.getpid()}{os.urandom(3).hex()}")
    else:
        store = FileStore(sor_home / "blobs")
    server = ThreadSoR(sor_home, store)
    kit = City(tmp_path, server.url, sor_home)
    yield kit, Stored(kit, store)
    kit.close()
    server.stop()


def recovery_keys(sor_home: Path) -> dict[int, bytes]:
    """Every epoch key, as someone holding the admin key and two shares gets them."""
    shares = sorted((sor_home / "shares").glob("share-*.txt"))[:2]
    recovery = keys.combine_shares([p.read_text() for p in shares])
    city = json.loads((sor_home / "sor.json").read_text())
    index = Index(sor_home)
    try:
        epochs = index.keys_for("recovery")
    finally:
        index.close()
    trust = Trust(keys.sign_public(city["admin_sign"]))
    trust.load_keys(epochs, "recovery", recovery)
    return trust.keys


def openable(data: bytes, name: str, epoch_keys: dict[int, bytes], document: dict) -> bytes | None:
    """The content, if any sealed document in ``data`` opens as ``document``."""
    at = data.find(city_vault.MAGIC)
    while at != -1:
        try:
            key, sealed = city_vault.from_city(name, data[at:at + city_vault.HEADER + document["size"] + 28], epoch_keys)
            return vault.unseal(document, key, sealed)
        except Invalid:
            pass
        at = data.find(city_vault.MAGIC, at + 1)
    return None


def restore(city: City, home: Path) -> dict:
    shares = sorted((city.sor_home / "shares").glob("share-*.txt"))
    result = run_cli("restore", "--sor", city.url, "--share", str(shares[1]), "--share", str(shares[2]),
                     "--json", home=home)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_deposit_open_elsewhere_wipe_restore_and_erase_for_good(vault_city, tmp_path):
    city, stored = vault_city
    t1, t2 = city.terminal("T1"), city.terminal("T2")
    desk1 = agent(t1)
    agent(t2)
    helene = desk1.citizens.register(first_name="Hélène", last_name="Dupont", birth_date="1985-03-12")
    paul = desk1.citizens.register(first_name="Paul", last_name="Martin", birth_date="1970-01-02")
    same = pdf(b"Facture EDF 3 rue Pasteur")
    contents = {}
    for person, name, content, kind in ((helene, "edf.pdf", same, "domicile"), (paul, "edf.pdf", same, "domicile"),
                                        (helene, "carte.png", png(), "identite")):
        contents[desk1.vault.deposit(person["id"], name, content, kind)["id"]] = content
    d_helene, d_paul, d_png = list(contents)
    report = city.sync(t1)
    assert report.documents_sent == 3
    city.sync(t2)
    city.sync(t1)

    # names at the SoR: random, unrelated for equal documents, no digest of the content
    names = stored.vault_names()
    assert sorted(names) == sorted(blob_of(t1, d) for d in contents)
    assert hashlib.sha256(same).hexdigest() not in names and names[0][:8] != names[1][:8]

    # T2 opens them on demand (session and CLI), verified, then keeps them
    desk2 = t2.session(Principal.agent("agent"))
    assert vault.missing(t2) and desk2.vault.read(d_helene) == same
    assert vault.held(t2, {"blob": blob_of(t2, d_helene)}) is not None
    got = run_cli("vault", "get", d_png, str(tmp_path / "carte.png"), home=t2.home)
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "carte.png").read_bytes() == contents[d_png]

    # T1 is wiped; a restore brings back the state and every document, byte for byte
    want = t1.state_hash()
    city.terminals.remove(t1)
    t1.close()
    shutil.rmtree(t1.home)
    info = restore(city, t1.home)
    assert info["documents"] == 3 and info["document_bytes"] == sum(map(len, contents.values())), info
    restored = Terminal.open(t1.home)
    city.terminals.append(restored)
    assert restored.state_hash() == want == t2.state_hash()
    assert vault.missing(restored) == []
    for document_id, content in contents.items():
        assert restored.session(Principal.agent("agent")).vault.read(document_id) == content

    # erasure: T2 erases at the citizen's request; keep the SoR's bytes from before
    before = stored.snapshot(tmp_path / "sor-before")
    name = blob_of(t2, d_helene)
    document = vault.documents(t2, "id = ?", (d_helene,))[0]
    epoch_keys = recovery_keys(city.sor_home)
    assert any(openable(data, name, epoch_keys, document) == same for data in before.values())  # it could be read
    content_key = city_vault.from_city(name, next(d for d in before.values() if d.startswith(city_vault.MAGIC)
                                                  and openable(d, name, epoch_keys, document)), epoch_keys)[0]
    desk2.vault.erase(d_helene, "demande RGPD")
    assert city.sync(t2).documents_erased == 1
    assert name not in stored.vault_names()
    status, answer, _ = call(city.url, "GET", f"/v1/vault/{name}", key_id=t2.id, signer=device_keys(t2.home).sign)
    assert status == 410 and answer["error"] == "erased"

    # every terminal shreds its copy at its next sync (the restored one once enrolled); `vault get` fails everywhere
    shown = asyncio.run(enroll(restored, city.url, city.invite(restored.name)))
    city.approve(restored.id, shown["device_fingerprint"])
    city.sync(restored)
    for t in (t2, restored):
        assert not (t.home / "vault" / name[:2] / name).exists()
        got = run_cli("vault", "get", d_helene, str(tmp_path / "x.pdf"), home=t.home)
        assert got.returncode == 2 and "erased at the citizen's request" in got.stderr
        assert got.stderr.count("\n") == 1 and not (tmp_path / "x.pdf").exists()
        assert run_cli("verify", home=t.home).returncode == 0
    assert restored.session(Principal.agent("agent")).vault.read(d_paul) == same   # the other citizen's copy stays
    erased = t2.conn.execute("SELECT actor, data FROM events WHERE type='vault.document_erased'").fetchone()
    assert erased[0] == "agent:agent" and json.loads(erased[1]) == {"id": d_helene, "reason": "demande RGPD"}

    # a later restore does not bring it back
    again = restore(city, tmp_path / "again")
    assert again["documents"] == 2
    with Terminal.open(tmp_path / "again") as t3:
        with pytest.raises(NotFound, match="erased"):
            t3.session(Principal.agent("agent")).vault.read(d_helene)

    # nothing the SoR keeps now, read with the admin key and the recovery shares, rebuilds it
    after = stored.snapshot(tmp_path / "sor-after")
    assert not [path for path, data in after.items() if content_key in data or same[9:60] in data]
    assert not [path for path, data in after.items() if openable(data, name, epoch_keys, document)]


def test_tampered_swapped_partial_and_forged_documents_are_refused(city, tmp_path):
    t1, t2 = city.terminal("T1"), city.terminal("T2")
    desk1, _ = agent(t1), agent(t2)
    person = desk1.citizens.register(first_name="Hélène", last_name="Dupont", birth_date="1985-03-12")
    a = desk1.vault.deposit(person["id"], "a.pdf", pdf(b"A"))
    b = desk1.vault.deposit(person["id"], "b.pdf", pdf(b"B"))
    city.sync(t1), city.sync(t2)
    desk2 = t2.session(Principal.agent("agent"))
    store = city.sor_home / "blobs" / "vault"
    path_a = store / blob_of(t1, a["id"])[:2] / blob_of(t1, a["id"])
    path_b = store / blob_of(t1, b["id"])[:2] / blob_of(t1, b["id"])
    good = path_a.read_bytes()
    for bad in (good[:100] + bytes([good[100] ^ 1]) + good[101:], good[:-1] + bytes([good[-1] ^ 1]),
                good[:20] + bytes([good[20] ^ 1]) + good[21:], path_b.read_bytes(), good[:200]):
        path_a.write_bytes(bad)
        with pytest.raises(Invalid, match="damaged or was tampered with; it was neither shown nor kept"):
            desk2.vault.read(a["id"])
        assert a["id"] in [d["id"] for d in vault.missing(t2)]     # never kept, never shown
    path_a.write_bytes(good)
    assert desk2.vault.read(a["id"]).startswith(b"%PDF-1.7\nA")

    signer, name = device_keys(t1.home).sign, "ab" * 16
    body = good
    # a forged signature, a body that is not a sealed document, the recovery identity, another doc under a taken name
    status, _, _ = call(city.url, "PUT", f"/v1/vault/{name}", body, key_id=t1.id,
                        signer=device_keys(t2.home).sign)
    assert status == 401
    status, answer, _ = call(city.url, "PUT", f"/v1/vault/{name}", b"%PDF-plain", key_id=t1.id, signer=signer)
    assert status == 422 and answer["error"] == "document_refused"
    status, _, _ = call(city.url, "PUT", f"/v1/vault/{blob_of(t1, b['id'])}", body, key_id=t1.id, signer=signer)
    assert status == 409
    status, _, _ = call(city.url, "PUT", "/v1/vault/../../x", body, key_id=t1.id, signer=signer)
    assert status in (400, 404)
    status, answer, _ = call(city.url, "PUT", f"/v1/vault/{name}", b"BFV1" + bytes(city_vault.MAX_DOCUMENT),
                             key_id=t1.id, signer=signer)
    assert status == 413 and answer["error"] == "too_large"

    # an upload cut before its end stores nothing
    parts = urlsplit(city.url)
    path = f"/v1/vault/{name}"
    headers = auth.sign_headers(t1.id, signer, "PUT", path, body)
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        sock.sendall(f"PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode()
                     + body[:len(body) // 2])
        sock.shutdown(socket.SHUT_WR)
        sock.recv(4096)
    index = city.index()
    try:
        assert index.conn.execute("SELECT count(*) FROM documents WHERE name=?", (name,)).fetchone()[0] == 0
    finally:
        index.close()
    assert not (store / name[:2] / name).exists()


def test_a_revoked_terminal_cannot_fetch_documents_deposited_after(city):
    t1, t2, t3 = city.terminal("T1"), city.terminal("T2"), city.terminal("T3")
    desk1 = agent(t1)
    agent(t2), agent(t3)
    person = desk1.citizens.register(first_name="Hélène", last_name="Dupont", birth_date="1985-03-12")
    for t in (t1, t2, t3):
        city.sync(t)
    city.revoke(t3.id)
    later = desk1.vault.deposit(person["id"], "apres.pdf", pdf(b"after revocation"))
    city.sync(t1)
    city.sync(t2)
    async def inside_an_app() -> bytes:   # the apps read from within their event loop
        return t2.session(Principal.agent("agent")).vault.read(later["id"])
    assert asyncio.run(inside_an_app()).startswith(b"%PDF-1.7\nafter")
    # T3 cannot even read the deposit's event (a bundle's later segments do not open for it) ...
    from replication.bundle import export, import_
    from replication.segment import SegmentError
    export(t1, Path(city.root) / "t1.bundle")
    with pytest.raises(SegmentError, match="no data key"):
        import_(t3, Path(city.root) / "t1.bundle")
    # ... and told the document's name by someone, the SoR refuses it and its bytes would not open
    document = vault.documents(t1, "id = ?", (later["id"],))[0]
    with pytest.raises(SoRRefused, match="revoked"):
        city_vault.CityCourier(t3).fetch(document)
    name = blob_of(t1, later["id"])
    raw = (city.sor_home / "blobs" / "vault" / name[:2] / name).read_bytes()
    t3_keys = Trust.from_local(city_vault_local(t3), t3.id, device_keys(t3.home).kx).keys
    assert city_vault.epoch_of(raw) not in t3_keys
    with pytest.raises(Invalid, match="holds no key of epoch"):
        city_vault.from_city(name, raw, t3_keys)
    assert not (t3.home / "vault" / name[:2] / name).exists()


def city_vault_local(t: Terminal):
    from replication.local import Local
    return Local(t.home)


@pytest.mark.slow
def test_no_plaintext_byte_of_any_document_anywhere_under_the_sor(tmp_path, sor_home):
    proc, url = start_process_sor(sor_home)
    city = City(tmp_path, url, sor_home)
    try:
        t1, t2 = city.terminal("T1"), city.terminal("T2")
        desk1 = agent(t1)
        agent(t2)
        person = desk1.citizens.register(first_name="Hélène", last_name="Dupont", birth_date="1985-03-12")
        contents = [pdf(b"Avis d'imposition 2025 Dupont", 30_000), png(50_000), pdf(b"Livret", 10_000)]
        ids = [desk1.vault.deposit(person["id"], f"piece-{n}-dupont.pdf", c)["id"] for n, c in enumerate(contents)]
        city.sync(t1), city.sync(t2)
        desk2 = t2.session(Principal.agent("agent"))
        assert [desk2.vault.read(i) for i in ids] == contents

        def replica_documents() -> int | None:
            probe = tmp_path / "probe.db"
            probe.unlink(missing_ok=True)
            done = subprocess.run([litestream.binary(), "restore", "-config", str(sor_home / "litestream.yml"),
                                   "-o", str(probe), str((sor_home / "index.db").resolve())], capture_output=True,
                                  env=litestream.environment(), timeout=60)
            if done.returncode != 0 or not probe.exists():
                return None
            with sqlite3.connect(probe) as conn:
                found = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
            probe.unlink()
            return found
        wait_until(lambda: replica_documents() == 3, within=30, what="the litestream replica to hold the documents")
        stop_process(proc)   # every file at rest, litestream's included
        files = [p for p in sor_home.rglob("*") if p.is_file() and p.parent.name not in ("admin", "shares")]
        assert any("replica" in p.parts for p in files) and any("vault" in p.parts for p in files)
        # every 32-byte window of every document, the names, and the plain SHA-256 of each content
        needles = {c[i:i + 32] for c in contents for i in range(0, len(c) - 32, 16)}
        needles |= {f"piece-{n}-dupont".encode() for n in range(3)} | {b"Dupont"}
        needles |= {hashlib.sha256(c).hexdigest().encode() for c in contents}
        needles |= {hashlib.sha256(c).digest() for c in contents}
        leaks = [(p.name, n[:16]) for p in files for data in [p.read_bytes()] for n in needles if n in data]
        assert not leaks, leaks[:5]
        with_plain = b"".join(p.read_bytes() for p in (t1.home / "vault").rglob("*") if p.is_file())
        assert not any(c[9:41] in with_plain for c in contents)      # nor at rest on the terminal
    finally:
        city.close()
        stop_process(proc)


def test_restore_reports_a_document_that_never_reached_the_sor(city, tmp_path):
    t1 = city.terminal("T1")
    desk1 = agent(t1)
    person = desk1.citizens.register(first_name="Hélène", last_name="Dupont", birth_date="1985-03-12")
    doc = desk1.vault.deposit(person["id"], "a.pdf", pdf(b"A"))
    city.sync(t1)
    name = blob_of(t1, doc["id"])
    (city.sor_home / "blobs" / "vault" / name[:2] / name).unlink()   # lost at the SoR
    info = restore(city, tmp_path / "r")
    assert info["documents"] == 0 and any(doc["id"] in r and "not reached the SoR" in r for r in info["refused"])
